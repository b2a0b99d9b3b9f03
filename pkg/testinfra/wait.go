package testinfra

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Poll is how often Eventually checks.
const Poll = 100 * time.Millisecond

// Eventually waits until cond holds, checking every Poll, and fails the
// test naming what did not happen when within passes first. It is the one
// deadline loop of the integration tests.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(within, cond) {
		t.Fatalf("%s: not within %s", what, within)
	}
}

// Within reports whether cond held within the duration (checked every Poll,
// and once more at the end).
func Within(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
}

// WaitReady waits until the admin port at addr answers /readyz with 200.
func WaitReady(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	Eventually(t, within, addr+" ready", func() bool {
		r, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
}

// Collector reads topics from their start (read_committed) in the
// background and keeps every record, for tests to wait on and inspect.
type Collector struct {
	mu      sync.Mutex
	records map[string][]*kgo.Record // physical topic → records in arrival order
	cancel  context.CancelFunc
	done    chan struct{}
}

// Collect starts a collector on topics (physical names); it stops with the
// test.
func Collect(t testing.TB, brokers []string, topics ...string) *Collector {
	t.Helper()
	cl := NewClient(t, brokers, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	c := &Collector{records: map[string][]*kgo.Record{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				c.mu.Lock()
				c.records[r.Topic] = append(c.records[r.Topic], r)
				c.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

// Records is a copy of what arrived on topic so far.
func (c *Collector) Records(topic string) []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*kgo.Record(nil), c.records[topic]...)
}

// Count is how many records arrived on topic so far.
func (c *Collector) Count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.records[topic])
}

// WaitCount waits until at least n records arrived on topic and returns
// them.
func (c *Collector) WaitCount(t testing.TB, within time.Duration, topic string, n int) []*kgo.Record {
	t.Helper()
	Eventually(t, within, topic+" records", func() bool { return c.Count(topic) >= n })
	return c.Records(topic)
}
