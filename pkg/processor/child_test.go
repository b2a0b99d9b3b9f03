package processor

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/retry"
)

// TestMain lets the test binary double as the sample processor that the
// SIGKILL test starts and kills: PROCESSOR_CHILD=1 runs it until a signal.
func TestMain(m *testing.M) {
	if os.Getenv("PROCESSOR_CHILD") == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	kcfg := kafka.Config{Brokers: strings.Split(os.Getenv("PROCESSOR_BROKERS"), ","), TopicPrefix: os.Getenv("PROCESSOR_PREFIX")}
	delay, _ := time.ParseDuration(os.Getenv("PROCESSOR_DELAY"))
	var flakes atomic.Int64
	inner := counterHandler(&flakes)
	h := func(ctx context.Context, m *Message) error {
		if delay > 0 {
			time.Sleep(delay)
		}
		return inner(ctx, m)
	}
	p, err := New(Config{Service: "counter", Instance: "child", Topics: []string{"in.v1"}, Stores: []string{"counts"}, Handler: h}, kcfg,
		WithMaxPollRecords(200), WithTransactionTimeout(20*time.Second),
		WithRetryPolicy(retry.Policy{Base: 50 * time.Millisecond, Max: time.Second, MaxElapsed: 5 * time.Second}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

var _ = testing.Short
