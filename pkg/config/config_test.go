package config

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestCommonDefaultsAndPrecedence(t *testing.T) {
	var c Common
	var d time.Duration
	s := NewSet("svc")
	c.Register(s, "svc")
	s.Duration(&d, "ISTHMUS_SVC_TIMEOUT", 5*time.Second, "timeout")
	err := s.Parse([]string{"--kafka-brokers", "b1:9092,b2:9093"}, env(map[string]string{
		"ISTHMUS_KAFKA_BROKERS": "ignored:1",
		"ISTHMUS_TOPIC_PREFIX":  "prod.eu.",
		"ISTHMUS_SVC_TIMEOUT":   "2s",
		"ISTHMUS_STATE_DIR":     "/var/lib/isthmus",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Kafka.Brokers, ","); got != "b1:9092,b2:9093" {
		t.Errorf("brokers = %s, flag must win", got)
	}
	if c.Topic("crm.account.v1") != "prod.eu.crm.account.v1" {
		t.Errorf("topic = %s", c.Topic("crm.account.v1"))
	}
	if d != 2*time.Second {
		t.Errorf("duration = %v", d)
	}
	if c.StateDir != "/var/lib/isthmus" {
		t.Errorf("state dir = %q", c.StateDir)
	}
	if c.Registry.URL != "http://localhost:8081" || c.RedisURL != "redis://localhost:6379/0" || c.AdminAddr != ":9464" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"broker":   {map[string]string{"ISTHMUS_KAFKA_BROKERS": "nohost"}, "ISTHMUS_KAFKA_BROKERS"},
		"sasl":     {map[string]string{"ISTHMUS_KAFKA_SASL_MECHANISM": "GSSAPI"}, "ISTHMUS_KAFKA_SASL_MECHANISM"},
		"saslUser": {map[string]string{"ISTHMUS_KAFKA_SASL_MECHANISM": "PLAIN"}, "ISTHMUS_KAFKA_SASL_USER"},
		"registry": {map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": "ftp://x"}, "ISTHMUS_SCHEMA_REGISTRY_URL"},
		"redis":    {map[string]string{"ISTHMUS_REDIS_URL": "http://x"}, "ISTHMUS_REDIS_URL"},
		"prefix":   {map[string]string{"ISTHMUS_TOPIC_PREFIX": "a/b"}, "ISTHMUS_TOPIC_PREFIX"},
		"level":    {map[string]string{"ISTHMUS_LOG_LEVEL": "loud"}, "ISTHMUS_LOG_LEVEL"},
		"admin":    {map[string]string{"ISTHMUS_ADMIN_ADDR": "9464"}, "ISTHMUS_ADMIN_ADDR"},
		"tlsca":    {map[string]string{"ISTHMUS_KAFKA_TLS_ENABLED": "true", "ISTHMUS_KAFKA_TLS_CA_FILE": "/nonexistent"}, "ISTHMUS_KAFKA_TLS"},
		"bool":     {map[string]string{"ISTHMUS_KAFKA_TLS_ENABLED": "maybe"}, "ISTHMUS_KAFKA_TLS_ENABLED"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var c Common
			s := NewSet("svc")
			c.Register(s, "svc")
			err := s.Parse(nil, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error must be one line: %q", err)
			}
		})
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var c Common
	s := NewSet("svc")
	c.Register(s, "svc")
	var out strings.Builder
	if err := s.Parse([]string{"--help"}, env(nil), &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, st := range s.settings {
		if !strings.Contains(out.String(), "--"+st.Flag) || !strings.Contains(out.String(), st.Env) {
			t.Errorf("help lacks %s", st.Env)
		}
	}
}

func TestSecretsMasked(t *testing.T) {
	var c Common
	s := NewSet("svc")
	c.Register(s, "svc")
	if err := s.Parse(nil, env(map[string]string{
		"ISTHMUS_KAFKA_SASL_MECHANISM": "PLAIN", "ISTHMUS_KAFKA_SASL_USER": "u", "ISTHMUS_KAFKA_SASL_PASSWORD": "hunter2",
		"ISTHMUS_REDIS_URL": "redis://user:pw@localhost:6379/0",
	}), io.Discard); err != nil {
		t.Fatal(err)
	}
	eff := s.Effective()
	if eff["ISTHMUS_KAFKA_SASL_PASSWORD"] != "****" || strings.Contains(eff["ISTHMUS_REDIS_URL"], "pw") {
		t.Errorf("secrets leak: %v", eff)
	}
}

func TestBareBoolFlag(t *testing.T) {
	var b bool
	var s2 string
	s := NewSet("x")
	s.Bool(&b, "ISTHMUS_X_ON", false, "on")
	s.String(&s2, "ISTHMUS_X_NAME", "", "name")
	if err := s.Parse([]string{"--x-on", "--x-name", "n"}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	if !b || s2 != "n" {
		t.Fatalf("b=%v s=%q", b, s2)
	}
}

func TestMaskURLAndMechanismSpaces(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:pw@h:6379/0":   "redis://u:****@h:6379/0",
		"https://APIKEY@registry": "https://****@registry",
		"http://localhost:8081":   "http://localhost:8081",
		"localhost:9092,b2:9093":  "localhost:9092,b2:9093",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
	var c Common
	s := NewSet("svc")
	c.Register(s, "svc")
	err := s.Parse(nil, env(map[string]string{"ISTHMUS_KAFKA_SASL_MECHANISM": " plain ", "ISTHMUS_KAFKA_SASL_USER": "u", "ISTHMUS_KAFKA_SASL_PASSWORD": "p"}), io.Discard)
	if err != nil || c.Kafka.SASL.Mechanism != "PLAIN" {
		t.Fatalf("mechanism %q err %v", c.Kafka.SASL.Mechanism, err)
	}
}

func TestSecuredKafkaSettings(t *testing.T) {
	dir := t.TempDir()
	secret := dir + "/secret"
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(e map[string]string) (Common, error) {
		var c Common
		s := NewSet("svc")
		c.Register(s, "svc")
		return c, s.Parse(nil, env(e), io.Discard)
	}
	c, err := parse(map[string]string{
		"ISTHMUS_KAFKA_SASL_MECHANISM":                "oauthbearer",
		"ISTHMUS_KAFKA_SASL_OAUTH_TOKEN_URL":          "http://127.0.0.1:4444/oauth2/token",
		"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_ID":          "isthmus",
		"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE": secret,
		"ISTHMUS_KAFKA_SASL_OAUTH_AUDIENCE":           "kafka",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Mechanism != "OAUTHBEARER" || c.Kafka.SASL.OAuth.ClientSecret != "s3cret" || strings.Join(c.Kafka.SASL.OAuth.Audience, ",") != "kafka" {
		t.Errorf("oauth settings: %+v", c.Kafka.SASL)
	}
	bad := map[string]struct {
		env  map[string]string
		want string
	}{
		"oauth without client": {map[string]string{"ISTHMUS_KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, "ISTHMUS_KAFKA_SASL_OAUTH_TOKEN_URL"},
		"secret twice": {map[string]string{"ISTHMUS_KAFKA_SASL_PASSWORD": "a", "ISTHMUS_KAFKA_SASL_PASSWORD_FILE": secret},
			"invalid ISTHMUS_KAFKA_SASL_PASSWORD_FILE"},
		"secret file missing": {map[string]string{"ISTHMUS_KAFKA_SASL_PASSWORD_FILE": dir + "/nope"}, "invalid ISTHMUS_KAFKA_SASL_PASSWORD_FILE"},
		"ca implies tls":      {map[string]string{"ISTHMUS_KAFKA_TLS_CA_FILE": secret}, "invalid ISTHMUS_KAFKA_TLS_CA_FILE"},
		"registry ca":         {map[string]string{"ISTHMUS_SCHEMA_REGISTRY_CA_FILE": dir + "/nope"}, "invalid ISTHMUS_SCHEMA_REGISTRY_CA_FILE"},
		"redis ca":            {map[string]string{"ISTHMUS_REDIS_TLS_CA_FILE": secret}, "invalid ISTHMUS_REDIS_TLS_CA_FILE"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want one line with %q, got %v", tc.want, err)
			}
		})
	}
	c, err = parse(map[string]string{"ISTHMUS_REDIS_URL": "rediss://cache.internal:6380/0"})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.RedisTLSConfig()
	if err != nil || tc == nil || tc.ServerName != "cache.internal" {
		t.Fatalf("rediss TLS config %+v, %v", tc, err)
	}
}

func TestBoundsNameTheSettingAndTheRange(t *testing.T) {
	var n, bps, any int
	var f float64
	var d, zero time.Duration
	s := NewSet("svc")
	s.Int(&n, "ISTHMUS_SVC_WORKERS", 4, "workers", AtLeast(1))
	s.Int(&bps, "ISTHMUS_SVC_SHARE_BPS", 100, "share", BasisPoints)
	s.Int(&any, "ISTHMUS_SVC_ANY", -5, "any integer")
	s.Float(&f, "ISTHMUS_SVC_RATE", 2.5, "rate", AtLeast(0))
	s.Duration(&d, "ISTHMUS_SVC_TICK", time.Second, "tick", Positive)
	s.Duration(&zero, "ISTHMUS_SVC_GRACE", 0, "grace, 0 for none", AtLeast(0))
	for env, want := range map[string]string{
		"ISTHMUS_SVC_WORKERS":   "invalid ISTHMUS_SVC_WORKERS (--svc-workers): 0, must be at least 1",
		"ISTHMUS_SVC_SHARE_BPS": "invalid ISTHMUS_SVC_SHARE_BPS (--svc-share-bps): 10001, must be 0 to 10000",
		"ISTHMUS_SVC_RATE":      "invalid ISTHMUS_SVC_RATE (--svc-rate): -0.5, must be 0 or more",
		"ISTHMUS_SVC_TICK":      "invalid ISTHMUS_SVC_TICK (--svc-tick): 0s, must be positive",
	} {
		bad := map[string]string{"ISTHMUS_SVC_WORKERS": "0", "ISTHMUS_SVC_SHARE_BPS": "10001", "ISTHMUS_SVC_RATE": "-0.5", "ISTHMUS_SVC_TICK": "0s"}[env]
		err := s.Parse(nil, env2(env, bad), io.Discard)
		if err == nil || err.Error() != want {
			t.Errorf("%s=%s: err = %v, want %q", env, bad, err, want)
		}
	}
	if err := s.Parse(nil, env2("ISTHMUS_SVC_SHARE_BPS", "10000"), io.Discard); err != nil || bps != 10000 || n != 4 || any != -5 || f != 2.5 || d != time.Second || zero != 0 {
		t.Errorf("in bounds: err %v, values %d %d %d %g %s %s", err, n, bps, any, f, d, zero)
	}
}

func env2(k, v string) func(string) (string, bool) { return env(map[string]string{k: v}) }

type tickSettings struct {
	Common
	Tick time.Duration
}

func (c *tickSettings) Register(s *Set) {
	c.Common.Register(s, "svc")
	s.Duration(&c.Tick, "SVC_TICK", time.Second, "tick", Positive)
}

// ParseMaps reads the maps alone, a later one winning, and refuses what
// Parse refuses.
func TestParseMaps(t *testing.T) {
	t.Setenv("SVC_TICK", "9s") // the process environment is not read
	var c tickSettings
	if err := ParseMaps("svc", &c, map[string]string{"SVC_TICK": "2s", "ISTHMUS_INSTANCE_ID": "a"}, map[string]string{"SVC_TICK": "3s"}); err != nil {
		t.Fatal(err)
	}
	if c.Tick != 3*time.Second || c.Instance != "a" {
		t.Errorf("tick %v instance %q, want 3s from the later map and a from the first", c.Tick, c.Instance)
	}
	if err := ParseMaps("svc", &tickSettings{}); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := ParseMaps("svc", &tickSettings{}, map[string]string{"SVC_TICK": "0s"}); err == nil || !strings.Contains(err.Error(), "invalid SVC_TICK") {
		t.Errorf("SVC_TICK=0s: %v", err)
	}
}

// Unrefused lists what a setting accepted, or refused without naming it.
func TestUnrefused(t *testing.T) {
	fresh := func() Settings { return &tickSettings{} }
	if got := Unrefused("svc", fresh, map[string]string{"SVC_TICK": "0s", "ISTHMUS_LOG_LEVEL": "loud"}); len(got) != 0 {
		t.Errorf("refused settings listed: %v", got)
	}
	got := Unrefused("svc", fresh, map[string]string{"SVC_TICK": "5s"})
	if len(got) != 1 || !strings.Contains(got[0], "SVC_TICK=5s: accepted") {
		t.Errorf("an accepted value: %v", got)
	}
}
