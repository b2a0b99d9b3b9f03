// Package processor is Isthmus' effectively-once consume–transform–produce
// runtime. A Processor consumes its input topics in a consumer group with
// read_committed isolation and, for every polled batch, runs the handler on
// each record inside one Kafka transaction that also carries the outputs,
// the state changes (changelog topics) and the consumed offsets. A crash at
// any moment leaves either all of a batch's effects or none of them.
//
// State is kept per input partition in compacted changelog topics
// ("<service>.<store>.changelog", as many partitions as the inputs) and
// restored when a partition is assigned, so every input topic of a
// processor that uses state must have the same partition count; the range
// balancer keeps equal partition numbers of all inputs on one member.
// Producers of those topics must partition by key with Kafka's default
// (murmur2) partitioner.
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/serde"
)

// TickHandler runs periodically for every owned partition inside its own
// transaction; m has no input record (m.Topic == "") but Get, Put, Range and
// Emit work on partition m.Partition(). It drives timers (SLA deadlines).
type TickHandler func(ctx context.Context, m *Message, now time.Time) error

// Config describes one processor.
type Config struct {
	// Service names the processor: consumer group, transactional id prefix,
	// DLQ topic dlq.<service>.v1 and the metrics' service label.
	Service string
	// Instance distinguishes replicas (transactional id); default "0".
	Instance string
	// Topics are the logical input topics.
	Topics []string
	// Stores are the names of changelog-backed state stores.
	Stores []string
	// InternalTopics are logical topics the processor both writes and
	// consumes, for re-keying: a handler emits a record keyed by another
	// business key to an internal topic, and its handling lands on the
	// partition (and state) of that key. They are created at start with the
	// inputs' partition count; name them "<service>.<purpose>.v1".
	InternalTopics []string
	// Handler processes one record.
	Handler Handler
	// Middleware wraps Handler inside the standard chain (trace, measure,
	// dead-letter, retry, recover).
	Middleware []Middleware
	// Tick and OnTick drive timers; OnTick nil disables ticks.
	Tick   time.Duration
	OnTick TickHandler
}

// Option tunes a Processor.
type Option interface{ apply(*Processor) }

type optFunc func(*Processor)

func (f optFunc) apply(p *Processor) { f(p) }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optFunc(func(p *Processor) { p.log = l }) }

// WithRegisterer sets the Prometheus registerer (default metrics.Registry).
func WithRegisterer(r prometheus.Registerer) Option {
	return optFunc(func(p *Processor) { p.reg = r })
}

// WithRetryPolicy sets the in-place retry policy for retriable errors
// (default: 100ms doubling to 2s, at most 15s in place before the
// transaction is aborted and the batch fetched again).
func WithRetryPolicy(rp retry.Policy) Option { return optFunc(func(p *Processor) { p.retry = rp }) }

// WithMaxPollRecords bounds a batch (one transaction); default 1000.
func WithMaxPollRecords(n int) Option { return optFunc(func(p *Processor) { p.maxPoll = n }) }

// WithTransactionTimeout sets the transaction timeout (default 30s).
func WithTransactionTimeout(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.txnTimeout = d })
}

// WithStartupTimeout bounds the start-up check of the cluster (default 30s).
func WithStartupTimeout(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.startupTimeout = d })
}

// WithSerde sets the serde used by Message.Decode and Message.EmitValue.
func WithSerde(s *serde.Serde) Option { return optFunc(func(p *Processor) { p.serde = s }) }

// WithClock sets the clock used for ticks and DLQ timestamps (tests).
func WithClock(now func() time.Time) Option { return optFunc(func(p *Processor) { p.now = now }) }

// WithKgoOpts adds raw franz-go options to the session client.
func WithKgoOpts(opts ...kgo.Opt) Option {
	return optFunc(func(p *Processor) { p.extra = append(p.extra, opts...) })
}

// Processor is a running consume–transform–produce loop.
type Processor struct {
	cfg            Config
	kcfg           kafka.Config
	log            *slog.Logger
	reg            prometheus.Registerer
	metrics        *runtimeMetrics
	retry          retry.Policy
	maxPoll        int
	txnTimeout     time.Duration
	startupTimeout time.Duration
	now            func() time.Time
	extra          []kgo.Opt
	chain          Handler
	serde          *serde.Serde

	admin  *kgo.Client
	stores *stores

	mu       sync.Mutex
	revoked  bool
	assigned map[int32]bool
	ready    atomic.Pointer[readyState]
	lastTick time.Time
}

