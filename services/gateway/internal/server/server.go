// Package server runs the gateway's gRPC server (:9090) and its REST face
// (grpc-gateway, :8080). REST calls reach the same handlers in process, through the
// same interceptors (auth, scopes, rate limits, metrics) — see rest.go.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/pkg/serve"
	"github.com/isthmus/isthmus/services/gateway/internal/auth"
	"github.com/isthmus/isthmus/services/gateway/internal/ratelimit"
	"github.com/isthmus/isthmus/services/gateway/internal/restjson"
)

// Services are the implementations served.
type Services struct {
	Pricing      pricingv1.PricingServiceServer
	Credit       creditv1.CreditServiceServer
	Availability inventoryv1.AvailabilityServiceServer
	Customer     customerv1.CustomerServiceServer
	Entitlement  servicev1.EntitlementServiceServer
}

// Options configure a Server.
type Options struct {
	Services Services
	Verifier *auth.Verifier
	Limiter  *ratelimit.Limiter // nil: no rate limits
	// TLS, when not nil, serves gRPC and REST over TLS. With ClientCAs set, client
	// certificates are verified when given, and Verifier.RequireClientCert refuses
	// calls without one (UNAUTHENTICATED / 401 rather than a failed handshake).
	TLS        *tls.Config
	OpenAPI    []byte // served at /openapi.json
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// StreamWorkers serves gRPC calls on a pool of long-lived goroutines, 8 per
// processor, instead of a new goroutine per call: a new goroutine's stack
// grows (is copied) on every call through the interceptors, which cost
// about a tenth of the gateway's CPU under load; a worker's stack grows
// once. Calls beyond the pool still get a goroutine of their own.
func StreamWorkers() grpc.ServerOption {
	return grpc.NumStreamWorkers(uint32(8 * goruntime.GOMAXPROCS(0)))
}

// Server is the gateway's network face.
type Server struct {
	o      Options
	ext    *grpc.Server
	health *health.Server
	http   *http.Server
}

// New builds the servers.
func New(ctx context.Context, o Options) (*Server, error) {
	m := newServerMetrics(o.Registerer)
	interceptors := func(transport string, bridged bool) []grpc.UnaryServerInterceptor {
		return []grpc.UnaryServerInterceptor{
			recoverUnary(o.Log),
			observe(m, transport),
			o.Verifier.UnaryInterceptor(bridged),
			rateLimit(o.Limiter, m, o.Log),
		}
	}
	extOpts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(interceptors("grpc", false)...), grpc.ChainStreamInterceptor(o.Verifier.StreamInterceptor(false)), grpc.MaxRecvMsgSize(1 << 20), StreamWorkers()}
	if o.TLS != nil {
		extOpts = append(extOpts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s := &Server{o: o, health: health.NewServer()}
	s.ext = grpc.NewServer(extOpts...)
	pricingv1.RegisterPricingServiceServer(s.ext, o.Services.Pricing)
	creditv1.RegisterCreditServiceServer(s.ext, o.Services.Credit)
	inventoryv1.RegisterAvailabilityServiceServer(s.ext, o.Services.Availability)
	customerv1.RegisterCustomerServiceServer(s.ext, o.Services.Customer)
	servicev1.RegisterEntitlementServiceServer(s.ext, o.Services.Entitlement)
	healthpb.RegisterHealthServer(s.ext, s.health)
	reflection.Register(s.ext)

	gw := runtime.NewServeMux(
		// grpc-gateway's JSON mapping without protojson's per-call reflection.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, restjson.New()),
		runtime.WithErrorHandler(errorHandler(o.Log)),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	rest := chainUnary(interceptors("rest", true)...)
	if err := pricingv1.RegisterPricingServiceHandlerServer(ctx, gw, restPricing{s: o.Services.Pricing, ic: rest}); err != nil {
		return nil, fmt.Errorf("rest handlers: %w", err)
	}
	if err := creditv1.RegisterCreditServiceHandlerServer(ctx, gw, restCredit{s: o.Services.Credit, ic: rest}); err != nil {
		return nil, fmt.Errorf("rest handlers: %w", err)
	}
	if err := inventoryv1.RegisterAvailabilityServiceHandlerServer(ctx, gw, restAvailability{s: o.Services.Availability, ic: rest}); err != nil {
		return nil, fmt.Errorf("rest handlers: %w", err)
	}
	if err := customerv1.RegisterCustomerServiceHandlerServer(ctx, gw, restCustomer{s: o.Services.Customer, ic: rest}); err != nil {
		return nil, fmt.Errorf("rest handlers: %w", err)
	}
	if err := servicev1.RegisterEntitlementServiceHandlerServer(ctx, gw, restEntitlement{s: o.Services.Entitlement, ic: rest}); err != nil {
		return nil, fmt.Errorf("rest handlers: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(o.OpenAPI)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.Handle("/", rejectNulls(gw))
	var h http.Handler = mux
	h = authHTTP(o.Verifier, h)
	h = limitBody(h)
	if o.TLS != nil && o.Verifier.RequireClientCert {
		h = requireClientCert(h)
	}
	h = recoverHTTP(o.Log, h)
	s.http = &http.Server{Handler: h, TLSConfig: o.TLS, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn)}
	return s, nil
}

// SetServing sets the gRPC health status of the whole server.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	for _, svc := range []string{"isthmus.pricing.v1.PricingService", "isthmus.credit.v1.CreditService", "isthmus.inventory.v1.AvailabilityService", "isthmus.customer.v1.CustomerService", "isthmus.service.v1.EntitlementService"} {
		s.health.SetServingStatus(svc, st)
	}
}

// Serve serves gRPC on grpcLn and REST on httpLn until ctx ends or one of
// them fails, then stops both (pkg/serve): the health service answers
// NOT_SERVING, in-flight calls finish within 10s and are cut off after.
func (s *Server) Serve(ctx context.Context, grpcLn, httpLn net.Listener) error {
	opts := func(ln net.Listener) []serve.Option {
		return []serve.Option{serve.Listener(ln), serve.StopTimeout(10 * time.Second), serve.Logger(s.o.Log)}
	}
	grpcSrv := serve.New("gRPC", grpcLn.Addr().String(), healthFirst{serve.GRPC(s.ext), s.health}, opts(grpcLn)...)
	restSrv := serve.New("REST", httpLn.Addr().String(), serve.HTTP(s.http), opts(httpLn)...)
	return lifecycle.Run(ctx, s.o.Log, lifecycle.Component{Name: "grpc", Run: grpcSrv.Run}, lifecycle.Component{Name: "rest", Run: restSrv.Run})
}

// healthFirst tells health watchers NOT_SERVING before the gRPC server
// stops.
type healthFirst struct {
	serve.Server
	health *health.Server
}

func (h healthFirst) Shutdown(ctx context.Context) error {
	h.health.Shutdown()
	return h.Server.Shutdown(ctx)
}

// headerMatcher passes the headers the calls read to their metadata
// (grpc-gateway passes Authorization itself, and canonicalises the keys
// first); the others, grpc-gateway's "grpcgateway-" copies of Accept,
// User-Agent and the like, nothing reads.
func headerMatcher(key string) (string, bool) {
	switch key {
	case "Idempotency-Key":
		return "idempotency-key", true
	case "Correlation-Id":
		return "correlation-id", true
	case "Traceparent":
		return "traceparent", true
	case "Tracestate":
		return "tracestate", true
	}
	return "", false
}

// errorHandler writes grpc-gateway's JSON status, adding Retry-After for 429/503 and
// never leaking internal messages.
func errorHandler(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		st, ok := status.FromError(err)
		if !ok {
			st = status.New(codes.Internal, "internal error")
		}
		switch st.Code() {
		case codes.Internal, codes.Unknown, codes.DataLoss:
			if st.Message() != "internal error" {
				log.ErrorContext(ctx, "internal error on REST call", "path", r.URL.Path, "err", st.Message())
			}
			st = status.New(st.Code(), "internal error")
		case codes.Unavailable, codes.ResourceExhausted:
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					secs := int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
					w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
				}
			}
			if w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, st.Err())
	}
}

