package processor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// The suite runs against kfake (unit tests) and the real broker
// (integration tests): the same behaviour is required of both.

type env struct {
	t       testing.TB
	kcfg    kafka.Config
	in, out string // logical names
}

var suiteSeq atomic.Int64

func newEnv(t testing.TB, brokers []string, partitions int32) *env {
	t.Helper()
	prefix := fmt.Sprintf("t%d-%d.", time.Now().UnixNano()%1e9, suiteSeq.Add(1))
	e := &env{t: t, kcfg: kafka.Config{Brokers: brokers, TopicPrefix: prefix}, in: "in.v1", out: "out.v1"}
	e.createTopics(partitions, e.in, e.out, catalog.DLQTopic("counter"))
	// Delete every topic of the test (inputs, outputs, changelogs,
	// internal topics) afterwards.
	t.Cleanup(func() { testinfra.DeleteTopics(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, prefix) })
	return e
}

func (e *env) client(opts ...kgo.Opt) *kgo.Client {
	e.t.Helper()
	cl, err := e.kcfg.NewClient(opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// createTopics creates logical topics under the env's prefix and waits
// until every partition has a leader.
func (e *env) createTopics(partitions int32, topics ...string) {
	e.t.Helper()
	physical := make([]string, len(topics))
	for i, t := range topics {
		physical[i] = e.kcfg.Topic(t)
	}
	testinfra.CreateTopics(e.t, e.kcfg.Brokers, partitions, physical...)
}

func (e *env) produce(records ...*kgo.Record) {
	e.t.Helper()
	cl := e.client()
	for _, r := range records {
		r.Topic = e.kcfg.Topic(r.Topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// consume reads n committed records of a logical topic.
func (e *env) consume(topic string, n int, timeout time.Duration) []*kgo.Record {
	e.t.Helper()
	cl := e.client(kgo.ConsumeTopics(e.kcfg.Topic(topic)), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("consume %s: got %d of %d records within %s", topic, len(out), n, timeout)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// settle checks that no record beyond want arrives within d.
func (e *env) settle(topic string, want int, d time.Duration) {
	e.t.Helper()
	cl := e.client(kgo.ConsumeTopics(e.kcfg.Topic(topic)), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n := 0
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(*kgo.Record) { n++ })
	}
	if n != want {
		e.t.Fatalf("%s: %d records, want exactly %d", topic, n, want)
	}
}

// counter is the sample processor: per key it counts records in a state
// store and emits "<key>:<count>:<value>". A value "poison" fails
// permanently; a value "flaky-N" fails N times with a retriable error.
func counterHandler(flakes *atomic.Int64) Handler { return counterHandlerTo(flakes, "out.v1") }

func counterHandlerTo(flakes *atomic.Int64, out string) Handler {
	return func(ctx context.Context, m *Message) error {
		v := string(m.Value())
		if v == "poison" {
			return errs.Poisonf("test-poison", "value %q is poison", v)
		}
		if n, ok := strings.CutPrefix(v, "flaky-"); ok {
			limit, _ := strconv.Atoi(n)
			if m.Attempt() <= limit {
				flakes.Add(1)
				return errs.Retriablef("test-flaky", "attempt %d", m.Attempt())
			}
		}
		count := 0
		if b, ok := m.Get("counts", m.Key()); ok {
			count, _ = strconv.Atoi(string(b))
		}
		count++
		m.Put("counts", m.Key(), []byte(strconv.Itoa(count)))
		m.Emit(out, m.Key(), []byte(fmt.Sprintf("%s:%d:%s", m.Key(), count, v)))
		return nil
	}
}

func (e *env) start(h Handler, opts ...Option) (stop func()) {
	e.t.Helper()
	return e.run(Config{Service: "counter", Topics: []string{e.in}, Stores: []string{"counts"}, Handler: h},
		append([]Option{WithRetryPolicy(retry.Policy{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 5 * time.Second})}, opts...)...)
}

// run starts a processor of cfg and returns the function that stops it and
// checks that Run ended cleanly.
func (e *env) run(cfg Config, opts ...Option) (stop func()) {
	e.t.Helper()
	p, err := New(cfg, e.kcfg, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return testinfra.Go(e.t, cfg.Service, p.Run)
}

// counterSum adds up the counters of one metric family in reg.
func counterSum(reg *prometheus.Registry, name string) float64 {
	var sum float64
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// checkCounts verifies per-key order and exactly-once: the outputs for each
// key are counts 1..n in order with the inputs' values in order.
func checkCounts(t *testing.T, outs []*kgo.Record, inputs map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, r := range outs {
		parts := strings.SplitN(string(r.Value), ":", 3)
		if len(parts) != 3 {
			t.Fatalf("bad output %q", r.Value)
		}
		k := parts[0]
		if want := strconv.Itoa(len(got[k]) + 1); parts[1] != want {
			t.Fatalf("key %s: count %s, want %s (duplicate or reorder)", k, parts[1], want)
		}
		got[k] = append(got[k], parts[2])
	}
	if d := cmp.Diff(inputs, got); d != "" {
		t.Fatalf("outputs differ from inputs (-want +got):\n%s", d)
	}
}

func suiteExactlyOnceAndOrder(t *testing.T, brokers []string, opts ...Option) {
	e := newEnv(t, brokers, 4)
	inputs := map[string][]string{}
	var recs []*kgo.Record
	for i := range 400 {
		k := fmt.Sprintf("k%d", i%23)
		v := fmt.Sprintf("v%d", i)
		inputs[k] = append(inputs[k], v)
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: tracing.HeaderCorrelationID, Value: []byte("corr-" + k)}}})
	}
	e.produce(recs...)
	var flakes atomic.Int64
	stop := e.start(counterHandler(&flakes), opts...)
	outs := e.consume(e.out, 400, 60*time.Second)
	stop()
	checkCounts(t, outs, inputs)
	for _, r := range outs {
		corr, _ := tracing.Header(r.Headers, tracing.HeaderCorrelationID)
		if want := "corr-" + string(r.Key); corr != want {
			t.Fatalf("correlation-id %q, want %q", corr, want)
		}
		if tp, _ := tracing.Header(r.Headers, tracing.HeaderTraceparent); len(tp) != 55 {
			t.Fatalf("traceparent %q", tp)
		}
	}
	// A restart continues from the committed offsets and restored state.
	more := map[string][]string{}
	for k, vs := range inputs {
		more[k] = append([]string(nil), vs...)
	}
	var recs2 []*kgo.Record
	for i := range 23 {
		k := fmt.Sprintf("k%d", i)
		more[k] = append(more[k], "again")
		recs2 = append(recs2, &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte("again")})
	}
	e.produce(recs2...)
	stop = e.start(counterHandler(&flakes), opts...)
	outs = e.consume(e.out, 423, 60*time.Second)
	stop()
	checkCounts(t, outs, more)
}

func suitePoisonToDLQ(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 1)
	e.produce(
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v1")},
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("poison"), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("crm")}}},
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v2")},
	)
	var flakes atomic.Int64
	stop := e.start(counterHandler(&flakes))
	outs := e.consume(e.out, 2, 60*time.Second)
	dlq := e.consume(catalog.DLQTopic("counter"), 1, 30*time.Second)
	stop()
	checkCounts(t, outs, map[string][]string{"a": {"v1", "v2"}})
	d := dlq[0]
	if string(d.Value) != "poison" || string(d.Key) != "a" {
		t.Fatalf("DLQ record %q=%q, want original key and bytes", d.Key, d.Value)
	}
	want := map[string]string{
		"origin": "crm", catalog.DLQHeaderErrorClass: "poison", catalog.DLQHeaderErrorReason: "test-poison",
		catalog.DLQHeaderTopic: e.in, catalog.DLQHeaderPartition: "0", catalog.DLQHeaderOffset: "1", catalog.DLQHeaderService: "counter",
	}
	for k, v := range want {
		if got, _ := tracing.Header(d.Headers, k); got != v {
			t.Errorf("DLQ header %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{catalog.DLQHeaderErrorMessage, catalog.DLQHeaderFailedAt, catalog.DLQHeaderTimestamp} {
		if got, _ := tracing.Header(d.Headers, k); got == "" {
			t.Errorf("DLQ header %s missing", k)
		}
	}
}

func suiteTransientRetried(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 1)
	at := func(i int64) time.Time { return time.UnixMilli(1_600_000_000_000 + i) }
	e.produce(
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v1"), Timestamp: at(1)},
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("flaky-5"), Timestamp: at(2)},
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v3"), Timestamp: at(3)},
	)
	var flakes atomic.Int64
	stop := e.start(counterHandler(&flakes))
	outs := e.consume(e.out, 3, 60*time.Second)
	stop()
	checkCounts(t, outs, map[string][]string{"a": {"v1", "flaky-5", "v3"}})
	for i, r := range outs {
		if !r.Timestamp.Equal(at(int64(i + 1))) {
			t.Errorf("output %d timestamp %v, want the input's %v", i, r.Timestamp, at(int64(i+1)))
		}
	}
	if n := flakes.Load(); n != 5 {
		t.Fatalf("handler failed %d times, want 5", n)
	}
	e.settle(e.out, 3, 2*time.Second)
}