// New validates cfg and returns a processor connecting with kcfg.
func New(cfg Config, kcfg kafka.Config, opts ...Option) (*Processor, error) {
	if cfg.Service == "" {
		return nil, errors.New("processor: Config.Service is empty")
	}
	if len(cfg.Topics) == 0 {
		return nil, fmt.Errorf("processor %s: no input topics", cfg.Service)
	}
	if cfg.Handler == nil {
		return nil, fmt.Errorf("processor %s: no handler", cfg.Service)
	}
	if cfg.Instance == "" {
		cfg.Instance = "0"
	}
	cfg.Topics = append(append([]string(nil), cfg.Topics...), cfg.InternalTopics...)
	if cfg.OnTick != nil && cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	p := &Processor{
		cfg: cfg, kcfg: kcfg, log: slog.New(slog.DiscardHandler), reg: metrics.Registry,
		retry:   retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second, MaxElapsed: 15 * time.Second},
		maxPoll: 1000, txnTimeout: 30 * time.Second, startupTimeout: 30 * time.Second, now: time.Now,
		assigned: map[int32]bool{},
	}
	for _, o := range opts {
		o.apply(p)
	}
	p.log = p.log.With("processor", cfg.Service)
	p.metrics = newRuntimeMetrics(p.reg)
	// Export every counter of this service from the start (at zero), so
	// dashboards and alerts see the series before the first failure.
	for _, c := range []*prometheus.CounterVec{p.metrics.retries, p.metrics.dlq, p.metrics.aborts} {
		c.WithLabelValues(cfg.Service)
	}
	for _, class := range []errs.Class{errs.ClassRetriable, errs.ClassPoison, errs.ClassBusiness, errs.ClassUnknown, "panic"} {
		p.metrics.failures.WithLabelValues(cfg.Service, string(class))
	}
	p.stores = newStores(p, cfg.Stores)
	mws := append([]Middleware{Trace(), Measure(), DeadLetter(), Retry(p.retry), Recover()}, cfg.Middleware...)
	p.chain = Chain(cfg.Handler, mws...)
	p.setReady(errors.New("starting"))
	return p, nil
}

// Ready reports nil once the processor has joined its group, restored its
// state and its last poll reached the brokers.
func (p *Processor) Ready(context.Context) error { return p.ready.Load().err }

type readyState struct{ err error }

func (p *Processor) setReady(err error) { p.ready.Store(&readyState{err: err}) }

// Run processes until ctx ends. It fails fast when the cluster cannot be
// reached or an input topic is missing at start; later broker failures are
// retried forever with backoff (the processor reports not-ready meanwhile).
func (p *Processor) Run(ctx context.Context) error {
	admin, err := p.kcfg.NewClient()
	if err != nil {
		return fmt.Errorf("%s: kafka client: %w", p.cfg.Service, err)
	}
	p.admin = admin
	defer admin.Close()
	if err := p.prepare(ctx); err != nil {
		return err
	}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := p.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		p.setReady(fmt.Errorf("session failed: %v", err))
		wait := p.retry.Delay(attempt)
		p.log.Error("transactional session failed; starting a new one", "err", err, "wait", wait.String())
		_ = retry.Sleep(ctx, wait)
	}
	return nil
}

