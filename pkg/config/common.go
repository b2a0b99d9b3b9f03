package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/isthmus/isthmus/pkg/kafka"
)

// Registry is how to reach the schema registry.
type Registry struct {
	URL         string
	User        string
	Password    string
	BearerToken string
}

// Common is the configuration every Isthmus program shares (DESIGN.md §6).
type Common struct {
	Service  string
	Instance string // unique per replica: transactional ids, client ids
	// InstanceStable says Instance survives restarts of the same replica
	// (a StatefulSet pod name, an explicit per-replica id): processors then
	// use it as a static group member id.
	InstanceStable bool
	Kafka          kafka.Config
	Registry       Registry
	RedisURL       string
	LogLevel       slog.Level
	AdminAddr      string
	GatewayAddr    string
}

// Topic returns the physical (prefixed) name of a logical topic.
func (c *Common) Topic(name string) string { return c.Kafka.Topic(name) }

// Register declares the common settings on s. service names the program.
func (c *Common) Register(s *Set, service string) {
	c.Service = service
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	s.Func("ISTHMUS_KAFKA_BROKERS", "localhost:9092", "Kafka bootstrap brokers, comma-separated host:port", func(v string) error {
		b, err := kafka.ParseBrokers(v)
		c.Kafka.Brokers = b
		return err
	})
	s.Bool(&c.Kafka.TLS.Enabled, "ISTHMUS_KAFKA_TLS_ENABLED", false, "connect to Kafka over TLS")
	s.String(&c.Kafka.TLS.CAFile, "ISTHMUS_KAFKA_TLS_CA_FILE", "", "PEM CA bundle for the brokers' certificates (system roots when empty)")
	s.String(&c.Kafka.TLS.CertFile, "ISTHMUS_KAFKA_TLS_CERT_FILE", "", "PEM client certificate for mutual TLS")
	s.String(&c.Kafka.TLS.KeyFile, "ISTHMUS_KAFKA_TLS_KEY_FILE", "", "PEM client key for mutual TLS")
	s.String(&c.Kafka.TLS.ServerName, "ISTHMUS_KAFKA_TLS_SERVER_NAME", "", "expected server name in the brokers' certificates")
	s.Func("ISTHMUS_KAFKA_SASL_MECHANISM", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)", func(v string) error {
		c.Kafka.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(v))
		return kafka.ValidMechanism(c.Kafka.SASL.Mechanism)
	})
	s.String(&c.Kafka.SASL.User, "ISTHMUS_KAFKA_SASL_USER", "", "SASL user name")
	s.Secret(&c.Kafka.SASL.Password, "ISTHMUS_KAFKA_SASL_PASSWORD", "SASL password")
	s.Func("ISTHMUS_TOPIC_PREFIX", "", "prefix for every topic, for environment/region isolation (e.g. prod.eu.)", func(v string) error {
		c.Kafka.TopicPrefix = v
		return kafka.ValidPrefix(v)
	})
	s.Func("ISTHMUS_SCHEMA_REGISTRY_URL", "http://localhost:8081", "Confluent-compatible schema registry URL", func(v string) error {
		c.Registry.URL = strings.TrimRight(v, "/")
		return checkURL(v, "http", "https")
	})
	s.String(&c.Registry.User, "ISTHMUS_SCHEMA_REGISTRY_USER", "", "schema registry basic-auth user")
	s.Secret(&c.Registry.Password, "ISTHMUS_SCHEMA_REGISTRY_PASSWORD", "schema registry basic-auth password")
	s.Secret(&c.Registry.BearerToken, "ISTHMUS_SCHEMA_REGISTRY_TOKEN", "schema registry bearer token")
	s.Func("ISTHMUS_REDIS_URL", "redis://localhost:6379/0", "Redis URL (redis:// or rediss://)", func(v string) error {
		c.RedisURL = v
		return checkURL(v, "redis", "rediss", "unix")
	})
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
	s.Check(func() error {
		if c.Kafka.SASL.Mechanism != "" && (c.Kafka.SASL.User == "" || c.Kafka.SASL.Password == "") {
			return errors.New("invalid ISTHMUS_KAFKA_SASL_MECHANISM (--kafka-sasl-mechanism): SASL needs ISTHMUS_KAFKA_SASL_USER and ISTHMUS_KAFKA_SASL_PASSWORD")
		}
		if c.Kafka.TLS.Enabled {
			if _, err := c.Kafka.TLS.Config(); err != nil {
				return fmt.Errorf("invalid ISTHMUS_KAFKA_TLS_* settings: %v", err)
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
