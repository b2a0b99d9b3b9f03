package testinfra

import (
	"context"
	"errors"
	"testing"
)

type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }
func (r *recorder) Helper()                           {}
func (r *recorder) Cleanup(func())                    {}

func TestGo(t *testing.T) {
	stopped := make(chan struct{})
	stop := Go(t, "svc", func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil })
	stop()
	stop()
	select {
	case <-stopped:
	default:
		t.Fatal("run did not see its context end")
	}
	r := &recorder{TB: t}
	Go(r, "failing", func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") })()
	if len(r.errs) != 1 {
		t.Errorf("a run that fails at stop reported %d errors, want 1", len(r.errs))
	}
}
