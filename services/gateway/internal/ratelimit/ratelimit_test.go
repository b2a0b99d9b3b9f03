package ratelimit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestGCRA(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	mr.SetTime(base)
	l := New(rdb, "", 10, 3, WithClock(func() time.Time { return now })) // 10/s, burst 3
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "a"); err != nil || !ok {
			t.Fatalf("call %d within burst refused: %v", i, err)
		}
	}
	ok, wait, err := l.Allow(ctx, "a")
	if err != nil || ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("4th call: ok=%v wait=%v err=%v", ok, wait, err)
	}
	if ok, _, _ := l.Allow(ctx, "b"); !ok {
		t.Error("other client limited")
	}
	now = base.Add(wait)
	mr.SetTime(now)
	if ok, _, _ := l.Allow(ctx, "a"); !ok {
		t.Error("refused after the advertised wait")
	}
	if ok, _, _ := New(rdb, "", 0, 1).Allow(ctx, "a"); !ok {
		t.Error("disabled limiter refused")
	}
}

// Calls are admitted from leases: one Redis call per chunk, and a client over its
// limit is refused from the local refusal until the wait is over.
func TestLeasesSpareRedis(t *testing.T) {
	ctx := context.Background()
	_, rdb, h := counted(t)
	calls := h.started
	base := testBase
	l := New(rdb, "", 1000, 400, WithClock(func() time.Time { return base }))
	if l.Chunk() != 100 {
		t.Fatalf("chunk %d, want 100 (1000/s for 100ms)", l.Chunk())
	}
	admitted := 0
	for range 1000 {
		if ok, _, err := l.Allow(ctx, "a"); err != nil {
			t.Fatal(err)
		} else if ok {
			admitted++
		}
	}
	if admitted != 400 {
		t.Errorf("admitted %d of 1000 calls at one instant, want the burst 400", admitted)
	}
	// 4 leases, 1 refusal (and one EVAL when the script is not loaded yet).
	if n := calls.Load(); n > 6 {
		t.Errorf("%d Redis calls for 1000 calls, want one per lease of 100", n)
	}
}

// testBase is the fixed time of counted's miniredis.
var testBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// counted is a miniredis at a fixed time (SetTime) and a client to it whose
// lease calls a leaseHook counts (and holds while its gate is set).
func counted(t *testing.T) (*miniredis.Miniredis, *redis.Client, leaseHook) {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.SetTime(testBase)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	h := leaseHook{&atomic.Int64{}, &atomic.Pointer[chan struct{}]{}}
	rdb.AddHook(h)
	return mr, rdb, h
}

// leaseHook counts the lease calls (script calls), holding each while its
// gate is set.
type leaseHook struct {
	started *atomic.Int64
	gate    *atomic.Pointer[chan struct{}]
}

func (leaseHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h leaseHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			h.started.Add(1)
			if g := h.gate.Load(); g != nil {
				<-*g
			}
		}
		return next(ctx, cmd)
	}
}
func (h leaseHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A busy client's next lease is asked for while a quarter of the current one
// is left, and its calls keep being admitted while that Redis call is on its
// way; a call that finds the bucket empty waits for the lease in flight
// instead of asking for another.
func TestLeaseAheadDoesNotHoldCalls(t *testing.T) {
	ctx := context.Background()
	_, rdb, h := counted(t)
	started, gate := h.started, h.gate
	base := testBase
	l := New(rdb, "", 1000, 400, WithClock(func() time.Time { return base }))
	if ok, _, err := l.Allow(ctx, "a"); !ok || err != nil { // the first lease: 100 calls
		t.Fatalf("first call: %v %v", ok, err)
	}
	first := started.Load()
	held := make(chan struct{})
	gate.Store(&held)
	took := make(chan int)
	go func() {
		n := 0
		for range 99 { // the rest of the lease; from 25 left, the next is on its way
			if ok, _, err := l.Allow(ctx, "a"); ok && err == nil {
				n++
			}
		}
		took <- n
	}()
	select {
	case n := <-took:
		if n != 99 {
			t.Fatalf("admitted %d of the lease's 99 remaining calls", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("calls with leased calls left waited for the lease call in flight")
	}
	for deadline := time.Now().Add(10 * time.Second); started.Load()-first < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no lease asked for ahead of need")
		}
	}
	done := make(chan bool)
	go func() { ok, _, _ := l.Allow(ctx, "a"); done <- ok }()
	select {
	case <-done:
		t.Fatal("a call with no leased calls left was answered before the lease in flight came back")
	case <-time.After(50 * time.Millisecond):
	}
	gate.Store(nil)
	close(held)
	if !<-done {
		t.Fatal("the call waiting for the lease was refused")
	}
	if got := started.Load() - first; got != 1 {
		t.Errorf("%d lease calls for one empty bucket, want the one in flight", got)
	}
}

// A lease short of a chunk (the client near its limit) is not followed by
// one asked ahead of need: the next is asked for when the bucket is empty,
// so a client at its limit costs a Redis call per partial grant, not one
// per few calls.
func TestNoLeaseAheadAfterPartialGrant(t *testing.T) {
	ctx := context.Background()
	mr, rdb, h := counted(t)
	calls := h.started
	base := testBase
	now := base
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	l := New(rdb, "", 1000, 400, WithClock(func() time.Time { return *clock.Load() })) // chunk 100
	for range 1000 {                                                                   // spend the burst at one instant
		if _, _, err := l.Allow(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // any lease asked ahead has ended
	// 30 ms later the budget has 30 calls: one lease of 30, short of a chunk.
	later := base.Add(30 * time.Millisecond)
	clock.Store(&later)
	mr.SetTime(later)
	before := calls.Load()
	admitted := 0
	for range 30 {
		if ok, _, err := l.Allow(ctx, "a"); err != nil {
			t.Fatal(err)
		} else if ok {
			admitted++
		}
	}
	time.Sleep(100 * time.Millisecond) // time for a lease asked ahead to start
	if admitted != 30 {
		t.Fatalf("admitted %d of the 30 calls the budget had", admitted)
	}
	if n := calls.Load() - before; n != 1 {
		t.Errorf("%d Redis calls for 30 calls from one partial lease, want 1", n)
	}
}