// prepare checks the cluster and input topics and creates missing changelog
// topics with the inputs' partition count.
func (p *Processor) prepare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.startupTimeout)
	defer cancel()
	adm := kadm.NewClient(p.admin)
	external := p.cfg.Topics[:len(p.cfg.Topics)-len(p.cfg.InternalTopics)]
	physical := make([]string, len(external))
	for i, t := range external {
		physical[i] = p.kcfg.Topic(t)
	}
	md, err := adm.Metadata(ctx, physical...)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: cannot reach Kafka brokers %v within %s: %w", p.cfg.Service, p.kcfg.Brokers, p.startupTimeout, err)
		}
		return fmt.Errorf("%s: cannot reach Kafka brokers %v: %w", p.cfg.Service, p.kcfg.Brokers, err)
	}
	partitions := int32(-1)
	for _, t := range physical {
		td, ok := md.Topics[t]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: input topic %s does not exist (run `isthmus topics apply`)", p.cfg.Service, t)
		}
		if td.Err != nil {
			return fmt.Errorf("%s: input topic %s: %w", p.cfg.Service, t, td.Err)
		}
		n := int32(len(td.Partitions))
		if len(p.cfg.Stores)+len(p.cfg.InternalTopics) > 0 && partitions >= 0 && n != partitions {
			return fmt.Errorf("%s: input topics must have equal partition counts for state stores (%s has %d, others %d)", p.cfg.Service, t, n, partitions)
		}
		if n > partitions {
			partitions = n
		}
	}
	own := map[string]string{} // physical topic → cleanup policy
	for _, t := range p.stores.topics {
		own[t] = "compact"
	}
	for _, t := range p.cfg.InternalTopics {
		own[p.kcfg.Topic(t)] = "delete"
	}
	if len(own) == 0 {
		return nil
	}
	names := make([]string, 0, len(own))
	for t := range own {
		names = append(names, t)
	}
	existing, err := adm.Metadata(ctx, names...)
	if err != nil {
		return fmt.Errorf("%s: internal topic metadata: %w", p.cfg.Service, err)
	}
	for _, t := range names {
		if td, ok := existing.Topics[t]; ok && td.Err == nil {
			if int32(len(td.Partitions)) != partitions {
				return fmt.Errorf("%s: internal topic %s has %d partitions, inputs have %d", p.cfg.Service, t, len(td.Partitions), partitions)
			}
			continue
		}
		policy := own[t]
		configs := map[string]*string{"cleanup.policy": &policy}
		if policy == "delete" {
			// Re-keyed records carry their input's (event) timestamp;
			// retention must count from when they were written, or a
			// replay of old input could be deleted before it is read.
			appendTime := "LogAppendTime"
			configs["message.timestamp.type"] = &appendTime
		}
		resp, err := adm.CreateTopic(ctx, partitions, -1, configs, t)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%s: create internal topic %s: %w", p.cfg.Service, t, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%s: create internal topic %s: %w", p.cfg.Service, t, resp.Err)
		}
		p.log.Info("created internal topic", "topic", t, "cleanup_policy", policy, "partitions", partitions)
	}
	return nil
}

// isInternal reports whether a logical topic is one of the processor's
// internal topics.
func (p *Processor) isInternal(topic string) bool {
	for _, t := range p.cfg.InternalTopics {
		if t == topic {
			return true
		}
	}
	return false
}

// partitioner sends changelog records to the partition set on the record
// (the input's) and keys everything else with Kafka's default murmur2.
type partitioner struct {
	stores *stores
	def    kgo.Partitioner
	manual kgo.Partitioner
}

func (pt partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if pt.stores.isChangelog(t) {
		return pt.manual.ForTopic(t)
	}
	return pt.def.ForTopic(t)
}

