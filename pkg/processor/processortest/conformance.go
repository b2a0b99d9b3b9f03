package processortest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Answer builds a Target.Identify that decodes each output into a T and
// names the input it answers with id (which may also refuse an output that
// is not the answer, with an error).
func Answer[T any, P interface {
	*T
	serde.Record
}](id func(r *kgo.Record, v P) (string, error)) func(*serde.Serde, *kgo.Record) (string, error) {
	return func(sd *serde.Serde, r *kgo.Record) (string, error) {
		v := P(new(T))
		if err := sd.Decode(context.Background(), r.Value, v); err != nil {
			return "", fmt.Errorf("decode %s@%d: %w", r.Topic, r.Offset, err)
		}
		return id(r, v)
	}
}

// Cluster is where the conformance suite runs: a broker list and a schema
// registry.
type Cluster struct {
	Brokers  []string
	Registry *sr.Client
}

// FakeCluster is an in-memory cluster for unit tests: kfake and the
// in-memory schema registry.
func FakeCluster(t testing.TB) Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return Cluster{Brokers: c.ListenAddrs(), Registry: Registry(t)}
}

// RealCluster is the infrastructure of the integration tests: the real
// broker and schema registry (ISTHMUS_KAFKA_BROKERS,
// ISTHMUS_SCHEMA_REGISTRY_URL; the test fails without them).
func RealCluster(t testing.TB) Cluster {
	t.Helper()
	return Cluster{Brokers: testinfra.Brokers(t), Registry: testinfra.RegistryClient(t)}
}

// Target is a service's processor under the conformance suite.
type Target struct {
	// Service is the processor's service name (its DLQ topic follows).
	Service string
	// Config builds the processor's config; called for every instance.
	Config func() processor.Config
	// Options are extra processor options (the suite sets only the serde).
	Options []processor.Option
	// Input is the i-th valid input (i from 0): a record the processor
	// answers with at least one record on Output. Set Input or Raw.
	Input func(i int) (topic, key string, value serde.Record)
	// Raw is the i-th valid input as bytes, for a processor whose input is
	// not Avro (its own internal records).
	Raw func(i int) (topic, key string, value []byte)
	// OwnInput: the input topic is written only by the service itself, so
	// input it cannot read is its own state gone bad (corrupt_state): the
	// suite checks that such a record is never dead-lettered and that its
	// partition waits, instead of checking the dead letter.
	OwnInput bool
	// Output is the topic where each valid input is answered.
	Output string
	// Topics are every other topic the processor writes or reads that
	// must exist beforehand (outputs, lookups).
	Topics []string
	// Identify names the input an output record of Output answers
	// (usually from its metadata's causation id or a business key): each
	// input must be answered, and answered once, across restarts.
	Identify func(sd *serde.Serde, r *kgo.Record) (string, error)
	// Expect names the answer Identify gives for input i.
	Expect func(i int) string
}

// Conformance runs what every service's processor must do on a real or fake
// cluster: each valid input answered exactly once, in a restart too; bad
// bytes and an unknown schema id dead-lettered with the original bytes and
// their reason while the partition keeps flowing.
func Conformance(t *testing.T, c Cluster, tg Target) {
	t.Run("EffectivelyOnceAcrossRestart", func(t *testing.T) { conformOnce(t, c, tg) })
	if tg.OwnInput {
		t.Run("UnreadableOwnInputWaitsNeverDeadLettered", func(t *testing.T) { conformOwnBadInput(t, c, tg) })
		return
	}
	t.Run("BadInputDeadLetteredPartitionFlows", func(t *testing.T) { conformBadInput(t, c, tg) })
}

var conformSeq atomic.Int64

type conformEnv struct {
	t    *testing.T
	c    Cluster
	tg   Target
	kcfg kafka.Config
	sd   *serde.Serde
	cl   *kgo.Client
	in   *testinfra.Producer
}

func newConformEnv(t *testing.T, c Cluster, tg Target) *conformEnv {
	t.Helper()
	prefix := fmt.Sprintf("conf%d-%d.", time.Now().UnixNano()%1e9, conformSeq.Add(1))
	e := &conformEnv{t: t, c: c, tg: tg, kcfg: kafka.Config{Brokers: c.Brokers, TopicPrefix: prefix}, sd: serde.New(c.Registry, serde.AutoRegister(true))}
	e.cl = testinfra.NewClient(t, c.Brokers)
	e.in = testinfra.NewProducer(t, e.cl, e.sd, prefix)
	topics := append(append([]string{tg.Output, catalog.DLQTopic(tg.Service)}, tg.Topics...), tg.Config().Topics...)
	var physical []string
	seen := map[string]bool{}
	for _, tp := range topics {
		if !seen[tp] {
			seen[tp] = true
			physical = append(physical, e.kcfg.Topic(tp))
		}
	}
	// Created and led before the processor starts: its startup check fails
	// on an input topic the broker does not list yet.
	testinfra.CreateTopics(t, c.Brokers, 2, physical...)
	t.Cleanup(func() { testinfra.DeleteTopics(t, []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, prefix) })
	return e
}