// A retriable failure that outlives the in-place budget aborts the batch
// and the record is fetched again: delayed, never dropped or reordered.
func suiteRetriableBeyondBudget(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 1)
	e.produce(
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v1")},
		&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v2")},
	)
	var calls atomic.Int64
	h := func(ctx context.Context, m *Message) error {
		if string(m.Value()) == "v2" && calls.Add(1) <= 12 {
			return errs.Retriablef("down", "dependency down")
		}
		var flakes atomic.Int64
		return counterHandler(&flakes)(ctx, m)
	}
	stop := e.start(h, WithRetryPolicy(retry.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond, MaxAttempts: 4}))
	outs := e.consume(e.out, 2, 60*time.Second)
	stop()
	checkCounts(t, outs, map[string][]string{"a": {"v1", "v2"}})
	e.settle(e.out, 2, 2*time.Second)
}

// Re-keying through an internal topic: records keyed by "order" are
// re-emitted keyed by their "customer" (the value) to an internal topic and
// counted per customer there, so the count lives with the customer's key.
func suiteInternalRekey(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 3)
	const internal = "counter.by-customer.v1"
	orderTime := func(order string) time.Time {
		n, _ := strconv.Atoi(strings.TrimPrefix(order, "order-"))
		return time.UnixMilli(1_600_000_000_000 + int64(n))
	}
	h := func(ctx context.Context, m *Message) error {
		switch m.Topic {
		case internal:
			// The re-keyed record keeps the event time of its input.
			if got, want := m.EventTime(), orderTime(string(m.Value())); !got.Equal(want) {
				return errs.Poisonf("event-time", "order %s: event time %v, want %v", m.Value(), got, want)
			}
			n := 0
			if b, ok := m.Get("counts", m.Key()); ok {
				n, _ = strconv.Atoi(string(b))
			}
			n++
			m.Put("counts", m.Key(), []byte(strconv.Itoa(n)))
			m.Emit("out.v1", m.Key(), []byte(fmt.Sprintf("%s:%d:%s", m.Key(), n, m.Value())))
		default:
			m.Emit(internal, string(m.Value()), []byte(m.Key()))
		}
		return nil
	}
	want := map[string][]string{}
	var recs []*kgo.Record
	for i := range 60 {
		order, customer := fmt.Sprintf("order-%d", i), fmt.Sprintf("cust-%d", i%7)
		want[customer] = append(want[customer], order)
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(order), Value: []byte(customer), Timestamp: orderTime(order)})
	}
	// Orders of one customer arrive on different partitions; per-customer
	// order is only defined by the internal topic, so compare as sets.
	e.produce(recs...)
	p, err := New(Config{Service: "counter", Topics: []string{e.in}, InternalTopics: []string{internal}, Stores: []string{"counts"}, Handler: h}, e.kcfg,
		WithPurgeInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	outs := e.consume(e.out, 60, 60*time.Second)
	// The internal topic keeps records until they are consumed, then the
	// processor deletes them up to the group's committed offsets.
	adm := kadm.NewClient(e.client())
	phys := e.kcfg.Topic(internal)
	purged := func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer pcancel()
		committed, err := adm.FetchOffsetsForTopics(pctx, e.kcfg.TopicPrefix+"counter", phys)
		if err != nil {
			return false
		}
		starts, err := adm.ListStartOffsets(pctx, phys)
		if err != nil {
			return false
		}
		ok := true
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Topic != phys {
				return
			}
			if st, found := starts.Lookup(phys, o.Partition); !found || st.Offset < o.At {
				ok = false
			}
		})
		return ok && len(committed) > 0
	}
	deadline := time.Now().Add(20 * time.Second)
	for !purged() {
		if time.Now().After(deadline) {
			t.Fatalf("internal topic %s not purged up to the committed offsets", phys)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rcs, err := adm.DescribeTopicConfigs(context.Background(), phys)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == "retention.ms" && (c.Value == nil || *c.Value != "-1") {
			t.Fatalf("internal topic retention.ms = %v, want -1 (kept until purged)", c.MaybeValue())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range outs {
		parts := strings.SplitN(string(r.Value), ":", 3)
		got[parts[0]]++
		if parts[1] != strconv.Itoa(got[parts[0]]) {
			t.Fatalf("customer %s: count %s, want %d", parts[0], parts[1], got[parts[0]])
		}
	}
	for c, orders := range want {
		if got[c] != len(orders) {
			t.Fatalf("customer %s: %d outputs, want %d", c, got[c], len(orders))
		}
	}
}

// A tick that fails permanently on one partition does not stop the ticks of
// the others.
func suiteTickFailureIsolated(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 2)
	// One record per partition so both partitions are owned and restored.
	e.produce(&kgo.Record{Topic: e.in, Key: []byte("a"), Value: []byte("v"), Partition: 0},
		&kgo.Record{Topic: e.in, Key: []byte("b"), Value: []byte("v"), Partition: 1})
	tick := func(_ context.Context, m *Message, now time.Time) error {
		if m.Partition() == 0 {
			return errs.Poisonf("corrupt-timer", "partition 0 has a corrupt timer")
		}
		if _, done := m.Get("counts", "ticked"); done {
			return nil
		}
		m.Put("counts", "ticked", []byte("1"))
		m.Emit("out.v1", "tick", []byte(fmt.Sprintf("tick:%d:%d", m.Partition(), now.UnixMilli())))
		return nil
	}
	p, err := New(Config{Service: "counter", Topics: []string{e.in}, Stores: []string{"counts"},
		Handler: func(context.Context, *Message) error { return nil }, Tick: 100 * time.Millisecond, OnTick: tick}, e.kcfg,
		// The records may hash to one partition: the other ticks once idle.
		WithIdleTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	outs := e.consume(e.out, 1, 60*time.Second)
	cancel()
	<-done
	if !strings.HasPrefix(string(outs[0].Value), "tick:1:") {
		t.Fatalf("output %q, want partition 1's tick", outs[0].Value)
	}
}

// offsetClock is the wall clock shifted by an offset the test moves, to
// simulate downtime.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// suiteTimerBacklogAfterDowntime: a timer armed before downtime whose cancel
// arrived during the downtime must not fire when the processor comes back
// long after the deadline by the clock: timers run on stream time, so the
// backlog (the cancel) is processed before the deadline is reached.
func suiteTimerBacklogAfterDowntime(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 1)
	clk := &offsetClock{}
	t0 := time.Now()
	ms := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixMilli(), 10) }
	rec := func(key, value string, at time.Duration) *kgo.Record {
		return &kgo.Record{Topic: e.in, Key: []byte(key), Value: []byte(value), Timestamp: t0.Add(at)}
	}
	run := func() (stop func()) {
		return e.run(Config{Service: "timers", Topics: []string{e.in}, Stores: []string{"timers"}, Handler: timerHandler(0),
			Tick: 5 * time.Millisecond, OnTick: timerTick("out.v1", "p")},
			WithClock(clk.now), WithIdleTimeout(time.Minute), WithMaxPollRecords(50))
	}
	// Before the downtime: k1 due at t0+5s; k0 due at t0+0.5s fires once
	// the stream reaches t0+1s, which shows the records were processed.
	e.produce(rec("k1", "set:"+ms(5*time.Second), 0), rec("k0", "set:"+ms(500*time.Millisecond), 0), rec("f", "tick", time.Second))
	stop := run()
	first := e.consume(e.out, 1, 60*time.Second)
	stop()
	if string(first[0].Key) != "k0" {
		t.Fatalf("first timer fired: %s", first[0].Value)
	}
	// The downtime: 2,000 records (many batches) come in, then k1 is
	// cancelled at t0+2s (before its deadline), and the clock moves a minute
	// on, far past the deadline.
	var backlog []*kgo.Record
	for i := range 2000 {
		backlog = append(backlog, rec("f", "tick", time.Second+time.Duration(i)*400*time.Microsecond))
	}
	e.produce(append(backlog, rec("k1", "cancel", 2*time.Second), rec("f", "tick", 3*time.Second))...)
	clk.offset.Store(int64(time.Minute))
	stop = run()
	defer stop()
	// Then the stream passes k1's deadline with k2 (due t0+6s at t0+6.5s).
	e.produce(rec("k2", "set:"+ms(6*time.Second), 6500*time.Millisecond))
	outs := e.consume(e.out, 2, 60*time.Second)
	e.settle(e.out, 2, time.Second)
	if got := string(outs[1].Key); got != "k2" {
		t.Fatalf("after the downtime %s fired (%s); the backlog cancelled k1 and only k2 was due", got, outs[1].Value)
	}
}

