package processor

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
)

// WithRetryBudget bounds a record's in-place retries: a dependency that
// stays down aborts the record after the budget, having been retried with
// the default backoff.
func TestRetryBudget(t *testing.T) {
	attempts := 0
	h := func(_ context.Context, m *Message) error {
		attempts = m.Attempt()
		return errs.Retriablef(errs.ReasonGateway, "gateway down")
	}
	p, err := New(Config{Service: "budget", Topics: []string{"in.v1"}, Handler: h}, kafka.Config{},
		WithRetryBudget(350*time.Millisecond), WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Handle(context.Background(), &kgo.Record{Topic: "in.v1", Key: []byte("k")})
	took := time.Since(start)
	if errs.ClassOf(err) != errs.ClassRetriable {
		t.Fatalf("err = %v, want the retriable failure back", err)
	}
	// 100 ms, then 200 ms (half jitter): two or three tries within 350 ms.
	if attempts < 2 || took > 2*time.Second {
		t.Errorf("%d attempts in %v", attempts, took)
	}
}
