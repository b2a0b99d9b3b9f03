package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
)

func TestDelayIsCappedExponentialWithJitter(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for n, want := range map[int]time.Duration{1: 10, 2: 20, 3: 40, 4: 80, 5: 80, 30: 80} {
		want *= time.Millisecond
		for range 50 {
			d := p.Delay(n)
			if d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestDoRetriesOnlyRetriable(t *testing.T) {
	p := Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}
	calls, retries := 0, 0
	err := Do(context.Background(), p, func(int) error {
		calls++
		if calls <= 5 {
			return errs.Retriablef("flaky", "attempt %d", calls)
		}
		return nil
	}, func(int, error, time.Duration) { retries++ })
	if err != nil || calls != 6 || retries != 5 {
		t.Fatalf("err=%v calls=%d retries=%d", err, calls, retries)
	}
	calls = 0
	poison := errs.Poisonf("bad", "no")
	if err := Do(context.Background(), p, func(int) error { calls++; return poison }, nil); !errors.Is(err, errs.ErrPoison) || calls != 1 {
		t.Fatalf("poison retried: err=%v calls=%d", err, calls)
	}
	calls = 0
	p.MaxAttempts = 3
	if err := Do(context.Background(), p, func(int) error { calls++; return errs.Retriablef("x", "y") }, nil); err == nil || calls != 3 {
		t.Fatalf("budget ignored: calls=%d", calls)
	}
}
