// Package reservation keeps credit reservations in Redis, shared by every gateway
// replica. A reservation holds headroom for an order between the credit check and
// the moment ERP's exposure includes the order; it expires after a TTL, is released
// explicitly, or is settled when erp.credit.v1 publishes a position computed after
// the reservation was made (plus a settle delay).
//
// Two replicas cannot spend the same headroom: Snapshot returns the active
// reservations and a version, the caller decides (credit.Decide), and Commit adds the
// reservation only if no other reservation was added since the snapshot (a Lua
// compare-and-set); otherwise the caller decides again.
package reservation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

// ErrConflict is returned by Commit when another reservation was added since the
// snapshot; decide again on a fresh snapshot.
var ErrConflict = errors.New("reservations changed since the snapshot")

// ErrBadID is returned for a reservation id this package did not make.
var ErrBadID = errors.New("malformed reservation id")

// Reservation is headroom held for an order (amount in minor units).
type Reservation struct {
	ID        string
	Customer  string
	Amount    money.Amount
	OrderID   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps reservations in Redis.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	known  knownMap // customer -> last (sum, version) seen by this replica
}

// New returns a store whose keys start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Store { return &Store{rdb: rdb, prefix: prefix} }

func (s *Store) keys(customer string) []string {
	base := s.prefix + "isthmus:{gw:resv:" + customer + "}:"
	return []string{base + "h", base + "z", base + "v"}
}

func (s *Store) idemKey(customer, key string) string {
	return s.prefix + "isthmus:{gw:resv:" + customer + "}:idem:" + key
}

// NewID returns a reservation id that names its customer.
func NewID(customer string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rsv_" + base64.RawURLEncoding.EncodeToString([]byte(customer)) + "_" + hex.EncodeToString(b[:])
}

// CustomerOf returns the customer a reservation id belongs to.
func CustomerOf(id string) (string, error) {
	rest, ok := strings.CutPrefix(id, "rsv_")
	if !ok {
		return "", ErrBadID
	}
	enc, _, ok := strings.Cut(rest, "_")
	if !ok {
		return "", ErrBadID
	}
	c, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(c) == 0 {
		return "", ErrBadID
	}
	return string(c), nil
}

// purge is shared by the scripts: drop reservations that expired. Every change
// of a customer's reservations (add, expiry, release, settle) bumps the version, so
// a (sum, version) pair is exact for as long as the version stands.
const purge = `
local function purge(h, z, v, now)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(gone) do redis.call('HDEL', h, id) end
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    redis.call('INCR', v)
  end
end
`

// snapshot: KEYS h z v idem; ARGV now. Returns {replay or false, version, amounts...}.
var snapshotScript = redis.NewScript(purge + `
purge(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
local replay = false
if KEYS[4] ~= '' then replay = redis.call('GET', KEYS[4]) end
local out = {replay, redis.call('GET', KEYS[3]) or '0'}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  out[#out+1] = string.match(v, '^([^|]*)')
end
return out
`)

// Snapshot returns the active reservations' amounts (minor units), the version to
// pass to Commit, and the stored response of an earlier call with idempotencyKey.
func (s *Store) Snapshot(ctx context.Context, customer, idempotencyKey string, now time.Time) (reserved int64, version string, replay []byte, err error) {
	ks := s.keys(customer)
	idem := ""
	if idempotencyKey != "" {
		idem = s.idemKey(customer, idempotencyKey)
	}
	res, err := snapshotScript.Run(ctx, s.rdb, append(ks, idem), now.UnixMilli()).Slice()
	if err != nil {
		return 0, "", nil, fmt.Errorf("reservations of %s: %w", customer, err)
	}
	if r, ok := res[0].(string); ok {
		replay = []byte(r)
	}
	version, _ = res[1].(string)
	for _, a := range res[2:] {
		str, _ := a.(string)
		v, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return 0, "", nil, fmt.Errorf("reservations of %s: bad amount %q", customer, str)
		}
		if reserved, err = money.Add(reserved, v); err != nil {
			return 0, "", nil, err
		}
	}
	if replay == nil {
		s.known.put(customer, known{reserved: reserved, version: version})
	}
	return reserved, version, replay, nil
}

// commit: KEYS h z v idem; ARGV version id entry expires ttlms idemValue now.
// Returns 1, 0 (conflict) or the stored response of the idempotency key.
var commitScript = redis.NewScript(`
if KEYS[4] ~= '' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return prev end
end
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
if #redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[7], 'LIMIT', 0, 1) > 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('INCR', KEYS[3])
-- Every reservation lives as long as the newest one: keep the keys a day longer.
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5] + 86400000) end
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[5]) end
return 1
`)

