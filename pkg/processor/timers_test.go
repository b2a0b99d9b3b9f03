package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/errs"
)

// countingBackend counts the keys a scan visits.
type countingBackend struct {
	backend
	visited int
}

func (c *countingBackend) scan(store string, part int32, fn func(string, []byte) bool) error {
	return c.backend.scan(store, part, func(k string, v []byte) bool { c.visited++; return fn(k, v) })
}

// TestDueTimersReadOnlyWhatIsDue: timers set, moved and cancelled through
// committed and uncommitted writes fire in deadline order, and finding the
// due ones among 20,000 pending visits only those (not every timer).
func TestDueTimersReadOnlyWhatIsDue(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		cb := &countingBackend{backend: be}
		p := &Processor{cfg: Config{Service: "t"}}
		p.stores = testStores(cb, "timers")
		msg := func(b *batch) *Message {
			return &Message{Record: &kgo.Record{Partition: 0}, p: p, batch: b}
		}
		at := func(s int) time.Time { return time.UnixMilli(1_700_000_000_000 + int64(s)*1000) }
		// 20,000 timers far in the future, committed.
		b := newBatch()
		m := msg(b)
		for i := range 20_000 {
			m.SetTimer("timers", fmt.Sprintf("later-%05d", i), at(100_000+i))
		}
		for _, pt := range m.puts {
			b.put(pt.store, 0, pt.key, pt.value)
		}
		must(t, p.stores.commit(b))

		// This batch: three timers due, one moved later, one cancelled.
		b = newBatch()
		m = msg(b)
		m.SetTimer("timers", "c", at(30))
		m.SetTimer("timers", "a", at(10))
		m.SetTimer("timers", "b", at(20))
		m.SetTimer("timers", "moved", at(5))
		m.SetTimer("timers", "moved", at(50_000))
		m.SetTimer("timers", "gone", at(1))
		m.CancelTimer("timers", "gone")
		m.SetTimer("timers", "later-00007", at(15)) // an old one, now due
		var got []string
		cb.visited = 0
		m.DueTimers("timers", at(40), func(id string, when time.Time) bool {
			got = append(got, fmt.Sprintf("%s@%d", id, (when.UnixMilli()-1_700_000_000_000)/1000))
			return true
		})
		if d := cmp.Diff([]string{"a@10", "later-00007@15", "b@20", "c@30"}, got); d != "" {
			t.Fatalf("due timers (-want +got):\n%s", d)
		}
		if cb.visited > 2 {
			t.Fatalf("finding 4 due timers visited %d committed keys (of 40,000)", cb.visited)
		}
		if when, ok := m.TimerAt("timers", "moved"); !ok || !when.Equal(at(50_000)) {
			t.Fatalf("moved timer at %v %v", when, ok)
		}
		if _, ok := m.TimerAt("timers", "gone"); ok {
			t.Fatal("cancelled timer still set")
		}
		// Fire them (cancel in the callback), commit, and nothing is due.
		m.DueTimers("timers", at(40), func(id string, _ time.Time) bool { m.CancelTimer("timers", id); return true })
		for _, pt := range m.puts {
			b.put(pt.store, 0, pt.key, pt.value)
		}
		must(t, p.stores.commit(b))
		m = msg(newBatch())
		n := 0
		m.DueTimers("timers", at(40), func(string, time.Time) bool { n++; return true })
		if n != 0 {
			t.Fatalf("%d timers due after firing", n)
		}
		n = 0
		m.DueTimers("timers", at(100_010), func(string, time.Time) bool { n++; return true })
		if n != 11 { // moved, and later-00000..00010 but the fired 00007
			t.Fatalf("%d timers due at +100,010 s, want 11", n)
		}
	})
}

// TestStateErrorIsRetriable: a failing local store (Get and Range panic
// with a StateError) makes the record retriable, never a dead letter.
func TestStateErrorIsRetriable(t *testing.T) {
	p := &Processor{cfg: Config{Service: "t"}, log: slog.New(slog.DiscardHandler), metrics: newRuntimeMetrics(prometheus.NewRegistry())}
	p.stores = testStores(failingBackend{newMemBackend()}, "s")
	h := Chain(func(_ context.Context, m *Message) error {
		m.Get("s", "k")
		return nil
	}, recoverer())
	err := h(context.Background(), &Message{Record: &kgo.Record{}, p: p, ctx: context.Background()})
	if c := errs.ClassOf(err); c != errs.ClassRetriable {
		t.Fatalf("class %q (%v), want retriable", c, err)
	}
}

type failingBackend struct{ backend }

func (failingBackend) get(string, int32, string) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}

// TestTickWaitsForPendingRevocation: a revocation the loop has not applied
// yet (franz-go's session may already have forgotten it, see
// rebalancePending) holds the tick back entirely, before it touches the
// session, and does not use up the tick interval.
func TestTickWaitsForPendingRevocation(t *testing.T) {
	ticked := 0
	p := &Processor{cfg: Config{Service: "t", Tick: time.Second, OnTick: func(context.Context, *Message, time.Time) error {
		ticked++
		return nil
	}}, now: time.Now, assigned: map[int32]bool{0: true}, dropped: map[int32]bool{}}
	p.parts = map[int32]*partition{0: {number: 0, restored: true, streamTime: time.Now().UnixMilli()}, 1: {number: 1, restored: true, streamTime: time.Now().UnixMilli()}}
	p.onDropped(context.Background(), nil, map[string][]int32{"in": {1}})
	// A nil session: ticking would use it.
	if err := p.maybeTick(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if ticked != 0 {
		t.Fatalf("ticked %d partitions with a revocation pending", ticked)
	}
	if !p.lastTick.IsZero() {
		t.Fatal("a held-back tick used up the interval")
	}
}

// TestSyncDropsStateOfUnassignedPartitions: a partition restored for records
// polled just before its revocation (after the loop had synced) is dropped
// at the next sync, so no tick fires its timers on this member.
func TestSyncDropsStateOfUnassignedPartitions(t *testing.T) {
	p := &Processor{cfg: Config{Service: "t"}, log: slog.New(slog.DiscardHandler), assigned: map[int32]bool{0: true}, dropped: map[int32]bool{}}
	p.stores = testStores(newMemBackend(), "timers")
	p.parts = map[int32]*partition{0: {number: 0, restored: true}, 1: {number: 1, restored: true}}
	if got := sortedParts(keys(p.ownedParts())); !cmp.Equal(got, []int32{0}) {
		t.Fatalf("owned before the sync: %v, want [0]", got)
	}
	must(t, p.syncState(context.Background()))
	if _, ok := p.parts[1]; ok || p.parts[0] == nil {
		t.Fatalf("after the sync: partitions %v, want only 0", sortedParts(keys(p.ownedParts())))
	}
}
