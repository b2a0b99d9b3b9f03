package gateway

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/lifecycle"
)

// Name is the service name: metrics label, client ids.
const Name = "gateway"

// Config is the gateway's configuration (DESIGN.md §6 plus ISTHMUS_GATEWAY_*).
type Config struct {
	config.Common

	GRPCAddr string
	HTTPAddr string

	JWKSFile       string
	JWKSURL        string
	JWKSRefresh    time.Duration
	PublicKeysFile string
	Issuer         string
	Audience       string

	TLSCertFile  string
	TLSKeyFile   string
	ClientCAFile string

	RateLimit float64
	RateBurst int

	ReservationTTL    time.Duration
	ReservationSettle time.Duration
	HoldThresholdBps  int
}

// Register declares every setting.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	s.String(&c.GRPCAddr, "ISTHMUS_GATEWAY_GRPC_ADDR", ":9090", "gRPC listen address")
	s.String(&c.HTTPAddr, "ISTHMUS_GATEWAY_HTTP_ADDR", ":8080", "REST (grpc-gateway) listen address; serves /openapi.json")
	s.String(&c.JWKSFile, "ISTHMUS_GATEWAY_JWKS_FILE", "", "JWKS (JSON) or PEM public keys file to verify bearer tokens")
	s.String(&c.JWKSURL, "ISTHMUS_GATEWAY_JWKS_URL", "", "JWKS URL to verify bearer tokens (refreshed periodically)")
	s.Duration(&c.JWKSRefresh, "ISTHMUS_GATEWAY_JWKS_REFRESH", 5*time.Minute, "how often the JWKS URL is fetched again", config.Positive)
	s.String(&c.PublicKeysFile, "ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS", "", "PEM file of static public keys (development), in addition to the JWKS")
	s.String(&c.Issuer, "ISTHMUS_GATEWAY_JWT_ISSUER", "", "required token issuer (iss); empty: not checked")
	s.String(&c.Audience, "ISTHMUS_GATEWAY_JWT_AUDIENCE", "", "required token audience (aud); empty: not checked")
	s.String(&c.TLSCertFile, "ISTHMUS_GATEWAY_TLS_CERT_FILE", "", "PEM server certificate; gRPC and REST use TLS when set")
	s.String(&c.TLSKeyFile, "ISTHMUS_GATEWAY_TLS_KEY_FILE", "", "PEM server key")
	s.String(&c.ClientCAFile, "ISTHMUS_GATEWAY_TLS_CLIENT_CA_FILE", "", "PEM CA bundle for client certificates; when set, mutual TLS is required")
	s.Float(&c.RateLimit, "ISTHMUS_GATEWAY_RATE_LIMIT", 200, "calls per second per client (token subject) across replicas; 0 disables", config.AtLeast(0))
	s.Int(&c.RateBurst, "ISTHMUS_GATEWAY_RATE_BURST", 400, "burst size of the per-client rate limit", config.AtLeast(1))
	s.Duration(&c.ReservationTTL, "ISTHMUS_GATEWAY_RESERVATION_TTL", 15*time.Minute, "lifetime of a credit reservation", config.Positive)
	s.Duration(&c.ReservationSettle, "ISTHMUS_GATEWAY_RESERVATION_SETTLE", 30*time.Second, "a reservation is released by an erp.credit.v1 position computed this long after it", config.AtLeast(0))
	s.Int(&c.HoldThresholdBps, "ISTHMUS_GATEWAY_CREDIT_HOLD_THRESHOLD_BPS", 9000, "exposure above this share of the limit (basis points) is HOLD; 0 disables", config.BasisPoints)
	s.Check(c.validate)
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

func (c *Config) validate() error {
	if c.JWKSFile == "" && c.JWKSURL == "" && c.PublicKeysFile == "" {
		return errors.New("invalid ISTHMUS_GATEWAY_JWKS_FILE (--gateway-jwks-file): set it, ISTHMUS_GATEWAY_JWKS_URL or ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS: the gateway refuses to run without token verification keys")
	}
	for env, f := range map[string]string{"ISTHMUS_GATEWAY_JWKS_FILE": c.JWKSFile, "ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS": c.PublicKeysFile, "ISTHMUS_GATEWAY_TLS_CERT_FILE": c.TLSCertFile, "ISTHMUS_GATEWAY_TLS_KEY_FILE": c.TLSKeyFile, "ISTHMUS_GATEWAY_TLS_CLIENT_CA_FILE": c.ClientCAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("invalid %s (--%s): %v", env, config.FlagName(env), err)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("invalid ISTHMUS_GATEWAY_TLS_CERT_FILE (--gateway-tls-cert-file): set both the certificate and ISTHMUS_GATEWAY_TLS_KEY_FILE")
	}
	if c.ClientCAFile != "" && c.TLSCertFile == "" {
		return errors.New("invalid ISTHMUS_GATEWAY_TLS_CLIENT_CA_FILE (--gateway-tls-client-ca-file): mutual TLS needs ISTHMUS_GATEWAY_TLS_CERT_FILE")
	}
	return nil
}

// GCPercent is the gateway process's garbage collector target when GOGC is
// unset (lifecycle.GCTuned): its answers are its product, and every
// collection adds to their tail latency, so it trades memory for half as
// many collections as Go's default. 200, not more: under
// `isthmus loadgen --rate 50` its RSS is 64 MiB at 200 and 75 MiB at 400 (the
// target is 64), for a p99 at half load 0.2-0.5 ms lower at 400 (docs/gateway.md).
// Under a container memory limit the soft limit (90 % of it) bounds the heap
// whatever the percent.
func (c *Config) GCPercent() int { return gcPercent }

// The gateway's main hands its Config to lifecycle.Main, which applies it.
var _ lifecycle.GCTuned = (*Config)(nil)

const gcPercent = 200
