package deadletter

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
)

func TestTopicOf(t *testing.T) {
	for in, want := range map[string]string{"quote-to-order": "dlq.quote-to-order.v1", "dlq.customer-sync.v1": "dlq.customer-sync.v1"} {
		if got, err := TopicOf(in); err != nil || got != want {
			t.Errorf("TopicOf(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"dlq.", "Quote To Order", "dlq.x.y"} {
		if _, err := TopicOf(bad); err == nil {
			t.Errorf("TopicOf(%q) accepted", bad)
		}
	}
}

func TestReplayRecordHeaders(t *testing.T) {
	in := &kgo.Record{Topic: "p.dlq.svc.v1", Partition: 0, Offset: 41, Key: []byte("k"), Value: []byte{0, 1, 2},
		Headers: []kgo.RecordHeader{
			{Key: "correlation-id", Value: []byte("c-1")},
			{Key: catalog.DLQHeaderTopic, Value: []byte("crm.quote.v1")},
			{Key: catalog.DLQHeaderPartition, Value: []byte("2")},
			{Key: catalog.DLQHeaderOffset, Value: []byte("17")},
			{Key: catalog.DLQHeaderErrorClass, Value: []byte("poison")},
			{Key: catalog.DLQHeaderErrorMessage, Value: []byte("boom")},
			{Key: catalog.DLQHeaderReplayCount, Value: []byte("1")},
			{Key: HeaderReplayedFrom, Value: []byte("dlq.svc.v1/0/7")},
		}}
	out, origin, n, err := ReplayRecord(kafka.Config{TopicPrefix: "p."}, "dlq.svc.v1", in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Topic != "p.svc.retry.v1" || origin != "crm.quote.v1" || n != 2 || string(out.Key) != "k" || !bytes.Equal(out.Value, in.Value) {
		t.Fatalf("record %+v origin %s n=%d", out, origin, n)
	}
	var got []string
	for _, h := range out.Headers {
		got = append(got, h.Key+"="+string(h.Value))
	}
	want := []string{"correlation-id=c-1", "isthmus-origin-topic=p.crm.quote.v1", "isthmus-origin-partition=2", "isthmus-origin-offset=17",
		"isthmus-event-id=" + event.ID("p.crm.quote.v1", "2", "17"), "dlq-replay-count=2", "dlq-replayed-from=dlq.svc.v1/0/41"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
	if _, _, _, err := ReplayRecord(kafka.Config{}, "dlq.svc.v1", &kgo.Record{Key: []byte("k")}); err == nil || !strings.Contains(err.Error(), "not a dead-lettered message") {
		t.Fatalf("record without origin: %v", err)
	}
}
