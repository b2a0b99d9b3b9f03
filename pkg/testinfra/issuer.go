package testinfra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is a token issuer for tests: an ES256 key whose JWKS is served
// over real HTTP (JWKSURL), the way an identity provider publishes it, and
// that mints tokens with a subject and roles (claim "scope").
type Issuer struct {
	Name    string // iss claim
	JWKSURL string
	key     *ecdsa.PrivateKey
	kid     string
}

// NewIssuer starts an issuer; its JWKS endpoint stops when the test ends.
func NewIssuer(t testing.TB, name string) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{Name: name, key: key, kid: name + "-1"}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": is.kid,
		"x": b64(key.X.FillBytes(make([]byte, 32))), "y": b64(key.Y.FillBytes(make([]byte, 32)))}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	is.JWKSURL = srv.URL + "/.well-known/jwks.json"
	return is
}

// Mint signs a token for subject with roles (space-separated "scope"),
// valid for ttl (negative: already expired).
func (is *Issuer) Mint(t testing.TB, subject string, roles []string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": is.Name, "sub": subject, "scope": strings.Join(roles, " "), "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = is.kid
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
