//go:build integration

package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestReplayAfterFixProcessedOnce: a processor dead-letters a record while
// its cause is not fixed; after the fix, replaying it (twice, and once more
// with All) puts it on the service's retry topic once, and it is processed
// exactly once, by that service only: another service consuming the same
// source topic never sees it again, and the source topic is untouched.
func TestReplayAfterFixProcessedOnce(t *testing.T) {
	brokers := testinfra.Brokers(t)
	kcfg := kafka.Config{Brokers: brokers, TopicPrefix: fmt.Sprintf("dlqtest%d.", time.Now().UnixNano())}
	testinfra.CreateTopics(t, brokers, 3, kcfg.Topic("in.v1"), kcfg.Topic("out.v1"), kcfg.Topic("dlq.replaytest.v1"), kcfg.Topic("dlq.bystander.v1"))
	var fixed atomic.Bool
	var seenTopic, seenID atomic.Value
	h := func(ctx context.Context, m *processor.Message) error {
		if !fixed.Load() {
			return errs.Poison("missing-reference", errors.New("reference data for "+m.Key()+" is missing"))
		}
		seenTopic.Store(m.Topic)
		seenID.Store(m.EventID())
		m.Emit("out.v1", m.Key(), append([]byte("processed:"), m.Value()...))
		return nil
	}
	var bystander atomic.Int64 // another service reading the same source topic
	run := func(ctx context.Context, service string, h processor.Handler, stores ...string) chan error {
		p, err := processor.New(processor.Config{Service: service, Instance: "t", Topics: []string{"in.v1"}, Stores: stores, Handler: h}, kcfg,
			processor.WithRegisterer(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return done
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The owner keeps state (a store), so its retry topic is co-partitioned
	// with its input and a replay is handled on its key's partition.
	done := run(ctx, "replaytest", h, "seen")
	done2 := run(ctx, "bystander", func(context.Context, *processor.Message) error { bystander.Add(1); return nil })
	defer func() { cancel(); <-done; <-done2 }()

	cl := testinfra.NewClient(t, brokers)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kcfg.Topic("in.v1"), Key: []byte("k1"), Value: []byte("v1"),
		Headers: []kgo.RecordHeader{{Key: "correlation-id", Value: []byte("corr-1")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dead := consume(t, kcfg, "dlq.replaytest.v1", 1)[0]
	if h := header(dead, catalog.DLQHeaderTopic); h != "in.v1" {
		t.Fatalf("DLQ record origin %q", h)
	}
	origin := testinfra.Committed(t, brokers, kcfg.Topic("in.v1"))[0]

	fixed.Store(true)
	out, err := Replay(ctx, cl, kcfg, ReplayOptions{Topic: "dlq.replaytest.v1", Partition: dead.Partition, Offset: dead.Offset, DryRun: true})
	if err != nil || len(out) != 1 || out[0].Action != "would-replay" || out[0].Target != "replaytest.retry.v1" || out[0].Origin != "in.v1" {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	out, err = Replay(ctx, cl, kcfg, ReplayOptions{Topic: "dlq.replaytest.v1", Partition: dead.Partition, Offset: dead.Offset})
	if err != nil || len(out) != 1 || out[0].Action != "replayed" || out[0].ReplayCount != 1 || out[0].Target != "replaytest.retry.v1" {
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
	// Handled as if read from its origin: the logical topic and the event
	// id it had there.
	if seenTopic.Load() != "in.v1" || seenID.Load() != event.ID(origin.Topic, strconv.Itoa(int(origin.Partition)), strconv.FormatInt(origin.Offset, 10)) {
		t.Fatalf("replay handled as topic %v id %v", seenTopic.Load(), seenID.Load())
	}
	time.Sleep(3 * time.Second)
	if n := len(testinfra.Committed(t, brokers, kcfg.Topic("out.v1"))); n != 1 {
		t.Fatalf("%d outputs, want exactly 1", n)
	}
	if in := testinfra.Committed(t, brokers, kcfg.Topic("in.v1")); len(in) != 1 {
		t.Fatalf("the source topic holds %d records after the replay, want the original 1", len(in))
	}
	if n := bystander.Load(); n != 1 {
		t.Fatalf("another service reading the source topic handled %d records, want 1 (the original, not the replay)", n)
	}
	retry := testinfra.Committed(t, brokers, kcfg.Topic("replaytest.retry.v1"))
	if len(retry) != 1 || header(retry[0], catalog.DLQHeaderReplayCount) != "1" || header(retry[0], HeaderReplayedFrom) != fmt.Sprintf("dlq.replaytest.v1/%d/%d", dead.Partition, dead.Offset) ||
		header(retry[0], processor.HeaderOriginTopic) != kcfg.Topic("in.v1") {
		t.Fatalf("retry records %d, headers %v", len(retry), retry[len(retry)-1].Headers)
	}
	// A DLQ of a service without a retry topic is refused, naming it.
	if _, err := Replay(ctx, cl, kcfg, ReplayOptions{Topic: "dlq.nobody.v1", All: true}); err == nil || !strings.Contains(err.Error(), "nobody.retry.v1") {
		t.Fatalf("replay for a service without a retry topic: %v", err)
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
