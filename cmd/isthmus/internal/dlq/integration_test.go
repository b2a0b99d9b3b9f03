//go:build integration

package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestReplayAfterFixProcessedOnce: a processor dead-letters a record while
// its cause is not fixed; after the fix, replaying it (twice, and once more
// with --all) gets it processed exactly once.
func TestReplayAfterFixProcessedOnce(t *testing.T) {
	brokers := testinfra.Brokers(t)
	kcfg := kafka.Config{Brokers: brokers, TopicPrefix: fmt.Sprintf("dlqtest%d.", time.Now().UnixNano())}
	testinfra.CreateTopics(t, brokers, 1, kcfg.Topic("in.v1"), kcfg.Topic("out.v1"), kcfg.Topic("dlq.replaytest.v1"))
	var fixed atomic.Bool
	h := func(ctx context.Context, m *processor.Message) error {
		if !fixed.Load() {
			return errs.Poison("missing-reference", errors.New("reference data for "+m.Key()+" is missing"))
		}
		m.Emit("out.v1", m.Key(), append([]byte("processed:"), m.Value()...))
		return nil
	}
	p, err := processor.New(processor.Config{Service: "replaytest", Instance: "t", Topics: []string{"in.v1"}, Handler: h}, kcfg,
		processor.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	cl := testinfra.NewClient(t, brokers)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kcfg.Topic("in.v1"), Key: []byte("k1"), Value: []byte("v1"),
		Headers: []kgo.RecordHeader{{Key: "correlation-id", Value: []byte("corr-1")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dead := consume(t, kcfg, "dlq.replaytest.v1", 1)[0]
	if h := header(dead, catalog.DLQHeaderTopic); h != "in.v1" {
		t.Fatalf("DLQ record origin %q", h)
	}

	fixed.Store(true)
	out, err := Replay(ctx, cl, kcfg, ReplayOptions{Topic: "dlq.replaytest.v1", Partition: dead.Partition, Offset: dead.Offset, DryRun: true})
	if err != nil || len(out) != 1 || out[0].Action != "would-replay" {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	out, err = Replay(ctx, cl, kcfg, ReplayOptions{Topic: "dlq.replaytest.v1", Partition: dead.Partition, Offset: dead.Offset})
	if err != nil || len(out) != 1 || out[0].Action != "replayed" || out[0].ReplayCount != 1 {
		t.Fatalf("replay: %+v %v", out, err)
	}
	for _, o := range []ReplayOptions{
		{Topic: "dlq.replaytest.v1", Partition: dead.Partition, Offset: dead.Offset},
		{Topic: "dlq.replaytest.v1", All: true},
	} {
		out, err = Replay(ctx, cl, kcfg, o)
		if err != nil || len(out) != 1 || out[0].Action != "already-replayed" {
			t.Fatalf("second replay %+v: %+v %v", o, out, err)
		}
	}
	got := consume(t, kcfg, "out.v1", 1)
	if string(got[0].Value) != "processed:v1" || header(got[0], "correlation-id") != "corr-1" {
		t.Fatalf("output %q headers %v", got[0].Value, got[0].Headers)
	}
	time.Sleep(3 * time.Second)
	if n := len(consumeAvailable(t, kcfg, "out.v1")); n != 1 {
		t.Fatalf("%d outputs, want exactly 1", n)
	}
	in := consumeAvailable(t, kcfg, "in.v1")
	if len(in) != 2 || header(in[1], catalog.DLQHeaderReplayCount) != "1" || header(in[1], HeaderReplayedFrom) != "dlq.replaytest.v1/0/"+strconv.FormatInt(dead.Offset, 10) {
		t.Fatalf("input records %d, replay headers %v", len(in), in[len(in)-1].Headers)
	}
	// list counts the DLQ.
	sums, err := List(ctx, cl, kcfg, 5*time.Second, 3, nil)
	if err != nil || len(sums) != 1 || sums[0].Messages != 1 || sums[0].Newest[0].OriginalTopic != "in.v1" {
		t.Fatalf("list: %+v %v", sums, err)
	}
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func consume(t *testing.T, kcfg kafka.Config, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kcfg.NewClient(kgo.ConsumeTopics(kcfg.Topic(topic)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func consumeAvailable(t *testing.T, kcfg kafka.Config, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kcfg.NewClient(kgo.ConsumeTopics(kcfg.Topic(topic)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if len(fs.Records()) == 0 {
			return out
		}
		out = append(out, fs.Records()...)
	}
}