func (e *conformEnv) run() (stop func()) {
	e.t.Helper()
	opts := append([]processor.Option{processor.WithSerde(e.sd)}, e.tg.Options...)
	p, err := processor.New(e.tg.Config(), e.kcfg, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return testinfra.Go(e.t, e.tg.Service, p.Run)
}

// produce writes records of logical topics (the test's prefix added).
func (e *conformEnv) produce(recs ...*kgo.Record) {
	e.t.Helper()
	e.in.Records(recs...)
}

func (e *conformEnv) inputs(from, to int) []*kgo.Record {
	e.t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		topic, key, b := e.input(i)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: b,
			Headers: []kgo.RecordHeader{{Key: tracing.HeaderCorrelationID, Value: []byte(fmt.Sprintf("conformance-%d", i))}}})
	}
	return recs
}

// input is the i-th valid input's topic, key and bytes.
func (e *conformEnv) input(i int) (string, string, []byte) {
	e.t.Helper()
	if e.tg.Raw != nil {
		return e.tg.Raw(i)
	}
	topic, key, v := e.tg.Input(i)
	return topic, key, e.in.Encode(topic, v)
}

// answers reads Output (read_committed) until want distinct inputs are
// answered, then for settle more, and fails on an input answered twice.
func (e *conformEnv) answers(want int, within, settle time.Duration) map[string]int {
	e.t.Helper()
	cl := testinfra.NewClient(e.t, e.c.Brokers, kgo.ConsumeTopics(e.kcfg.Topic(e.tg.Output)), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int{}
	deadline := time.Now().Add(within)
	var quiet time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			id, err := e.tg.Identify(e.sd, r)
			if err != nil {
				e.t.Fatalf("identify output %s@%d: %v", r.Topic, r.Offset, err)
			}
			got[id]++
		})
		if len(got) >= want {
			if quiet.IsZero() {
				quiet = time.Now().Add(settle)
			}
			if time.Now().After(quiet) {
				return got
			}
		} else if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d inputs answered on %s within %s", len(got), want, e.tg.Output, within)
		}
	}
}

func conformOnce(t *testing.T, c Cluster, tg Target) {
	e := newConformEnv(t, c, tg)
	e.produce(e.inputs(0, 20)...)
	stop := e.run()
	e.answers(20, 60*time.Second, 0)
	stop()
	e.produce(e.inputs(20, 30)...)
	stop = e.run()
	got := e.answers(30, 60*time.Second, 2*time.Second)
	stop()
	for i := range 30 {
		switch n := got[tg.Expect(i)]; n {
		case 1:
		case 0:
			t.Errorf("input %d (%s) not answered", i, tg.Expect(i))
		default:
			t.Errorf("input %d (%s) answered %d times", i, tg.Expect(i), n)
		}
	}
}

func conformBadInput(t *testing.T, c Cluster, tg Target) {
	e := newConformEnv(t, c, tg)
	topic, key, _ := e.input(0)
	unknown := make([]byte, 5, 9)
	binary.BigEndian.PutUint32(unknown[1:], 0x7fff_fff0)
	unknown = append(unknown, 2, 'x', 0, 0)
	bad := []*kgo.Record{
		{Topic: topic, Key: []byte(key), Value: []byte("not avro at all")},
		{Topic: topic, Key: []byte(key), Value: unknown},
	}
	e.produce(append(append(e.inputs(0, 1), bad...), e.inputs(1, 3)...)...)
	stop := e.run()
	e.answers(3, 60*time.Second, 0)
	stop()
	dl := testinfra.Collect(t, c.Brokers, e.kcfg.Topic(catalog.DLQTopic(tg.Service)))
	recs := dl.WaitCount(t, 30*time.Second, e.kcfg.Topic(catalog.DLQTopic(tg.Service)), 2)
	for i, r := range recs[:2] {
		if string(r.Value) != string(bad[i].Value) || string(r.Key) != key {
			t.Errorf("dead letter %d = %q/%q, want the original key and bytes", i, r.Key, r.Value)
		}
		if class, _ := tracing.Header(r.Headers, catalog.DLQHeaderErrorClass); class != "poison" {
			t.Errorf("dead letter %d class %q, want poison", i, class)
		}
		if reason, _ := tracing.Header(r.Headers, catalog.DLQHeaderErrorReason); reason == "" || reason == "unclassified" {
			t.Errorf("dead letter %d has no reason", i)
		}
	}
}

// conformOwnBadInput: an unreadable record of the service's own input
// topic is retried, never dead-lettered, and what comes after it waits (a
// retriable failure holds its transaction, so the instance's other
// partitions wait with it until the record can be read).
func conformOwnBadInput(t *testing.T, c Cluster, tg Target) {
	e := newConformEnv(t, c, tg)
	e.produce(e.inputs(0, 1)...)
	stop := e.run()
	e.answers(1, 60*time.Second, 0)
	topic, key, _ := e.input(1)
	e.produce(&kgo.Record{Topic: topic, Key: []byte(key), Value: []byte("\x00not what this service writes")})
	e.produce(e.inputs(1, 2)...)
	got := e.answers(1, 60*time.Second, 8*time.Second)
	stop()
	if got[tg.Expect(1)] != 0 {
		t.Errorf("input 1 was answered although an unreadable record stood before it on its partition")
	}
	if got[tg.Expect(0)] != 1 {
		t.Errorf("input 0 answered %d times, want once", got[tg.Expect(0)])
	}
	dlq := e.kcfg.Topic(catalog.DLQTopic(tg.Service))
	cl := testinfra.NewClient(t, c.Brokers, kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if fs := cl.PollFetches(ctx); len(fs.Records()) > 0 {
		t.Errorf("%d records dead-lettered from the service's own input", len(fs.Records()))
	}
}
