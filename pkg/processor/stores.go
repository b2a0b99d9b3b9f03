package processor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/retry"
)

// stores holds the committed state of every store for the partitions this
// instance owns. Only the processing goroutine touches it.
type stores struct {
	p      *Processor
	topics map[string]string                      // store → physical changelog topic
	data   map[string]map[int32]map[string][]byte // store → partition → key → value
	index  map[string]map[int32]*keyIndex         // store → partition → sorted keys
	owned  map[int32]bool                         // partitions restored
}

// keyIndex keeps a partition's committed keys sorted for Range. Commits
// record added and removed keys; the next Range folds them in (one merge),
// so a timer scan that stops at the first future deadline costs little even
// with a million keys.
type keyIndex struct {
	keys    []string
	added   map[string]struct{}
	removed map[string]struct{}
	stale   bool // rebuild from the data map (after a restore)
}

func (ix *keyIndex) fresh(data map[string][]byte) []string {
	if ix.stale {
		ix.keys = ix.keys[:0]
		for k := range data {
			ix.keys = append(ix.keys, k)
		}
		sort.Strings(ix.keys)
		ix.stale, ix.added, ix.removed = false, nil, nil
		return ix.keys
	}
	if len(ix.added) == 0 && len(ix.removed) == 0 {
		return ix.keys
	}
	add := make([]string, 0, len(ix.added))
	for k := range ix.added {
		add = append(add, k)
	}
	sort.Strings(add)
	out := make([]string, 0, len(ix.keys)+len(add))
	i, j := 0, 0
	for i < len(ix.keys) || j < len(add) {
		var k string
		if j >= len(add) || (i < len(ix.keys) && ix.keys[i] < add[j]) {
			k = ix.keys[i]
			i++
		} else {
			k = add[j]
			j++
		}
		if _, gone := ix.removed[k]; !gone {
			out = append(out, k)
		}
	}
	ix.keys, ix.added, ix.removed = out, nil, nil
	return ix.keys
}

func (s *stores) indexOf(store string, part int32) *keyIndex {
	ps := s.index[store]
	if ps == nil {
		ps = map[int32]*keyIndex{}
		s.index[store] = ps
	}
	ix := ps[part]
	if ix == nil {
		ix = &keyIndex{stale: true}
		ps[part] = ix
	}
	return ix
}

