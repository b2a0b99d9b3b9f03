//go:build integration

package processor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// BenchmarkRuntimeVsRawTransactional measures, on the real broker and in one
// run, the runtime's throughput (Avro decode → handler → Avro encode →
// transactional produce with the offsets) against a raw franz-go
// transactional pass-through (bytes copied, no decode) over the same topic
// layout, and prints both rates and their ratio (target ≥ 0.7).
func BenchmarkRuntimeVsRawTransactional(b *testing.B) {
	const n = 20_000
	brokers := testinfra.Brokers(b)
	rc, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(b)))
	if err != nil {
		b.Fatal(err)
	}
	sd := serde.New(rc, serde.AutoRegister(true))
	for range b.N {
		e := newEnv(b, brokers, 4)
		ctx := context.Background()
		var recs []*kgo.Record
		for i := range n {
			a := &contracts.Account{
				Metadata:  contracts.EventMetadata{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), CorrelationID: "bench", SourceSystem: contracts.SourceSystemCRM, OccurredAt: time.UnixMilli(1_700_000_000_000)},
				Op:        contracts.ChangeOperationUpsert,
				AccountID: fmt.Sprintf("ACC-%06d", i), Name: "Acme Industrial Supplies GmbH", Status: contracts.AccountStatusCustomer,
				SourceUpdatedAt: time.UnixMilli(1_700_000_000_000),
			}
			v, err := sd.Encode(ctx, e.kcfg.Topic(e.in), a)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(a.AccountID), Value: v})
		}
		e.produce(recs...)
		e.createTopics(4, "raw-out.v1")

		// Baseline: raw transactional pass-through.
		start := time.Now()
		rawPassThrough(b, e, n)
		raw := float64(n) / time.Since(start).Seconds()

		// The runtime: decode, handle, encode, produce in the transaction.
		h := func(ctx context.Context, m *Message) error {
			var a contracts.Account
			if err := m.Decode(&a); err != nil {
				return err
			}
			a.Name += " (processed)"
			return m.EmitValue(e.out, a.AccountID, &a)
		}
		start = time.Now()
		p, err := New(Config{Service: "bench", Topics: []string{e.in}, Handler: h}, e.kcfg, WithSerde(sd), WithMaxPollRecords(1000))
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(rctx) }()
		e.consume(e.out, n, 5*time.Minute)
		runtime := float64(n) / time.Since(start).Seconds()
		cancel()
		<-done

		ratio := runtime / raw
		b.ReportMetric(raw, "raw-records/s")
		b.ReportMetric(runtime, "runtime-records/s")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("processor throughput: raw transactional pass-through %.0f records/s, runtime (Avro decode+encode, transactional) %.0f records/s, ratio %.2f (target >= 0.70)\n", raw, runtime, ratio)
	}
}

// rawPassThrough copies n records from the input to raw-out.v1 with a
// GroupTransactSession, committing once per poll, and returns when a
// read_committed consumer has seen them all.
func rawPassThrough(b *testing.B, e *env, n int) {
	opts, err := e.kcfg.Opts()
	if err != nil {
		b.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.ConsumerGroup(e.kcfg.TopicPrefix+"raw"), kgo.ConsumeTopics(e.kcfg.Topic(e.in)),
		kgo.TransactionalID(e.kcfg.TopicPrefix+"raw-0"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	ctx := context.Background()
	copied := 0
	for copied < n {
		fs := sess.PollRecords(ctx, 1000)
		if fs.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			b.Fatal(err)
		}
		batch := 0
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: e.kcfg.Topic("raw-out.v1"), Key: r.Key, Value: r.Value}, nil)
			batch++
		})
		ok, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			copied += batch
		}
	}
	e.consume("raw-out.v1", n, 5*time.Minute)
}
