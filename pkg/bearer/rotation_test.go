package bearer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig",
		"x": b64u(k.X.FillBytes(make([]byte, 32))), "y": b64u(k.Y.FillBytes(make([]byte, 32)))}
}

// A key removed from the JWKS stops its tokens, cached or not, within the refresh
// interval; the other keys' tokens keep their cached verdicts only until the key set
// changes, and a refresh returning the same keys changes nothing.
func TestRotationRevokesCachedTokens(t *testing.T) {
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	next, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var doc atomic.Value
	publish := func(keys ...map[string]string) {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		doc.Store(b)
	}
	publish(ecJWK("old", old), ecJWK("next", next))
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(doc.Load().([]byte))
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := FetchJWKS(ctx, srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeySet(keys)
	v := &Verifier{Keys: ks}
	const interval = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- ks.Refresh(ctx, srv.Client(), srv.URL, interval, nil, slog.New(slog.DiscardHandler)) }()

	claims := jwt.MapClaims{"sub": "q2o", "scope": "pricing:read", "exp": time.Now().Add(time.Hour).Unix()}
	tokOld := sign(t, jwt.SigningMethodES256, old, "old", claims)
	tokNext := sign(t, jwt.SigningMethodES256, next, "next", claims)
	for range 3 { // verified, then from the cache
		for _, tok := range []string{tokOld, tokNext} {
			if _, err := v.Verify(tok); err != nil {
				t.Fatalf("before rotation: %v", err)
			}
		}
	}
	gen := ks.Generation()
	for f := fetches.Load(); fetches.Load() < f+2; {
		time.Sleep(5 * time.Millisecond)
	}
	if ks.Generation() != gen {
		t.Fatal("an unchanged JWKS bumped the key-set generation (drops the cache for nothing)")
	}

	publish(ecJWK("next", next)) // rotate "old" out
	rotated := time.Now()
	for {
		_, err := v.Verify(tokOld)
		if err != nil {
			break
		}
		if time.Since(rotated) > interval+500*time.Millisecond {
			t.Fatalf("token of the removed key still accepted %v after rotation (refresh every %v)", time.Since(rotated), interval)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("removed key's token refused %v after rotation", time.Since(rotated).Round(time.Millisecond))
	if _, err := v.Verify(tokNext); err != nil {
		t.Fatalf("remaining key's token refused: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := &Verifier{Keys: NewKeySet(map[string]crypto.PublicKey{"k": &key.PublicKey})}
	exp := time.Now().Add(time.Hour).Unix()
	for i := range cacheLimit + 50 {
		tok := sign(t, jwt.SigningMethodES256, key, "k", jwt.MapClaims{"sub": fmt.Sprint(i), "exp": exp})
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > cacheLimit {
		t.Fatalf("cache holds %d verdicts, limit %d", n, cacheLimit)
	}
	// A token differing only in its signature bytes is not answered from the cache.
	tok := sign(t, jwt.SigningMethodES256, key, "k", jwt.MapClaims{"sub": "x", "exp": exp})
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	forged := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BB"}[tok[len(tok)-2:] != "AA"]
	if _, err := v.Verify(forged); err == nil {
		t.Fatal("token with a changed signature accepted")
	}
}
