// Package ratelimit limits calls per client across every gateway replica without a
// Redis round trip per call.
//
// The cluster-wide budget is a generic cell rate algorithm (GCRA) in Redis: rate
// calls per second with bursts of burst, on Redis server time so replicas with
// skewed clocks agree. A replica does not spend it one call at a time: it leases up
// to a chunk of calls in one script call (a GCRA step of cost n, granting as many as
// conform, at most the chunk) and admits them from a local bucket; the lease lapses
// after LeaseTTL whether used or not. When the budget has nothing left, the refusal
// and its wait are kept locally until the wait is over, so a client over its limit
// costs no Redis call either.
//
// At scale-out (N replicas serving one client) the admitted calls over any interval
// T stay within burst + rate·T + N·(chunk−1): only calls leased before the interval
// and still held locally can come on top of the GCRA bound, and a lease lives at
// most LeaseTTL. Leased calls a replica does not use within LeaseTTL are lost to
// the client (at most one chunk per replica per LeaseTTL), so a client spread thinly
// over many replicas may see slightly less than its rate — never more.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// LeaseTTL is how long a replica may hold calls leased from the shared budget.
const LeaseTTL = 100 * time.Millisecond

// maxClients bounds the local buckets; beyond it idle ones are swept.
const maxClients = 4096

// Limiter allows Rate calls per second per client with bursts of Burst.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	period time.Duration // emission interval: 1/rate
	burst  int
	chunk  int64 // calls leased per Redis call
	ttl    time.Duration
	now    func() time.Time

	mu      sync.RWMutex
	clients map[string]*bucket
}

type bucket struct {
	mu        sync.Mutex
	tokens    int64     // leased calls left
	expires   time.Time // end of the lease
	denyUntil time.Time // the shared budget is empty until then
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock sets the local clock (tests; Redis keeps its own). Default: time.Now.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New returns a limiter; rate <= 0 disables it (Allow always allows).
func New(rdb redis.UniversalClient, prefix string, rate float64, burst int, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, prefix: prefix, burst: max(burst, 1), ttl: LeaseTTL, now: time.Now, clients: map[string]*bucket{}}
	for _, o := range opts {
		o(l)
	}
	if rate > 0 {
		l.period = max(time.Duration(float64(time.Second)/rate), time.Microsecond)
		// A lease covers what the rate allows in one lease lifetime, but never more
		// than a quarter of the burst, so leases held by replicas stay small next
		// to the budget.
		l.chunk = min(max(int64(math.Round(rate*l.ttl.Seconds())), 1), max(int64(l.burst)/4, 1))
	}
	return l
}

// Chunk is the number of calls one lease asks for.
func (l *Limiter) Chunk() int64 { return l.chunk }

// lease: KEYS[1] theoretical arrival time (TAT, microseconds); ARGV period,
// tolerance (microseconds), wanted calls. Grants as many calls (up to wanted) as
// conform to the GCRA now and returns {granted, retry_after_us}.
var lease = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local n = math.floor((now + tolerance - tat) / period) + 1
if n < 1 then
  return {0, tat - tolerance - now}
end
if n > want then n = want end
local new_tat = tat + n * period
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {n, 0}
`)

func (l *Limiter) bucket(client string) *bucket {
	l.mu.RLock()
	b := l.clients[client]
	l.mu.RUnlock()
	if b != nil {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b = l.clients[client]; b != nil {
		return b
	}
	if len(l.clients) >= maxClients {
		now := l.now()
		for c, ob := range l.clients {
			if ob.mu.TryLock() {
				idle := !now.Before(ob.expires) && !now.Before(ob.denyUntil)
				ob.mu.Unlock()
				if idle {
					delete(l.clients, c)
				}
			}
		}
	}
	b = &bucket{}
	l.clients[client] = b
	return b
}

// Allow takes one call from client's budget; when refused it says how long to wait.
// Most calls are answered from the replica's lease without touching Redis.
func (l *Limiter) Allow(ctx context.Context, client string) (bool, time.Duration, error) {
	if l.period == 0 {
		return true, 0, nil
	}
	b := l.bucket(client)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := l.now()
	if b.tokens > 0 && now.Before(b.expires) {
		b.tokens--
		return true, 0, nil
	}
	if now.Before(b.denyUntil) {
		return false, b.denyUntil.Sub(now), nil
	}
	period := l.period.Microseconds()
	tolerance := period * int64(l.burst-1)
	res, err := lease.Run(ctx, l.rdb, []string{l.prefix + "isthmus:gw:rl:" + client}, period, tolerance, l.chunk).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if res[0] < 1 {
		wait := time.Duration(res[1]) * time.Microsecond
		b.tokens, b.denyUntil = 0, now.Add(wait)
		return false, wait, nil
	}
	b.tokens, b.expires = res[0]-1, now.Add(l.ttl)
	return true, 0, nil
}
