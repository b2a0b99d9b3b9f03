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
// processor that uses state must have the same partition count; the
// co-partitioning balancer keeps equal partition numbers of all inputs on
// one member and rebalances cooperatively: partitions a member keeps keep
// their state. A record that arrives on another partition than its key's
// (Kafka's default murmur2 partitioner) — a producer with another
// partitioner — is forwarded to its key's partition through the internal
// topic "<service>.forward.v1" in the same transaction and handled there.
//
// Every processor also consumes its own retry topic "<service>.retry.v1"
// (see RetryTopic): replays of its dead letters land there, not on the
// shared source topic, and are handled as if read from their original
// topic (the origin headers name it), by this service alone.
//
// Timers (OnTick) run on each partition's stream time, the largest event
// time processed on it, persisted with the committed offsets; a tick's
// transaction commits the partition's offsets too, so the group's current
// generation fences it. docs/ARCHITECTURE.md has the whole model.
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
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
	// Timers chooses the time OnTick receives: StreamTime (default) or
	// WallClock (for processors that simulate or poll an external system).
	Timers TimerClock
	// NoForward keeps input records on the partition they arrived on even
	// when their key maps elsewhere. For processors whose first step
	// re-keys every record itself (through internal topics) and keep no
	// state by input key beyond what one producer's consistent
	// partitioning gives: they keep the inputs' arrival order per
	// partition instead of adding a hop. Default false: records are
	// forwarded to their key's partition (see ForwardTopic).
	NoForward bool
}

// TimerClock is the time base of a processor's timers.
type TimerClock int

const (
	// StreamTime passes OnTick the partition's stream time: the largest
	// event time processed on it (persisted in the committed offsets'
	// metadata, so it survives restarts). A backlog after downtime
	// therefore cancels timers before they would have fired. A partition
	// that has been idle (polls came back without its records) for the idle
	// timeout ticks at the wall clock instead, so deadlines on quiet
	// partitions still fire (see WithIdleTimeout).
	StreamTime TimerClock = iota
	// WallClock passes OnTick the processor's clock.
	WallClock
)

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

// WithRetryBudget keeps the default backoff (100ms doubling to 2s) and
// bounds a record's in-place retries at d before the transaction is
// aborted and the batch fetched again (default 15s).
func WithRetryBudget(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.retry.MaxElapsed = d })
}

// WithMaxPollRecords bounds one poll (default 1000). A poll that comes
// back full is followed by more polls in the same transaction (see
// WithCommitInterval).
func WithMaxPollRecords(n int) Option { return optFunc(func(p *Processor) { p.maxPoll = n }) }

// WithCommitInterval sets how long a transaction may stay open collecting
// records while they keep coming (default 25ms; Kafka Streams' EOS
// default is 100ms). A poll that finds nothing in the rest of the interval
// commits at once. Outputs become visible at commit, so the interval bounds
// the added latency.
func WithCommitInterval(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.commitInterval = d })
}

// WithPartitionConcurrency bounds how many partitions' handlers run at the
// same time within a transaction. The default (0) runs every owned
// partition on its own goroutine (the Go scheduler spreads them over
// GOMAXPROCS cores); 1 handles all records one after the other on the
// processing goroutine, for handlers that are not safe for concurrent
// calls. Either way each partition's records are handled in order and a
// batch commits in one transaction; with concurrency, a slow or retrying
// record holds up its own partition while the others keep taking records
// (up to the batch bound, 20,000), and the transaction commits once it is done.
// With a bound n > 1, a partition waiting in a retry holds one of the n
// slots. The handler (and anything it shares) must be safe for concurrent
// calls on different partitions unless n is 1.
func WithPartitionConcurrency(n int) Option {
	return optFunc(func(p *Processor) { p.concurrency = max(0, n) })
}

// busyPoll is how long a poll waits for more records while the commit
// interval is over but a partition's lane is stuck on a record.
const busyPoll = 5 * time.Millisecond

// WithAssignmentIdle bounds how long a newly assigned partition number's
// records wait for its other input topics (default 500ms): while a topic
// that had records waiting at assignment has not been fetched yet, the
// records of the topics fetched so far are held back (the transaction
// stays open), so a partition's first records after a rebalance or a
// restart are handled in event-time order across its topics. 0 handles
// records as they come.
func WithAssignmentIdle(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.assignIdle = max(0, d) })
}

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

// WithIdleTimeout sets how long polls must come back without records of a
// partition (since it was restored or last had one) before its StreamTime
// timers fall back to the wall clock (default 3s). Time the processor
// spends busy (batches, restores) does not count.
func WithIdleTimeout(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.idleTimeout = d })
}

// WithStaticMembership makes the instance id a static group member id
// (KIP-345). Use it only when the id is stable across restarts of the same
// replica (a StatefulSet ordinal or an explicit per-replica setting): a
// replaced replica then takes its place at once, and a second live process
// with the same id fails fast. Without it (the default) the member leaves
// the group on shutdown so the survivors rebalance at once.
func WithStaticMembership(on bool) Option { return optFunc(func(p *Processor) { p.static = on }) }

// WithSessionTimeout sets the group session timeout (default franz-go's
// 45s): how long a silent member keeps its partitions.
func WithSessionTimeout(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.sessionTimeout = d })
}

// WithPurgeInterval sets how often records of internal topics that the
// group has committed past are deleted (default 30s).
func WithPurgeInterval(d time.Duration) Option {
	return optFunc(func(p *Processor) { p.purgeInterval = d })
}

// WithStateDir keeps the state stores on disk, in a Pebble database under
// dir/<prefix><service>-<instance>, instead of in memory (the default,
// for small state): state may then be larger than memory, and a restart
// or a partition coming back restores only the changelog records written
// after the local checkpoint. An empty dir keeps the default. Services set
// it from ISTHMUS_STATE_DIR.
func WithStateDir(dir string) Option { return optFunc(func(p *Processor) { p.stateDir = dir }) }

