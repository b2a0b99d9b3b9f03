package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The integration tier proves each refusal on the secured broker; this
// table pins the classification of the errors franz-go returns.
func TestExplainNamesTheSetting(t *testing.T) {
	scram := Config{Brokers: []string{"b:9094"}, TLS: TLS{Enabled: true}, SASL: SASL{Mechanism: "SCRAM-SHA-512", User: "u"}}
	cases := []struct {
		name string
		cfg  Config
		err  error
		want string // setting named; "" = not a ConnectError
	}{
		{"wrong password", scram, fmt.Errorf("sasl: %w", kerr.SaslAuthenticationFailed), EnvSASLPassword},
		{"unknown CA", scram, fmt.Errorf("unable to dial: %w", x509.UnknownAuthorityError{}), EnvTLSCAFile},
		{"host name", scram, x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b"}, EnvTLSServerName},
		{"mechanism", scram, kerr.UnsupportedSaslMechanism, EnvSASLMechanism},
		{"client cert", scram, errors.New("remote error: tls: certificate required"), EnvTLSCertFile},
		{"plaintext to TLS", Config{Brokers: []string{"b:1"}}, errors.New("is this a plaintext connection speaking to a tls endpoint?"), EnvTLSEnabled},
		{"hang-up without TLS", Config{Brokers: []string{"b:1"}}, io.EOF, EnvTLSEnabled},
		{"oauth token", Config{Brokers: []string{"b:1"}, SASL: SASL{Mechanism: "OAUTHBEARER"}}, &oauthError{err: errors.New("401")}, EnvOAuthSecret},
		{"unreachable", scram, context.DeadlineExceeded, ""},
		{"topic error passes", scram, kerr.TopicAuthorizationFailed, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Explain(tc.err)
			var ce *ConnectError
			if tc.want == "" {
				if errors.As(err, &ce) {
					t.Fatalf("%v classified as a refusal: %v", tc.err, err)
				}
				return
			}
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want one line naming %s, got %v", tc.want, err)
			}
		})
	}
}
