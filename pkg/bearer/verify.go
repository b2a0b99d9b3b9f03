package bearer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Scopes  []string // scope (space-separated) and scp (array) claims
	Roles   []string // the Verifier's RolesClaim; the scopes when it is empty
}

// Has reports whether p holds scope.
func (p *Principal) Has(scope string) bool { return p != nil && slices.Contains(p.Scopes, scope) }

// HasRole reports whether p holds role.
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

// Verifier checks bearer tokens.
type Verifier struct {
	Keys     *KeySet
	Issuer   string // required iss when set
	Audience string // required aud when set
	Leeway   time.Duration
	// RolesClaim names the claim holding the caller's roles (a
	// space-separated string or an array of strings), e.g. "roles" or
	// "groups". Default "": the roles are the token's scopes (scope and
	// scp), which any OAuth2 server can grant a client.
	RolesClaim string

	cache tokenCache
}

type cached struct {
	p   *Principal
	exp time.Time // token expiry plus leeway
	gen uint64    // key-set generation the signature was checked under
}

// cacheLimit bounds the verified-token cache; a full cache evicts an arbitrary
// entry (expired ones first when met), so memory stays bounded under any number of
// distinct tokens.
const cacheLimit = 10000

// tokenCache maps SHA-256 of the whole compact token to its verdict: the token
// itself is never kept, and a token differing in any byte (header, claims or
// signature) is a different entry.
type tokenCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cached
}

func (c *tokenCache) get(k [sha256.Size]byte) (cached, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return e, ok
}

func (c *tokenCache) put(k [sha256.Size]byte, e cached, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cached)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= cacheLimit {
		n := 0
		for kk, ee := range c.m { // map order is random: arbitrary victims
			if n > 0 && !now.After(ee.exp) {
				break
			}
			delete(c.m, kk)
			n++
		}
	}
	c.m[k] = e
}

func (c *tokenCache) drop(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

type claims struct {
	jwt.RegisteredClaims
	Scope string   `json:"scope"`
	Scp   []string `json:"scp"`
}

// Errors the verifier returns (wrapped).
var (
	ErrNoToken  = errors.New("missing bearer token")
	ErrBadToken = errors.New("invalid bearer token")
)

// Verify parses and checks a compact JWT. A token verified before is answered from
// a cache (signature checks cost more than the rest of a call) until the earlier of
// its expiry and the next change of the key set, so a key removed by rotation stops
// its tokens at the next JWKS refresh.
func (v *Verifier) Verify(token string) (*Principal, error) {
	// The token's bytes are read in place: a copy of every token on every
	// call is garbage on the gateway's hot path.
	k := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	gen := v.Keys.Generation()
	now := time.Now()
	if c, ok := v.cache.get(k); ok {
		if c.gen == gen && now.Before(c.exp) {
			return c.p, nil
		}
		v.cache.drop(k)
	}
	p, exp, err := v.verify(token)
	if err != nil {
		return nil, err
	}
	v.cache.put(k, cached{p: p, exp: exp, gen: gen}, now)
	return p, nil
}

func (v *Verifier) verify(token string) (*Principal, time.Time, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.Leeway),
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	var c claims
	tok, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := v.Keys.Lookup(kid)
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return key, nil
	}, opts...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if c.Subject == "" {
		return nil, time.Time{}, fmt.Errorf("%w: no subject", ErrBadToken)
	}
	p := &Principal{Subject: c.Subject, Scopes: append(strings.Fields(c.Scope), c.Scp...)}
	p.Roles = p.Scopes
	if v.RolesClaim != "" {
		var all jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok.Raw, &all); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: %v", ErrBadToken, err)
		}
		p.Roles = stringsOf(all[v.RolesClaim])
	}
	return p, c.ExpiresAt.Add(v.Leeway), nil
}

// stringsOf reads a claim that is a space-separated string or an array of strings.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// FromHeader returns the token of an Authorization header value ("Bearer
// <token>", scheme case-insensitive), or ErrNoToken.
func FromHeader(headers ...string) (string, error) {
	for _, h := range headers {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && strings.TrimSpace(h[7:]) != "" {
			return strings.TrimSpace(h[7:]), nil
		}
	}
	return "", ErrNoToken
}
