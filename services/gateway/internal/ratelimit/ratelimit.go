// Package ratelimit limits calls per client across every gateway replica without a
// Redis round trip per call.
//
// The cluster-wide budget is a generic cell rate algorithm (GCRA) in Redis: rate
// calls per second with bursts of burst, on Redis server time so replicas with
// skewed clocks agree. A replica does not spend it one call at a time: it leases up
// to a chunk of calls in one script call (a GCRA step of cost n, granting as many as
// conform, at most the chunk) and admits them from a local bucket; the lease lapses
// after LeaseTTL whether used or not. A busy client's next lease is asked for in the
// background when a quarter of a chunk is left (chunks of 4 or more, after a whole
// chunk was granted), so its calls do not wait for Redis at all; the bucket is never locked across a Redis call.
// When the budget has nothing left, the refusal and its wait are kept locally until
// the wait is over, so a client over its limit costs no Redis call either.
//
// At scale-out (N replicas serving one client) the admitted calls over any interval
// T stay within burst + rate·T + N·(chunk + chunk/4): only calls leased before the
// interval and still held locally can come on top of the GCRA bound, and a replica
// holds at most a chunk and the quarter left of the previous one. Leased calls a
// replica does not use within LeaseTTL are lost to the client (at most one chunk per
// replica per LeaseTTL), so a client spread thinly over many replicas may see
// slightly less than its rate — never more.
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
	tokens    int64         // leased calls left
	expires   time.Time     // end of the lease
	denyUntil time.Time     // the shared budget is empty until then
	leasing   chan struct{} // a lease call in flight; closed when it ends
	retryAt   time.Time     // no lease ahead of need before then (Redis failed)
	full      bool          // the last lease granted a whole chunk
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
// Most calls are answered from the replica's lease without touching Redis, and a
// busy client's next lease is asked for while the current one still has calls
// left (a quarter of a chunk; only after a whole chunk was granted, so a client
// near its limit does not ask Redis for a few calls at a time), so its calls do
// not wait for Redis either. The bucket is never locked across a Redis call:
// calls that find it empty while a lease is on its way wait for that one
// instead of asking for their own.
func (l *Limiter) Allow(ctx context.Context, client string) (bool, time.Duration, error) {
	if l.period == 0 {
		return true, 0, nil
	}
	b := l.bucket(client)
	for {
		b.mu.Lock()
		now := l.now()
		if b.tokens > 0 && now.Before(b.expires) {
			b.tokens--
			ahead := b.full && b.leasing == nil && l.chunk >= 4 && b.tokens <= l.chunk/4 && !now.Before(b.retryAt) && !now.Before(b.denyUntil)
			if ahead {
				b.leasing = make(chan struct{})
			}
			b.mu.Unlock()
			if ahead {
				go func() {
					lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
					defer cancel()
					_ = l.lease(lctx, client, b)
				}()
			}
			return true, 0, nil
		}
		if now.Before(b.denyUntil) {
			b.mu.Unlock()
			return false, b.denyUntil.Sub(now), nil
		}
		if wait := b.leasing; wait != nil {
			b.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return false, 0, fmt.Errorf("rate limit: %w", ctx.Err())
			}
		}
		b.leasing = make(chan struct{})
		b.mu.Unlock()
		if err := l.lease(ctx, client, b); err != nil {
			return false, 0, err
		}
	}
}

// leaseTimeout bounds a lease asked for ahead of need (no caller waits on it).
const leaseTimeout = time.Second

// lease asks the shared budget for a chunk of calls and adds what it grants to
// the bucket; the caller has set b.leasing, which lease closes. A lease granted
// while calls of the previous one are left keeps them (they were granted), so a
// replica holds at most a chunk and a quarter. Refused, the bucket refuses until
// the budget's wait is over once its calls are spent.
func (l *Limiter) lease(ctx context.Context, client string, b *bucket) error {
	period := l.period.Microseconds()
	tolerance := period * int64(l.burst-1)
	asked := l.now()
	res, err := lease.Run(ctx, l.rdb, []string{l.prefix + "isthmus:gw:rl:" + client}, period, tolerance, l.chunk).Int64Slice()
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.leasing)
	b.leasing = nil
	now := l.now()
	if err != nil {
		// Not again ahead of need for a while: a caller that runs out asks
		// itself, and gets the error.
		b.retryAt = now.Add(l.ttl / 4)
		return fmt.Errorf("rate limit: %w", err)
	}
	if !now.Before(b.expires) {
		b.tokens = 0
	}
	// A lease short of a chunk means the budget is nearly spent: asking
	// ahead again would take a few calls per Redis call, so the next lease
	// is asked for when the bucket is empty, as a per-call GCRA would.
	b.full = res[0] >= l.chunk
	if res[0] < 1 {
		b.denyUntil = now.Add(time.Duration(res[1]) * time.Microsecond)
		return nil
	}
	b.tokens += res[0]
	b.expires = asked.Add(l.ttl)
	return nil
}
