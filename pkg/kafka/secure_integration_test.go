//go:build integration

package kafka_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// common parses env (plus over) through pkg/config, as every program does.
func common(t *testing.T, env map[string]string, over map[string]string) config.Common {
	t.Helper()
	var c config.Common
	s := config.NewSet("test")
	c.Register(s, "secure-test")
	err := s.Parse(nil, func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		v, ok := env[k]
		return v, ok
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTrip creates a topic, produces a record and reads it back over cfg.
func roundTrip(t *testing.T, cfg kafka.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := testinfra.UniqueTopic(t, "secure")
	cl, err := cfg.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", cfg.Explain(err))
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("secured")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", cfg.Explain(err))
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if r := fs.Records(); len(r) != 1 || string(r[0].Value) != "secured" {
		t.Fatalf("read back %d records", len(r))
	}
}

// refused runs Preflight and checks it fails with one line naming setting.
func refused(t *testing.T, cfg kafka.Config, setting string) {
	t.Helper()
	err := cfg.Preflight(context.Background(), 15*time.Second)
	var ce *kafka.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ConnectError naming %s, got %T %v", setting, err, err)
	}
	if !strings.Contains(err.Error(), setting) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line naming %s, got %q", setting, err)
	}
	t.Logf("refused: %s", err)
}

func TestSecureSCRAM(t *testing.T) {
	env := testinfra.Secure(t, "scram")
	cfg := common(t, env, nil).Kafka
	if err := cfg.Preflight(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cfg)
}

func TestSecureWrongPasswordNamesTheSetting(t *testing.T) {
	env := testinfra.Secure(t, "scram")
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_SASL_PASSWORD": "not-the-password"}).Kafka, "ISTHMUS_KAFKA_SASL_PASSWORD")
}

func TestSecureUntrustedCANamesTheSetting(t *testing.T) {
	env := testinfra.Secure(t, "scram")
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_TLS_CA_FILE": testinfra.UntrustedCA(t)}).Kafka, "ISTHMUS_KAFKA_TLS_CA_FILE")
}

func TestSecureNoTLSNamesTheSetting(t *testing.T) {
	env := testinfra.Secure(t, "scram")
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_TLS_ENABLED": "false", "ISTHMUS_KAFKA_TLS_CA_FILE": ""}).Kafka, "ISTHMUS_KAFKA_TLS_ENABLED")
}

func TestSecureMutualTLS(t *testing.T) {
	env := testinfra.Secure(t, "mtls")
	roundTrip(t, common(t, env, nil).Kafka)
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_TLS_CERT_FILE": "", "ISTHMUS_KAFKA_TLS_KEY_FILE": ""}).Kafka, "ISTHMUS_KAFKA_TLS_CERT_FILE")
}

// TestSecureOAuthBearerRenews runs a producer over the OAUTHBEARER listener
// with tokens from Ory Hydra that live 6 seconds, for 20 seconds: the broker
// ends each session when its token expires, so the client keeps working only
// by presenting renewed tokens.
func TestSecureOAuthBearerRenews(t *testing.T) {
	env := testinfra.Secure(t, "oauth")
	id, secret := testinfra.HydraClient(t, env, 6*time.Second, []string{"kafka"}, nil)
	cfg := common(t, env, map[string]string{"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_ID": id, "ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET": secret}).Kafka
	if err := cfg.Preflight(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cfg)
	src, err := cfg.TokenSource()
	if err != nil {
		t.Fatal(err)
	}
	before := src.Fetches()
	topic := testinfra.UniqueTopic(t, "oauth")
	cl, err := cfg.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Value: []byte("tick")}).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("produce %d after %d token(s): %v", n, src.Fetches(), err)
		}
		n++
		time.Sleep(500 * time.Millisecond)
	}
	if got := src.Fetches() - before; got < 3 {
		t.Fatalf("%d tokens fetched over 20s of 6s tokens; want at least 3", got)
	}
	t.Logf("%d records over 20s, %d tokens fetched", n, src.Fetches()-before)
}

func TestSecureOAuthBearerWrongSecretNamesTheSetting(t *testing.T) {
	env := testinfra.Secure(t, "oauth")
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET": "wrong"}).Kafka, "ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET")
}

func TestSecureOAuthBearerWrongAudienceRefused(t *testing.T) {
	env := testinfra.Secure(t, "oauth")
	id, secret := testinfra.HydraClient(t, env, time.Minute, []string{"kafka", "elsewhere"}, nil)
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_ID": id,
		"ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET": secret, "ISTHMUS_KAFKA_SASL_OAUTH_AUDIENCE": "elsewhere"}).Kafka, "ISTHMUS_KAFKA_SASL_OAUTH_")
}

// TestSecureOAuthBearerForgedTokenRefused presents a JWT with the right
// issuer, audience and lifetime but signed by a key Hydra never published:
// the broker must check signatures against the JWKS, not only read claims.
func TestSecureOAuthBearerForgedTokenRefused(t *testing.T) {
	env := testinfra.Secure(t, "oauth")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now().Unix()
	issuer := strings.TrimSuffix(env["ISTHMUS_OAUTH_ISSUER"], "/")
	signed := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "forged"}) + "." +
		enc(map[string]any{"iss": issuer, "aud": []string{"kafka"}, "sub": "intruder", "iat": now, "nbf": now, "exp": now + 300, "scp": []string{}})
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	forged := signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":300}`, forged)
	}))
	defer srv.Close()
	refused(t, common(t, env, map[string]string{"ISTHMUS_KAFKA_SASL_OAUTH_TOKEN_URL": srv.URL}).Kafka, "ISTHMUS_KAFKA_SASL_OAUTH_")
}