// Processor is a running consume–transform–produce loop.
type Processor struct {
	cfg            Config
	kcfg           kafka.Config
	log            *slog.Logger
	reg            prometheus.Registerer
	metrics        *runtimeMetrics
	measures       *measures
	physical       sync.Map // logical output topic → physical name
	retry          retry.Policy
	maxPoll        int
	maxBatch       int
	concurrency    int
	commitInterval time.Duration
	txnTimeout     time.Duration
	startupTimeout time.Duration
	now            func() time.Time
	extra          []kgo.Opt
	chain          Handler
	serde          *serde.Serde

	idleTimeout    time.Duration
	assignIdle     time.Duration
	restoreTimeout time.Duration
	partitionCount int32
	keyPartitioner kgo.TopicPartitioner
	sessionTimeout time.Duration
	purgeInterval  time.Duration
	static         bool
	stateDir       string

	admin  *kgo.Client
	stores *stores
	// parts is the runtime's view of each owned partition number; only the
	// processing goroutine touches it.
	parts     map[int32]*partition
	lastPurge time.Time

	// Filled by the group callbacks, drained by syncState.
	mu         sync.Mutex
	assigned   map[int32]bool
	dropped    map[int32]bool
	rebalanced bool

	ready    atomic.Pointer[readyState]
	lastTick time.Time
	// pollTime is the time spent waiting in polls: it advances only while
	// the consumer is caught up enough to wait for records, not while the
	// loop is busy (a batch, a restore), so a partition counts as idle only
	// when polls kept coming back without its records.
	pollTime time.Duration
}

// partition is what the runtime tracks about one owned partition number.
type partition struct {
	restored   bool
	streamTime int64 // largest event time processed, Unix ms; 0 unknown
	// active is the poll time (see Processor.pollTime) when the partition
	// was restored or last had a record.
	active time.Duration
	idle   bool
	number int32
	// waitFor names the input topics (physical) that had records waiting
	// when the partition was restored and have not been fetched since;
	// waitSince is when the wait began (see holdback).
	waitFor   []string
	waitSince time.Time
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
	if len(cfg.Stores)+len(cfg.InternalTopics) > 0 && !cfg.NoForward {
		// Stateful: records that arrive on another partition than their
		// key's are forwarded through this internal topic (see forward).
		cfg.InternalTopics = append(append([]string(nil), cfg.InternalTopics...), ForwardTopic(cfg.Service))
	}
	cfg.Topics = append(append([]string(nil), cfg.Topics...), cfg.InternalTopics...)
	if cfg.OnTick != nil && cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	p := &Processor{
		cfg: cfg, kcfg: kcfg, log: slog.New(slog.DiscardHandler), reg: metrics.Registry,
		retry:   retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second, MaxElapsed: 15 * time.Second},
		maxPoll: 1000, maxBatch: 20_000, concurrency: 0, commitInterval: 25 * time.Millisecond, txnTimeout: 30 * time.Second, startupTimeout: 30 * time.Second, now: time.Now,
		idleTimeout: 3 * time.Second, assignIdle: 500 * time.Millisecond, restoreTimeout: 5 * time.Minute, purgeInterval: 30 * time.Second,
		assigned: map[int32]bool{}, dropped: map[int32]bool{}, parts: map[int32]*partition{},
	}
	for _, o := range opts {
		o.apply(p)
	}
	p.log = p.log.With("processor", cfg.Service)
	p.metrics = newRuntimeMetrics(p.reg)
	p.measures = newMeasures(p.metrics, cfg.Service, cfg.Topics)
	// Export every counter of this service from the start (at zero), so
	// dashboards and alerts see the series before the first failure.
	for _, c := range []*prometheus.CounterVec{p.metrics.retries, p.metrics.dlq, p.metrics.aborts} {
		c.WithLabelValues(cfg.Service)
	}
	for _, class := range []errs.Class{errs.ClassRetriable, errs.ClassPoison, errs.ClassBusiness, errs.ClassUnknown, "panic"} {
		p.metrics.failures.WithLabelValues(cfg.Service, string(class))
	}
	p.stores = newStores(p, cfg.Stores)
	mws := append([]Middleware{traced(), measured(), deadLetter(), retrying(p.retry), recoverer()}, cfg.Middleware...)
	p.chain = Chain(cfg.Handler, mws...)
	p.setReady(errors.New("starting"))
	return p, nil
}

// Ready reports nil once the processor has joined its group, restored its
// state and its last poll reached the brokers.
func (p *Processor) Ready(context.Context) error { return p.ready.Load().err }

type readyState struct{ err error }

func (p *Processor) setReady(err error) { p.ready.Store(&readyState{err: err}) }

// shutdownGrace bounds how long the transaction in flight may take to end
// after Run's context is done.
const shutdownGrace = 10 * time.Second

// ErrInstanceClaimed is returned by Run when another live process uses this
// processor's instance id (static member id or transactional id): two
// processes with one id would fence each other forever, so the newer one
// keeps it and this one stops.
var ErrInstanceClaimed = errors.New("instance id is claimed by another live process")

func (p *Processor) instanceID() string {
	return p.kcfg.TopicPrefix + p.cfg.Service + "-" + p.cfg.Instance
}

// claimed maps the errors a fenced instance sees to ErrInstanceClaimed.
func (p *Processor) claimed(err error) error {
	if errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.ProducerFenced) {
		return fmt.Errorf("%s: %w: %q (set ISTHMUS_INSTANCE_ID to a value unique per replica): %v", p.cfg.Service, ErrInstanceClaimed, p.instanceID(), err)
	}
	return nil
}

// Run processes until ctx ends. It fails fast when the cluster cannot be
// reached, an input topic is missing or the topic layout breaks
// co-partitioning at start, and when another live process claims the same
// instance id; later broker failures are retried forever with backoff (the
// processor reports not-ready meanwhile).
func (p *Processor) Run(ctx context.Context) error {
	// The admin client's metadata cache keeps a topic it found missing for
	// the min age (franz-go's default 5 s): the internal topics prepare
	// creates would look missing that long to the first restore.
	admin, err := p.kcfg.NewClient(kgo.MetadataMinAge(250 * time.Millisecond))
	if err != nil {
		return fmt.Errorf("%s: kafka client: %w", p.cfg.Service, err)
	}
	p.admin = admin
	defer admin.Close()
	if err := p.prepare(ctx); err != nil {
		return err
	}
	if p.stateDir != "" && len(p.cfg.Stores) > 0 {
		dir := stateDirOf(p.stateDir, p.kcfg.TopicPrefix, p.cfg.Service, p.cfg.Instance)
		db, err := openDiskBackend(dir, p.log)
		if err != nil {
			return fmt.Errorf("%s: %w", p.cfg.Service, err)
		}
		p.stores.backend = db
		p.log.Info("state stores on disk", "dir", dir)
		defer func() {
			if err := db.close(); err != nil {
				p.log.Error("closing the state store", "err", err)
			}
			p.stores.backend = newMemBackend()
		}()
	}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := p.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, ErrInstanceClaimed) {
			p.setReady(err)
			p.log.Error("stopping: another live process uses this instance id", "instance", p.instanceID(), "err", err)
			return err
		}
		p.setReady(fmt.Errorf("session failed: %v", err))
		wait := p.retry.Delay(attempt)
		p.log.Error("transactional session failed; starting a new one", "err", err, "wait", wait.String())
		_ = retry.Sleep(ctx, wait)
	}
	return nil
}

