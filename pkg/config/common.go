package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/oauth"
	"github.com/isthmus/isthmus/pkg/tlsconf"
)

// Registry is how to reach the schema registry.
type Registry struct {
	URL         string
	User        string
	Password    string
	BearerToken string
	CAFile      string // PEM CA bundle for an https registry (system roots when empty)
}

// Client returns a schema registry client: basic auth or bearer token, and
// the CA bundle for https. Every program builds its registry client here.
func (r Registry) Client(opts ...sr.ClientOpt) (*sr.Client, error) {
	base := []sr.ClientOpt{sr.URLs(strings.Split(r.URL, ",")...)}
	if r.User != "" {
		base = append(base, sr.BasicAuth(r.User, r.Password))
	}
	if r.BearerToken != "" {
		base = append(base, sr.BearerToken(r.BearerToken))
	}
	if r.CAFile != "" {
		tc, err := tlsconf.Client(tlsconf.Files{CAFile: r.CAFile})
		if err != nil {
			return nil, fmt.Errorf("invalid %s: %v", EnvRegistryCAFile, err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		base = append(base, sr.HTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
	}
	cl, err := sr.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return cl, nil
}

// Settings of the registry and Redis clients.
const (
	EnvRegistryCAFile = "ISTHMUS_SCHEMA_REGISTRY_CA_FILE"
	EnvRedisCAFile    = "ISTHMUS_REDIS_TLS_CA_FILE"
)

// Common is the configuration every Isthmus program shares (DESIGN.md §6).
type Common struct {
	Service  string
	Instance string // unique per replica: transactional ids, client ids
	// InstanceStable says Instance survives restarts of the same replica
	// (a StatefulSet pod name, an explicit per-replica id): processors then
	// use it as a static group member id.
	InstanceStable bool
	// StateDir keeps processor state stores on disk under it (Pebble, one
	// database per service instance) instead of in memory; empty: memory.
	StateDir    string
	Kafka       kafka.Config
	Registry    Registry
	RedisURL    string
	RedisCAFile string // PEM CA bundle for rediss:// (system roots when empty)
	LogLevel    slog.Level
	AdminAddr   string
	GatewayAddr string
}

// Topic returns the physical (prefixed) name of a logical topic.
func (c *Common) Topic(name string) string { return c.Kafka.Topic(name) }

// RedisTLSConfig returns the TLS configuration of a rediss:// URL (nil for
// redis:// and unix://): the server name from the URL, the CA bundle of
// ISTHMUS_REDIS_TLS_CA_FILE. go-redis' ParseURL result takes it as
// Options.TLSConfig.
func (c *Common) RedisTLSConfig() (*tls.Config, error) {
	u, err := url.Parse(c.RedisURL)
	if err != nil || u.Scheme != "rediss" {
		return nil, err
	}
	tc, err := tlsconf.Client(tlsconf.Files{CAFile: c.RedisCAFile})
	if err != nil {
		return nil, fmt.Errorf("invalid %s: %v", EnvRedisCAFile, err)
	}
	tc.ServerName = u.Hostname()
	return tc, nil
}

// Register declares the common settings on s. service names the program.
func (c *Common) Register(s *Set, service string) {
	c.Service = service
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	s.Func(kafka.EnvBrokers, "localhost:9092", "Kafka bootstrap brokers, comma-separated host:port", func(v string) error {
		b, err := kafka.ParseBrokers(v)
		c.Kafka.Brokers = b
		return err
	})
	s.Bool(&c.Kafka.TLS.Enabled, kafka.EnvTLSEnabled, false, "connect to Kafka over TLS (implied by a CA, certificate or server name setting)")
	s.String(&c.Kafka.TLS.CAFile, kafka.EnvTLSCAFile, "", "PEM CA bundle for the brokers' certificates (system roots when empty)")
	s.String(&c.Kafka.TLS.CertFile, kafka.EnvTLSCertFile, "", "PEM client certificate for mutual TLS")
	s.String(&c.Kafka.TLS.KeyFile, kafka.EnvTLSKeyFile, "", "PEM client key for mutual TLS")
	s.String(&c.Kafka.TLS.ServerName, kafka.EnvTLSServerName, "", "expected server name in the brokers' certificates")
	s.Func(kafka.EnvSASLMechanism, "", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (empty: no SASL)", func(v string) error {
		c.Kafka.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(v))
		return kafka.ValidMechanism(c.Kafka.SASL.Mechanism)
	})
	s.String(&c.Kafka.SASL.User, kafka.EnvSASLUser, "", "SASL user name (PLAIN, SCRAM)")
	s.SecretOrFile(&c.Kafka.SASL.Password, kafka.EnvSASLPassword, "SASL password (PLAIN, SCRAM)")
	RegisterOAuth(s, &c.Kafka.SASL.OAuth, kafka.EnvOAuthPrefix, "Kafka SASL/OAUTHBEARER")
	s.Func("ISTHMUS_TOPIC_PREFIX", "", "prefix for every topic, for environment/region isolation (e.g. prod.eu.)", func(v string) error {
		c.Kafka.TopicPrefix = v
		return kafka.ValidPrefix(v)
	})
	s.Func("ISTHMUS_SCHEMA_REGISTRY_URL", "http://localhost:8081", "Confluent-compatible schema registry URL", func(v string) error {
		c.Registry.URL = strings.TrimRight(v, "/")
		return checkURL(v, "http", "https")
	})
	s.String(&c.Registry.User, "ISTHMUS_SCHEMA_REGISTRY_USER", "", "schema registry basic-auth user")
	s.SecretOrFile(&c.Registry.Password, "ISTHMUS_SCHEMA_REGISTRY_PASSWORD", "schema registry basic-auth password")
	s.SecretOrFile(&c.Registry.BearerToken, "ISTHMUS_SCHEMA_REGISTRY_TOKEN", "schema registry bearer token")
	s.String(&c.Registry.CAFile, EnvRegistryCAFile, "", "PEM CA bundle for an https schema registry (system roots when empty)")
	s.Func("ISTHMUS_REDIS_URL", "redis://localhost:6379/0", "Redis URL (redis:// or rediss:// for TLS)", func(v string) error {
		c.RedisURL = v
		return checkURL(v, "redis", "rediss", "unix")
	})
	s.String(&c.RedisCAFile, EnvRedisCAFile, "", "PEM CA bundle for a rediss:// server (system roots when empty)")
	s.Func("ISTHMUS_LOG_LEVEL", "info", "log level: debug, info, warn or error", func(v string) error {
		return c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(v)))
	})
	s.Func("ISTHMUS_ADMIN_ADDR", ":9464", "listen address of /healthz, /readyz and /metrics", func(v string) error {
		c.AdminAddr = v
		return checkListen(v)
	})
	s.String(&c.GatewayAddr, "ISTHMUS_GATEWAY_ADDR", "localhost:9090", "gateway gRPC address (host:port)")
	s.String(&c.Instance, "ISTHMUS_INSTANCE_ID", host, "unique id of this replica (transactional ids); defaults to the host name")
	s.Bool(&c.InstanceStable, "ISTHMUS_INSTANCE_STABLE", false, "the instance id is stable across restarts of this replica (StatefulSet ordinal, explicit id): join consumer groups as a static member so a restart takes its place at once; a second live process with the same id then stops with an error")
	s.String(&c.StateDir, "ISTHMUS_STATE_DIR", "", "directory for on-disk state stores (state larger than memory; a restart restores only the changelog tail past the local checkpoint); empty keeps state in memory")
	s.Check(func() error {
		switch c.Kafka.SASL.Mechanism {
		case "":
		case "OAUTHBEARER":
			if err := c.Kafka.SASL.OAuth.Validate(); err != nil {
				return fmt.Errorf("invalid %s (--%s): OAUTHBEARER needs %sTOKEN_URL, CLIENT_ID and CLIENT_SECRET: %v",
					kafka.EnvSASLMechanism, FlagName(kafka.EnvSASLMechanism), kafka.EnvOAuthPrefix, err)
			}
		default:
			if c.Kafka.SASL.User == "" || c.Kafka.SASL.Password == "" {
				return fmt.Errorf("invalid %s (--%s): SASL needs %s and %s", kafka.EnvSASLMechanism,
					FlagName(kafka.EnvSASLMechanism), kafka.EnvSASLUser, kafka.EnvSASLPassword)
			}
		}
		t := &c.Kafka.TLS
		t.Enabled = t.Enabled || t.CAFile != "" || t.CertFile != "" || t.ServerName != ""
		if t.Enabled {
			if _, err := t.Config(); err != nil {
				return tlsconf.Invalid(err, kafka.EnvTLSCAFile, kafka.EnvTLSCertFile+" / "+kafka.EnvTLSKeyFile)
			}
		}
		if c.Registry.CAFile != "" {
			if _, err := tlsconf.Client(tlsconf.Files{CAFile: c.Registry.CAFile}); err != nil {
				return fmt.Errorf("invalid %s: %v", EnvRegistryCAFile, err)
			}
		}
		if c.RedisCAFile != "" {
			if _, err := tlsconf.Client(tlsconf.Files{CAFile: c.RedisCAFile}); err != nil {
				return fmt.Errorf("invalid %s: %v", EnvRedisCAFile, err)
			}
		}
		if c.Instance == "" {
			return errors.New("invalid ISTHMUS_INSTANCE_ID (--instance-id): empty")
		}
		c.Kafka.ClientID = c.Service + "-" + c.Instance
		return nil
	})
}

