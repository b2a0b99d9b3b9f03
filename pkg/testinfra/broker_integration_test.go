//go:build integration

package testinfra_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// produce writes one record and waits for its acknowledgement.
func produce(t *testing.T, brokers []string, topic, key, value string) {
	t.Helper()
	cl := testinfra.NewClient(t, brokers, kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// consumeAll reads topic from the start until it has n records.
func consumeAll(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	cl := testinfra.NewClient(t, brokers,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: got %d of %d records before timeout: %q", topic, len(got), n, got)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consume %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+"="+string(r.Value)) })
	}
	return got
}

func TestStartKafkaSurvivesStopAndKill(t *testing.T) {
	b := testinfra.StartKafka(t)
	topic := testinfra.UniqueTopic(t, "testinfra")
	testinfra.CreateTopics(t, b.Brokers(), 1, topic)

	produce(t, b.Brokers(), topic, "k", "before-stop")
	if diff := cmp.Diff([]string{"k=before-stop"}, consumeAll(t, b.Brokers(), topic, 1)); diff != "" {
		t.Fatalf("records before stop (-want +got):\n%s", diff)
	}

	b.Stop()
	if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatalf("broker %s still accepts connections after Stop", b.Addr())
	}
	b.Start()
	produce(t, b.Brokers(), topic, "k", "after-restart")

	b.Kill()
	b.Start()
	produce(t, b.Brokers(), topic, "k", "after-kill")

	want := []string{"k=before-stop", "k=after-restart", "k=after-kill"}
	if diff := cmp.Diff(want, consumeAll(t, b.Brokers(), topic, len(want))); diff != "" {
		t.Fatalf("records after stop and kill (-want +got):\n%s", diff)
	}
}

func TestSharedBroker(t *testing.T) {
	brokers := testinfra.Brokers(t)
	topic := testinfra.UniqueTopic(t, "testinfra")
	testinfra.CreateTopics(t, brokers, 3, topic)
	testinfra.CreateTopics(t, brokers, 3, topic) // same layout again: accepted

	produce(t, brokers, topic, "a", "1")
	if diff := cmp.Diff([]string{"a=1"}, consumeAll(t, brokers, topic, 1)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}