// stateful reports whether the processor keeps state per partition number
// (stores or re-keying topics), which requires co-partitioned inputs.
func (p *Processor) stateful() bool { return len(p.cfg.Stores)+len(p.cfg.InternalTopics) > 0 }

// prepare checks the cluster and input topics and creates missing changelog
// and internal topics with the inputs' partition count.
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
	counts := map[string]int32{}
	partitions := int32(-1)
	for _, t := range physical {
		td, ok := md.Topics[t]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: input topic %s does not exist (run `isthmus topics apply`)", p.cfg.Service, t)
		}
		if td.Err != nil {
			return fmt.Errorf("%s: input topic %s: %w", p.cfg.Service, t, td.Err)
		}
		counts[t] = int32(len(td.Partitions))
		partitions = max(partitions, counts[t])
		p.partitionCount = partitions
	}
	if p.stateful() {
		if err := checkCopartitioned(counts); err != nil {
			return fmt.Errorf("%s: %w", p.cfg.Service, err)
		}
	}
	own := map[string]string{} // physical topic → cleanup policy
	for _, t := range p.stores.topics {
		own[t] = "compact"
	}
	for _, t := range p.cfg.InternalTopics {
		own[p.kcfg.Topic(t)] = "delete"
	}
	own[p.kcfg.Topic(RetryTopic(p.cfg.Service))] = policyRetry
	names := make([]string, 0, len(own))
	for t := range own {
		names = append(names, t)
	}
	sort.Strings(names)
	existing, err := adm.Metadata(ctx, names...)
	if err != nil {
		return fmt.Errorf("%s: internal topic metadata: %w", p.cfg.Service, err)
	}
	var present []string
	for _, t := range names {
		if td, ok := existing.Topics[t]; ok && td.Err == nil {
			if int32(len(td.Partitions)) != partitions && (own[t] != policyRetry || p.stateful()) {
				return fmt.Errorf("%s: %s has %d partitions, the inputs have %d (co-partitioning; recreate it or the inputs)", p.cfg.Service, t, len(td.Partitions), partitions)
			}
			present = append(present, t)
			continue
		}
		policy := own[t]
		configs := map[string]*string{"cleanup.policy": &policy}
		if policy == policyRetry {
			// Replays are kept a week, like a DLQ: `isthmus dlq replay`
			// reads them back to replay a message once.
			del, week := "delete", strconv.FormatInt((7*24*time.Hour).Milliseconds(), 10)
			configs = map[string]*string{"cleanup.policy": &del, "retention.ms": &week}
		}
		if policy == "delete" {
			// Internal topics keep records until the group has committed
			// past them; the processor purges them after commits (like
			// Kafka Streams' repartition topics), so a record is never
			// deleted before it is read.
			forever := "-1"
			configs["retention.ms"] = &forever
			configs["retention.bytes"] = &forever
			appendTime := "LogAppendTime"
			configs["message.timestamp.type"] = &appendTime
		}
		if err := kafka.CreateTopic(ctx, adm, t, partitions, -1, configs); err != nil {
			return fmt.Errorf("%s: create internal topic %s: %w", p.cfg.Service, t, err)
		}
		p.log.Info("created internal topic", "topic", t, "cleanup_policy", policy, "partitions", partitions)
	}
	return p.checkTopicConfigs(ctx, adm, present, own)
}

// policyRetry marks the retry topic among a processor's own topics: a
// plain delete-retention topic, never purged (see RetryTopic).
const policyRetry = "retry"

// checkTopicConfigs refuses an existing changelog that is not compacted
// (its state would be lost to retention) and makes existing internal topics
// keep records until they are purged.
func (p *Processor) checkTopicConfigs(ctx context.Context, adm *kadm.Client, topics []string, own map[string]string) error {
	if len(topics) == 0 {
		return nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return fmt.Errorf("%s: describe internal topics: %w", p.cfg.Service, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return fmt.Errorf("%s: describe %s: %w", p.cfg.Service, rc.Name, rc.Err)
		}
		cfg := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				cfg[c.Key] = *c.Value
			}
		}
		switch own[rc.Name] {
		case "compact":
			if !strings.Contains(cfg["cleanup.policy"], "compact") {
				return fmt.Errorf("%s: changelog %s has cleanup.policy=%q; it must be compact (with delete retention its state would be lost): run `kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact`", p.cfg.Service, rc.Name, cfg["cleanup.policy"], rc.Name)
			}
		case "delete":
			if cfg["retention.ms"] != "-1" {
				forever := "-1"
				_, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &forever}}, rc.Name)
				if err != nil {
					return fmt.Errorf("%s: set retention.ms=-1 on internal topic %s (it is purged after commits instead): %w", p.cfg.Service, rc.Name, err)
				}
				p.log.Info("internal topic now retained until purged", "topic", rc.Name, "was_retention_ms", cfg["retention.ms"])
			}
		}
	}
	return nil
}

// physicalTopic is kcfg.Topic(logical), remembered: outputs name few
// topics, and a prefixed name would otherwise be built per record.
func (p *Processor) physicalTopic(logical string) string {
	if p.kcfg.TopicPrefix == "" {
		return logical
	}
	if v, ok := p.physical.Load(logical); ok {
		return v.(string)
	}
	v, _ := p.physical.LoadOrStore(logical, p.kcfg.Topic(logical))
	return v.(string)
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
	stores  *stores
	forward string // physical forward topic: records carry their partition
	def     kgo.Partitioner
	manual  kgo.Partitioner
}

func (pt partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if pt.stores.isChangelog(t) || t == pt.forward {
		return pt.manual.ForTopic(t)
	}
	return pt.def.ForTopic(t)
}

func (p *Processor) onAssigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range added {
		for _, part := range ps {
			p.assigned[part] = true
		}
	}
}

func (p *Processor) onDropped(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range gone {
		for _, part := range ps {
			delete(p.assigned, part)
			p.dropped[part] = true
			p.rebalanced = true
		}
	}
}

