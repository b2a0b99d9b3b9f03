// Package gateway is the entry of the gateway service: configuration in, Run out.
// It answers pricing, credit and availability over gRPC (:9090) and REST (:8080)
// from Redis read models that it builds from ERP's compacted topics.
package gateway

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/pkg/bearer"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/serve"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/pkg/tlsconf"
	"github.com/isthmus/isthmus/services/gateway/internal/api"
	"github.com/isthmus/isthmus/services/gateway/internal/auth"
	"github.com/isthmus/isthmus/services/gateway/internal/credit"
	"github.com/isthmus/isthmus/services/gateway/internal/ratelimit"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
	"github.com/isthmus/isthmus/services/gateway/internal/reservation"
	"github.com/isthmus/isthmus/services/gateway/internal/server"
	"github.com/isthmus/isthmus/services/gateway/openapi"
)

// Run runs the gateway until ctx ends, listening on cfg.GRPCAddr and cfg.HTTPAddr.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	grpcLn, err := serve.Listen("gRPC", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	httpLn, err := serve.Listen("REST", cfg.HTTPAddr)
	if err != nil {
		grpcLn.Close()
		return err
	}
	return Serve(ctx, cfg, log, grpcLn, httpLn)
}

// Option changes how Serve builds the gateway.
type Option func(*options)

type options struct {
	pricing pricingv1.PricingServiceServer
}

// WithPricingService replaces the pricing implementation (the benchmark compares the
// real one with a no-op on the same server setup). Default: the read-model pricing.
func WithPricingService(p pricingv1.PricingServiceServer) Option {
	return func(o *options) { o.pricing = p }
}

// Serve is Run on listeners the caller opened (tests, `isthmus dev`); it closes them.
func Serve(ctx context.Context, cfg *Config, log *slog.Logger, grpcLn, httpLn net.Listener, opts ...Option) error {
	var o options
	for _, f := range opts {
		f(&o)
	}
	defer grpcLn.Close()
	defer httpLn.Close()
	svc := service.New(&cfg.Common, log)
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("invalid ISTHMUS_REDIS_URL: %w", err)
	}
	// rediss://: the CA bundle of ISTHMUS_REDIS_TLS_CA_FILE (pkg/config).
	if ropts.TLSConfig, err = cfg.RedisTLSConfig(); err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	prefix := cfg.Kafka.TopicPrefix
	store := readmodel.NewStore(rdb, prefix).WithMirror() // answers from memory, fed by the builder
	resv := reservation.New(rdb, prefix)

	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	builder, err := readmodel.NewBuilder(store, cfg.Kafka, sd, log.With("component", "readmodel"),
		readmodel.WithRegisterer(metrics.Registry),
		readmodel.WithHook(settleHook(resv, cfg.ReservationSettle, log)),
	)
	if err != nil {
		return err
	}

	// The golden customers: a model of its own, in Redis only (no mirror).
	goldenStore := readmodel.NewStore(rdb, prefix)
	goldenBuilder, err := readmodel.NewBuilder(goldenStore, cfg.Kafka, sd, log.With("component", "readmodel", "model", readmodel.Golden),
		readmodel.WithRegisterer(metrics.Registry), readmodel.WithModels(readmodel.Golden))
	if err != nil {
		return err
	}

	// The installed base (EntitlementService): a builder of its own, in Redis only.
	serviceStore := readmodel.NewStore(rdb, prefix)
	serviceBuilder, err := readmodel.NewBuilder(serviceStore, cfg.Kafka, sd, log.With("component", "readmodel", "models", "service"),
		readmodel.WithRegisterer(metrics.Registry), readmodel.WithModels(readmodel.ServiceModels...))
	if err != nil {
		return err
	}

	keys, static, err := loadKeys(ctx, cfg)
	if err != nil {
		return err
	}
	verifier := &auth.Verifier{Verifier: &bearer.Verifier{Keys: keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: 30 * time.Second}, RequireClientCert: cfg.ClientCAFile != ""}
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	deps := &api.Deps{Store: store, Log: log}
	var pricing pricingv1.PricingServiceServer = &api.Pricing{Deps: deps}
	if o.pricing != nil {
		pricing = o.pricing
	}
	srv, err := server.New(ctx, server.Options{
		Services: server.Services{
			Pricing:      pricing,
			Credit:       &api.Credit{Deps: deps, Reservations: resv, Policy: credit.Policy{HoldThresholdBps: int64(cfg.HoldThresholdBps)}, TTL: cfg.ReservationTTL},
			Availability: &api.Availability{Deps: deps},
			Customer:     &api.Customer{Deps: deps, Golden: goldenStore},
			Entitlement:  &api.Entitlement{Deps: deps, Service: serviceStore},
		},
		Verifier:   verifier,
		Limiter:    ratelimit.New(rdb, prefix, cfg.RateLimit, cfg.RateBurst),
		TLS:        tlsCfg,
		OpenAPI:    openapi.Spec,
		Registerer: metrics.Registry,
		Log:        log,
	})
	if err != nil {
		return err
	}
	srv.SetServing(true)
	log.Info("gateway listening", "grpc", grpcLn.Addr().String(), "rest", httpLn.Addr().String(), "tls", tlsCfg != nil, "mtls", verifier.RequireClientCert)

	svc.Add("readmodel", builder.Run, builder.Ready)
	svc.Add("readmodel-golden", goldenBuilder.Run, goldenBuilder.Ready)
	svc.Add("readmodel-service", serviceBuilder.Run, serviceBuilder.Ready)
	svc.Add("api", func(ctx context.Context) error { return srv.Serve(ctx, grpcLn, httpLn) }, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if cfg.JWKSURL != "" {
		svc.Add("jwks", func(ctx context.Context) error {
			return keys.Refresh(ctx, http.DefaultClient, cfg.JWKSURL, cfg.JWKSRefresh, static, log)
		}, nil)
	}
	return svc.Run(ctx)
}

