package processor

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/retry"
)

// stores holds the committed state of every store for the partitions this
// instance owns, in a backend (memory by default, Pebble on disk with
// WithStateDir), and the restore logic. Only the processing goroutine
// touches it.
type stores struct {
	p       *Processor
	topics  map[string]string // store → physical changelog topic
	byTopic map[string]string // physical changelog topic → store
	backend backend
	owned   map[int32]bool // partitions restored
	// deleteRetention caches each changelog's delete.retention.ms: a
	// checkpoint older than that may have missed a tombstone (see restore).
	deleteRetention map[string]time.Duration
	// topicIDs are the changelogs' topic ids, written with checkpoints.
	topicIDs map[string]kadm.TopicID
}

func newStores(p *Processor, names []string) *stores {
	s := &stores{p: p, topics: map[string]string{}, byTopic: map[string]string{}, owned: map[int32]bool{}, backend: newMemBackend()}
	for _, n := range names {
		t := p.kcfg.Topic(ChangelogTopic(p.cfg.Service, n))
		s.topics[n] = t
		s.byTopic[t] = n
	}
	return s
}

// restoreHook, when set (tests and benchmarks), is told of every restore.
var restoreHook func(part int32, records int)

// ChangelogTopic is the logical name of a store's changelog topic.
func ChangelogTopic(service, store string) string {
	return service + "." + store + ".changelog"
}

func (s *stores) mustHave(store string) {
	if _, ok := s.topics[store]; !ok {
		panic(fmt.Sprintf("processor: store %q is not declared in Config.Stores", store))
	}
}

func (s *stores) isChangelog(topic string) bool {
	_, ok := s.byTopic[topic]
	return ok
}

// StateError is a failure of the local state store (disk I/O). Get and
// Range cannot return it, so they panic with it; the recoverer middleware
// turns it into a retriable error (the record is tried again, the
// transaction aborted if it persists), never into a dead letter.
type StateError struct{ Err error }

func (e *StateError) Error() string { return "state store: " + e.Err.Error() }
func (e *StateError) Unwrap() error { return e.Err }

func stateFailed(err error) {
	if err != nil {
		panic(&StateError{Err: err})
	}
}

// batch is the uncommitted overlay of one transaction: key → value, nil
// meaning deleted, and the offsets its changelog records got.
type batch struct {
	mu      sync.RWMutex // partitions may be handled concurrently
	overlay map[string]map[int32]map[string][]byte
	// next is, per partition and changelog topic, the offset after the
	// last changelog record this transaction wrote: the checkpoint the
	// committed writes are applied with.
	next map[int32]map[string]int64
}

func newBatch() *batch { return &batch{overlay: map[string]map[int32]map[string][]byte{}} }

func (b *batch) put(store string, part int32, key string, value []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.overlay[store]
	if ps == nil {
		ps = map[int32]map[string][]byte{}
		b.overlay[store] = ps
	}
	kv := ps[part]
	if kv == nil {
		kv = map[string][]byte{}
		ps[part] = kv
	}
	kv[key] = value
}

// produced notes the offset a changelog record was written at (called from
// the produce promise).
func (b *batch) produced(r *kgo.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = map[int32]map[string]int64{}
	}
	ts := b.next[r.Partition]
	if ts == nil {
		ts = map[string]int64{}
		b.next[r.Partition] = ts
	}
	ts[r.Topic] = max(ts[r.Topic], r.Offset+1)
}

func (s *stores) get(b *batch, store string, part int32, key string) ([]byte, bool) {
	s.mustHave(store)
	if b != nil {
		b.mu.RLock()
		v, ok := b.overlay[store][part][key]
		b.mu.RUnlock()
		if ok {
			return v, v != nil
		}
	}
	v, ok, err := s.backend.get(store, part, key)
	stateFailed(err)
	return v, ok
}