func (p *Processor) runSession(ctx context.Context) error {
	physical := append(p.inputTopics(), p.kcfg.Topic(RetryTopic(p.cfg.Service)))
	opts, err := p.kcfg.Opts()
	if err != nil {
		return err
	}
	balancer := kgo.CooperativeStickyBalancer()
	if p.stateful() {
		balancer = copartitioned{}
	}
	opts = append(opts,
		kgo.ConsumerGroup(p.kcfg.TopicPrefix+p.cfg.Service),
		kgo.ConsumeTopics(physical...),
		// With KIP-447 fencing by group generation the transactional id
		// only needs to be unique per live process; a restart with the
		// same id also aborts its predecessor's open transaction at once.
		kgo.TransactionalID(p.instanceID()),
		kgo.TransactionTimeout(p.txnTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A fetch waits at most 500 ms for data (the Java consumer's
		// default; franz-go's is 5 s): after an assignment the first
		// fetch can hold only the partitions whose offsets loaded first,
		// and the others' backlog waits until it returns.
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.Balancers(balancer),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(partitioner{stores: p.stores, forward: p.kcfg.Topic(ForwardTopic(p.cfg.Service)), def: kgo.StickyKeyPartitioner(nil), manual: kgo.ManualPartitioner()}),
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onDropped),
		kgo.OnPartitionsLost(p.onDropped),
	)
	if p.static {
		// Static membership: a restarted replica takes its old place at
		// once instead of waiting for the dead member's session to expire.
		opts = append(opts, kgo.InstanceID(p.instanceID()))
	}
	if p.sessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(p.sessionTimeout), kgo.HeartbeatInterval(p.sessionTimeout/10))
	}
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
	p.dropAll()
	defer func() {
		// Leave the group cleanly (a dynamic member; a static one keeps
		// its place until its session expires or it comes back). Work of
		// an unfinished transaction is aborted by the broker or the next
		// incarnation.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sess.Client().LeaveGroupContext(cctx)
		sess.Close()
		p.mu.Lock()
		p.assigned = map[int32]bool{}
		p.dropped = map[int32]bool{}
		p.rebalanced = false
		p.mu.Unlock()
		p.dropAll()
	}()
	p.log.Info("processor started", "topics", physical, "stores", p.cfg.Stores, "instance", p.instanceID(), "static_membership", p.static)

	// Transactional work runs on its own context: a shutdown request lets
	// the batch or tick in flight end (commit or abort) within a grace
	// period, instead of leaving an open transaction that would stall the
	// partitions' next owner until the transaction timeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, cancelWork) })
	defer stopGrace()

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
		polled := p.now()
		fetches := sess.PollRecords(pollCtx, pollLimit)
		cancel()
		p.pollTime += max(0, p.now().Sub(polled))
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
		if err := p.claimed(fetchErr); err != nil {
			return err
		}
		if fetchErr != nil {
			p.setReady(fetchErr)
			p.log.Warn("fetch error", "err", fetchErr)
		}
		// A rebalance that revoked partitions since the last transaction
		// marks the session failed; end an empty transaction to clear
		// that before this batch, and re-sync the state first.
		if p.takeRebalanced() {
			if err := p.resetSession(work, sess); err != nil {
				return err
			}
			continue
		}
		if err := p.syncState(ctx); err != nil {
			return err
		}
		if fetches.Empty() {
			if fetchErr == nil {
				p.markReady()
			}
			if err := p.maybeTick(work, sess); err != nil {
				return err
			}
			p.maybePurge(ctx, sess)
			continue
		}
		committed, err := p.processBatch(work, sess, fetches, pollLimit)
		if cerr := p.claimed(err); cerr != nil {
			return cerr
		}
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
		if err := p.maybeTick(work, sess); err != nil {
			return err
		}
		p.maybePurge(ctx, sess)
	}
	return ctx.Err()
}

func (p *Processor) markReady() { p.setReady(nil) }

func (p *Processor) takeRebalanced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rebalanced
	p.rebalanced = false
	return r
}

// resetSession ends an empty transaction: it clears the session's record of
// a revocation (which would abort the next transaction) and rewinds the
// consumer to the committed offsets of the partitions it still owns, so
// records polled across the rebalance are fetched again, not lost.
func (p *Processor) resetSession(ctx context.Context, sess *kgo.GroupTransactSession) error {
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		if cerr := p.claimed(err); cerr != nil {
			return cerr
		}
		return fmt.Errorf("end empty transaction after a rebalance: %w", err)
	}
	return nil
}

func (p *Processor) dropAll() {
	p.stores.dropAll()
	p.parts = map[int32]*partition{}
}

