package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
)

// MethodScopes is the scope each method needs. CheckCredit with reserve=true needs
// credit:reserve as well; the handler checks that.
var MethodScopes = map[string]string{
	"/isthmus.pricing.v1.PricingService/PriceQuote":       ScopePricingRead,
	"/isthmus.pricing.v1.PricingService/ValidatePrices":   ScopePricingRead,
	"/isthmus.credit.v1.CreditService/CheckCredit":        ScopeCreditRead,
	"/isthmus.credit.v1.CreditService/ReleaseReservation": ScopeCreditReserve,
	"/isthmus.inventory.v1.AvailabilityService/Check":     ScopeInventoryRead,
}

// Public methods need no token (health checks and reflection).
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// Principal is the authenticated caller.
type Principal struct {
	Subject string
	Scopes  []string
}

// Has reports whether p holds scope.
func (p *Principal) Has(scope string) bool { return p != nil && slices.Contains(p.Scopes, scope) }

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

// Verifier checks bearer tokens.
type Verifier struct {
	Keys     *KeySet
	Issuer   string // required iss when set
	Audience string // required aud when set
	Leeway   time.Duration
	// RequireClientCert makes the gRPC interceptor refuse calls whose connection did
	// not present a verified client certificate (mutual TLS). Calls arriving through
	// the REST face (in process) are exempt: the HTTP listener checks the certificate.
	RequireClientCert bool

	cache tokenCache
}

type cached struct {
	p   *Principal
	exp time.Time // token expiry plus leeway
	gen uint64    // key-set generation the signature was checked under
}

// cacheLimit bounds the verified-token cache; a full cache evicts an arbitrary
// entry (expired ones first when met), so memory stays bounded under any number of
// distinct tokens.
const cacheLimit = 10000

// tokenCache maps SHA-256 of the whole compact token to its verdict: the token
// itself is never kept, and a token differing in any byte (header, claims or
// signature) is a different entry.
type tokenCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cached
}

func (c *tokenCache) get(k [sha256.Size]byte) (cached, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return e, ok
}

func (c *tokenCache) put(k [sha256.Size]byte, e cached, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cached)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= cacheLimit {
		n := 0
		for kk, ee := range c.m { // map order is random: arbitrary victims
			if n > 0 && !now.After(ee.exp) {
				break
			}
			delete(c.m, kk)
			n++
		}
	}
	c.m[k] = e
}

func (c *tokenCache) drop(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

type claims struct {
	jwt.RegisteredClaims
	Scope string   `json:"scope"`
	Scp   []string `json:"scp"`
}

// Errors the verifier returns (wrapped); all map to UNAUTHENTICATED.
var (
	ErrNoToken  = errors.New("missing bearer token")
	ErrBadToken = errors.New("invalid bearer token")
)

// Verify parses and checks a compact JWT. A token verified before is answered from
// a cache (signature checks cost more than the rest of a call) until the earlier of
// its expiry and the next change of the key set, so a key removed by rotation stops
// its tokens at the next JWKS refresh.
func (v *Verifier) Verify(token string) (*Principal, error) {
	k := sha256.Sum256([]byte(token))
	gen := v.Keys.Generation()
	now := time.Now()
	if c, ok := v.cache.get(k); ok {
		if c.gen == gen && now.Before(c.exp) {
			return c.p, nil
		}
		v.cache.drop(k)
	}
	p, exp, err := v.verify(token)
	if err != nil {
		return nil, err
	}
	v.cache.put(k, cached{p: p, exp: exp, gen: gen}, now)
	return p, nil
}

func (v *Verifier) verify(token string) (*Principal, time.Time, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.Leeway),
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := v.Keys.Lookup(kid)
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return key, nil
	}, opts...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if c.Subject == "" {
		return nil, time.Time{}, fmt.Errorf("%w: no subject", ErrBadToken)
	}
	p := &Principal{Subject: c.Subject, Scopes: append(strings.Fields(c.Scope), c.Scp...)}
	return p, c.ExpiresAt.Add(v.Leeway), nil
}

func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return bearerOf(md.Get("authorization")...)
}

func bearerOf(headers ...string) (string, error) {
	for _, h := range headers {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && strings.TrimSpace(h[7:]) != "" {
			return strings.TrimSpace(h[7:]), nil
		}
	}
	return "", ErrNoToken
}

// Check authenticates an Authorization header value and checks method's scope,
// returning an UNAUTHENTICATED or PERMISSION_DENIED status error. The REST face
// calls it before decoding a request body, so an anonymous caller learns nothing
// about the API beyond 401.
func (v *Verifier) Check(authorization, method string) error {
	tok, err := bearerOf(authorization)
	if err != nil {
		return status.Error(codes.Unauthenticated, "missing bearer token")
	}
	p, err := v.Verify(tok)
	if err != nil {
		return status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	if scope, ok := MethodScopes[method]; ok && !p.Has(scope) {
		return status.Errorf(codes.PermissionDenied, "token lacks scope %s", scope)
	}
	return nil
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

// ClientCertSubject returns the CN of a verified client certificate, if any.
func ClientCertSubject(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
		var c *x509.Certificate = ti.State.PeerCertificates[0]
		return c.Subject.CommonName
	}
	return ""
}

// Authorize authenticates the call and checks the method's scope.
func (v *Verifier) Authorize(ctx context.Context, method string, bridged bool) (context.Context, error) {
	if public(method) {
		return ctx, nil
	}
	if v.RequireClientCert && !bridged && !hasClientCert(ctx) {
		return nil, status.Error(codes.Unauthenticated, "client certificate required")
	}
	tok, err := bearer(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	p, err := v.Verify(tok)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	scope, ok := MethodScopes[method]
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "method not allowed")
	}
	if !p.Has(scope) {
		return nil, status.Errorf(codes.PermissionDenied, "token lacks scope %s", scope)
	}
	return WithPrincipal(ctx, p), nil
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
