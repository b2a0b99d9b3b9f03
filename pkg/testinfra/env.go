// Package testinfra connects integration tests to the real infrastructure that
// `make infra-up` starts (scripts/infra): an Apache Kafka broker in KRaft mode, the
// development schema registry, redis-server and a Python venv with Confluent's client.
//
// Tests find each part through an environment variable that mk/infra.mk exports.
// When one is unset the test fails with a message saying how to provide it:
// integration tests never skip silently.
//
// StartKafka starts a private broker (same jars and configuration as
// scripts/infra/kafka.sh, which alone writes the broker's configuration) for tests
// that stop, kill or restart the broker.
package testinfra

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Environment variables exported by mk/infra.mk for tests.
const (
	EnvBrokers     = "ISTHMUS_KAFKA_BROKERS"       // host:port[,host:port...]
	EnvRegistryURL = "ISTHMUS_SCHEMA_REGISTRY_URL" // http://127.0.0.1:8081
	EnvRedisURL    = "ISTHMUS_REDIS_URL"           // redis://127.0.0.1:6379/0
	EnvPython      = "ISTHMUS_PYTHON"              // .venv/bin/python
	EnvKafkaLib    = "ISTHMUS_KAFKA_LIB"           // folder of the Kafka broker jars
)

// require returns the value of an environment variable or fails the test.
func require(t testing.TB, name, what string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		t.Fatalf("testinfra: %s is not set; this integration test needs %s. "+
			"Run `make test`, or `make infra-up` and then `eval \"$(make -s infra-env)\"` before go test -tags integration",
			name, what)
	}
	return v
}

// Brokers returns the seed brokers of the shared test broker (ISTHMUS_KAFKA_BROKERS).
func Brokers(t testing.TB) []string {
	t.Helper()
	v := require(t, EnvBrokers, "a real Kafka broker")
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("testinfra: %s=%q names no broker", EnvBrokers, v)
	}
	return out
}

// RegistryURL returns the schema registry's base URL (ISTHMUS_SCHEMA_REGISTRY_URL).
func RegistryURL(t testing.TB) string {
	t.Helper()
	return strings.TrimRight(require(t, EnvRegistryURL, "the schema registry"), "/")
}

// RedisURL returns the Redis URL (ISTHMUS_REDIS_URL).
func RedisURL(t testing.TB) string {
	t.Helper()
	return require(t, EnvRedisURL, "a real redis-server")
}

// Python returns the interpreter of the interop venv (ISTHMUS_PYTHON), checked to be
// an executable file.
func Python(t testing.TB) string {
	t.Helper()
	p := require(t, EnvPython, "the Python venv with confluent-kafka (make venv)")
	if err := executable(p); err != nil {
		t.Fatalf("testinfra: %s=%s: %v; run `make venv`", EnvPython, p, err)
	}
	return p
}

// KafkaLib returns the folder of the Kafka broker jars (ISTHMUS_KAFKA_LIB).
func KafkaLib(t testing.TB) string {
	t.Helper()
	dir := require(t, EnvKafkaLib, "the Kafka broker jars (scripts/infra/kafka.sh lib)")
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		t.Fatalf("testinfra: %s=%s is not a folder; run `scripts/infra/kafka.sh lib`", EnvKafkaLib, dir)
	}
	return dir
}

func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	return nil
}
