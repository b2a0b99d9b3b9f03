package processor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
)

// allocBudget is the per-record allocation budget of the runtime's own path
// (the middleware chain, the Message, state read and write, one output),
// not counting what a handler's decoding and encoding allocate.
const allocBudget = 24

// BenchmarkRecordPath measures the runtime's per-record path without a
// broker: the standard middleware chain around a handler that reads and
// writes state and emits one output, and folds the message into the batch.
// It prints allocations per record next to the budget.
func BenchmarkRecordPath(b *testing.B) {
	p, err := New(Config{Service: "bench", Topics: []string{"in.v1"}, Stores: []string{"counts"}, Handler: func(_ context.Context, m *Message) error {
		v, _ := m.Get("counts", m.Key())
		m.Put("counts", m.Key(), append(v[:0:0], '1'))
		m.Emit("out.v1", m.Key(), m.Value())
		return nil
	}}, kafka.Config{Brokers: []string{"127.0.0.1:1"}}, WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		b.Fatal(err)
	}
	p.parts[0] = &partition{restored: true}
	ctx := context.Background()
	recs := make([]*kgo.Record, 1024)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "in.v1", Partition: 0, Offset: int64(i), Key: []byte(fmt.Sprintf("key-%04d", i%256)), Value: []byte("value"), Timestamp: time.UnixMilli(1_700_000_000_000)}
	}
	run := func(batch *batch, r *kgo.Record) {
		m := &Message{Topic: "in.v1", Record: r, p: p, ctx: ctx, batch: batch}
		if err := p.chain(ctx, m); err != nil {
			b.Fatal(err)
		}
		for _, pt := range m.puts {
			batch.put(pt.store, 0, pt.key, pt.value)
		}
		p.observe(m)
	}
	allocs := testing.AllocsPerRun(2000, func() {
		run(newBatch(), recs[0])
	})
	b.ResetTimer()
	b.ReportAllocs()
	bt := newBatch()
	for i := range b.N {
		run(bt, recs[i%len(recs)])
	}
	b.ReportMetric(allocs, "allocs/record")
	verdict := "PASS"
	if allocs > allocBudget {
		verdict = "MISS"
	}
	fmt.Printf("record path: %.0f allocations per record (budget %d): %s\n", allocs, allocBudget, verdict)
}