// settleHook releases reservations that ERP's exposure now covers.
func settleHook(resv *reservation.Store, settle time.Duration, log *slog.Logger) readmodel.Hook {
	return func(ctx context.Context, m readmodel.Model, values []any) {
		if m != readmodel.Credit {
			return
		}
		for _, v := range values {
			a, ok := v.(credit.Account)
			if !ok {
				continue
			}
			if n, err := resv.Settle(ctx, a.CustomerID, a.AsOf.Add(-settle)); err != nil {
				log.Warn("settling reservations failed (they expire on their own)", "customer", a.CustomerID, "err", err)
			} else if n > 0 {
				log.Info("reservations settled by ERP exposure", "customer", a.CustomerID, "released", n)
			}
		}
	}
}

// loadKeys returns the verification keys and, among them, the static ones (files),
// which JWKS refreshes keep.
func loadKeys(ctx context.Context, cfg *Config) (*bearer.KeySet, map[string]crypto.PublicKey, error) {
	return bearer.Load(ctx, http.DefaultClient, cfg.JWKSURL, "ISTHMUS_GATEWAY_JWKS_URL",
		map[string]string{"ISTHMUS_GATEWAY_JWKS_FILE": cfg.JWKSFile, "ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS": cfg.PublicKeysFile})
}

// serverTLS is the TLS of gRPC and REST (nil: plain text); with a client CA
// bundle, client certificates are verified when given and the verifier
// refuses calls without one.
func serverTLS(cfg *Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	tc, err := tlsconf.Server(tlsconf.Files{CAFile: cfg.ClientCAFile, CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile})
	return tc, tlsconf.Invalid(err, "ISTHMUS_GATEWAY_TLS_CLIENT_CA_FILE", "ISTHMUS_GATEWAY_TLS_CERT_FILE / ISTHMUS_GATEWAY_TLS_KEY_FILE")
}
