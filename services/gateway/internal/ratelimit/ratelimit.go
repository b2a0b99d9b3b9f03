// Package ratelimit limits calls per client with the generic cell rate algorithm
// (GCRA) in Redis, so every gateway replica shares one budget per client.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter allows Rate calls per second per client with bursts of Burst.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	period time.Duration // emission interval: 1/rate
	burst  int
}

// New returns a limiter; rate <= 0 disables it (Allow always allows).
func New(rdb redis.UniversalClient, prefix string, rate float64, burst int) *Limiter {
	l := &Limiter{rdb: rdb, prefix: prefix, burst: max(burst, 1)}
	if rate > 0 {
		l.period = time.Duration(float64(time.Second) / rate)
	}
	return l
}

// gcra: KEYS[1] theoretical arrival time (TAT, microseconds); ARGV now, period,
// tolerance (all microseconds). Returns {allowed, retry_after_us}. Time comes from
// the Redis server so replicas with skewed clocks agree.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + period
local allow_at = new_tat - tolerance - period
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
`)

// Allow takes one call from client's budget; when refused it says how long to wait.
func (l *Limiter) Allow(ctx context.Context, client string) (bool, time.Duration, error) {
	if l.period == 0 {
		return true, 0, nil
	}
	period := l.period.Microseconds()
	tolerance := period * int64(l.burst-1)
	res, err := gcra.Run(ctx, l.rdb, []string{l.prefix + "isthmus:gw:rl:" + client}, period, tolerance).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Microsecond, nil
}