func newStores(p *Processor, names []string) *stores {
	s := &stores{p: p, topics: map[string]string{}, data: map[string]map[int32]map[string][]byte{}, index: map[string]map[int32]*keyIndex{}, owned: map[int32]bool{}}
	for _, n := range names {
		s.topics[n] = p.kcfg.Topic(ChangelogTopic(p.cfg.Service, n))
		s.data[n] = map[int32]map[string][]byte{}
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
	for _, t := range s.topics {
		if t == topic {
			return true
		}
	}
	return false
}

// batch is the uncommitted overlay of one transaction: key → value, nil
// meaning deleted.
type batch struct {
	mu      sync.RWMutex // partitions may be handled concurrently
	overlay map[string]map[int32]map[string][]byte
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
	v, ok := s.data[store][part][key]
	return v, ok
}

func (s *stores) rangeKeys(b *batch, puts []put, store string, part int32, fn func(string, []byte) bool) {
	s.mustHave(store)
	data := s.data[store][part]
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
		if _, ok := data[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	keys := s.indexOf(store, part).fresh(data)
	i, j := 0, 0
	for i < len(keys) || j < len(extra) {
		var k string
		if j >= len(extra) || (i < len(keys) && keys[i] < extra[j]) {
			k = keys[i]
			i++
		} else {
			k = extra[j]
			j++
		}
		v, ok := over[k]
		if !ok {
			v = data[k]
		}
		if v == nil {
			continue
		}
		if !fn(k, v) {
			return
		}
	}
}

// commit folds a committed batch into the state.
func (s *stores) commit(b *batch) {
	for store, ps := range b.overlay {
		for part, kv := range ps {
			dst := s.data[store][part]
			if dst == nil {
				dst = map[string][]byte{}
				s.data[store][part] = dst
			}
			ix := s.indexOf(store, part)
			for k, v := range kv {
				_, had := dst[k]
				if v == nil {
					delete(dst, k)
					if had && !ix.stale {
						if _, pending := ix.added[k]; pending {
							delete(ix.added, k)
						} else {
							if ix.removed == nil {
								ix.removed = map[string]struct{}{}
							}
							ix.removed[k] = struct{}{}
						}
					}
					continue
				}
				dst[k] = v
				if !had && !ix.stale {
					if _, pending := ix.removed[k]; pending {
						delete(ix.removed, k)
					} else {
						if ix.added == nil {
							ix.added = map[string]struct{}{}
						}
						ix.added[k] = struct{}{}
					}
				}
			}
		}
	}
}

// drop forgets the state of a partition (revoked or lost).
func (s *stores) drop(part int32) {
	delete(s.owned, part)
	for _, ps := range s.data {
		delete(ps, part)
	}
	for _, ps := range s.index {
		delete(ps, part)
	}
}

func (s *stores) dropAll() {
	for part := range s.owned {
		s.drop(part)
	}
}

// restore reads every store's changelog partition, read_committed, up to
// its high watermark as of the start of the restore. Reading only to the
// last stable offset would stop short whenever a dead or stalled producer
// left a transaction open on the changelog: every later commit of the
// partition's next owners would be missing from the state while the
// committed input offsets are past them. So the restore waits until such a
// transaction is resolved (aborted at its timeout, or fenced), skips its
// records if aborted, and reads everything committed before the watermark.
// Control records are kept so the end is recognised even when the log ends
// with a transaction marker.
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
	ends, err := s.endOffsets(ctx, topics, part)
	if err != nil {
		return err
	}
	parts := map[string]map[int32]kgo.Offset{}
	want := map[string]int64{}
	starts, err := kadm.NewClient(s.p.admin).ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("restore partition %d: list start offsets: %w", part, err)
	}
	for _, t := range topics {
		lo, ok := ends.Lookup(t, part)
		if !ok {
			return fmt.Errorf("restore: changelog %s has no partition %d (it needs as many partitions as the input topics)", t, part)
		}
		if lo.Err != nil {
			return fmt.Errorf("restore %s/%d: %w", t, part, lo.Err)
		}
		// Nothing to read when the log is empty or its start has moved to
		// the end (deleted records): waiting for a record would hang.
		if st, ok := starts.Lookup(t, part); lo.Offset > 0 && (!ok || st.Offset < lo.Offset) {
			parts[t] = map[int32]kgo.Offset{part: kgo.NewOffset().AtStart()}
			want[t] = lo.Offset
		}
	}
	for store := range s.data {
		s.data[store][part] = map[string][]byte{}
		s.indexOf(store, part).stale = true
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
		byTopic := map[string]string{}
		for store, t := range s.topics {
			byTopic[t] = store
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
				if !r.Attrs.IsControl() {
					store := byTopic[r.Topic]
					if r.Value == nil {
						delete(s.data[store][part], string(r.Key))
					} else {
						s.data[store][part][string(r.Key)] = r.Value
					}
					n++
				}
				if end, ok := want[r.Topic]; ok && r.Offset+1 >= end {
					delete(want, r.Topic)
				}
			})
		}
	}
	s.owned[part] = true
	s.p.metrics.restored.WithLabelValues(s.p.cfg.Service).Add(float64(n))
	s.p.metrics.restoreSeconds.WithLabelValues(s.p.cfg.Service).Observe(time.Since(start).Seconds())
	s.p.log.Info("state restored", "partition", part, "records", n, "took", time.Since(start).String())
	if restoreHook != nil {
		restoreHook(part, n)
	}
	return nil
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