// suiteForwardMisPartitioned: records produced with another partitioner
// than Kafka's default (here: every other key deliberately on the wrong
// partition) are forwarded to their key's partition and handled there
// exactly once, in per-key order, with that partition's state.
func suiteForwardMisPartitioned(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 4)
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("")
	inputs := map[string][]string{}
	var recs []*kgo.Record
	for i := range 400 {
		k := fmt.Sprintf("k%d", i%23)
		v := fmt.Sprintf("v%d", i)
		inputs[k] = append(inputs[k], v)
		r := &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte(v)}
		r.Partition = int32(murmur.Partition(r, 4))
		if i%23%2 == 0 {
			r.Partition = (r.Partition + 1) % 4 // consistently, like another hash
		}
		recs = append(recs, r)
	}
	cl := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, r := range recs {
		r.Topic = e.kcfg.Topic(r.Topic)
	}
	// A poison record on a wrong partition: it is dead-lettered after the
	// forward and must be reported where it was first consumed.
	poison := &kgo.Record{Topic: e.kcfg.Topic(e.in), Key: []byte("kp"), Value: []byte("poison")}
	poison.Partition = (int32(murmur.Partition(poison, 4)) + 1) % 4
	recs = append(recs, poison)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var flakes atomic.Int64
	// Event ids of forwarded records name their first position.
	ids := map[string]string{}
	var idsMu sync.Mutex
	inner := counterHandler(&flakes)
	stop := e.start(func(ctx context.Context, m *Message) error {
		idsMu.Lock()
		ids[string(m.Value())] = m.EventID()
		idsMu.Unlock()
		return inner(ctx, m)
	}, WithRegisterer(reg))
	outs := e.consume(e.out, 400, 60*time.Second)
	e.settle(e.out, 400, time.Second)
	dlq := e.consume(catalog.DLQTopic("counter"), 1, 30*time.Second)
	stop()
	for _, r := range recs {
		want := event.ID(r.Topic, strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10))
		if got := ids[string(r.Value)]; got != want {
			t.Fatalf("record %s (%s/%d@%d): event id %s, want %s (its first position)", r.Value, r.Key, r.Partition, r.Offset, got, want)
		}
	}
	d := dlq[0]
	for k, v := range map[string]string{catalog.DLQHeaderTopic: e.in, catalog.DLQHeaderPartition: strconv.Itoa(int(poison.Partition)),
		catalog.DLQHeaderOffset: strconv.FormatInt(poison.Offset, 10)} {
		if got, _ := tracing.Header(d.Headers, k); got != v {
			t.Errorf("forwarded record's DLQ header %s = %q, want %q (where it was first consumed)", k, got, v)
		}
	}
	for _, k := range []string{HeaderOriginTopic, HeaderOriginPartition, HeaderOriginOffset} {
		if _, ok := tracing.Header(d.Headers, k); ok {
			t.Errorf("DLQ record carries the runtime's routing header %s", k)
		}
	}
	checkCounts(t, outs, inputs)
	// The state of every key lives on its key's partition.
	for _, r := range e.consume(ChangelogTopic("counter", "counts"), 400, time.Minute) {
		if want := int32(murmur.Partition(r, 4)); r.Partition != want {
			t.Fatalf("state of %s on partition %d, want %d", r.Key, r.Partition, want)
		}
	}
	forwarded := counterSum(reg, "isthmus_processor_forwarded_total")
	if forwarded == 0 {
		t.Fatal("no record was forwarded")
	}
	t.Logf("%.0f of 401 records forwarded to their key's partition; every output once, in order", forwarded)
}

