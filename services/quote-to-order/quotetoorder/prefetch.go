package quotetoorder

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// prefetcher pipelines the gateway calls of a partition. When a saga asks
// for a validation, apply emits the internal "validate" message and starts
// the validation's gateway calls here at once; they run while that message
// is committed and fetched back, and the calls of many quotes overlap, so
// one gateway round trip no longer caps a partition at 1/RTT orders per
// second. The handler of the "validate" message takes the result when it
// was made for the same request (quote, version, round, ERP customer,
// price approval) and otherwise calls the gateway itself.
//
// Nothing here is state of record: a result is used only by the
// transaction that handles its "validate" message, in that message's
// order on the partition, so the saga sees the same facts as with a call
// made in the handler. A result nobody takes (the partition moved to
// another instance, the order was superseded) is dropped after ttl. A call
// made twice (a transaction redone, a replica that took over) asks the
// gateway twice with the same credit idempotency key, which gives the same
// reservation, as a retry does.
type prefetcher struct {
	gw  Validator
	max int
	ttl time.Duration
	// slots bounds the validations calling the gateway at once; the
	// others wait for a slot (their gateway deadline starts with the call).
	slots chan struct{}

	mu    sync.Mutex
	calls map[string]*prefetch
}

type prefetch struct {
	done    chan struct{}
	v       saga.Validation
	err     error
	started time.Time
}

func newPrefetcher(gw Validator, held, concurrency int, ttl time.Duration) *prefetcher {
	return &prefetcher{gw: gw, max: held, ttl: ttl, slots: make(chan struct{}, max(1, concurrency)), calls: map[string]*prefetch{}}
}

// requestKey names what a validation's gateway calls depend on.
func requestKey(s *saga.Saga) string {
	return s.QuoteID + "\x00" + strconv.Itoa(s.Version) + "\x00" + strconv.Itoa(s.Round) + "\x00" + s.ERPCustomerID + "\x00" + strconv.FormatBool(s.PriceApproved)
}

// start begins the validation of s in the background unless it is running
// or done already, or max validations are held.
func (pf *prefetcher) start(ctx context.Context, s *saga.Saga) {
	if pf == nil {
		return
	}
	key := requestKey(s)
	now := time.Now()
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if _, ok := pf.calls[key]; ok {
		return
	}
	if len(pf.calls) >= pf.max {
		for k, c := range pf.calls {
			if now.Sub(c.started) > pf.ttl {
				delete(pf.calls, k)
			}
		}
		if len(pf.calls) >= pf.max {
			return // the handler calls the gateway itself
		}
	}
	c := &prefetch{done: make(chan struct{}), started: now}
	pf.calls[key] = c
	snapshot := *s
	// The call outlives the record's handling; it keeps its trace.
	cctx := context.WithoutCancel(ctx)
	go func() {
		defer close(c.done)
		pf.slots <- struct{}{}
		defer func() { <-pf.slots }()
		c.v, c.err = pf.gw.Validate(cctx, &snapshot)
	}()
}

// take returns the result of the background validation made for s's
// request, waiting for it if it is still running; ok is false when there
// is none (the caller validates itself). A failed one is handed back once
// and forgotten, so the retry calls the gateway again.
func (pf *prefetcher) take(ctx context.Context, s *saga.Saga) (v saga.Validation, err error, ok bool) {
	if pf == nil {
		return v, nil, false
	}
	key := requestKey(s)
	pf.mu.Lock()
	c, found := pf.calls[key]
	if found {
		delete(pf.calls, key)
	}
	pf.mu.Unlock()
	if !found {
		return v, nil, false
	}
	select {
	case <-c.done:
		return c.v, c.err, true
	case <-ctx.Done():
		return v, errs.Retriable(errs.ReasonGateway, ctx.Err()), true
	}
}