// syncState drops the state of revoked or lost partitions and restores the
// state of newly assigned ones; partitions kept across a rebalance keep
// their state.
func (p *Processor) syncState(ctx context.Context) error {
	p.mu.Lock()
	dropped := p.dropped
	p.dropped = map[int32]bool{}
	assigned := make([]int32, 0, len(p.assigned))
	for part := range p.assigned {
		assigned = append(assigned, part)
	}
	// A partition restored for records polled just before its revocation
	// (the revocation landed after this loop last synced) is state of a
	// partition this member no longer owns: drop it too. Its transaction
	// was aborted; ticks must not see it (see rebalancePending).
	for part := range p.parts {
		if !p.assigned[part] {
			dropped[part] = true
		}
	}
	p.mu.Unlock()
	for part := range dropped {
		p.stores.drop(part)
		delete(p.parts, part)
	}
	if len(dropped) > 0 {
		p.log.Info("partitions revoked; their state is dropped", "partitions", sortedParts(keys(dropped)))
	}
	for _, part := range sortedParts(assigned) {
		if err := p.ensure(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

func keys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ensure restores a partition number the first time it is seen: first the
// committed input offsets (stable: any transaction of the previous owner
// has ended), whose metadata carries the stream time, then the changelogs
// up to their last stable offset, which now matches those offsets.
func (p *Processor) ensure(ctx context.Context, part int32) error {
	st := p.parts[part]
	if st == nil {
		st = &partition{active: p.pollTime, number: part}
		p.parts[part] = st
	}
	if st.restored {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, p.restoreTimeout)
	defer cancel()
	streamTime, committed, err := p.committedStreamTime(rctx, part)
	if err == nil {
		err = p.stores.restore(rctx, part)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rctx.Err() != nil {
			return fmt.Errorf("%s: restore of partition %d did not finish within %s: %w", p.cfg.Service, part, p.restoreTimeout, err)
		}
		return fmt.Errorf("%s: restore partition %d: %w", p.cfg.Service, part, err)
	}
	st.waitFor, st.waitSince = p.backlogged(rctx, part, committed), time.Now()
	st.streamTime = max(st.streamTime, streamTime)
	st.restored = true
	st.active = p.pollTime
	return nil
}

// offsetMetadataPrefix starts the metadata the processor commits with every
// offset: the partition's stream time.
const offsetMetadataPrefix = "isthmus:st="

func (p *Processor) offsetMetadata(part int32) string {
	var st int64
	if s := p.parts[part]; s != nil {
		st = s.streamTime
	}
	return offsetMetadataPrefix + strconv.FormatInt(st, 10)
}

// committedStreamTime fetches the group's committed offsets for one
// partition number with RequireStable (waiting out any open transaction of
// a previous owner) and returns the stream time stored with them and the
// offsets by physical topic (a topic without a committed offset is absent).
func (p *Processor) committedStreamTime(ctx context.Context, part int32) (int64, map[string]int64, error) {
	adm := kadm.NewClient(p.admin)
	topics := p.inputTopics()
	group := p.kcfg.TopicPrefix + p.cfg.Service
	for attempt := 1; ; attempt++ {
		resps, err := adm.FetchOffsetsForTopics(kadm.RequireStable(ctx), group, topics...)
		if err == nil {
			err = resps.Error()
		}
		if err == nil {
			var st int64
			committed := map[string]int64{}
			for _, t := range topics {
				if r, ok := resps.Lookup(t, part); ok && r.Err == nil {
					if r.At >= 0 {
						committed[t] = r.At
					}
					if v, ok := strings.CutPrefix(r.Metadata, offsetMetadataPrefix); ok {
						if ms, perr := strconv.ParseInt(v, 10, 64); perr == nil {
							st = max(st, ms)
						}
					}
				}
			}
			return st, committed, nil
		}
		if !errors.Is(err, kerr.UnstableOffsetCommit) && !kerr.IsRetriable(err) {
			return 0, nil, fmt.Errorf("fetch committed offsets: %w", err)
		}
		if err := retry.Sleep(ctx, min(time.Duration(attempt)*50*time.Millisecond, time.Second)); err != nil {
			return 0, nil, fmt.Errorf("fetch committed offsets (last error: %v): %w", err, ctx.Err())
		}
	}
}

// inputTopics are the physical names of the input and internal topics
// (without the retry topic).
func (p *Processor) inputTopics() []string {
	out := make([]string, len(p.cfg.Topics), len(p.cfg.Topics)+1)
	for i, t := range p.cfg.Topics {
		out[i] = p.kcfg.Topic(t)
	}
	return out
}

// backlogged names the input topics (physical) whose partition part has
// committed records past the group's committed offset (or, without one,
// past the log start): the records a new owner's first fetches bring. Only
// for processors with several input topics; when the offsets cannot be
// listed it names none (nothing is held back, see holdback).
func (p *Processor) backlogged(ctx context.Context, part int32, committed map[string]int64) []string {
	if len(p.cfg.Topics) < 2 || p.assignIdle <= 0 {
		return nil
	}
	// Best effort: a slow answer only costs the wait, never the restore.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	adm := kadm.NewClient(p.admin)
	topics := p.inputTopics()
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		p.log.Debug("list end offsets of a new partition", "partition", part, "error", err)
		return nil
	}
	var starts kadm.ListedOffsets
	var out []string
	for _, t := range topics {
		end, ok := ends.Lookup(t, part)
		if !ok || end.Err != nil {
			continue
		}
		from, ok := committed[t]
		if !ok {
			if starts == nil {
				if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
					p.log.Debug("list start offsets of a new partition", "partition", part, "error", err)
					return nil
				}
			}
			start, ok := starts.Lookup(t, part)
			if !ok || start.Err != nil {
				continue
			}
			from = start.Offset
		}
		if end.Offset > from {
			out = append(out, t)
		}
	}
	if len(out) < 2 {
		return nil // one topic's records have nothing to wait for
	}
	return out
}

// observe advances a partition's stream time with a processed record.
func (p *Processor) observe(m *Message) { p.observePartition(p.parts[m.Record.Partition], m) }

// observePartition is observe with the partition's state at hand (lanes
// do not read the map of partitions, which restores write).
func (p *Processor) observePartition(st *partition, m *Message) {
	if st == nil {
		return
	}
	if ms := m.EventTime().UnixMilli(); ms > st.streamTime {
		st.streamTime = ms
	}
	st.active = p.pollTime
}

// processBatch runs the chain on every record of fetches in one transaction
// and reports whether it committed. A retriable error that outlived the
// in-place retries aborts the batch (returned so the caller backs off).
func (p *Processor) processBatch(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, pollLimit int) (bool, error) {
	if err := sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	start := p.now()
	tx := p.newTxn(sess)
	before := map[int32]partition{}
	var handlerErr error
	handled := 0
	var run *lanes
	if p.concurrency != 1 {
		run = p.newLanes(ctx, tx)
	}
	hb := &holdback{p: p, held: map[int32][]*kgo.Record{}}
	skip := func(r *kgo.Record) bool { return p.forward(ctx, tx, r) }
	// handle handles a poll's admitted records: on the lanes, or here one
	// after the other.
	handle := func(parts []int32, recs map[int32][]*kgo.Record) error {
		if run != nil {
			return run.dispatch(parts, recs)
		}
		for _, part := range parts {
			for _, r := range recs[part] {
				m := &Message{Topic: p.logicalTopic(r), Record: r, p: p, ctx: ctx, batch: tx.batch}
				if err := p.chain(ctx, m); err != nil {
					return err
				}
				tx.add(ctx, m)
				p.observe(m)
			}
		}
		return nil
	}
	for {
		pl := byPartition(fetches, skip)
		handled += pl.n
		if handlerErr = p.restoreNew(ctx, run, pl, before); handlerErr == nil {
			handlerErr = handle(hb.admit(pl, false))
		}
		// Commit by size and time: while records keep coming, keep the
		// transaction open for more, up to the batch bound and the commit
		// interval; a poll that finds nothing within what is left of the
		// interval commits. While a partition's lane is still busy past
		// the interval (a slow or retrying record), the other partitions
		// keep taking records up to the batch bound.
		left := p.commitInterval - p.now().Sub(start)
		stuck := false
		if run != nil && handlerErr == nil {
			// Poll again once the lanes have caught up (all but a
			// stuck one); past the interval, once they have drained.
			stuck = run.settle(int64(pollLimit), p.commitInterval)
			if left = p.commitInterval - p.now().Sub(start); left <= 0 {
				stuck = run.settle(0, p.commitInterval)
			}
			handlerErr = run.firstErr()
		}
		// Records held back for a new partition's other topics keep the
		// transaction open like a stuck lane (see holdback).
		stuck = stuck || hb.holding()
		if handlerErr != nil || handled >= p.maxBatch || ctx.Err() != nil || p.rebalancePending() || (left <= 0 && !stuck) {
			break
		}
		if left <= 0 {
			// A stuck lane (a slow or retrying record) holds up its own
			// partition; the others keep taking records meanwhile, up
			// to the batch bound.
			left = busyPoll
		}
		pctx, cancel := context.WithTimeout(ctx, left)
		fetches = sess.PollRecords(pctx, min(pollLimit, p.maxBatch-handled))
		cancel()
		var groupErr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if groupErr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				groupErr = err
			}
		})
		if cerr := p.claimed(groupErr); cerr != nil {
			// Fenced by another process with our id: abort, and Run stops.
			handlerErr = cerr
			break
		}
		// Nothing more within the interval: commit, once the lanes are
		// done (a lane still handling a record may yet turn out stuck).
		if fetches.Empty() && !stuck && (run == nil || !run.busy()) {
			break
		}
	}
	if handlerErr == nil && hb.holding() {
		// Offsets are committed for every polled record: handle the held
		// ones in this transaction.
		handlerErr = handle(hb.admit(&polled{recs: map[int32][]*kgo.Record{}}, true))
	}
	if run != nil {
		if err := run.wait(); handlerErr == nil {
			handlerErr = err
		}
	}
	if handlerErr == nil {
		committed, err := tx.end(ctx, nil)
		if committed {
			p.metrics.batchRecords.WithLabelValues(p.cfg.Service).Observe(float64(handled))
			return true, nil
		}
		handlerErr = err
	} else if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		handlerErr = errors.Join(handlerErr, err)
	}
	// Not committed: the stream time goes back with the offsets.
	for part, st := range before {
		if cur := p.parts[part]; cur != nil {
			cur.streamTime = st.streamTime
		}
	}
	return false, handlerErr
}

