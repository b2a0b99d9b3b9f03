// Package auth enforces the gateway's per-method scopes on callers whose bearer
// tokens pkg/bearer verified, and optional mutual TLS.
package auth

import (
	"context"
	"strings"

	"github.com/isthmus/isthmus/pkg/bearer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Scopes of the gateway's API.
const (
	ScopePricingRead   = "pricing:read"
	ScopeCreditRead    = "credit:read"
	ScopeCreditReserve = "credit:reserve"
	ScopeInventoryRead = "inventory:read"
	ScopeCustomerRead  = "customer:read"
	ScopeServiceRead   = "service:read"
)

// MethodScopes is the scope each method needs. CheckCredit with reserve=true needs
// credit:reserve as well; the handler checks that.
var MethodScopes = map[string]string{
	"/isthmus.pricing.v1.PricingService/PriceQuote":           ScopePricingRead,
	"/isthmus.pricing.v1.PricingService/ValidatePrices":       ScopePricingRead,
	"/isthmus.credit.v1.CreditService/CheckCredit":            ScopeCreditRead,
	"/isthmus.credit.v1.CreditService/ReleaseReservation":     ScopeCreditReserve,
	"/isthmus.inventory.v1.AvailabilityService/Check":         ScopeInventoryRead,
	"/isthmus.customer.v1.CustomerService/CheckDuplicate":     ScopeCustomerRead,
	"/isthmus.customer.v1.CustomerService/ValidateAccount":    ScopeCustomerRead,
	"/isthmus.service.v1.EntitlementService/CheckEntitlement": ScopeServiceRead,
	"/isthmus.service.v1.EntitlementService/LookupAsset":      ScopeServiceRead,
}

// Public methods need no token (health checks and reflection).
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// Principal is the authenticated caller.
type Principal = bearer.Principal

type ctxKey struct{}

// FromContext returns the caller of a request.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// Verifier checks bearer tokens (pkg/bearer) and the gateway's method scopes.
type Verifier struct {
	*bearer.Verifier
	// RequireClientCert makes the gRPC interceptor refuse calls whose connection did
	// not present a verified client certificate (mutual TLS). Calls arriving through
	// the REST face (in process) are exempt: the HTTP listener checks the certificate.
	RequireClientCert bool
}

func tokenOf(ctx context.Context) (string, error) {
	return bearerOf(metadata.ValueFromIncomingContext(ctx, "authorization")...)
}

func bearerOf(headers ...string) (string, error) { return bearer.FromHeader(headers...) }

// Check authenticates an Authorization header value and checks method's scope,
// returning the principal or an UNAUTHENTICATED or PERMISSION_DENIED status
// error. The REST face calls it before decoding a request body, so an anonymous
// caller learns nothing about the API beyond 401, and hands the principal to the
// call's interceptors (Authorize with bridged).
func (v *Verifier) Check(authorization, method string) (*Principal, error) {
	tok, err := bearerOf(authorization)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	p, err := v.Verify(tok)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	if scope, ok := MethodScopes[method]; ok && !p.Has(scope) {
		return nil, status.Errorf(codes.PermissionDenied, "token lacks scope %s", scope)
	}
	return p, nil
}

func hasClientCert(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return false
	}
	return len(ti.State.VerifiedChains) > 0 && len(ti.State.PeerCertificates) > 0
}

// Authorize authenticates the call and checks the method's scope.
func (v *Verifier) Authorize(ctx context.Context, method string, bridged bool) (context.Context, error) {
	if public(method) {
		return ctx, nil
	}
	if v.RequireClientCert && !bridged && !hasClientCert(ctx) {
		return nil, status.Error(codes.Unauthenticated, "client certificate required")
	}
	if p := FromContext(ctx); bridged && p != nil {
		// The REST face verified this request's token before decoding its
		// body (Check) and passed the principal on; only the method's scope
		// is left to check. A gRPC call never carries one in.
		return ctx, checkScope(p, method)
	}
	tok, err := tokenOf(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	p, err := v.Verify(tok)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	if err := checkScope(p, method); err != nil {
		return nil, err
	}
	return WithPrincipal(ctx, p), nil
}

func checkScope(p *Principal, method string) error {
	scope, ok := MethodScopes[method]
	if !ok {
		return status.Error(codes.PermissionDenied, "method not allowed")
	}
	if !p.Has(scope) {
		return status.Errorf(codes.PermissionDenied, "token lacks scope %s", scope)
	}
	return nil
}

// UnaryInterceptor authenticates and authorises every unary call. bridged tells
// whether the calls come from the REST face (in process, behind grpc-gateway).
func (v *Verifier) UnaryInterceptor(bridged bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := v.Authorize(ctx, info.FullMethod, bridged)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// StreamInterceptor does the same for streams (reflection and health watch are
// public; nothing else streams).
func (v *Verifier) StreamInterceptor(bridged bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if _, err := v.Authorize(ss.Context(), info.FullMethod, bridged); err != nil {
			return err
		}
		return h(srv, ss)
	}
}
