// Package kafka turns Isthmus' Kafka settings into franz-go client options:
// seed brokers, TLS (CA, client certificate) and SASL (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with client-credentials tokens
// from pkg/oauth). Every program connects through Config.NewClient, and
// Preflight turns a refused connection (wrong password, untrusted CA) into
// one line naming the setting to fix. It also names topics: every topic name
// in the catalog is logical and gets the environment's prefix here.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	sasloauth "github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/isthmus/isthmus/pkg/oauth"
	"github.com/isthmus/isthmus/pkg/tlsconf"
)

// TLS settings. Enabled with no files uses the system roots.
type TLS struct {
	Enabled            bool
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// SASL settings. Mechanism "" disables SASL.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
	User      string
	Password  string
	// OAuth is the client whose tokens OAUTHBEARER presents.
	OAuth oauth.Config
}

// Config is how to reach the cluster.
type Config struct {
	Brokers     []string
	TLS         TLS
	SASL        SASL
	TopicPrefix string
	ClientID    string
}

// Topic returns the physical name of a logical topic.
func (c Config) Topic(name string) string { return c.TopicPrefix + name }

// Logical strips the prefix from a physical topic name.
func (c Config) Logical(physical string) string {
	return strings.TrimPrefix(physical, c.TopicPrefix)
}

// ParseBrokers splits a comma-separated host:port list and checks each.
func ParseBrokers(v string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(v, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not host:port", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%q has an invalid port", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no broker given")
	}
	return out, nil
}

// ValidMechanism reports whether m is a supported SASL mechanism ("" = none).
func ValidMechanism(m string) error {
	switch strings.ToUpper(m) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER":
		return nil
	}
	return fmt.Errorf("%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER", m)
}

// ValidPrefix checks a topic prefix: Kafka topic characters only.
func ValidPrefix(p string) error {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q contains %q; only letters, digits, '.', '_' and '-' are allowed", p, r)
		}
	}
	if len(p) > 100 {
		return fmt.Errorf("prefix longer than 100 characters")
	}
	return nil
}

// Opts returns the client options for this configuration.
func (c Config) Opts() ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers configured")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.TLS.Enabled {
		tc, err := c.TLS.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha512Mechanism()))
	case "OAUTHBEARER":
		src, err := c.TokenSource()
		if err != nil {
			return nil, err
		}
		// Called on every connection and every re-authentication (the broker
		// ends a session when its token expires): the Source hands out its
		// cached token and renews it ahead of expiry.
		opts = append(opts, kgo.SASL(sasloauth.Oauth(func(ctx context.Context) (sasloauth.Auth, error) {
			t, err := src.Token(ctx)
			if err != nil {
				return sasloauth.Auth{}, &oauthError{err: err}
			}
			return sasloauth.Auth{Token: t.Value}, nil
		})))
	default:
		return nil, ValidMechanism(c.SASL.Mechanism)
	}
	return opts, nil
}

// TokenSource returns the process-wide token source of the OAUTHBEARER
// client (an error unless the mechanism is OAUTHBEARER and its client is
// configured).
func (c Config) TokenSource() (*oauth.Source, error) {
	if !strings.EqualFold(c.SASL.Mechanism, "OAUTHBEARER") {
		return nil, fmt.Errorf("kafka: SASL mechanism %q does not use OAuth tokens", c.SASL.Mechanism)
	}
	src, err := oauth.Shared(c.SASL.OAuth)
	if err != nil {
		return nil, fmt.Errorf("kafka OAUTHBEARER (%s): %v", EnvOAuthPrefix+"*", err)
	}
	return src, nil
}

// NewClient builds a client from the configuration plus extra options.
func (c Config) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Opts()
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// Config returns the brokers' crypto/tls configuration (pkg/tlsconf; a
// file that cannot be used is a *tlsconf.FileError).
func (t TLS) Config() (*tls.Config, error) {
	tc, err := tlsconf.Client(tlsconf.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile})
	if err != nil {
		return nil, err
	}
	tc.ServerName = t.ServerName
	tc.InsecureSkipVerify = t.InsecureSkipVerify //nolint:gosec // opt-in for test clusters
	return tc, nil
}