// restoreNew restores the poll's partitions seen for the first time (on
// the lanes path after they have drained: a restore writes the runtime's
// maps) and keeps each partition's state as the transaction found it.
func (p *Processor) restoreNew(ctx context.Context, run *lanes, pl *polled, before map[int32]partition) error {
	for _, part := range pl.parts {
		if st := p.parts[part]; st == nil || !st.restored {
			if run != nil {
				if err := run.wait(); err != nil {
					return err
				}
			}
			if err := p.ensure(ctx, part); err != nil {
				return errs.Retriable(errs.ReasonRestore, err)
			}
		}
		if _, ok := before[part]; !ok {
			before[part] = *p.parts[part]
		}
	}
	return nil
}

// ForwardTopic is the logical name of a stateful processor's internal
// topic for records that arrived on the wrong partition.
func ForwardTopic(service string) string { return service + ".forward.v1" }

// HeaderOriginTopic, HeaderOriginPartition and HeaderOriginOffset name
// where a forwarded record was first consumed (its topic is physical).
const (
	HeaderOriginTopic     = "isthmus-origin-topic"
	HeaderOriginPartition = "isthmus-origin-partition"
	HeaderOriginOffset    = "isthmus-origin-offset"
)

// forward sends a record of an external input that sits on another
// partition than the one its key maps to with Kafka's default (murmur2)
// partitioner — a producer with another partitioner, e.g. librdkafka's
// default — to the forward topic's right partition, in the open
// transaction; it is handled there, once, with that partition's state. It
// reports whether it forwarded r. Records without a key stay where they are.
func (p *Processor) forward(ctx context.Context, tx *txn, r *kgo.Record) bool {
	if !p.stateful() || p.cfg.NoForward || len(r.Key) == 0 || p.partitionCount <= 0 {
		return false
	}
	logical := p.kcfg.Logical(r.Topic)
	if p.isInternal(logical) {
		return false
	}
	if p.keyPartitioner == nil {
		p.keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")
	}
	want := int32(p.keyPartitioner.Partition(r, int(p.partitionCount)))
	if want == r.Partition {
		return false
	}
	out := &kgo.Record{Topic: p.kcfg.Topic(ForwardTopic(p.cfg.Service)), Partition: want, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	out.Headers = append(out.Headers, r.Headers...)
	if logical != RetryTopic(p.cfg.Service) {
		// A replay keeps the origin (and id) its retry record names.
		tracing.SetHeader(&out.Headers, HeaderOriginTopic, r.Topic)
		tracing.SetHeader(&out.Headers, HeaderOriginPartition, strconv.Itoa(int(r.Partition)))
		tracing.SetHeader(&out.Headers, HeaderOriginOffset, strconv.FormatInt(r.Offset, 10))
		// The id the record would have had where it was consumed.
		tracing.SetHeader(&out.Headers, HeaderEventID, event.ID(r.Topic, strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10)))
	}
	if _, ok := tracing.Header(r.Headers, HeaderEventTime); !ok {
		tracing.SetHeader(&out.Headers, HeaderEventTime, strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
	}
	tx.mu.Lock()
	tx.produced++
	tx.mu.Unlock()
	tx.produce(ctx, out)
	p.metrics.forwarded.WithLabelValues(p.cfg.Service, logical).Inc()
	return true
}

// logicalTopic is the logical input topic of a consumed record: for a
// forwarded or replayed record, the topic it was first consumed from.
func (p *Processor) logicalTopic(r *kgo.Record) string {
	if origin, ok := tracing.Header(r.Headers, HeaderOriginTopic); ok && p.rerouted(p.kcfg.Logical(r.Topic)) {
		return p.kcfg.Logical(origin)
	}
	return p.kcfg.Logical(r.Topic)
}

// rerouted reports whether a logical topic carries records of other
// topics (origin headers): the forward and the retry topic.
func (p *Processor) rerouted(logical string) bool {
	return logical == ForwardTopic(p.cfg.Service) || logical == RetryTopic(p.cfg.Service)
}

// RetryTopic is the logical name of a service's retry topic: `isthmus dlq
// replay` writes a fixed dead letter there (not to the shared source
// topic, whose other consumers must not see it again, and which may be
// compacted), with the origin headers naming where it was first consumed
// and its event id (HeaderEventID) the one it had there. The service's
// processor consumes it in its own group and hands each record to the
// handler as if read from the origin topic; nobody else reads it.
func RetryTopic(service string) string { return service + ".retry.v1" }

// rebalancePending reports a revocation (or loss) that the loop has not yet
// applied to its state. franz-go's session aborts the next transaction
// after a revocation only until a transaction ends: a revocation that lands
// while one is ending (the callback waits for it) can be forgotten when it
// returns. A tick does not come from polled records, so after such a commit
// it would still run the revoked partitions' timers, and commit them, while
// their new owner restores; ticks therefore wait until the loop has synced.
func (p *Processor) rebalancePending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rebalanced
}

