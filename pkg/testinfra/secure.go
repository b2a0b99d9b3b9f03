package testinfra

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EnvSecureDir names the state folder of the secured broker
// (scripts/infra/secure.sh; mk/secure.mk exports it for its tests).
const EnvSecureDir = "ISTHMUS_SECURE_DIR"

// Secure returns the settings a client needs for one listener of the secured
// broker — "scram" (SASL_SSL SCRAM-SHA-512), "mtls" (mutual TLS) or "oauth"
// (SASL_SSL OAUTHBEARER, plus the Hydra client's ISTHMUS_OAUTH_* settings) —
// as written by scripts/infra/secure.sh. The test is skipped, saying how to
// start it, when the secured broker is not up (`make test-secure` starts it).
func Secure(t testing.TB, listener string) map[string]string {
	t.Helper()
	dir := strings.TrimSpace(os.Getenv(EnvSecureDir))
	if dir == "" {
		t.Skipf("testinfra: secured broker not configured (%s unset): run `make test-secure`, or `make infra-up-secure` and %s=$PWD/.cache/secure", EnvSecureDir, EnvSecureDir)
	}
	path := filepath.Join(dir, listener+".env")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("testinfra: secured broker not up (%v): run `make infra-up-secure`", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("testinfra: %s: %v", path, err)
	}
	addr := env["ISTHMUS_KAFKA_BROKERS"]
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Skipf("testinfra: secured broker not up at %s (%v): run `make infra-up-secure`", addr, err)
	}
	c.Close()
	return env
}

// HydraClient creates a client-credentials client on the Ory Hydra of the
// secured infrastructure (env from Secure(t, "oauth")) whose access tokens
// live for lifespan and may carry the given audiences and scopes. It returns
// the client id and secret; the client is deleted when the test ends.
func HydraClient(t testing.TB, env map[string]string, lifespan time.Duration, audience, scopes []string) (id, secret string) {
	t.Helper()
	admin := env["ISTHMUS_OAUTH_ADMIN_URL"]
	if admin == "" {
		t.Fatal("testinfra: no ISTHMUS_OAUTH_ADMIN_URL in the oauth settings of the secured infrastructure")
	}
	id = fmt.Sprintf("test-%s-%d", sanitize(t.Name()), time.Now().UnixNano())
	secret = fmt.Sprintf("secret-%d-%d", os.Getpid(), time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{
		"client_id": id, "client_secret": secret, "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "audience": audience, "scope": strings.Join(scopes, " "),
		"client_credentials_grant_access_token_lifespan": lifespan.String(),
	})
	resp, err := http.Post(admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testinfra: create hydra client: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("testinfra: create hydra client: HTTP %d: %s", resp.StatusCode, msg)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, admin+"/admin/clients/"+id, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return id, secret
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
}

// UntrustedCA writes a fresh self-signed CA certificate that signed nothing
// the secured broker presents, and returns its path.
func UntrustedCA(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "untrusted test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "untrusted-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
