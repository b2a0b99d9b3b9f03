// Package gatewayclient is how a program reaches the Isthmus gateway's gRPC API:
// one set of settings (address from config.Common, OAuth2 client credentials or a
// static development token, TLS and mutual TLS) and one connection with the
// bearer token on every call. quote-to-order validates orders through it,
// field-service checks entitlements and the simulated CRM checks for duplicates.
package gatewayclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/oauth"
	"github.com/isthmus/isthmus/pkg/tlsconf"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Config holds the client settings besides the address (ISTHMUS_GATEWAY_ADDR,
// in config.Common).
type Config struct {
	// OAuth is the client whose tokens the calls present (ISTHMUS_OAUTH_*).
	OAuth oauth.Config
	// Token is the static development fallback (ISTHMUS_GATEWAY_TOKEN), used
	// when OAuth has no token URL; nothing renews it.
	Token    string
	TLS      bool
	CAFile   string
	CertFile string
	KeyFile  string
}

// Register declares the settings; scopes are asked for when ISTHMUS_OAUTH_SCOPE
// is unset (the gateway methods the program calls).
func (c *Config) Register(s *config.Set, scopes []string) {
	config.RegisterOAuth(s, &c.OAuth, "ISTHMUS_OAUTH_", "gateway credentials")
	s.Secret(&c.Token, "ISTHMUS_GATEWAY_TOKEN", "static JWT bearer token for the gateway, a development fallback when ISTHMUS_OAUTH_TOKEN_URL is unset (never renewed)")
	s.Bool(&c.TLS, "ISTHMUS_GATEWAY_TLS_ENABLED", false, "connect to the gateway over TLS (implied by any ISTHMUS_GATEWAY_TLS_*_FILE)")
	s.String(&c.CAFile, "ISTHMUS_GATEWAY_TLS_CA_FILE", "", "PEM CA bundle for the gateway's certificate (system roots when empty)")
	s.String(&c.CertFile, "ISTHMUS_GATEWAY_TLS_CERT_FILE", "", "PEM client certificate for mutual TLS with the gateway")
	s.String(&c.KeyFile, "ISTHMUS_GATEWAY_TLS_KEY_FILE", "", "PEM client key for mutual TLS with the gateway")
	s.Check(func() error {
		if o := &c.OAuth; o.TokenURL != "" || o.ClientID != "" || o.ClientSecret != "" {
			if len(o.Scopes) == 0 {
				o.Scopes = append([]string(nil), scopes...)
			}
			if err := o.Validate(); err != nil {
				return fmt.Errorf("invalid ISTHMUS_OAUTH_* (gateway credentials): %v", err)
			}
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			return errors.New("invalid ISTHMUS_GATEWAY_TLS_CERT_FILE/KEY_FILE: set both or neither")
		}
		return nil
	})
}

// Secure tells whether the connection uses TLS.
func (c Config) Secure() bool {
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""
}

// TokenSource hands out the bearer token of each call (pkg/oauth's Source).
type TokenSource interface {
	Token(ctx context.Context) (oauth.Token, error)
}

// Conn is a connection to the gateway.
type Conn struct {
	*grpc.ClientConn
	// Credentials renews the OAuth2 token ahead of expiry; nil with a static
	// token or none. Run it (Run) and report it in readiness (Ready): it is
	// ready while a valid token is held.
	Credentials *oauth.Source
}

// Dial connects lazily to the gateway at addr (no I/O until the first call).
// A call for which no valid token can be had fails Unavailable, like a
// gateway outage.
func Dial(addr string, c Config, log *slog.Logger) (*Conn, error) {
	var tokens TokenSource
	out := &Conn{}
	switch {
	case c.OAuth.TokenURL != "":
		src, err := oauth.New(c.OAuth, oauth.WithLogger(log.With("component", "gateway-credentials")))
		if err != nil {
			return nil, fmt.Errorf("invalid ISTHMUS_OAUTH_* (gateway credentials): %v", err)
		}
		out.Credentials, tokens = src, src
		if c.Token != "" {
			log.Warn("ISTHMUS_GATEWAY_TOKEN is ignored: gateway calls use OAuth2 client credentials (ISTHMUS_OAUTH_*)")
		}
	case c.Token != "":
		log.Warn("gateway calls present the static ISTHMUS_GATEWAY_TOKEN, a development fallback that nothing renews; " +
			"set ISTHMUS_OAUTH_TOKEN_URL, ISTHMUS_OAUTH_CLIENT_ID and ISTHMUS_OAUTH_CLIENT_SECRET")
	}
	conn, err := dial(addr, c, tokens)
	if err != nil {
		return nil, err
	}
	out.ClientConn = conn
	return out, nil
}

func dial(addr string, c Config, tokens TokenSource) (*grpc.ClientConn, error) {
	// Reconnect quickly once the gateway is back (gRPC's default backoff grows
	// to two minutes); callers pace their own retries.
	opts := []grpc.DialOption{grpc.WithUnaryInterceptor(tracing.UnaryClientInterceptor()), grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
		MinConnectTimeout: 2 * time.Second,
	})}
	if c.Secure() {
		tc, err := tlsConfig(c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if tokens != nil || c.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: c.Token, src: tokens, secure: c.Secure()}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", addr, err)
	}
	return conn, nil
}

type bearer struct {
	token  string
	src    TokenSource
	secure bool
}

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok := b.token
	if b.src != nil {
		t, err := b.src.Token(ctx)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "gateway credentials: %v", err)
		}
		tok = t.Value
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// tlsConfig is the connection's TLS (pkg/tlsconf), its errors naming the
// gateway's settings.
func tlsConfig(c Config) (*tls.Config, error) {
	tc, err := tlsconf.Client(tlsconf.Files{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile})
	return tc, tlsconf.Invalid(err, "ISTHMUS_GATEWAY_TLS_CA_FILE", "ISTHMUS_GATEWAY_TLS_CERT_FILE/KEY_FILE")
}