func checkURL(v string, schemes ...string) error {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a URL", v)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" && s != "unix" {
				return fmt.Errorf("%q has no host", v)
			}
			return nil
		}
	}
	return fmt.Errorf("%q: scheme must be one of %s", v, strings.Join(schemes, ", "))
}

func checkListen(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("%q is not [host]:port", v)
	}
	return nil
}

// RegisterOAuth declares the settings of an OAuth2 client-credentials client
// under prefix (ISTHMUS_KAFKA_SASL_OAUTH_ for Kafka, ISTHMUS_OAUTH_ for the
// gateway calls): TOKEN_URL, CLIENT_ID, CLIENT_SECRET (or CLIENT_SECRET_FILE,
// a mounted Secret), SCOPE and AUDIENCE (space-separated). what names the
// use in --help. Validation is the caller's: the client may be optional.
func RegisterOAuth(s *Set, o *oauth.Config, prefix, what string) {
	s.String(&o.TokenURL, prefix+"TOKEN_URL", "", what+": OAuth2 token endpoint (client-credentials grant)")
	s.String(&o.ClientID, prefix+"CLIENT_ID", "", what+": OAuth2 client id")
	s.SecretOrFile(&o.ClientSecret, prefix+"CLIENT_SECRET", what+": OAuth2 client secret")
	s.Func(prefix+"SCOPE", "", what+": scopes to ask for, space-separated", func(v string) error {
		o.Scopes = strings.Fields(v)
		return nil
	})
	s.Func(prefix+"AUDIENCE", "", what+": audience(s) to ask for, space-separated", func(v string) error {
		o.Audience = strings.Fields(v)
		return nil
	})
}
