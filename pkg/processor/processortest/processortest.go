// Package processortest runs a processor's handler without a broker: build
// the service's processor.Config, send it records (raw bytes or Avro
// values, encoded through an in-memory schema registry), and read what the
// handler emitted and wrote. Each call goes through the runtime's whole
// chain (trace, measure, dead-letter, retry, recover, the service's
// middleware) and its state writes are applied as a committed transaction
// would apply them, so a sequence of calls sees the state the earlier ones
// left. Records the handler emits to its internal topics are handled in
// turn, on their key's partition, as the runtime would consume them.
//
// What it does not model: transactions across records (each call commits
// alone), rebalances, restores and the forwarding of records a producer put
// on another partition than their key's. The conformance suite and the
// integration tests cover those on kfake and the real broker.
package processortest

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Kit is one processor under test.
type Kit struct {
	t          testing.TB
	cfg        processor.Config
	p          *processor.Processor
	serde      *serde.Serde
	registry   *sr.Client
	partitions int32
	internal   map[string]bool
	offsets    map[string]map[int32]int64
	state      map[string]map[string][]byte // store → partition/key → value
	now        time.Time
}

// Option tunes a Kit.
type Option func(*settings)

type settings struct {
	partitions int32
	now        time.Time
}

// Partitions sets the input topics' partition count (default 1): records
// land on their key's partition (Kafka's default partitioner) and state is
// kept per partition.
func Partitions(n int32) Option { return func(s *settings) { s.partitions = max(n, 1) } }

// Now sets the time of the first record sent (default 2026-01-01 UTC);
// later records are stamped with the kit's clock (see Advance).
func Now(t time.Time) Option { return func(s *settings) { s.now = t } }

// New builds the processor of cfg for the test. Topic names are used as
// they are (no prefix).
func New(t testing.TB, cfg processor.Config, opts ...Option) *Kit {
	t.Helper()
	s := settings{partitions: 1, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, o := range opts {
		o(&s)
	}
	cl := Registry(t)
	sd := serde.New(cl, serde.AutoRegister(true))
	popts := []processor.Option{
		processor.WithSerde(sd),
		processor.WithRegisterer(prometheus.NewRegistry()),
		processor.WithRetryPolicy(retry.Policy{Base: time.Millisecond, Max: time.Millisecond, MaxElapsed: time.Millisecond}),
	}
	handler := cfg.Handler
	cfg.Handler = func(ctx context.Context, m *processor.Message) error {
		if m.Topic == seedTopic {
			store, _ := m.Header(seedStoreHeader)
			m.Put(store, m.Key(), m.Value())
			return nil
		}
		return handler(ctx, m)
	}
	p, err := processor.New(cfg, kafka.Config{}, popts...)
	if err != nil {
		t.Fatal(err)
	}
	k := &Kit{t: t, cfg: cfg, p: p, serde: sd, registry: cl, partitions: s.partitions, internal: map[string]bool{},
		offsets: map[string]map[int32]int64{}, state: map[string]map[string][]byte{}, now: s.now}
	for _, it := range cfg.InternalTopics {
		k.internal[it] = true
	}
	return k
}

// Registry starts an in-memory schema registry (pkg/schemaregistry) on
// loopback for the test and returns a client of it.
func Registry(t testing.TB) *sr.Client {
	t.Helper()
	reg, err := schemaregistry.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Processor is the processor under test.
func (k *Kit) Processor() *processor.Processor { return k.p }

// Now is the kit's clock: the timestamp of the next record sent.
func (k *Kit) Now() time.Time { return k.now }

// Advance moves the kit's clock.
func (k *Kit) Advance(d time.Duration) { k.now = k.now.Add(d) }

// Encode encodes v in the Confluent wire format for topic (its schema is
// registered under the topic's subject on first use).
func (k *Kit) Encode(topic string, v serde.Record) []byte {
	k.t.Helper()
	b, err := k.serde.Encode(context.Background(), topic, v)
	if err != nil {
		k.t.Fatalf("encode %s: %v", topic, err)
	}
	return b
}

// Decode decodes an output's value into v.
func (k *Kit) Decode(o Output, v serde.Record) {
	k.t.Helper()
	if err := k.serde.Decode(context.Background(), o.Value, v); err != nil {
		k.t.Fatalf("decode %s/%s: %v", o.Topic, o.Key, err)
	}
}

// Record is one input record to send; Header adds headers to it.
type Record struct {
	Topic   string
	Key     string
	Value   []byte
	Headers []kgo.RecordHeader
	// Partition, when set, overrides the key's partition.
	Partition *int32
}

// Send handles a record with the given value bytes on topic.
func (k *Kit) Send(topic, key string, value []byte, headers ...kgo.RecordHeader) Result {
	k.t.Helper()
	return k.SendRecord(Record{Topic: topic, Key: key, Value: value, Headers: headers})
}

// SendValue encodes v for topic and handles it.
func (k *Kit) SendValue(topic, key string, v serde.Record, headers ...kgo.RecordHeader) Result {
	k.t.Helper()
	return k.Send(topic, key, k.Encode(topic, v), headers...)
}

// Correlation is the header that puts a record in a flow.
func Correlation(id string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: tracing.HeaderCorrelationID, Value: []byte(id)}
}

// SendRecord handles r, then the records it emitted to internal topics
// (and theirs), and returns everything that came out.
func (k *Kit) SendRecord(r Record) Result {
	k.t.Helper()
	part := k.partitionOf(r.Key)
	if r.Partition != nil {
		part = *r.Partition
	}
	rec := &kgo.Record{Topic: r.Topic, Key: []byte(r.Key), Value: r.Value, Headers: slices.Clone(r.Headers), Partition: part, Timestamp: k.now}
	if r.Key == "" {
		rec.Key = nil
	}
	var res Result
	queue := []*kgo.Record{rec}
	for len(queue) > 0 && res.Err == nil {
		in := queue[0]
		queue = queue[1:]
		in.Offset = k.nextOffset(in.Topic, in.Partition)
		out, err := k.p.Handle(context.Background(), in)
		if err != nil {
			res.Err = err
			break
		}
		res.add(k, out)
		for _, o := range out.Outputs {
			if k.internal[o.Topic] {
				// Consumed back by the same processor on the key's partition.
				again := &kgo.Record{Topic: o.Topic, Key: o.Key, Value: o.Value, Headers: o.Headers, Partition: k.partitionOf(string(o.Key)), Timestamp: o.Timestamp}
				queue = append(queue, again)
			}
		}
	}
	return res
}

// Tick runs the processor's OnTick at t on every partition.
func (k *Kit) Tick(at time.Time) Result {
	k.t.Helper()
	var res Result
	for part := range k.partitions {
		out, err := k.p.HandleTick(context.Background(), part, at)
		if err != nil {
			res.Err = err
			return res
		}
		res.add(k, out)
		for _, o := range out.Outputs {
			if k.internal[o.Topic] {
				more := k.SendRecord(Record{Topic: o.Topic, Key: string(o.Key), Value: o.Value, Headers: o.Headers})
				res.Outputs = append(res.Outputs, more.Outputs...)
				res.Writes = append(res.Writes, more.Writes...)
				if more.Err != nil {
					res.Err = more.Err
					return res
				}
			}
		}
	}
	return res
}

// seedTopic carries Seed's writes; it is no topic of the processor's.
const (
	seedTopic       = "processortest.seed"
	seedStoreHeader = "processortest-store"
)

// Seed writes a raw value into a store on key's partition, as if the
// service had written it earlier (e.g. state of an older release, or bytes
// it cannot read back), bypassing the handler.
func (k *Kit) Seed(store, key string, value []byte) {
	k.t.Helper()
	k.SeedOn(store, k.PartitionOf(key), key, value)
}

// SeedOn is Seed on partition part.
func (k *Kit) SeedOn(store string, part int32, key string, value []byte) {
	k.t.Helper()
	rec := &kgo.Record{Topic: seedTopic, Key: []byte(key), Value: value, Partition: part, Timestamp: k.now,
		Headers: []kgo.RecordHeader{{Key: seedStoreHeader, Value: []byte(store)}}}
	out, err := k.p.Handle(context.Background(), rec)
	if err != nil {
		k.t.Fatalf("seed %s/%q: %v", store, key, err)
	}
	if len(out.Outputs) > 0 {
		k.t.Fatalf("seed %s/%q failed (is the store declared in Config.Stores?): %s", store, key, out.Outputs[0].Headers)
	}
	var res Result
	res.add(k, out)
}

// PartitionOf is the partition key lands on (Kafka's default partitioner
// over the kit's partition count).
func (k *Kit) PartitionOf(key string) int32 { return k.partitionOf(key) }

// State is the committed value of key in store on key's partition (for a
// store keyed otherwise, StateOn).
func (k *Kit) State(store, key string) ([]byte, bool) {
	return k.StateOn(store, k.partitionOf(key), key)
}

// StateOn is the committed value of key in store on partition part.
func (k *Kit) StateOn(store string, part int32, key string) ([]byte, bool) {
	v, ok := k.state[store][stateKey(part, key)]
	return v, ok
}

func stateKey(part int32, key string) string { return strconv.Itoa(int(part)) + "\x00" + key }

func (k *Kit) partitionOf(key string) int32 {
	if key == "" || k.partitions <= 1 {
		return 0
	}
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(key)}, int(k.partitions)))
}

