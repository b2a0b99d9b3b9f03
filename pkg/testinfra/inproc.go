package testinfra

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/serde"
)

// Go runs run (a service's Run, a processor's) in the test's process until
// the returned stop is called (or the test ends): stop cancels its context
// and waits up to 30 s for it to return, failing the test on an error or a
// hang. stop may be called more than once.
func Go(t testing.TB, name string, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Producer writes test input to topics under a prefix: values encoded in
// the Confluent wire format (schemas looked up or registered by the serde),
// or raw bytes for bad input.
type Producer struct {
	t      testing.TB
	cl     *kgo.Client
	sd     *serde.Serde
	prefix string
}

// NewProducer writes with cl and sd to "<prefix><topic>".
func NewProducer(t testing.TB, cl *kgo.Client, sd *serde.Serde, prefix string) *Producer {
	return &Producer{t: t, cl: cl, sd: sd, prefix: prefix}
}

// Value encodes v for topic and writes it under key.
func (p *Producer) Value(topic, key string, v serde.Record, headers ...kgo.RecordHeader) {
	p.t.Helper()
	p.Raw(topic, key, p.Encode(topic, v), headers...)
}

// Encode is v in the wire format of topic (without the prefix), for a
// record that Records writes with more than a key: a partition, a
// timestamp.
func (p *Producer) Encode(topic string, v serde.Record) []byte {
	p.t.Helper()
	b, err := p.sd.Encode(context.Background(), p.prefix+topic, v)
	if err != nil {
		p.t.Fatalf("encode %s: %v", topic, err)
	}
	return b
}

// Raw writes value as it is under key.
func (p *Producer) Raw(topic, key string, value []byte, headers ...kgo.RecordHeader) {
	p.t.Helper()
	p.Records(&kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: headers})
}

// Records writes records (topics without the prefix; partition -1 or unset
// with a key: the key's partition) and waits until every one is acknowledged.
func (p *Producer) Records(recs ...*kgo.Record) {
	p.t.Helper()
	for _, r := range recs {
		r.Topic = p.prefix + r.Topic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		p.t.Fatalf("produce: %v", err)
	}
}