// Commit adds r if the customer's reservations did not change since the snapshot
// that returned version (none added, released, settled or expired by r.CreatedAt),
// and stores idemValue under idempotencyKey for the TTL of r. ErrConflict: decide
// again on a fresh snapshot. *ReplayError: the key was used meanwhile.
func (s *Store) Commit(ctx context.Context, version string, r Reservation, idempotencyKey string, idemValue []byte) error {
	ks := s.keys(r.Customer)
	idem := ""
	if idempotencyKey != "" {
		idem = s.idemKey(r.Customer, idempotencyKey)
	}
	entry := fmt.Sprintf("%d|%s|%d|%d|%s", r.Amount.Minor, r.Amount.Currency, r.CreatedAt.UnixMilli(), r.ExpiresAt.UnixMilli(), r.OrderID)
	ttl := max(time.Until(r.ExpiresAt), time.Second)
	res, err := commitScript.Run(ctx, s.rdb, append(ks, idem), version, r.ID, entry, r.ExpiresAt.UnixMilli(), ttl.Milliseconds(), idemValue, r.CreatedAt.UnixMilli()).Result()
	if err != nil {
		return fmt.Errorf("reserve for %s: %w", r.Customer, err)
	}
	switch v := res.(type) {
	case string:
		return &ReplayError{Stored: []byte(v)}
	case int64:
		if v == 1 {
			s.committed(r.Customer, version, r.Amount.Minor)
			return nil
		}
	}
	s.known.drop(r.Customer)
	return ErrConflict
}

// ReplayError carries the stored response of an idempotency key used meanwhile.
type ReplayError struct{ Stored []byte }

func (e *ReplayError) Error() string { return "idempotency key already used" }

// committed records the sum and version a successful Commit left behind.
func (s *Store) committed(customer, version string, amount int64) {
	v, err1 := strconv.ParseInt(version, 10, 64)
	k, ok := s.known.get(customer)
	sum, err2 := money.Add(k.reserved, amount)
	if err1 != nil || err2 != nil || !ok || k.version != version {
		s.known.drop(customer)
		return
	}
	s.known.put(customer, known{reserved: sum, version: strconv.FormatInt(v+1, 10)})
}

// Known returns the customer's reserved sum and version as this replica last saw
// them (a Snapshot, or its own Commit since). A decision taken on them commits only
// if they still hold — Commit checks the version — so a caller may try Commit on
// them first and take a Snapshot only on ErrConflict: one Redis round trip per
// reservation instead of two while no other replica reserves for the customer.
func (s *Store) Known(customer string) (reserved int64, version string, ok bool) {
	k, ok := s.known.get(customer)
	return k.reserved, k.version, ok
}

type known struct {
	reserved int64
	version  string
}

// knownLimit bounds the remembered customers; a full map forgets arbitrary ones.
const knownLimit = 10000

type knownMap struct {
	mu sync.Mutex
	m  map[string]known
}

func (k *knownMap) get(c string) (known, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[c]
	return v, ok
}

func (k *knownMap) put(c string, v known) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]known)
	}
	if _, ok := k.m[c]; !ok && len(k.m) >= knownLimit {
		for old := range k.m {
			delete(k.m, old)
			break
		}
	}
	k.m[c] = v
}

func (k *knownMap) drop(c string) {
	k.mu.Lock()
	delete(k.m, c)
	k.mu.Unlock()
}

var releaseScript = redis.NewScript(`
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then redis.call('INCR', KEYS[3]) end
return n
`)

// Release removes a reservation; false when it had expired or was already gone.
func (s *Store) Release(ctx context.Context, id string) (bool, error) {
	c, err := CustomerOf(id)
	if err != nil {
		return false, err
	}
	ks := s.keys(c)
	n, err := releaseScript.Run(ctx, s.rdb, ks, id).Int()
	if err != nil {
		return false, fmt.Errorf("release %s: %w", id, err)
	}
	return n > 0, nil
}

// settle: KEYS h z v; ARGV cutoff(ms): drop reservations created at or before cutoff.
var settleScript = redis.NewScript(`
local n = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local created = tonumber(string.match(all[i+1], '^[^|]*|[^|]*|([^|]*)'))
  if created and created <= tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('ZREM', KEYS[2], all[i])
    n = n + 1
  end
end
if n > 0 then redis.call('INCR', KEYS[3]) end
return n
`)

// Settle releases the customer's reservations made at or before cutoff: ERP's
// exposure computed after cutoff includes the orders they were held for.
func (s *Store) Settle(ctx context.Context, customer string, cutoff time.Time) (int, error) {
	ks := s.keys(customer)
	n, err := settleScript.Run(ctx, s.rdb, ks, cutoff.UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("settle reservations of %s: %w", customer, err)
	}
	return n, nil
}
