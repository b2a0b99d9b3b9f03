package testinfra

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// capture runs fn with a recorder and returns the Fatalf message ("" when none).
func capture(t *testing.T, fn func(tb testing.TB)) (msg string) {
	rec := &fatalRecorder{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if r != rec {
				panic(r)
			}
			msg = rec.msg
		}
	}()
	fn(rec)
	return ""
}

func TestEnvFailsWhenUnset(t *testing.T) {
	tests := []struct {
		name, env string
		get       func(testing.TB)
	}{
		{"brokers", EnvBrokers, func(tb testing.TB) { Brokers(tb) }},
		{"registry", EnvRegistryURL, func(tb testing.TB) { RegistryURL(tb) }},
		{"redis", EnvRedisURL, func(tb testing.TB) { RedisURL(tb) }},
		{"python", EnvPython, func(tb testing.TB) { Python(tb) }},
		{"kafka lib", EnvKafkaLib, func(tb testing.TB) { KafkaLib(tb) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, "")
			msg := capture(t, tt.get)
			if !strings.Contains(msg, tt.env+" is not set") || !strings.Contains(msg, "make test") {
				t.Fatalf("message %q does not name %s and how to provide it", msg, tt.env)
			}
		})
	}
}

func TestBrokers(t *testing.T) {
	t.Setenv(EnvBrokers, " 127.0.0.1:9092, 127.0.0.1:9093 ,")
	got := Brokers(t)
	if want := []string{"127.0.0.1:9092", "127.0.0.1:9093"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Brokers() = %q, want %q", got, want)
	}
	t.Setenv(EnvBrokers, " , ")
	if msg := capture(t, func(tb testing.TB) { Brokers(tb) }); !strings.Contains(msg, "names no broker") {
		t.Fatalf("empty broker list: message %q", msg)
	}
}

func TestPythonMustBeExecutable(t *testing.T) {
	t.Setenv(EnvPython, t.TempDir())
	if msg := capture(t, func(tb testing.TB) { Python(tb) }); !strings.Contains(msg, "not an executable file") {
		t.Fatalf("folder as python: message %q", msg)
	}
}

func TestUniqueTopic(t *testing.T) {
	legal := regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	a, b := UniqueTopic(t, "crm.account.v1"), UniqueTopic(t, "crm.account.v1")
	if a == b {
		t.Fatalf("two calls returned the same topic %q", a)
	}
	for _, name := range []string{a, b} {
		if !legal.MatchString(name) || !strings.HasPrefix(name, "crm.account.v1.TestUniqueTopic.") {
			t.Fatalf("topic %q: want a legal name starting with base and test name", name)
		}
	}
	t.Run("sub test/with spaces & slashes", func(t *testing.T) {
		name := UniqueTopic(t, strings.Repeat("x", 300))
		if !legal.MatchString(name) || len(name) > maxTopicLen {
			t.Fatalf("topic %q (len %d): want legal and at most %d characters", name, len(name), maxTopicLen)
		}
		sub := UniqueTopic(t, "b")
		if !strings.HasPrefix(sub, "b.TestUniqueTopic-sub_test-with_spaces_-_slashes.") {
			t.Fatalf("subtest topic %q", sub)
		}
	})
}
