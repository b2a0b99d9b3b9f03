package bearer

import (
	"crypto"
	"fmt"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64u(rsaKey.N.Bytes()), "e": b64u(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64u(ecKey.X.FillBytes(make([]byte, 32))), "y": b64u(ecKey.Y.FillBytes(make([]byte, 32)))},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
	}})
	keys, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: NewKeySet(keys), Issuer: "idp", Audience: "gateway"}
	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "q2o", "scope": "pricing:read credit:read", "scp": []string{"inventory:read"}, "exp": exp, "iss": "idp", "aud": "gateway"}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	tests := []struct {
		name   string
		token  string
		scopes []string
		ok     bool
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", good), []string{"pricing:read", "credit:read", "inventory:read"}, true},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, "e1", good), []string{"pricing:read", "credit:read", "inventory:read"}, true},
		{"wrong key for kid", sign(t, jwt.SigningMethodES256, other, "e1", good), nil, false},
		{"unknown kid", sign(t, jwt.SigningMethodES256, ecKey, "zz", good), nil, false},
		{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, []byte("secret"), "e1", good), nil, false},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "e1", good), nil, false},
		{"expired", sign(t, jwt.SigningMethodES256, ecKey, "e1", with("exp", time.Now().Add(-time.Hour).Unix())), nil, false},
		{"no exp", sign(t, jwt.SigningMethodES256, ecKey, "e1", with("exp", nil)), nil, false},
		{"wrong issuer", sign(t, jwt.SigningMethodES256, ecKey, "e1", with("iss", "evil")), nil, false},
		{"wrong audience", sign(t, jwt.SigningMethodES256, ecKey, "e1", with("aud", "other")), nil, false},
		{"no subject", sign(t, jwt.SigningMethodES256, ecKey, "e1", with("sub", nil)), nil, false},
		{"garbage", "a.b.c", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // second time from the cache
				p, err := v.Verify(tt.token)
				if tt.ok != (err == nil) {
					t.Fatalf("err = %v, want ok=%v", err, tt.ok)
				}
				if err != nil {
					if !errors.Is(err, ErrBadToken) {
						t.Errorf("err %v is not ErrBadToken", err)
					}
					continue
				}
				for _, s := range tt.scopes {
					if !p.Has(s) {
						t.Errorf("missing scope %s in %v", s, p.Scopes)
					}
				}
				if p.Has("credit:reserve") {
					t.Error("scope not in the token")
				}
			}
		})
	}
}

func TestParsePEMKeys(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": "dev"}, Bytes: der})
	keys, err := ParsePEMKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeySet(keys)
	if _, ok := ks.Lookup("dev"); !ok {
		t.Error("kid dev not found")
	}
	if _, ok := ks.Lookup(""); !ok {
		t.Error("single key not found without kid")
	}
	if _, err := ParsePEMKeys([]byte("nothing")); err == nil {
		t.Error("no keys accepted")
	}
}

func TestParseJWKSRejects(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, doc := range map[string]any{
		"not json":        "x",
		"no keys":         map[string]any{"keys": []any{}},
		"small RSA":       map[string]any{"keys": []map[string]string{{"kty": "RSA", "n": b64u(small.N.Bytes()), "e": "AQAB"}}},
		"P-384":           map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}}},
		"point off curve": map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "x": b64u(make([]byte, 32)), "y": b64u(make([]byte, 32))}}},
		"oct":             map[string]any{"keys": []map[string]string{{"kty": "oct", "k": "c2VjcmV0"}}},
	} {
		data, _ := json.Marshal(doc)
		if _, err := ParseJWKS(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var _ crypto.PublicKey
}

// Roles come from the scopes by default, or from the named claim (string or array).
func TestRoles(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ks := NewKeySet(map[string]crypto.PublicKey{"k": &key.PublicKey})
	exp := time.Now().Add(time.Hour).Unix()
	tok := sign(t, jwt.SigningMethodES256, key, "k", jwt.MapClaims{"sub": "ann", "exp": exp, "scope": "ops.viewer", "roles": []string{"finance.approver", "ops.resolver"}, "groups": "ops.replayer"})
	for _, tt := range []struct {
		claim string
		want  []string
	}{{"", []string{"ops.viewer"}}, {"roles", []string{"finance.approver", "ops.resolver"}}, {"groups", []string{"ops.replayer"}}, {"none", nil}} {
		p, err := (&Verifier{Keys: ks, RolesClaim: tt.claim}).Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Roles) != fmt.Sprint(tt.want) {
			t.Errorf("RolesClaim %q: roles %v, want %v", tt.claim, p.Roles, tt.want)
		}
	}
}