func (k *Kit) nextOffset(topic string, part int32) int64 {
	ps := k.offsets[topic]
	if ps == nil {
		ps = map[int32]int64{}
		k.offsets[topic] = ps
	}
	off := ps[part]
	ps[part] = off + 1
	return off
}

// Result is what handling a record (and what it re-keyed) produced.
type Result struct {
	Outputs []Output
	Writes  []processor.StateWrite
	// Err is the error that would have aborted the transaction (a
	// retriable failure the retry policy gave up on); nothing is applied.
	Err error
}

func (r *Result) add(k *Kit, o processor.Outcome) {
	for _, rec := range o.Outputs {
		r.Outputs = append(r.Outputs, Output{Topic: rec.Topic, Key: string(rec.Key), Value: rec.Value, Headers: rec.Headers, Record: rec})
	}
	for _, w := range o.Writes {
		r.Writes = append(r.Writes, w)
		st := k.state[w.Store]
		if st == nil {
			st = map[string][]byte{}
			k.state[w.Store] = st
		}
		if w.Value == nil {
			delete(st, stateKey(w.Partition, w.Key))
		} else {
			st[stateKey(w.Partition, w.Key)] = w.Value
		}
	}
}

// On lists the outputs to topic, in order.
func (r Result) On(topic string) []Output {
	var out []Output
	for _, o := range r.Outputs {
		if o.Topic == topic {
			out = append(out, o)
		}
	}
	return out
}

// DeadLetters lists the outputs to the service's dead-letter topic.
func (r Result) DeadLetters(service string) []Output { return r.On(catalog.DLQTopic(service)) }

// Output is one record the handler emitted.
type Output struct {
	Topic   string
	Key     string
	Value   []byte
	Headers []kgo.RecordHeader
	Record  *kgo.Record
}

// Header is the first header named key.
func (o Output) Header(key string) string {
	v, _ := tracing.Header(o.Headers, key)
	return v
}
