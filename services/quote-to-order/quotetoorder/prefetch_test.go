package quotetoorder

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// countingValidator answers every validation after delay, failing the
// ones for quotes in fail, and counts the calls per request.
type countingValidator struct {
	delay time.Duration
	fail  map[string]bool
	mu    sync.Mutex
	calls map[string]int
	total atomic.Int64
}

func (c *countingValidator) Validate(_ context.Context, s *saga.Saga) (saga.Validation, error) {
	time.Sleep(c.delay)
	c.mu.Lock()
	c.calls[requestKey(s)]++
	c.mu.Unlock()
	c.total.Add(1)
	if c.fail[s.QuoteID] {
		return saga.Validation{}, errs.Retriablef("gateway_down", "down")
	}
	return saga.Validation{Version: s.Version, Round: s.Round}, nil
}

func (c *countingValidator) Release(context.Context, string) error { return nil }

// Prefetched validations overlap, are handed to the request they were made
// for only, once, and a failed one is not handed out twice.
func TestPrefetcher(t *testing.T) {
	gw := &countingValidator{delay: 100 * time.Millisecond, fail: map[string]bool{"Q-BAD": true}, calls: map[string]int{}}
	pf := newPrefetcher(gw, 3, 8, time.Minute)
	ctx := context.Background()
	a := &saga.Saga{QuoteID: "Q-A", Version: 1, Round: 1, ERPCustomerID: "C1"}
	b := &saga.Saga{QuoteID: "Q-B", Version: 2, Round: 1, ERPCustomerID: "C2"}
	bad := &saga.Saga{QuoteID: "Q-BAD", Version: 1, Round: 1}
	start := time.Now()
	for _, s := range []*saga.Saga{a, b, bad, a} { // a twice: one call
		pf.start(ctx, s)
	}
	pf.start(ctx, &saga.Saga{QuoteID: "Q-OVER", Version: 1}) // over max: not started
	if v, err, ok := pf.take(ctx, a); !ok || err != nil || v.Version != 1 {
		t.Fatalf("take a: %+v %v %v", v, err, ok)
	}
	if v, err, ok := pf.take(ctx, b); !ok || err != nil || v.Version != 2 {
		t.Fatalf("take b: %+v %v %v", v, err, ok)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("two 100ms validations took %s: they did not overlap", took)
	}
	if _, err, ok := pf.take(ctx, bad); !ok || errs.ClassOf(err) != errs.ClassRetriable {
		t.Fatalf("take bad: %v %v, want its retriable error once", err, ok)
	}
	for _, s := range []*saga.Saga{a, bad, {QuoteID: "Q-OVER", Version: 1}} {
		if _, _, ok := pf.take(ctx, s); ok {
			t.Fatalf("take %s again: want nothing (taken once, or never started)", s.QuoteID)
		}
	}
	// A request that changed (another round, another ERP customer, a
	// price approval) does not get the result made for the old one.
	pf.start(ctx, a)
	for _, other := range []saga.Saga{{QuoteID: "Q-A", Version: 1, Round: 2, ERPCustomerID: "C1"}, {QuoteID: "Q-A", Version: 1, Round: 1, ERPCustomerID: "C9"}, {QuoteID: "Q-A", Version: 1, Round: 1, ERPCustomerID: "C1", PriceApproved: true}} {
		if _, _, ok := pf.take(ctx, &other); ok {
			t.Fatalf("take %+v: got the result made for %+v", other, *a)
		}
	}
	if _, _, ok := pf.take(ctx, a); !ok {
		t.Fatal("take a after the changed requests: want its result")
	}
	if n := gw.calls[requestKey(a)]; n != 2 {
		t.Fatalf("gateway called %d times for a, want 2 (once per start after a take)", n)
	}
	var nilPF *prefetcher
	nilPF.start(ctx, a)
	if _, _, ok := nilPF.take(ctx, a); ok {
		t.Fatal("a disabled prefetcher handed out a result")
	}
}

// At most concurrency validations call the gateway at once; the others
// wait for a slot.
func TestPrefetcherBoundsGatewayCalls(t *testing.T) {
	gw := &countingValidator{delay: 50 * time.Millisecond, calls: map[string]int{}}
	pf := newPrefetcher(gw, 100, 2, time.Minute)
	ctx := context.Background()
	var sagas []*saga.Saga
	for i := range 6 {
		s := &saga.Saga{QuoteID: "Q", Version: i + 1, Round: 1}
		sagas = append(sagas, s)
		pf.start(ctx, s)
	}
	start := time.Now()
	for _, s := range sagas {
		if _, err, ok := pf.take(ctx, s); !ok || err != nil {
			t.Fatalf("take %d: %v %v", s.Version, err, ok)
		}
	}
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Fatalf("6 validations of 50ms with 2 slots took %s, want about 150ms (at most 2 at once)", took)
	}
}
