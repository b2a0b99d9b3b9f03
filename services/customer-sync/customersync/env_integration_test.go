//go:build integration

package customersync

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

type env struct {
	t        *testing.T
	brokers  []string
	registry string
	prefix   string
	sd       *serde.Serde
	// in writes input with the key's partition; manual to the record's
	// Partition (toPartition).
	in, manual *testinfra.Producer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, brokers: testinfra.Brokers(t), registry: testinfra.RegistryURL(t),
		prefix: fmt.Sprintf("cs-%s-%06d.", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), rand.IntN(1_000_000))}
	testinfra.Provision(t, e.brokers, e.registry, e.prefix)
	e.waitTopics(Inputs...)
	e.sd = serde.New(testinfra.RegistryClient(t))
	e.in = testinfra.NewProducer(t, testinfra.NewClient(t, e.brokers, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))), e.sd, e.prefix)
	e.manual = testinfra.NewProducer(t, testinfra.NewClient(t, e.brokers, kgo.RecordPartitioner(kgo.ManualPartitioner())), e.sd, e.prefix)
	return e
}

// waitTopics waits until a fresh client's metadata lists every topic (the
// broker's metadata cache can lag behind topic creation).
func (e *env) waitTopics(topics ...string) {
	e.t.Helper()
	adm := kadm.NewClient(testinfra.NewClient(e.t, e.brokers))
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = e.prefix + t
	}
	var err error
	visible := testinfra.Within(30*time.Second, func() bool {
		var md kadm.Metadata
		if md, err = adm.Metadata(context.Background(), names...); err != nil {
			return false
		}
		for _, n := range names {
			if td, found := md.Topics[n]; !found || td.Err != nil || len(td.Partitions) == 0 {
				return false
			}
		}
		return true
	})
	if !visible {
		e.t.Fatalf("topics %v not visible after 30s (%v)", names, err)
	}
}

func (e *env) kcfg() kafka.Config { return kafka.Config{Brokers: e.brokers, TopicPrefix: e.prefix} }

// start runs the service's processor in this process until the test ends
// (or stop is called).
func (e *env) start(instance string) (stop func()) {
	e.t.Helper()
	return e.startWith(instance, golden.DefaultConfig())
}

// startWith is start with the domain configuration cfg.
func (e *env) startWith(instance string, cfg golden.Config) (stop func()) {
	e.t.Helper()
	h, err := NewHandler(cfg, prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := processor.New(ProcessorConfig(instance, h), e.kcfg(), processor.WithSerde(e.sd), processor.WithLogger(log),
		processor.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		e.t.Fatal(err)
	}
	return testinfra.Go(e.t, "processor", p.Run)
}

// toPartition writes v (Avro) to partition p of a logical topic.
func (e *env) toPartition(p int32, topic, key string, v serde.Record) {
	e.t.Helper()
	e.manual.Records(&kgo.Record{Topic: topic, Key: []byte(key), Value: e.manual.Encode(topic, v), Partition: p})
}

// out is one output record as a read_committed consumer sees it.
type out struct {
	Topic     string // logical
	Key       string
	Value     []byte
	Headers   map[string]string
	Partition int32
	Offset    int64
}

// collector reads every output topic (read_committed) from the start
// (testinfra.Collect); snapshot turns what arrived into outs, topic by
// topic, each in arrival order.
type collector struct {
	prefix string
	topics []string // physical
	c      *testinfra.Collector
}

func (e *env) collect(extra ...string) *collector {
	e.t.Helper()
	topics := make([]string, 0, len(outputTopics)+len(extra))
	for _, t := range append(append([]string{TopicRoute, TopicMatch}, outputTopics...), extra...) {
		topics = append(topics, e.prefix+t)
	}
	return &collector{prefix: e.prefix, topics: topics, c: testinfra.Collect(e.t, e.brokers, topics...)}
}

func (c *collector) snapshot() []out {
	var recs []out
	for _, t := range c.topics {
		for _, r := range c.c.Records(t) {
			o := out{Topic: strings.TrimPrefix(r.Topic, c.prefix), Key: string(r.Key), Value: r.Value, Headers: map[string]string{},
				Partition: r.Partition, Offset: r.Offset}
			for _, h := range r.Headers {
				o.Headers[h.Key] = string(h.Value)
			}
			recs = append(recs, o)
		}
	}
	return recs
}

// waitFor polls the collected records until cond holds.
func (c *collector) waitFor(t *testing.T, what string, timeout time.Duration, cond func([]out) bool) []out {
	t.Helper()
	var recs []out
	if testinfra.Within(timeout, func() bool { recs = c.snapshot(); return cond(recs) }) {
		return recs
	}
	seen := map[string]int{}
	for _, o := range recs {
		seen[o.Topic+" "+o.Key]++
	}
	t.Fatalf("timed out after %s waiting for %s (%d records collected: %v)", timeout, what, len(recs), seen)
	return nil
}

// settle waits until the group has consumed every input record and the
// collected outputs have not changed for quiet since then.
func (e *env) settle(c *collector, quiet, timeout time.Duration) []out {
	e.t.Helper()
	adm := kadm.NewClient(testinfra.NewClient(e.t, e.brokers))
	group := e.prefix + Name
	inputs := make([]string, len(Inputs))
	for i, t := range Inputs {
		inputs[i] = e.prefix + t
	}
	last, since := -1, time.Now()
	settled := testinfra.Within(timeout, func() bool {
		recs := c.snapshot()
		if n := len(recs); n != last || n == 0 {
			// Quiet means "no new output after some output": with none
			// yet, the service may still be starting under load.
			last, since = n, time.Now()
		}
		// The quiet period counts from when the group has consumed
		// everything: the last transaction's outputs, committed with those
		// offsets, may reach the collector only after it.
		if !e.inputsConsumed(adm, group, inputs) || !e.matchConsumed(adm, group, recs) {
			since = time.Now()
			return false
		}
		return time.Since(since) >= quiet
	})
	if !settled {
		e.t.Fatalf("outputs did not settle within %s (%d collected)", timeout, last)
	}
	return c.snapshot()
}

// matchConsumed reports whether the group has committed past the last
// (committed) record of the internal topics that the collector has seen.
func (e *env) matchConsumed(adm *kadm.Client, group string, recs []out) bool {
	type tp struct {
		topic string
		p     int32
	}
	last := map[tp]int64{}
	for _, o := range recs {
		if (o.Topic == TopicMatch || o.Topic == TopicRoute) && o.Offset+1 > last[tp{o.Topic, o.Partition}] {
			last[tp{o.Topic, o.Partition}] = o.Offset + 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	for k, end := range last {
		c, ok := committed.Lookup(e.prefix+k.topic, k.p)
		if !ok || c.At < end {
			return false
		}
	}
	return true
}

func (e *env) inputsConsumed(adm *kadm.Client, group string, inputs []string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, inputs...)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	ok := true
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset == 0 {
			return
		}
		c, found := committed.Lookup(lo.Topic, lo.Partition)
		if !found || c.At < lo.Offset {
			ok = false
		}
	})
	return ok
}

// decode decodes an output value into v.
func (e *env) decode(o out, v serde.Record) {
	e.t.Helper()
	if err := e.sd.Decode(context.Background(), o.Value, v); err != nil {
		e.t.Fatalf("decode %s/%s: %v", o.Topic, o.Key, err)
	}
}