// A record that keeps failing retriably holds up its own partition only:
// records of the other partitions produced while it is retried are handled
// meanwhile (with WithPartitionConcurrency(1) they wait: the check fails),
// and every output is committed once, in per-key order, when it succeeds.
func suiteSlowPartitionOnly(t *testing.T, brokers []string, opts ...Option) {
	const partitions = 4
	e := newEnv(t, brokers, partitions)
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("")
	keyOn := func(part int, skip int) string {
		for i := 0; ; i++ {
			k := fmt.Sprintf("k%d", i)
			if murmur.Partition(&kgo.Record{Key: []byte(k)}, partitions) == part {
				if skip == 0 {
					return k
				}
				skip--
			}
		}
	}
	slowKey := keyOn(0, 0)
	var (
		failing    = make(chan struct{})
		failOnce   sync.Once
		slowDoneAt atomic.Int64 // unix ns when the slow record succeeded
		mu         sync.Mutex
		handledAt  = map[string]time.Time{}
		flakes     atomic.Int64
	)
	first := time.Time{}
	count := counterHandler(&flakes)
	h := func(ctx context.Context, m *Message) error {
		if string(m.Value()) == "slow" {
			if first.IsZero() {
				first = time.Now()
			}
			if time.Since(first) < 1500*time.Millisecond {
				failOnce.Do(func() { close(failing) })
				return errs.Retriablef("down", "dependency down")
			}
			slowDoneAt.Store(time.Now().UnixNano())
		} else {
			mu.Lock()
			handledAt[string(m.Value())] = time.Now()
			mu.Unlock()
		}
		return count(ctx, m)
	}
	e.produce(&kgo.Record{Topic: e.in, Key: []byte(slowKey), Value: []byte("slow")})
	stop := e.run(Config{Service: "counter", Topics: []string{e.in}, Stores: []string{"counts"}, Handler: h},
		append([]Option{WithRetryPolicy(retry.Policy{Base: 20 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 10 * time.Second})}, opts...)...)
	defer stop()
	select {
	case <-failing:
	case <-time.After(60 * time.Second):
		t.Fatal("the slow record was never handled")
	}
	inputs := map[string][]string{slowKey: {"slow"}}
	var recs []*kgo.Record
	for i := range 30 {
		k := keyOn(1+i%(partitions-1), i/(partitions-1)%3)
		v := fmt.Sprintf("v%d", i)
		inputs[k] = append(inputs[k], v)
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte(v)})
	}
	e.produce(recs...)
	outs := e.consume(e.out, 31, 60*time.Second)
	checkCounts(t, outs, inputs)
	done := time.Unix(0, slowDoneAt.Load())
	mu.Lock()
	defer mu.Unlock()
	before := 0
	for _, at := range handledAt {
		if at.Before(done) {
			before++
		}
	}
	if before != len(recs) {
		t.Fatalf("%d of %d records of other partitions were handled while partition 0 retried its record; want all (a retrying record must hold up only its own partition)", before, len(recs))
	}
}

