package readmodel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/serde"
)

// ValueDecoder decodes a Confluent wire-format value into v (pkg/serde.Serde).
type ValueDecoder interface {
	Decode(ctx context.Context, data []byte, v serde.Record) error
}

// Hook sees the domain values a batch wrote to a model (after they are stored).
type Hook func(ctx context.Context, m Model, values []any)

// Builder consumes the compacted topics with a plain (group-less) consumer and keeps
// the read models in Redis. It resumes from the offsets stored with the models; when
// Redis lost them (flush, failover to an empty replica) it rebuilds from the earliest
// offset, and the models stay "not ready" until they reach the high watermarks seen
// when the build started. Several replicas may build at once: a batch below the
// stored offset is skipped, so they never move a model backwards.
type Builder struct {
	store   *Store
	kcfg    kafka.Config
	decode  ValueDecoder
	shapes  map[Model]shape
	models  []Model
	log     *slog.Logger
	hook    Hook
	poll    time.Duration
	metrics *builderMetrics

	mu     sync.Mutex
	status map[Model]bool
}

// BuilderOption configures a Builder.
type BuilderOption func(*Builder)

// WithHook calls h after every applied batch. Default: none.
func WithHook(h Hook) BuilderOption { return func(b *Builder) { b.hook = h } }

// WithModels limits the models built. Default: all.
func WithModels(ms ...Model) BuilderOption { return func(b *Builder) { b.models = ms } }

// WithRegisterer registers the builder's metrics. Default: none.
func WithRegisterer(r prometheus.Registerer) BuilderOption {
	return func(b *Builder) { b.metrics = newBuilderMetrics(r) }
}

type builderMetrics struct {
	applied  *prometheus.CounterVec
	poison   *prometheus.CounterVec
	ready    *prometheus.GaugeVec
	rebuilds *prometheus.CounterVec
}

func newBuilderMetrics(r prometheus.Registerer) *builderMetrics {
	m := &builderMetrics{
		applied:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "isthmus_gateway_readmodel_records_total", Help: "Records applied to a read model."}, []string{"model"}),
		poison:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "isthmus_gateway_readmodel_poison_total", Help: "Records skipped because they cannot be decoded or are inconsistent."}, []string{"model"}),
		ready:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "isthmus_gateway_readmodel_ready", Help: "1 when the read model has caught up with its topic."}, []string{"model"}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "isthmus_gateway_readmodel_restarts_total", Help: "Builder restarts (Redis flushed, broker or Redis errors)."}, []string{"reason"}),
	}
	if r != nil {
		// A second builder (the golden model's) shares the collectors.
		m.applied = metrics.Register(r, m.applied)
		m.poison = metrics.Register(r, m.poison)
		m.ready = metrics.Register(r, m.ready)
		m.rebuilds = metrics.Register(r, m.rebuilds)
	}
	return m
}

// NewBuilder returns a builder over the catalog's schemas (pkg/catalog embedded).
func NewBuilder(store *Store, kcfg kafka.Config, dec ValueDecoder, log *slog.Logger, opts ...BuilderOption) (*Builder, error) {
	cat, err := catalog.Embedded()
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	sh, err := shapes(cat)
	if err != nil {
		return nil, err
	}
	b := &Builder{store: store, kcfg: kcfg, decode: dec, shapes: sh, models: Models, log: log, poll: 250 * time.Millisecond, status: map[Model]bool{}}
	for _, o := range opts {
		o(b)
	}
	if b.metrics == nil {
		b.metrics = newBuilderMetrics(nil)
	}
	return b, nil
}

// Ready reports whether this builder has seen every model catch up in the current
// epoch (used by /readyz; the API itself checks the shared markers in Redis).
func (b *Builder) Ready(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.models {
		if !b.status[m] {
			return fmt.Errorf("%s: %w", m, ErrNotReady)
		}
	}
	return nil
}

func (b *Builder) setReady(m Model, v bool) {
	b.mu.Lock()
	b.status[m] = v
	b.mu.Unlock()
	g := 0.0
	if v {
		g = 1
	}
	b.metrics.ready.WithLabelValues(string(m)).Set(g)
}

