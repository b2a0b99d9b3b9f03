//go:build integration

package quotetoorder_test

// Service credentials against a real OAuth2 server: Ory Hydra of the secured
// infrastructure (make infra-up-secure). The gateway verifies tokens with
// Hydra's JWKS, issuer and audience; quote-to-order gets its tokens by client
// credentials, renews them, and rides out the token endpoint being cut off.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/oauth"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

const gatewayAudience = "isthmus-gateway"

// hydraGateway restarts the env's gateway verifying tokens with Hydra's
// JWKS, issuer and audience.
func hydraGateway(t *testing.T, e *env, oauthEnv map[string]string) {
	t.Helper()
	e.gw.stop()
	e.gw.env = append(e.gw.env,
		"ISTHMUS_GATEWAY_JWKS_URL="+oauthEnv["ISTHMUS_OAUTH_JWKS_URL"],
		"ISTHMUS_GATEWAY_JWT_ISSUER="+oauthEnv["ISTHMUS_OAUTH_ISSUER"],
		"ISTHMUS_GATEWAY_JWT_AUDIENCE="+gatewayAudience)
	e.gw.start()
}

// hydraToken gets one access token by client credentials from Hydra.
func hydraToken(t *testing.T, tokenURL, id, secret string) oauth.Token {
	t.Helper()
	src, err := oauth.New(oauth.Config{TokenURL: tokenURL, ClientID: id, ClientSecret: secret,
		Audience: []string{gatewayAudience}, Scopes: []string{"pricing:read"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// priceQuoteCode calls PriceQuote with token and returns the status code:
// an empty request is refused as InvalidArgument once the caller is
// authenticated, as Unauthenticated before.
func priceQuoteCode(t *testing.T, addr, token string) codes.Code {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token), 5*time.Second)
	defer cancel()
	_, err = pricingv1.NewPricingServiceClient(conn).PriceQuote(ctx, &pricingv1.PriceQuoteRequest{})
	return status.Code(err)
}

// TestSecureGatewayAcceptsHydraTokens: a token from Hydra is accepted; the
// same kind of token once expired, or one for another audience, is refused.
func TestSecureGatewayAcceptsHydraTokens(t *testing.T) {
	oauthEnv := testinfra.Secure(t, "oauth")
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
	hydraGateway(t, e, oauthEnv)
	tokenURL := oauthEnv["ISTHMUS_OAUTH_TOKEN_URL"]

	id, secret := testinfra.HydraClient(t, oauthEnv, time.Hour, []string{gatewayAudience, "kafka"}, []string{"pricing:read"})
	if c := priceQuoteCode(t, e.gw.grpcAddr, hydraToken(t, tokenURL, id, secret).Value); c != codes.InvalidArgument {
		t.Fatalf("a fresh Hydra token: %s, want InvalidArgument (authenticated, empty request)", c)
	}
	// Another audience: a token Hydra issued for Kafka only.
	kafkaOnly, err := oauth.New(oauth.Config{TokenURL: tokenURL, ClientID: id, ClientSecret: secret, Audience: []string{"kafka"}, Scopes: []string{"pricing:read"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := kafkaOnly.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := priceQuoteCode(t, e.gw.grpcAddr, tok.Value); c != codes.Unauthenticated {
		t.Fatalf("a token for audience kafka: %s, want Unauthenticated", c)
	}
	// Expired: a 3s token, presented after its expiry plus the gateway's
	// 30s clock-skew leeway.
	sid, ssecret := testinfra.HydraClient(t, oauthEnv, 3*time.Second, []string{gatewayAudience}, []string{"pricing:read"})
	short := hydraToken(t, tokenURL, sid, ssecret)
	time.Sleep(time.Until(short.Expiry.Add(31 * time.Second)))
	if c := priceQuoteCode(t, e.gw.grpcAddr, short.Value); c != codes.Unauthenticated {
		t.Fatalf("an expired Hydra token: %s, want Unauthenticated", c)
	}
}

// TestSecureQuoteToOrderClientCredentials runs quote-to-order with OAuth2
// client credentials from Hydra (tokens living 10s) against the gateway that
// verifies them, through a proxy the test can cut: quotes flow across several
// token expiries; with the token endpoint cut off right after a renewal, the
// cached token carries on (quotes are validated, the service is ready) until
// it expires, then readiness reports it and new orders wait; when the
// endpoint is back, every quote reaches INVOICED with exactly one ERP command.
func TestSecureQuoteToOrderClientCredentials(t *testing.T) {
	oauthEnv := testinfra.Secure(t, "oauth")
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
	hydraGateway(t, e, oauthEnv)
	const life = 10 * time.Second
	id, secret := testinfra.HydraClient(t, oauthEnv, life, []string{gatewayAudience}, []string{"pricing:read", "credit:read", "credit:reserve", "inventory:read"})
	hydra, err := url.Parse(oauthEnv["ISTHMUS_OAUTH_TOKEN_URL"])
	if err != nil {
		t.Fatal(err)
	}
	px := newTokenProxy(t, hydra)
	admin := testinfra.FreeAddr(t)
	delete(e.envVars, "ISTHMUS_GATEWAY_TOKEN")
	for k, v := range map[string]string{
		"ISTHMUS_OAUTH_TOKEN_URL":     px.URL + hydra.Path,
		"ISTHMUS_OAUTH_CLIENT_ID":     id,
		"ISTHMUS_OAUTH_CLIENT_SECRET": secret,
		"ISTHMUS_OAUTH_AUDIENCE":      gatewayAudience,
		"ISTHMUS_ADMIN_ADDR":          admin,
	} {
		e.envVars[k] = v
	}
	e.runService()

	var ids []string
	quote := func() string {
		id := fmt.Sprintf("Q-OAUTH-%03d", len(ids))
		ids = append(ids, id)
		e.in().Value(contracts.TopicCRMQuoteV1, id, newQuote(id, "A-1", "SKU-1"))
		return id
	}
	// Three token lifetimes of steady traffic.
	for end := time.Now().Add(3 * life); time.Now().Before(end); time.Sleep(time.Second) {
		quote()
	}
	for _, id := range ids {
		e.waitState(id, contracts.OrderStateInvoiced, time.Minute)
	}
	if !ready(t, admin) {
		t.Fatal("not ready while the token endpoint is up")
	}
	issued := px.issued.Load()
	t.Logf("%d quotes INVOICED across %s; %d tokens of %s issued", len(ids), 3*life, issued, life)
	if issued < 3 {
		t.Errorf("%d tokens issued over three token lifetimes; want at least 3 (renewal before expiry)", issued)
	}

	// Cut the token endpoint right after a renewal.
	n := px.issued.Load()
	testinfra.Eventually(t, 2*life, "a token renewal", func() bool { return px.issued.Load() != n })
	px.down.Store(true)
	cut := time.Now()
	var during []string
	for time.Since(cut) < life/3 {
		during = append(during, quote())
		time.Sleep(500 * time.Millisecond)
	}
	// Validated (past SUBMITTED) while the endpoint is still cut off.
	for _, id := range during {
		if !testinfra.Within(life/2, func() bool { return slices.Contains(e.states(id), contracts.OrderStateSubmitted) }) {
			t.Fatalf("order %s not validated with the cached token: %v", id, e.states(id))
		}
	}
	if !ready(t, admin) {
		t.Error("not ready while the cached token is still valid")
	}
	t.Logf("%d quotes validated with the cached token while the endpoint was cut off", len(during))
	var sawUnready bool
	for time.Since(cut) < life+5*time.Second {
		if !ready(t, admin) {
			sawUnready = true
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !sawUnready {
		t.Error("readiness never reported the missing token while the endpoint was cut off past its expiry")
	}
	late := quote()
	time.Sleep(3 * time.Second)
	if s := e.states(late); slices.Contains(s, contracts.OrderStateSubmitted) {
		t.Errorf("order %s submitted without a valid token: %v", late, s)
	}
	px.down.Store(false)
	t.Logf("token endpoint back after %s", time.Since(cut).Round(time.Second))
	for _, id := range ids {
		e.waitState(id, contracts.OrderStateInvoiced, time.Minute)
	}
	e.mu.Lock()
	for _, id := range ids {
		if n := len(e.commands[id]); n != 1 {
			t.Errorf("order %s: %d ERP commands, want 1", id, n)
		}
	}
	e.mu.Unlock()
	testinfra.WaitReady(t, admin, 15*time.Second) // ready again after the token endpoint came back
	t.Logf("all %d quotes INVOICED, one command each", len(ids))
}

func ready(t *testing.T, admin string) bool {
	t.Helper()
	res, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + admin + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// tokenProxy stands between quote-to-order and Hydra's token endpoint: it
// counts the tokens Hydra issues and, while down, drops every connection
// without an answer (an endpoint that cannot be reached).
type tokenProxy struct {
	*httptest.Server
	issued atomic.Int64
	down   atomic.Bool
}

func newTokenProxy(t *testing.T, hydra *url.URL) *tokenProxy {
	p := &tokenProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: hydra.Scheme, Host: hydra.Host})
	rp.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusOK {
			p.issued.Add(1)
		}
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}