// routingErrorHandler answers 405 with an Allow header for any method other than
// POST on an API path (grpc-gateway answers 501 for methods it does not know).
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	if code == http.StatusNotImplemented || code == http.StatusMethodNotAllowed {
		// grpc-gateway would map this to UNIMPLEMENTED, i.e. 501.
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"code":12,"message":"method not allowed","details":[]}`))
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
}

// restMethods maps REST paths to the gRPC methods they call (for scopes).
func restMethod(path string) string {
	switch {
	case path == "/v1/pricing:quote":
		return "/isthmus.pricing.v1.PricingService/PriceQuote"
	case path == "/v1/pricing:validate":
		return "/isthmus.pricing.v1.PricingService/ValidatePrices"
	case path == "/v1/credit:check":
		return "/isthmus.credit.v1.CreditService/CheckCredit"
	case strings.HasPrefix(path, "/v1/credit/reservations/") && strings.HasSuffix(path, ":release"):
		return "/isthmus.credit.v1.CreditService/ReleaseReservation"
	case path == "/v1/availability:check":
		return "/isthmus.inventory.v1.AvailabilityService/Check"
	case path == "/v1/customers:checkDuplicate":
		return "/isthmus.customer.v1.CustomerService/CheckDuplicate"
	case path == "/v1/customers:validate":
		return "/isthmus.customer.v1.CustomerService/ValidateAccount"
	case path == "/v1/entitlements:check":
		return "/isthmus.service.v1.EntitlementService/CheckEntitlement"
	case strings.HasPrefix(path, "/v1/assets/"):
		return "/isthmus.service.v1.EntitlementService/LookupAsset"
	}
	return ""
}

// authHTTP authenticates REST calls before their body is decoded; the interceptor
// chain behind grpc-gateway checks again (from its cache) and sets the caller.
func authHTTP(v *auth.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		p, err := v.Check(r.Header.Get("Authorization"), restMethod(r.URL.Path))
		if err != nil {
			st := status.Convert(err)
			code := http.StatusUnauthorized
			if st.Code() == codes.PermissionDenied {
				code = http.StatusForbidden
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="isthmus"`)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"code":%d,"message":%q,"details":[]}`, st.Code(), st.Message())
			return
		}
		// The call's interceptors take the principal rather than verify
		// the token again.
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		next.ServeHTTP(w, r)
	})
}

func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":16,"message":"client certificate required","details":[]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func recoverHTTP(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic in REST handler", "path", r.URL.Path, "panic", p)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"code":13,"message":"internal error","details":[]}`))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
