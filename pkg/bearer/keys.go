// Package bearer verifies bearer tokens (JWT, RS256 or ES256) against keys from a JWKS
// document (file or URL) or static PEM public keys: the one issuer model of the
// gateway (per-method scopes) and the operations API (roles). Callers map a verified
// Principal to their own permissions.
package bearer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// KeySet holds verification keys by key id ("" for keys without one). Lookups
// read an immutable snapshot, so a refresh never pauses requests; every change of
// the keys bumps the generation, which ends the verifier's cached verdicts.
type KeySet struct {
	cur atomic.Pointer[keyGen]
}

type keyGen struct {
	keys map[string]crypto.PublicKey
	gen  uint64
}

// NewKeySet returns a key set holding keys.
func NewKeySet(keys map[string]crypto.PublicKey) *KeySet {
	k := &KeySet{}
	k.cur.Store(&keyGen{keys: keys, gen: 1})
	return k
}

// Lookup returns the key with kid, or the only key when the token names none.
func (k *KeySet) Lookup(kid string) (crypto.PublicKey, bool) {
	keys := k.cur.Load().keys
	if key, ok := keys[kid]; ok {
		return key, true
	}
	if kid == "" && len(keys) == 1 {
		for _, key := range keys {
			return key, true
		}
	}
	return nil, false
}

// Generation changes whenever the keys change (a rotation added or removed one).
func (k *KeySet) Generation() uint64 { return k.cur.Load().gen }

// replace installs keys; it reports whether they differ from the current ones.
func (k *KeySet) replace(keys map[string]crypto.PublicKey) bool {
	old := k.cur.Load()
	if sameKeys(old.keys, keys) {
		return false
	}
	k.cur.Store(&keyGen{keys: keys, gen: old.gen + 1})
	return true
}

func sameKeys(a, b map[string]crypto.PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, ka := range a {
		kb, ok := b[kid]
		if !ok {
			return false
		}
		eq, ok := ka.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(kb) {
			return false
		}
	}
	return true
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JWKS document (RFC 7517): RSA keys and EC P-256 keys. Keys for
// encryption (use "enc") are ignored.
func ParseJWKS(data []byte) (map[string]crypto.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]crypto.PublicKey{}
	for i, k := range doc.Keys {
		if k.Use == "enc" {
			continue
		}
		key, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("jwks key %d (kid %q): %w", i, k.Kid, err)
		}
		out[k.Kid] = key
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no signing keys")
	}
	return out, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func (k jwk) public() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA modulus or exponent")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, want at least 2048", pub.N.BitLen())
		}
		return pub, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("EC curve %q not supported (ES256 needs P-256)", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC coordinates")
		}
		raw := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("key type %q not supported", k.Kty)
}

// ParsePEMKeys reads PEM "PUBLIC KEY" blocks (RSA or EC P-256); a block's
// "kid" header names it, otherwise the key has the empty id.
func ParsePEMKeys(data []byte) (map[string]crypto.PublicKey, error) {
	out := map[string]crypto.PublicKey{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			continue
		}
		key, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pem public key: %w", err)
		}
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			return nil, fmt.Errorf("pem public key of type %T not supported", key)
		}
		out[b.Headers["kid"]] = key
	}
	if len(out) == 0 {
		return nil, errors.New("no PUBLIC KEY blocks")
	}
	return out, nil
}

// LoadFile reads keys from a JWKS (JSON) or PEM file.
func LoadFile(path string) (map[string]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 && data[0] == '{' {
		return ParseJWKS(data)
	}
	return ParsePEMKeys(data)
}

// FetchJWKS downloads a JWKS document.
func FetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]crypto.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: HTTP %d", url, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return ParseJWKS(data)
}

// Refresh reloads the key set from url every interval until ctx ends, in the
// background: requests keep verifying against the previous keys until the new set
// is swapped in. A key removed from the JWKS stops verifying tokens (cached or not)
// within one interval. static keys (files) are kept beside the fetched ones; the
// JWKS wins on a shared key id. Failures keep the previous keys.
func (k *KeySet) Refresh(ctx context.Context, client *http.Client, url string, interval time.Duration, static map[string]crypto.PublicKey, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			keys, err := FetchJWKS(ctx, client, url)
			if err != nil {
				log.Warn("jwks refresh failed; keeping previous keys", "err", err)
				continue
			}
			for kid, key := range static {
				if _, ok := keys[kid]; !ok {
					keys[kid] = key
				}
			}
			if k.replace(keys) {
				log.Info("jwks keys rotated; cached token verdicts dropped", "keys", len(keys))
			}
		}
	}
}

// Load builds a key set from key files (JWKS or PEM, see LoadFile) and a
// JWKS URL (fetched once here; keep it fresh with Refresh). It returns the
// keys of the files too, which Refresh keeps beside the fetched ones. files
// maps a setting's name to its path, so errors name the setting; empty
// paths are skipped. No key at all is an error.
func Load(ctx context.Context, client *http.Client, jwksURL, jwksSetting string, files map[string]string) (*KeySet, map[string]crypto.PublicKey, error) {
	static := map[string]crypto.PublicKey{}
	for setting, f := range files {
		if f == "" {
			continue
		}
		ks, err := LoadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid %s: %w", setting, err)
		}
		maps.Copy(static, ks)
	}
	all := maps.Clone(static)
	if jwksURL != "" {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ks, err := FetchJWKS(fctx, client, jwksURL)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", jwksSetting, err)
		}
		maps.Copy(all, ks)
	}
	if len(all) == 0 {
		return nil, nil, errors.New("no token verification keys")
	}
	return NewKeySet(all), static, nil
}