// Run builds until ctx ends. Broker and Redis failures restart the build after a
// capped backoff from the stored offsets; they are never fatal.
func (b *Builder) Run(ctx context.Context) error {
	pol := retry.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}
	failures := 0
	for ctx.Err() == nil {
		err := b.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, m := range b.models {
			b.setReady(m, false)
		}
		if errors.Is(err, ErrEpochChanged) {
			b.store.mirrorDrop(b.models...)
			b.log.Warn("read models lost or reset in redis; rebuilding from the topics")
			b.metrics.rebuilds.WithLabelValues("epoch").Inc()
			failures = 0
			continue
		}
		failures++
		b.metrics.rebuilds.WithLabelValues("error").Inc()
		wait := pol.Delay(failures)
		b.log.Error("read model builder failed; retrying", "err", err, "wait", wait)
		if retry.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type position struct {
	next   map[int32]int64 // next offset to consume, per partition
	target map[int32]int64 // end offsets when the build started
	ready  bool
	epoch  string
}

func (p *position) caughtUp() bool {
	for part, t := range p.target {
		if p.next[part] < t {
			return false
		}
	}
	return true
}

func (b *Builder) runOnce(ctx context.Context) error {
	opts, err := b.kcfg.Opts()
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admCl)
	defer adm.Close()

	pos := make(map[Model]*position, len(b.models))
	topics := make([]string, 0, len(b.models))
	for _, m := range b.models {
		epoch, stored, err := b.store.Begin(ctx, m, newEpoch())
		if err != nil {
			return errs.Retriable(errs.ReasonRedis, err)
		}
		if b.store.mirror != nil {
			// Resume from the offsets of the data the mirror holds: its own when it
			// still holds this epoch, else those of a fresh snapshot.
			if next, ok := b.store.resume(m, epoch); ok {
				stored = next
			} else if stored, err = b.store.snapshot(ctx, m, epoch); errors.Is(err, ErrEpochChanged) {
				return err
			} else if err != nil {
				return errs.Retriable(errs.ReasonRedis, err)
			}
		}
		pos[m] = &position{next: stored, target: map[int32]int64{}, epoch: epoch}
		topics = append(topics, b.kcfg.Topic(string(m)))
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return errs.Retriable(errs.ReasonKafka, fmt.Errorf("list end offsets: %w", err))
	}
	if err := ends.Error(); err != nil {
		return errs.Retriable(errs.ReasonKafka, fmt.Errorf("list end offsets: %w", err))
	}
	assign := map[string]map[int32]kgo.Offset{}
	for _, m := range b.models {
		t := b.kcfg.Topic(string(m))
		assign[t] = map[int32]kgo.Offset{}
		p := pos[m]
		for part, lo := range ends[t] {
			p.target[part] = lo.Offset
			if n, ok := p.next[part]; ok {
				assign[t][part] = kgo.NewOffset().At(n)
			} else {
				p.next[part] = 0
				assign[t][part] = kgo.NewOffset().AtStart()
			}
		}
		if len(assign[t]) == 0 {
			return errs.Retriable(errs.ReasonKafka, fmt.Errorf("topic %s has no partitions (not created yet?)", t))
		}
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(assign),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(b.poll),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	produce := func(ctx context.Context, r *kgo.Record) error { return cl.ProduceSync(ctx, r).FirstErr() }
	b.log.Info("building read models", "models", b.models)

	for ctx.Err() == nil {
		if err := b.markReady(ctx, pos); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, b.poll)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return errs.Retriable(errs.ReasonKafka, ferr)
		}
		var applyErr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if applyErr != nil || len(fp.Records) == 0 {
				return
			}
			m := Model(b.kcfg.Logical(fp.Topic))
			applyErr = b.apply(ctx, produce, m, pos[m], fp.Partition, fp.Records)
		})
		if applyErr != nil {
			return applyErr
		}
		// A flushed Redis with no new records would otherwise go unnoticed.
		epochs, err := b.store.Epochs(ctx, b.models...)
		if err != nil {
			return errs.Retriable(errs.ReasonRedis, err)
		}
		for _, m := range b.models {
			if epochs[m] != pos[m].epoch {
				return ErrEpochChanged
			}
		}
	}
	return nil
}

func (b *Builder) markReady(ctx context.Context, pos map[Model]*position) error {
	for _, m := range b.models {
		p := pos[m]
		if p.ready || !p.caughtUp() {
			continue
		}
		if err := b.store.MarkReady(ctx, m, p.epoch); err != nil {
			return err
		}
		p.ready = true
		b.store.mirrorReady(m, p.epoch)
		b.setReady(m, true)
		b.log.Info("read model caught up", "model", m)
	}
	return nil
}

