//go:build integration

package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// Two limiters (two replicas) on the real redis-server hammer one client: the
// calls they admit together stay within burst + rate·T + 2·(chunk + chunk/4) over every
// window, and they admit close to the rate (leases are not wasted under load).
func TestIntegrationTwoReplicasShareBudget(t *testing.T) {
	opts, err := redis.ParseURL(testinfra.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.DB = 15
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	var p [4]byte
	_, _ = rand.Read(p[:])
	prefix := "rltest-" + hex.EncodeToString(p[:]) + "."
	const (
		rate  = 2000.0
		burst = 200
		run   = 2 * time.Second
	)
	replicas := []*Limiter{New(rdb, prefix, rate, burst), New(rdb, prefix, rate, burst)}
	chunk := replicas[0].Chunk()
	var (
		mu       sync.Mutex
		admitted []time.Time
		wg       sync.WaitGroup
	)
	ctx := context.Background()
	// The budget runs on Redis server time (TIME, the wall clock), the
	// test's own measures on Go's monotonic clock: a wall-clock step during
	// the run (a VM's clock corrected) gives the budget that much more or
	// less time. Both are read so the bounds use the budget's own clock.
	redisStart, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, l := range replicas {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Time
				for time.Since(start) < run {
					ok, _, err := l.Allow(ctx, "noisy")
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mine = append(mine, time.Now())
					}
				}
				mu.Lock()
				admitted = append(admitted, mine...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	redisEnd, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// What the budget's clock ran beyond ours (a forward step): the GCRA
	// grants rate calls per second of it, in any window it falls into.
	step := max(redisEnd.Sub(redisStart)-elapsed, 0)
	slices.SortFunc(admitted, func(a, b time.Time) int { return a.Compare(b) })
	slack := float64(len(replicas)) * float64(chunk+chunk/4)
	if max := burst + rate*(elapsed+step).Seconds() + slack; float64(len(admitted)) > max {
		t.Fatalf("admitted %d calls in %v, limit %.0f", len(admitted), elapsed, max)
	}
	if min := 0.8 * rate * elapsed.Seconds(); float64(len(admitted)) < min {
		t.Fatalf("admitted only %d calls in %v at %v/s", len(admitted), elapsed, rate)
	}
	// Every window of 250ms: at most burst + rate·0.25s + the leases held.
	const w = 250 * time.Millisecond
	worst := 0
	for i, j := 0, 0; i < len(admitted); i++ {
		for j < len(admitted) && admitted[j].Sub(admitted[i]) < w {
			j++
		}
		worst = max(worst, j-i)
	}
	if limit := burst + rate*(w+step).Seconds() + slack; float64(worst) > limit {
		t.Fatalf("%d calls admitted within %v, limit %.0f", worst, w, limit)
	}
	t.Logf("2 replicas admitted %d calls in %v (Redis clock: %v; rate %v/s, burst %d, chunk %d); busiest %v window: %d",
		len(admitted), elapsed.Round(time.Millisecond), redisEnd.Sub(redisStart).Round(time.Millisecond), rate, burst, chunk, w, worst)
}