// txn is one open transaction: its state overlay, its produce results and
// the output counts committed with it.
type txn struct {
	p     *Processor
	sess  *kgo.GroupTransactSession
	batch *batch
	// results keeps the first produce error and, on it, aborts the
	// records still buffered: the transaction is aborted anyway.
	results   *kgo.FirstErrPromise
	mu        sync.Mutex
	outCounts map[string]int
	produced  int
}

func (p *Processor) newTxn(sess *kgo.GroupTransactSession) *txn {
	return &txn{p: p, sess: sess, batch: newBatch(), results: kgo.AbortingFirstErrPromise(sess.Client()), outCounts: map[string]int{}}
}

// produce produces r in the transaction; a changelog write, once
// acknowledged, advances the batch's changelog offsets.
func (tx *txn) produce(ctx context.Context, r *kgo.Record) {
	done := tx.results.Promise()
	tx.sess.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("produce to %s: %w", r.Topic, err)
		} else if tx.p.stores.isChangelog(r.Topic) {
			tx.batch.produced(r)
		}
		done(r, err)
	})
}

// add produces a message's outputs and changelog writes, and folds its
// state writes into the batch overlay.
func (tx *txn) add(ctx context.Context, m *Message) {
	p := tx.p
	tx.mu.Lock()
	for _, o := range m.outputs {
		tx.outCounts[p.kcfg.Logical(o.Topic)]++
	}
	tx.produced += len(m.outputs) + len(m.puts)
	tx.mu.Unlock()
	for _, o := range m.outputs {
		tx.produce(ctx, o)
	}
	for _, pt := range m.puts {
		tx.batch.put(pt.store, m.Record.Partition, pt.key, pt.value)
		tx.produce(ctx, &kgo.Record{Topic: p.stores.topics[pt.store], Partition: m.Record.Partition, Key: []byte(pt.key), Value: pt.value})
	}
}

// commitContext attaches the offset metadata (stream time) to every
// partition the transaction commits and, for a tick, adds the committed
// offsets of the ticked partitions: the TxnOffsetCommit then carries the
// group generation, so a member that lost those partitions (a stalled
// zombie) has the whole transaction refused by the broker.
func (tx *txn) commitContext(ctx context.Context, fence map[string]map[int32]kgo.EpochOffset) context.Context {
	p := tx.p
	return kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		have := map[string]map[int32]bool{}
		for i := range req.Topics {
			t := &req.Topics[i]
			have[t.Topic] = map[int32]bool{}
			for j := range t.Partitions {
				pp := &t.Partitions[j]
				md := p.offsetMetadata(pp.Partition)
				pp.Metadata = &md
				have[t.Topic][pp.Partition] = true
			}
		}
		for topic, parts := range fence {
			for part, eo := range parts {
				if have[topic][part] {
					continue
				}
				idx := -1
				for i := range req.Topics {
					if req.Topics[i].Topic == topic {
						idx = i
					}
				}
				if idx < 0 {
					rt := kmsg.NewTxnOffsetCommitRequestTopic()
					rt.Topic = topic
					req.Topics = append(req.Topics, rt)
					idx = len(req.Topics) - 1
				}
				rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = part, eo.Offset, eo.Epoch
				md := p.offsetMetadata(part)
				rp.Metadata = &md
				req.Topics[idx].Partitions = append(req.Topics[idx].Partitions, rp)
			}
		}
		return nil
	})
}

// end commits (or, after a produce error, aborts) the transaction and, once
// committed, folds the overlay into the stores. fence lists offsets to
// commit with it (ticks).
func (tx *txn) end(ctx context.Context, fence map[string]map[int32]kgo.EpochOffset) (bool, error) {
	p, sess := tx.p, tx.sess
	start := time.Now()
	if err := sess.Client().Flush(ctx); err != nil {
		_, _ = sess.End(ctx, kgo.TryAbort)
		return false, errs.Retriable(errs.ReasonFlush, err)
	}
	perr := tx.results.Err() // every promise has run: the flush is done
	try := kgo.TryCommit
	if perr != nil {
		try = kgo.TryAbort
	}
	committed, err := sess.End(tx.commitContext(ctx, fence), try)
	p.metrics.commitSeconds.WithLabelValues(p.cfg.Service).Observe(time.Since(start).Seconds())
	if err != nil {
		if cerr := p.claimed(err); cerr != nil {
			return false, cerr
		}
		// The commit's outcome is unknown: the session must not go on
		// with its in-memory state. A new session fences this producer,
		// reads the stable offsets and restores the state again.
		return false, fmt.Errorf("end transaction (outcome unknown, restarting the session): %w", err)
	}
	if perr != nil {
		return false, errs.Retriable(errs.ReasonProduce, perr)
	}
	if !committed {
		// A rebalance, a fenced (stale) generation or an abortable
		// commit error: the session rewound to the committed offsets;
		// drop the overlay and go on.
		return false, nil
	}
	if err := p.stores.commit(tx.batch); err != nil {
		// Committed in Kafka but not applied locally: the session restarts
		// and restores from the last local checkpoint.
		return false, fmt.Errorf("transaction committed, local state not updated (restarting the session): %w", err)
	}
	for t, n := range tx.outCounts {
		p.metrics.recordsOut.WithLabelValues(p.cfg.Service, t).Add(float64(n))
	}
	return true, nil
}

// timerTime is the time a partition's timers run at, and whether they run:
// its stream time, or the wall clock once it has been idle for the idle
// timeout: polls spent that long waiting without a record of it (time the
// loop is busy restoring or processing does not count, so a backlog held
// up behind other work is not mistaken for silence). A partition with no
// stream time yet and not idle does not tick.
func (p *Processor) timerTime(st *partition, wall time.Time) (time.Time, bool) {
	if p.cfg.Timers == WallClock {
		return wall, true
	}
	if p.pollTime-st.active >= p.idleTimeout && wall.UnixMilli() > st.streamTime {
		if !st.idle {
			st.idle = true
			p.log.Info("partition idle: its timers run at the wall clock", "partition", st.number, "stream_time", time.UnixMilli(st.streamTime), "wall", wall)
		}
		return wall, true
	}
	st.idle = false
	if st.streamTime == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(st.streamTime), true
}