const maxBatch = 500

// producer writes one record synchronously (the dead letters).
type producer func(ctx context.Context, r *kgo.Record) error

// apply applies a fetched batch of one partition of m's topic: its changes
// to the store, its records the builder can never apply to the DLQ.
func (b *Builder) apply(ctx context.Context, produce producer, m Model, p *position, part int32, recs []*kgo.Record) error {
	sh := b.shapes[m]
	changes := make([]Change, 0, len(recs))
	values := make([]any, 0, len(recs))
	flush := func(next int64) error {
		if err := b.store.Apply(ctx, m, p.epoch, part, next, changes); err != nil {
			if errors.Is(err, ErrEpochChanged) {
				return err
			}
			return errs.Retriable(errs.ReasonRedis, err)
		}
		p.next[part] = next
		b.store.mirrorApply(m, p.epoch, part, next, changes)
		b.metrics.applied.WithLabelValues(string(m)).Add(float64(len(changes)))
		if b.hook != nil && len(values) > 0 {
			b.hook(ctx, m, values)
		}
		changes, values = changes[:0], values[:0]
		return nil
	}
	for _, r := range recs {
		if !r.Attrs.IsControl() {
			c, v, err := b.change(ctx, m, sh, r)
			switch {
			case errs.ClassOf(err) == errs.ClassRetriable:
				return err
			case err != nil:
				if err := b.deadLetter(ctx, produce, m, r, err); err != nil {
					return err
				}
			default:
				changes = append(changes, c)
				if v != nil {
					values = append(values, v)
				}
			}
		}
		if len(changes) >= maxBatch {
			if err := flush(r.Offset + 1); err != nil {
				return err
			}
		}
	}
	return flush(recs[len(recs)-1].Offset + 1)
}

func (b *Builder) change(ctx context.Context, m Model, sh shape, r *kgo.Record) (Change, any, error) {
	if r.Value == nil { // tombstone
		if len(r.Key) == 0 {
			return Change{}, nil, errs.Poisonf(errs.ReasonTombstoneWithoutKey, "tombstone without key at %s[%d]@%d", r.Topic, r.Partition, r.Offset)
		}
		return Change{Offset: r.Offset, Field: tombstoneField(m, string(r.Key))}, nil, nil
	}
	rec := sh.newRec().(interface{ Schema() avro.Schema })
	if err := b.decode.Decode(ctx, r.Value, rec); err != nil {
		return Change{}, nil, fmt.Errorf("decode %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	field, v, del, err := sh.change(string(r.Key), rec)
	if err != nil {
		return Change{}, nil, errs.Poison(errs.ReasonInconsistentRecord, fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err))
	}
	if del {
		return Change{Offset: r.Offset, Field: field}, nil, nil
	}
	data, err := encodeValue(v)
	if m == Golden {
		data, err = EncodeGolden(v.(GoldenInfo))
	}
	if err != nil {
		return Change{}, nil, errs.Poison(errs.ReasonEncode, err)
	}
	return Change{Offset: r.Offset, Field: field, Value: data}, v, nil
}

// deadLetter sends a record the builder can never apply to dlq.gateway.v1
// (the runtime's DLQ record: original bytes and the catalog's headers) and
// goes on. Every replica and every rebuild reads the same records, so a
// claim in the shared Redis lets exactly one of them write it.
func (b *Builder) deadLetter(ctx context.Context, produce producer, m Model, r *kgo.Record, cause error) error {
	b.metrics.poison.WithLabelValues(string(m)).Inc()
	b.log.Error("dead-lettering bad record", "model", m, "partition", r.Partition, "offset", r.Offset, "err", cause)
	if errs.ClassOf(cause) == errs.ClassUnknown {
		cause = errs.Poison(errs.ReasonBadRecord, cause)
	}
	claimed, err := b.store.ClaimDeadLetter(ctx, m, r.Partition, r.Offset)
	if err != nil {
		return errs.Retriable(errs.ReasonRedis, err)
	}
	if !claimed {
		return nil
	}
	dl := processor.DeadLetterRecord(b.kcfg, "gateway", string(m), r, cause, time.Now())
	if err := produce(ctx, dl); err != nil {
		_ = b.store.ReleaseDeadLetter(context.WithoutCancel(ctx), m, r.Partition, r.Offset)
		return errs.Retriable(errs.ReasonDLQ, fmt.Errorf("write %s: %w", dl.Topic, err))
	}
	return nil
}