// rangeKeys merges the committed keys (in order, from the backend) with the
// uncommitted writes of the batch and the message; it costs the overlay
// plus the keys visited, not the size of the store.
func (s *stores) rangeKeys(b *batch, puts []put, store string, part int32, fn func(string, []byte) bool) {
	s.mustHave(store)
	// Uncommitted writes (this batch, then this message) override data.
	over := map[string][]byte{}
	if b != nil {
		b.mu.RLock()
		for k, v := range b.overlay[store][part] {
			over[k] = v
		}
		b.mu.RUnlock()
	}
	for _, p := range puts {
		if p.store == store {
			over[p.key] = p.value
		}
	}
	extra := make([]string, 0, len(over))
	for k := range over {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	j := 0
	stopped := false
	// emitExtra emits the overlay keys before bound (all when last).
	emitExtra := func(bound string, last bool) bool {
		for j < len(extra) && (last || extra[j] < bound) {
			k := extra[j]
			j++
			if v := over[k]; v != nil && !fn(k, v) {
				return false
			}
		}
		return true
	}
	err := s.backend.scan(store, part, func(k string, v []byte) bool {
		if !emitExtra(k, false) {
			stopped = true
			return false
		}
		if j < len(extra) && extra[j] == k {
			j++
			if v = over[k]; v == nil {
				return true
			}
		}
		if !fn(k, v) {
			stopped = true
			return false
		}
		return true
	})
	stateFailed(err)
	if !stopped {
		emitExtra("", true)
	}
}

// change is one committed write: nil value deletes.
type change struct {
	store, key string
	value      []byte
}

// commit folds a committed batch into the state, each partition's writes
// together with its new checkpoint. An error leaves the local state behind
// the changelog: the session must restart (and restore from the last
// checkpoint that made it).
func (s *stores) commit(b *batch) error {
	byPart := map[int32][]change{}
	for store, ps := range b.overlay {
		for part, kv := range ps {
			for k, v := range kv {
				byPart[part] = append(byPart[part], change{store: store, key: k, value: v})
			}
		}
	}
	for part, cs := range byPart {
		if err := s.backend.apply(part, cs, s.checkpointsAt(b.next[part])); err != nil {
			return fmt.Errorf("apply committed state of partition %d: %w", part, err)
		}
	}
	return nil
}

// checkpointsAt makes the checkpoints for changelog offsets.
func (s *stores) checkpointsAt(next map[string]int64) map[string]checkpoint {
	if len(next) == 0 {
		return nil
	}
	now := time.Now()
	cps := make(map[string]checkpoint, len(next))
	for t, off := range next {
		cps[t] = checkpoint{Offset: off, At: now, TopicID: s.topicIDs[t]}
	}
	return cps
}

// drop forgets the state of a partition (revoked or lost). The on-disk
// backend keeps its data and checkpoint, so a partition that comes back
// restores only what others wrote meanwhile.
func (s *stores) drop(part int32) {
	delete(s.owned, part)
	if err := s.backend.release(part); err != nil {
		s.p.log.Warn("releasing a partition's local state failed; it is restored in full next time", "partition", part, "err", err)
	}
}

func (s *stores) dropAll() {
	for part := range s.owned {
		s.drop(part)
	}
}

// restoreChunk bounds the changelog records applied to the backend in one
// write (with the offsets read so far, so an interrupted restore resumes).
const restoreChunk = 4096

// restore brings a partition's state up to its changelogs' high watermarks
// as of the start of the restore, reading read_committed: from the local
// checkpoint when the backend has a usable one (the on-disk store), from
// the start otherwise. Reading only to the last stable offset would stop
// short whenever a dead or stalled producer left a transaction open on the
// changelog: every later commit of the partition's next owners would be
// missing from the state while the committed input offsets are past them.
// So the restore waits until such a transaction is resolved (aborted at its
// timeout, or fenced), skips its records if aborted, and reads everything
// committed before the watermark. Control records are kept so the end is
// recognised even when the log ends with a transaction marker.
//
// A checkpoint is used only when every changelog of the partition has one,
// for the same topic (id), between the log start and the watermark, and
// younger than the changelog's delete.retention.ms (compaction may have
// removed a tombstone another owner wrote since); otherwise the partition's
// local state is wiped and restored in full.
func (s *stores) restore(ctx context.Context, part int32) error {
	if len(s.topics) == 0 || s.owned[part] {
		s.owned[part] = true
		return nil
	}
	start := time.Now()
	topics := make([]string, 0, len(s.topics))
	for _, t := range s.topics {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	ends, err := s.endOffsets(ctx, topics, part)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(s.p.admin)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("restore partition %d: list start offsets: %w", part, err)
	}
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("restore partition %d: changelog metadata: %w", part, err)
	}
	if s.topicIDs == nil {
		s.topicIDs = map[string]kadm.TopicID{}
	}
	for _, t := range topics {
		s.topicIDs[t] = md.Topics[t].ID
	}
	cps, err := s.backend.checkpoints(part)
	if err != nil {
		return fmt.Errorf("restore partition %d: read local checkpoint: %w", part, err)
	}
	from := map[string]int64{}
	end := map[string]int64{}
	reason := ""
	for _, t := range topics {
		lo, ok := ends.Lookup(t, part)
		if !ok {
			return fmt.Errorf("restore: changelog %s has no partition %d (it needs as many partitions as the input topics)", t, part)
		}
		if lo.Err != nil {
			return fmt.Errorf("restore %s/%d: %w", t, part, lo.Err)
		}
		end[t] = lo.Offset
		logStart := int64(0)
		if st, ok := starts.Lookup(t, part); ok && st.Err == nil {
			logStart = st.Offset
		}
		cp, ok := cps[t]
		switch {
		case reason != "":
		case cps == nil:
			reason = "no local checkpoint"
		case !ok:
			reason = "no checkpoint for " + t
		case cp.TopicID != md.Topics[t].ID:
			reason = "changelog " + t + " was recreated"
		case cp.Offset < logStart || cp.Offset > lo.Offset:
			reason = fmt.Sprintf("checkpoint %d of %s is outside the log [%d, %d]", cp.Offset, t, logStart, lo.Offset)
		default:
			retention, err := s.deleteRetentionOf(ctx, t)
			if err != nil {
				return err
			}
			if age := time.Since(cp.At); age > retention {
				reason = fmt.Sprintf("checkpoint is %s old, past %s's delete.retention.ms (%s)", age.Round(time.Second), t, retention)
			}
		}
		from[t] = cp.Offset
		if logStart > from[t] {
			from[t] = logStart
		}
	}
	if reason != "" {
		if len(cps) > 0 {
			s.p.log.Info("local state not usable; restoring in full", "partition", part, "reason", reason)
		}
		if err := s.backend.wipe(part); err != nil {
			return fmt.Errorf("restore partition %d: wipe local state: %w", part, err)
		}
		for _, t := range topics {
			from[t] = 0
			if st, ok := starts.Lookup(t, part); ok && st.Err == nil {
				from[t] = st.Offset
			}
		}
	}
	parts := map[string]map[int32]kgo.Offset{}
	want := map[string]int64{}
	for _, t := range topics {
		if from[t] < end[t] {
			parts[t] = map[int32]kgo.Offset{part: kgo.NewOffset().At(from[t])}
			want[t] = end[t]
		}
	}
	n := 0
	if len(parts) > 0 {
		opts, err := s.p.kcfg.Opts()
		if err != nil {
			return err
		}
		cl, err := kgo.NewClient(append(opts,
			kgo.ConsumePartitions(parts),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.KeepControlRecords(),
		)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		var chunk []change
		next := map[string]int64{}
		flush := func() error {
			if len(chunk) == 0 && len(next) == 0 {
				return nil
			}
			if err := s.backend.apply(part, chunk, s.checkpointsAt(next)); err != nil {
				return fmt.Errorf("restore partition %d: write local state: %w", part, err)
			}
			chunk, next = chunk[:0], map[string]int64{}
			return nil
		}
		for len(want) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return err
			}
			for _, fe := range fs.Errors() {
				s.p.log.Warn("restore fetch error, retrying", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if _, ok := want[r.Topic]; !ok {
					return // a record past the end of a finished changelog
				}
				if !r.Attrs.IsControl() {
					chunk = append(chunk, change{store: s.byTopic[r.Topic], key: string(r.Key), value: r.Value})
					n++
				}
				next[r.Topic] = r.Offset + 1
				if r.Offset+1 >= want[r.Topic] {
					delete(want, r.Topic)
				}
			})
			if len(chunk) >= restoreChunk || len(want) == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	// The state now matches every changelog up to its end as of the start.
	if err := s.backend.apply(part, nil, s.checkpointsAt(end)); err != nil {
		return fmt.Errorf("restore partition %d: write local checkpoint: %w", part, err)
	}
	s.owned[part] = true
	s.p.metrics.restored.WithLabelValues(s.p.cfg.Service).Add(float64(n))
	s.p.metrics.restoreSeconds.WithLabelValues(s.p.cfg.Service).Observe(time.Since(start).Seconds())
	s.p.log.Info("state restored", "partition", part, "records", n, "from_checkpoint", reason == "", "took", time.Since(start).String())
	if restoreHook != nil {
		restoreHook(part, n)
	}
	return nil
}

// deleteRetentionOf reads (once) a changelog's delete.retention.ms.
func (s *stores) deleteRetentionOf(ctx context.Context, topic string) (time.Duration, error) {
	if d, ok := s.deleteRetention[topic]; ok {
		return d, nil
	}
	rcs, err := kadm.NewClient(s.p.admin).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describe changelog %s: %w", topic, err)
	}
	d := 24 * time.Hour // the broker's default
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, fmt.Errorf("describe changelog %s: %w", topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "delete.retention.ms" && c.Value != nil {
				if ms, err := strconv.ParseInt(*c.Value, 10, 64); err == nil {
					d = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	if s.deleteRetention == nil {
		s.deleteRetention = map[string]time.Duration{}
	}
	s.deleteRetention[topic] = d
	return d, nil
}

// endOffsets lists the high watermarks of the changelogs, waiting
// briefly for a just-created changelog's metadata to show the partition.
func (s *stores) endOffsets(ctx context.Context, topics []string, part int32) (kadm.ListedOffsets, error) {
	adm := kadm.NewClient(s.p.admin)
	for attempt := 1; ; attempt++ {
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("restore partition %d: list end offsets: %w", part, err)
		}
		missing := ""
		for _, t := range topics {
			if _, ok := ends.Lookup(t, part); !ok {
				missing = t
			}
		}
		if missing == "" {
			return ends, nil
		}
		if attempt >= 20 {
			return nil, fmt.Errorf("restore: changelog %s has no partition %d (it needs as many partitions as the input topics)", missing, part)
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