// suiteRetryTopic: the processor consumes its own retry topic and handles a
// replayed record as if read from its origin (logical topic, event id), on
// its key's partition even when the replay sits on another one; a replay
// that fails again is dead-lettered naming the origin.
func suiteRetryTopic(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 4)
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("")
	type seen struct{ topic, id string }
	got := map[string]seen{}
	var mu sync.Mutex
	var flakes atomic.Int64
	inner := counterHandler(&flakes)
	stop := e.start(func(ctx context.Context, m *Message) error {
		mu.Lock()
		got[string(m.Value())] = seen{m.Topic, m.EventID()}
		mu.Unlock()
		return inner(ctx, m)
	})
	defer stop()
	// The retry topic exists once the processor started, co-partitioned.
	e.produce(&kgo.Record{Topic: e.in, Key: []byte("k1"), Value: []byte("first")})
	e.consume(e.out, 1, 30*time.Second)
	// Replays as `isthmus dlq replay` writes them: origin headers and the id
	// the record had there. One on its key's partition, one elsewhere.
	replay := func(key, value string, partition, originPartition int32, originOffset int64) *kgo.Record {
		r := &kgo.Record{Topic: e.kcfg.Topic(RetryTopic("counter")), Key: []byte(key), Value: []byte(value), Partition: partition}
		p, o := strconv.Itoa(int(originPartition)), strconv.FormatInt(originOffset, 10)
		for k, v := range map[string]string{HeaderOriginTopic: e.kcfg.Topic(e.in), HeaderOriginPartition: p, HeaderOriginOffset: o,
			HeaderEventID: event.ID(e.kcfg.Topic(e.in), p, o)} {
			tracing.SetHeader(&r.Headers, k, v)
		}
		return r
	}
	home := func(k string) int32 { return int32(murmur.Partition(&kgo.Record{Key: []byte(k)}, 4)) }
	recs := []*kgo.Record{
		replay("k2", "replayed-home", home("k2"), 1, 41),
		replay("k3", "replayed-away", (home("k3")+1)%4, 2, 42),
		replay("k4", "poison", home("k4"), 3, 43),
	}
	cl := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	outs := e.consume(e.out, 3, 60*time.Second)
	e.settle(e.out, 3, time.Second)
	dlq := e.consume(catalog.DLQTopic("counter"), 1, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, c := range []struct {
		value, partition, offset string
	}{{"replayed-home", "1", "41"}, {"replayed-away", "2", "42"}} {
		want := seen{e.in, event.ID(e.kcfg.Topic(e.in), c.partition, c.offset)}
		if got[c.value] != want {
			t.Errorf("%s handled as %+v, want %+v (its origin)", c.value, got[c.value], want)
		}
	}
	for _, r := range outs {
		if want := int32(murmur.Partition(r, 4)); r.Partition != want && strings.HasPrefix(string(r.Key), "k3") {
			t.Errorf("output of %s on partition %d, want its key's %d", r.Key, r.Partition, want)
		}
	}
	for _, r := range e.consume(ChangelogTopic("counter", "counts"), 3, 30*time.Second) {
		if want := int32(murmur.Partition(r, 4)); r.Partition != want {
			t.Fatalf("state of %s on partition %d, want %d (the replay away from home was forwarded)", r.Key, r.Partition, want)
		}
	}
	for k, v := range map[string]string{catalog.DLQHeaderTopic: e.in, catalog.DLQHeaderPartition: "3", catalog.DLQHeaderOffset: "43"} {
		if h, _ := tracing.Header(dlq[0].Headers, k); h != v {
			t.Errorf("a failed replay's DLQ header %s = %q, want %q (its origin)", k, h, v)
		}
	}
}

