package kafka

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScanToTheEnd reads committed records up to the end offsets on kfake:
// an aborted transaction at the end of a partition neither shows up nor
// keeps the scan waiting, and PartitionsSince starts at a timestamp.
func TestScanToTheEnd(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "scan.v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kcfg := Config{Brokers: c.ListenAddrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kcfg.NewClient(kgo.DefaultProduceTopic("scan.v1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 6 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 2), Key: []byte{byte('a' + i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tx, err := kcfg.NewClient(kgo.DefaultProduceTopic("scan.v1"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("scan-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Partition: 1, Key: []byte("aborted")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(cl)
	spans, err := Partitions(ctx, adm, "scan.v1")
	if err != nil {
		t.Fatal(err)
	}
	if spans[0] != (Span{0, 3}) || spans[1].From != 0 || spans[1].To < 4 {
		t.Fatalf("spans = %v, want partition 0 [0,3) and partition 1 [0,≥4)", spans)
	}
	keys := func(spans map[int32]Span) string {
		var got []string
		start := time.Now()
		err := Scan(ctx, kcfg, 2*time.Second, "scan.v1", spans, func(r *kgo.Record) bool { got = append(got, string(r.Key)); return true })
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("scan took %s: it waited past the end", d)
		}
		slices.Sort(got)
		return strings.Join(got, "")
	}
	if got := keys(spans); got != "abcdef" {
		t.Errorf("scan from the start read %q, want the committed records abcdef", got)
	}

	since, err := PartitionsSince(ctx, adm, "scan.v1", base.Add(150*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(since); got != "def" {
		t.Errorf("scan since the 3rd record's minute read %q, want def", got)
	}
	if _, err := Partitions(ctx, adm, "missing.v1"); err == nil || !strings.Contains(err.Error(), "missing.v1 does not exist") {
		t.Errorf("missing topic: err = %v, want one naming it", err)
	}
}