type due struct {
	part int32
	at   time.Time
}

// fenceOffsets picks offsets for a tick transaction to commit so that the
// broker checks the group generation: the committed offsets of every owned
// partition or, in a group that has committed nothing yet, the log start
// of one owned partition (where the reset policy starts it anyway).
func (p *Processor) fenceOffsets(ctx context.Context, sess *kgo.GroupTransactSession, first int32) (map[string]map[int32]kgo.EpochOffset, error) {
	owned := p.ownedParts()
	fence := map[string]map[int32]kgo.EpochOffset{}
	for topic, parts := range sess.Client().CommittedOffsets() {
		for part, eo := range parts {
			if owned[part] && eo.Offset >= 0 {
				if fence[topic] == nil {
					fence[topic] = map[int32]kgo.EpochOffset{}
				}
				fence[topic][part] = eo
			}
		}
	}
	if len(fence) > 0 {
		return fence, nil
	}
	topic := p.kcfg.Topic(p.cfg.Topics[0])
	starts, err := kadm.NewClient(p.admin).ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	lo, ok := starts.Lookup(topic, first)
	if !ok || lo.Err != nil {
		return nil, fmt.Errorf("no start offset for %s/%d: %v", topic, first, lo.Err)
	}
	return map[string]map[int32]kgo.EpochOffset{topic: {first: {Epoch: -1, Offset: lo.Offset}}}, nil
}

// maybeTick runs OnTick for every owned partition once per Tick interval,
// in one transaction fenced by the group generation.
func (p *Processor) maybeTick(ctx context.Context, sess *kgo.GroupTransactSession) error {
	if p.cfg.OnTick == nil {
		return nil
	}
	wall := p.now()
	if wall.Sub(p.lastTick) < p.cfg.Tick {
		return nil
	}
	// A revocation not yet applied to the state: tick after the loop has
	// dropped the partitions (see rebalancePending).
	if p.rebalancePending() {
		return nil
	}
	p.lastTick = wall
	var ticks []due
	for _, part := range sortedParts(keys(p.ownedParts())) {
		if at, ok := p.timerTime(p.parts[part], wall); ok {
			ticks = append(ticks, due{part, at})
		}
	}
	if len(ticks) == 0 {
		return nil
	}
	fence, err := p.fenceOffsets(ctx, sess, ticks[0].part)
	if err != nil {
		p.log.Warn("cannot fence the tick transaction; skipping this tick", "err", err)
		return nil
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin tick transaction: %w", err)
	}
	tx := p.newTxn(sess)
	advanced := map[int32]int64{}
	for _, d := range ticks {
		at := d.at
		tickHandler := Chain(func(ctx context.Context, m *Message) error { return p.cfg.OnTick(ctx, m, at) }, recoverer())
		m := &Message{Record: &kgo.Record{Partition: d.part, Offset: -1, Timestamp: at}, p: p, ctx: ctx, batch: tx.batch}
		err := retry.Do(ctx, p.retry, func(attempt int) error {
			m.attempt = attempt
			m.reset()
			return tickHandler(ctx, m)
		}, nil)
		switch class := errs.ClassOf(err); {
		case err == nil:
			tx.add(ctx, m)
			if ms := at.UnixMilli(); ms > p.parts[d.part].streamTime {
				advanced[d.part] = ms
			}
		case class == errs.ClassRetriable:
			// Worth trying again: abort and tick again later.
			p.log.Error("tick failed; aborting the tick transaction", "partition", d.part, "err", err)
			_, _ = sess.End(ctx, kgo.TryAbort)
			return nil
		default:
			// A permanent failure of one partition's tick must not stop
			// the timers of the others: drop its work and go on.
			p.metrics.failures.WithLabelValues(p.cfg.Service, string(class)).Inc()
			p.log.Error("tick failed permanently for one partition; its work is dropped this round", "partition", d.part, "class", class, "err", err)
		}
	}
	if tx.produced == 0 {
		// Nothing to commit (no timer was due): an empty abort is free.
		if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
			if cerr := p.claimed(err); cerr != nil {
				return cerr
			}
			return fmt.Errorf("end empty tick transaction: %w", err)
		}
		return nil
	}
	// Idle partitions ticked at the wall clock: their stream time moves
	// with it (committed in the offsets' metadata), so the fired timers
	// stay fired after a restart.
	saved := map[int32]int64{}
	for part, ms := range advanced {
		saved[part] = p.parts[part].streamTime
		p.parts[part].streamTime = ms
	}
	committedTx, err := tx.end(ctx, fence)
	if !committedTx {
		for part, ms := range saved {
			if st := p.parts[part]; st != nil {
				st.streamTime = ms
			}
		}
	}
	if err != nil {
		if errs.ClassOf(err) != errs.ClassRetriable {
			return err // outcome unknown or instance claimed: restart or stop
		}
		p.log.Warn("tick transaction not committed", "err", err)
	} else if !committedTx {
		p.log.Warn("tick transaction not committed (rebalance or fenced generation)")
	}
	return nil
}

// ownedParts lists the restored partition numbers that are still assigned.
func (p *Processor) ownedParts() map[int32]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]bool, len(p.parts))
	for part, st := range p.parts {
		if st.restored && p.assigned[part] {
			out[part] = true
		}
	}
	return out
}

// maybePurge deletes the records of internal topics that the group has
// committed past, for the partitions this member owns.
func (p *Processor) maybePurge(ctx context.Context, sess *kgo.GroupTransactSession) {
	if len(p.cfg.InternalTopics) == 0 || p.now().Sub(p.lastPurge) < p.purgeInterval {
		return
	}
	p.lastPurge = p.now()
	committed := sess.Client().CommittedOffsets()
	offsets := kadm.Offsets{}
	for _, t := range p.cfg.InternalTopics {
		phys := p.kcfg.Topic(t)
		for part, eo := range committed[phys] {
			if eo.Offset > 0 {
				offsets.Add(kadm.Offset{Topic: phys, Partition: part, At: eo.Offset})
			}
		}
	}
	if len(offsets) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resps, err := kadm.NewClient(p.admin).DeleteRecords(pctx, offsets)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		p.log.Warn("purging consumed records of internal topics failed; will retry", "err", err)
		return
	}
	p.metrics.purges.WithLabelValues(p.cfg.Service).Inc()
}

func sortedParts(ps []int32) []int32 {
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
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
