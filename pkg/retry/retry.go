// Package retry is the one place that decides how long to wait before trying
// again: capped exponential backoff with half jitter. The processor runtime,
// the OAuth token source and the gateway use it; nothing else sleeps in a
// loop.
package retry

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
)

// Policy describes a retry schedule.
type Policy struct {
	// Base is the first delay (default 100ms).
	Base time.Duration
	// Max caps a single delay (default 5s).
	Max time.Duration
	// MaxAttempts bounds the tries of Do, 0 meaning unbounded (default 0).
	MaxAttempts int
	// MaxElapsed bounds the total time of Do, 0 meaning unbounded.
	MaxElapsed time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Base <= 0 {
		p.Base = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	return p
}

// Delay returns the wait before attempt n+1 after n failed attempts (n ≥ 1):
// a random duration in [d/2, d] where d = min(Max, Base·2^(n-1)). Half-jitter
// keeps a floor so a tight loop cannot form.
func (p Policy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do calls fn until it succeeds, returns an error that is not retriable
// (errs.ClassOf != ClassRetriable), the policy's budget is spent, or ctx
// ends. onRetry, when set, is told about every retry before the wait.
func Do(ctx context.Context, p Policy, fn func(attempt int) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	p = p.withDefaults()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := fn(attempt)
		if err == nil || errs.ClassOf(err) != errs.ClassRetriable {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return err
		}
		wait := p.Delay(attempt)
		if p.MaxElapsed > 0 && time.Since(start)+wait > p.MaxElapsed {
			return err
		}
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
		if Sleep(ctx, wait) != nil {
			return err
		}
	}
}