// A lookup and the cross-reference it needs arrive on two co-partitioned
// topics, the cross-reference produced (event time) first. When one poll
// holds both, the runtime handles them by event time whatever order the
// fetch lists the topics in: every lookup finds its cross-reference. The
// records of each round are produced before the processor starts, so they
// are a new owner's backlog.
func suiteEventTimeOrder(t *testing.T, brokers []string, opts ...Option) {
	e := newEnv(t, brokers, 4)
	e.createTopics(4, lookupTopic, xrefTopic)
	for round := range 2 {
		if misses := e.lookupRound(round, opts...); misses > 0 {
			t.Fatalf("round %d: %d lookups answered before the cross-reference that happened before them", round, misses)
		}
	}
}

const lookupTopic, xrefTopic = "lookup.v1", "xref.v1"

// lookupRound produces 40 cross-reference and lookup pairs (the lookup
// written first, but happening later), runs the lookup processor until it
// has answered them and returns how many lookups missed.
func (e *env) lookupRound(round int, opts ...Option) (misses int) {
	e.t.Helper()
	handler := func(ctx context.Context, m *Message) error {
		switch m.Topic {
		case xrefTopic:
			m.Put("xref", m.Key(), m.Value())
		case lookupTopic:
			answer := "miss"
			if v, ok := m.Get("xref", m.Key()); ok {
				answer = "hit:" + string(v)
			}
			m.Emit(e.out, m.Key(), []byte(answer))
		}
		return nil
	}
	const keys = 40
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range keys {
		k := fmt.Sprintf("r%d-k%d", round, i)
		at := t0.Add(time.Duration(round*keys+i) * 10 * time.Millisecond)
		recs = append(recs,
			&kgo.Record{Topic: lookupTopic, Key: []byte(k), Value: []byte("?"), Timestamp: at.Add(time.Millisecond)},
			&kgo.Record{Topic: xrefTopic, Key: []byte(k), Value: []byte("x-" + k), Timestamp: at})
	}
	e.produce(recs...)
	stop := e.run(Config{Service: "counter", Topics: []string{lookupTopic, xrefTopic}, Stores: []string{"xref"}, Handler: handler}, opts...)
	outs := e.consume(e.out, (round+1)*keys, time.Minute)
	stop()
	var missed []string
	for _, r := range outs[round*keys:] {
		if want := "hit:x-" + string(r.Key); string(r.Value) != want {
			missed = append(missed, string(r.Key))
		}
	}
	if len(missed) > 0 {
		e.t.Logf("round %d: %d lookups missed: %s", round, len(missed), strings.Join(missed, " "))
	}
	return len(missed)
}
