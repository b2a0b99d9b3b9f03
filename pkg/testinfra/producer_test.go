package testinfra_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestProducer writes a value, raw bytes and an encoded record with its own
// timestamp under a prefix, and reads them back as written.
func TestProducer(t *testing.T) {
	c := processortest.FakeCluster(t)
	const prefix, topic = "p.", contracts.TopicOpsDecisionsV1
	testinfra.CreateTopics(t, c.Brokers, 1, prefix+topic)
	sd := serde.New(c.Registry, serde.AutoRegister(true))
	p := testinfra.NewProducer(t, testinfra.NewClient(t, c.Brokers), sd, prefix)
	md := contracts.EventMetadata{EventID: "00000000-0000-4000-8000-000000000001", CorrelationID: "c-1", SourceSystem: contracts.SourceSystemOperator, OccurredAt: time.UnixMilli(0).UTC()}
	d := &contracts.Decision{Metadata: md, DecisionID: "D-1", OwnerService: "billing-bridge", Actor: "it", ExceptionID: "X-1", Action: contracts.DecisionActionDismiss, Parameters: map[string]string{}, ApprovedBy: []string{}}
	at := time.Date(2025, 2, 10, 9, 0, 0, 0, time.UTC)
	p.Value(topic, "k1", d)
	p.Raw(topic, "k2", []byte("not avro"))
	p.Records(&kgo.Record{Topic: topic, Key: []byte("k3"), Value: p.Encode(topic, d), Timestamp: at})

	recs := testinfra.Collect(t, c.Brokers, prefix+topic).WaitCount(t, 30*time.Second, prefix+topic, 3)
	if len(recs) != 3 || string(recs[0].Key) != "k1" || string(recs[1].Key) != "k2" || string(recs[2].Key) != "k3" {
		t.Fatalf("%d records read back", len(recs))
	}
	for _, i := range []int{0, 2} {
		var got contracts.Decision
		if err := sd.Decode(context.Background(), recs[i].Value, &got); err != nil || got.DecisionID != "D-1" {
			t.Errorf("record %s: %+v, %v", recs[i].Key, got, err)
		}
	}
	if string(recs[1].Value) != "not avro" {
		t.Errorf("raw value %q", recs[1].Value)
	}
	if !recs[2].Timestamp.Equal(at) {
		t.Errorf("timestamp %s, want %s", recs[2].Timestamp, at)
	}
}