func (p *Processor) runSession(ctx context.Context) error {
	physical := make([]string, len(p.cfg.Topics))
	for i, t := range p.cfg.Topics {
		physical[i] = p.kcfg.Topic(t)
	}
	opts, err := p.kcfg.Opts()
	if err != nil {
		return err
	}
	onLoss := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.revoked = true
		for _, ps := range lost {
			for _, part := range ps {
				delete(p.assigned, part)
			}
		}
	}
	opts = append(opts,
		kgo.ConsumerGroup(p.kcfg.TopicPrefix+p.cfg.Service),
		kgo.ConsumeTopics(physical...),
		kgo.TransactionalID(p.kcfg.TopicPrefix+p.cfg.Service+"-"+p.cfg.Instance),
		// Static membership: a restarted replica takes its old place at
		// once instead of waiting for the dead member's session to expire.
		kgo.InstanceID(p.kcfg.TopicPrefix+p.cfg.Service+"-"+p.cfg.Instance),
		kgo.TransactionTimeout(p.txnTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(partitioner{stores: p.stores, def: kgo.StickyKeyPartitioner(nil), manual: kgo.ManualPartitioner()}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, added map[string][]int32) {
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, ps := range added {
				for _, part := range ps {
					p.assigned[part] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(onLoss),
		kgo.OnPartitionsLost(onLoss),
	)
	opts = append(opts, p.extra...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return err
	}
	// Initialise the producer id now: it fences a killed predecessor with the
	// same transactional id and aborts its open transaction, so the
	// offsets and changelogs it left pending become stable before we fetch.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		return fmt.Errorf("init transactional producer: %w", err)
	}
	p.stores.dropAll()
	defer func() {
		// Leave the group cleanly; in-flight work of an unfinished
		// transaction is aborted by the broker or the next incarnation.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sess.Client().LeaveGroupContext(cctx)
		sess.Close()
		p.mu.Lock()
		p.assigned = map[int32]bool{}
		p.mu.Unlock()
		p.stores.dropAll()
	}()
	p.log.Info("processor started", "topics", physical, "stores", p.cfg.Stores)

	aborts := 0
	// pollLimit shrinks after an aborted batch, so a batch whose handlers
	// are slow (remote calls, retries) fits in the transaction timeout,
	// and grows back after commits.
	pollLimit := p.maxPoll
	for ctx.Err() == nil {
		if err := p.syncState(ctx); err != nil {
			return err
		}
		// Polls are bounded so that quiet topics still report readiness and
		// ticks run on time.
		wait := time.Second
		if p.cfg.OnTick != nil && p.cfg.Tick < wait {
			wait = p.cfg.Tick
		}
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		fetches := sess.PollRecords(pollCtx, pollLimit)
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return ctx.Err()
		}
		var fetchErr error
		fetches.EachError(func(t string, part int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			fetchErr = fmt.Errorf("fetch %s/%d: %w", t, part, err)
		})
		if fetchErr != nil {
			p.setReady(fetchErr)
			p.log.Warn("fetch error", "err", fetchErr)
		}
		if fetches.Empty() {
			if fetchErr == nil {
				p.markReady()
			}
			if err := p.maybeTick(ctx, sess); err != nil {
				return err
			}
			continue
		}
		committed, err := p.processBatch(ctx, sess, fetches)
		if err != nil && ctx.Err() == nil && errs.ClassOf(err) != errs.ClassRetriable {
			return err
		}
		if !committed {
			aborts++
			pollLimit = max(1, pollLimit/2)
			p.metrics.aborts.WithLabelValues(p.cfg.Service).Inc()
			if err != nil {
				p.setReady(fmt.Errorf("batch aborted: %v", err))
				wait := p.retry.Delay(aborts)
				p.log.Warn("batch aborted, will fetch it again", "err", err, "wait", wait.String())
				_ = retry.Sleep(ctx, wait)
			}
			continue
		}
		aborts = 0
		pollLimit = min(p.maxPoll, pollLimit*2)
		p.markReady()
		p.recordLag(fetches)
		if err := p.maybeTick(ctx, sess); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (p *Processor) markReady() { p.setReady(nil) }

// syncState drops the state of revoked partitions and restores the state of
// newly assigned ones before any of their records are processed.
func (p *Processor) syncState(ctx context.Context) error {
	p.mu.Lock()
	revoked := p.revoked
	p.revoked = false
	assigned := make([]int32, 0, len(p.assigned))
	for part := range p.assigned {
		assigned = append(assigned, part)
	}
	p.mu.Unlock()
	if revoked {
		p.stores.dropAll()
	}
	for _, part := range assigned {
		if !p.stores.owned[part] {
			if err := p.stores.restore(ctx, part); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
		}
	}
	return nil
}

// processBatch runs the chain on every record of fetches in one transaction
// and reports whether it committed. A retriable error that outlived the
// in-place retries aborts the batch (returned so the caller backs off).
func (p *Processor) processBatch(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches) (bool, error) {
	if err := sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	tx := p.newTxn(sess)
	var handlerErr error
	iter := fetches.RecordIter()
	for !iter.Done() {
		r := iter.Next()
		if !p.stores.owned[r.Partition] {
			if err := p.stores.restore(ctx, r.Partition); err != nil {
				handlerErr = errs.Retriable("restore", err)
				break
			}
		}
		m := &Message{Topic: p.kcfg.Logical(r.Topic), Record: r, p: p, ctx: ctx, batch: tx.batch}
		if err := p.chain(ctx, m); err != nil {
			handlerErr = err
			break
		}
		tx.add(ctx, m)
	}
	if handlerErr != nil {
		_, err := sess.End(ctx, kgo.TryAbort)
		if err != nil {
			return false, errors.Join(handlerErr, err)
		}
		return false, handlerErr
	}
	return tx.end(ctx)
}

// txn is one open transaction: its state overlay, the first produce error
// and the output counts committed with it.
type txn struct {
	p         *Processor
	sess      *kgo.GroupTransactSession
	batch     *batch
	mu        sync.Mutex
	err       error
	outCounts map[string]int
}

func (p *Processor) newTxn(sess *kgo.GroupTransactSession) *txn {
	return &txn{p: p, sess: sess, batch: newBatch(), outCounts: map[string]int{}}
}

func (tx *txn) promise(r *kgo.Record, err error) {
	if err != nil {
		tx.mu.Lock()
		if tx.err == nil {
			tx.err = fmt.Errorf("produce to %s: %w", r.Topic, err)
		}
		tx.mu.Unlock()
	}
}

// add produces a message's outputs and changelog writes, and folds its
// state writes into the batch overlay.
func (tx *txn) add(ctx context.Context, m *Message) {
	p := tx.p
	for _, o := range m.outputs {
		tx.outCounts[p.kcfg.Logical(o.Topic)]++
		tx.sess.Produce(ctx, o, tx.promise)
	}
	for _, pt := range m.puts {
		tx.batch.put(pt.store, m.Record.Partition, pt.key, pt.value)
		tx.sess.Produce(ctx, &kgo.Record{Topic: p.stores.topics[pt.store], Partition: m.Record.Partition, Key: []byte(pt.key), Value: pt.value}, tx.promise)
	}
}

// end commits (or, after a produce error, aborts) the transaction and, once
// committed, folds the overlay into the stores.
func (tx *txn) end(ctx context.Context) (bool, error) {
	p, sess := tx.p, tx.sess
	start := time.Now()
	if err := sess.Client().Flush(ctx); err != nil {
		_, _ = sess.End(ctx, kgo.TryAbort)
		return false, errs.Retriable("flush", err)
	}
	tx.mu.Lock()
	perr := tx.err
	tx.mu.Unlock()
	try := kgo.TryCommit
	if perr != nil {
		try = kgo.TryAbort
	}
	committed, err := sess.End(ctx, try)
	p.metrics.commitSeconds.WithLabelValues(p.cfg.Service).Observe(time.Since(start).Seconds())
	if err != nil {
		// The commit's outcome is unknown: the session must not go on
		// with its in-memory state. A new session fences this producer,
		// reads the stable offsets and restores the state again.
		return false, fmt.Errorf("end transaction (outcome unknown, restarting the session): %w", err)
	}
	if perr != nil {
		return false, errs.Retriable("produce", perr)
	}
	if !committed {
		// A rebalance or an abortable commit error: the session rewound
		// to the committed offsets; drop the overlay and go on.
		return false, nil
	}
	p.stores.commit(tx.batch)
	for t, n := range tx.outCounts {
		p.metrics.recordsOut.WithLabelValues(p.cfg.Service, t).Add(float64(n))
	}
	return true, nil
}

// maybeTick runs OnTick for every owned partition once per Tick interval.
func (p *Processor) maybeTick(ctx context.Context, sess *kgo.GroupTransactSession) error {
	if p.cfg.OnTick == nil {
		return nil
	}
	now := p.now()
	if now.Sub(p.lastTick) < p.cfg.Tick {
		return nil
	}
	if err := p.syncState(ctx); err != nil {
		return err
	}
	parts := make([]int32, 0, len(p.stores.owned))
	for part := range p.stores.owned {
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return nil
	}
	p.lastTick = now
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin tick transaction: %w", err)
	}
	tx := p.newTxn(sess)
	tickHandler := Chain(func(ctx context.Context, m *Message) error { return p.cfg.OnTick(ctx, m, now) }, Recover())
	for _, part := range sortedParts(parts) {
		m := &Message{Record: &kgo.Record{Partition: part, Offset: -1, Timestamp: now}, p: p, ctx: ctx, batch: tx.batch}
		err := retry.Do(ctx, p.retry, func(attempt int) error {
			m.attempt = attempt
			m.reset()
			return tickHandler(ctx, m)
		}, nil)
		switch class := errs.ClassOf(err); {
		case err == nil:
			tx.add(ctx, m)
		case class == errs.ClassRetriable:
			// Worth trying again: abort and tick again later.
			p.log.Error("tick failed; aborting the tick transaction", "partition", part, "err", err)
			_, _ = sess.End(ctx, kgo.TryAbort)
			return nil
		default:
			// A permanent failure of one partition's tick must not stop
			// the timers of the others: drop its work and go on.
			p.metrics.failures.WithLabelValues(p.cfg.Service, string(class)).Inc()
			p.log.Error("tick failed permanently for one partition; its work is dropped this round", "partition", part, "class", class, "err", err)
		}
	}
	_, err := tx.end(ctx)
	if err != nil {
		if errs.ClassOf(err) != errs.ClassRetriable {
			return err // outcome unknown: restart the session
		}
		p.log.Warn("tick transaction not committed", "err", err)
	}
	return nil
}

func sortedParts(ps []int32) []int32 {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j] < ps[j-1]; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return ps
}

func (p *Processor) recordLag(fetches kgo.Fetches) {
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		last := fp.Records[len(fp.Records)-1].Offset
		lag := fp.HighWatermark - last - 1
		if lag < 0 {
			lag = 0
		}
		p.metrics.lag.WithLabelValues(p.cfg.Service, p.kcfg.Logical(fp.Topic), strconv.Itoa(int(fp.Partition))).Set(float64(lag))
	})
}
