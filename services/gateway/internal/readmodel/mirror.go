package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// mirror is a replica's in-memory copy of the read models, so answers cost no Redis
// round trip. Redis stays the shared, rebuildable source: the builder loads a
// model's mirror from one atomic Redis snapshot (epoch, ready marker, offsets and
// data, in MULTI/EXEC) when it starts or restarts, then applies to it every batch
// it stores in Redis, in offset order. A model's mirror answers only while it holds
// one ready epoch; when the builder finds the epoch changed (Redis flushed or reset)
// the mirror is dropped and the model answers ErrNotReady until rebuilt — the same
// "one unchanged, ready epoch" rule as the Redis reads.
type mirror struct {
	models map[Model]*modelMirror
}

type modelMirror struct {
	mu     sync.RWMutex
	epoch  string // "" when dropped or never loaded
	ready  bool
	data   map[string]entry
	next   map[int32]int64 // next offset per partition of the data held
	loaded bool
}

// entry is a model value as stored in Redis and decoded once, when it arrives, so
// answers do not decode JSON per request. Values are shared by every request and
// must not be modified.
type entry struct {
	raw []byte
	val any   // *pricing.Entry, *credit.Account, ... (see decodeValue)
	err error // the raw value does not decode
}

func newEntry(m Model, raw []byte) entry {
	v, err := decodeValue(m, raw)
	return entry{raw: raw, val: v, err: err}
}

// WithMirror makes the store answer Get from memory (see mirror). The store's
// models must then be built by a Builder over this store. It returns s.
func (s *Store) WithMirror() *Store {
	s.mirror = &mirror{models: make(map[Model]*modelMirror, len(Models))}
	for _, m := range Models {
		s.mirror.models[m] = &modelMirror{}
	}
	return s
}

// Mirrored reports whether Get answers from memory.
func (s *Store) Mirrored() bool { return s.mirror != nil }

// snapshot reads the model's epoch, ready marker, offsets and data atomically and
// loads them into the mirror; it returns the offsets to resume from.
func (s *Store) snapshot(ctx context.Context, m Model, epoch string) (map[int32]int64, error) {
	var (
		ep, rd *redis.StringCmd
		offs   *redis.MapStringStringCmd
		data   *redis.MapStringStringCmd
	)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ep = p.Get(ctx, s.epoch(m))
		rd = p.Get(ctx, s.ready(m))
		offs = p.HGetAll(ctx, s.offsets(m))
		data = p.HGetAll(ctx, s.Data(m))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("snapshot %s: %w", m, err)
	}
	if ep.Val() != epoch {
		return nil, ErrEpochChanged
	}
	next := make(map[int32]int64, len(offs.Val()))
	for p, o := range offs.Val() {
		pi, err1 := strconv.ParseInt(p, 10, 32)
		oi, err2 := strconv.ParseInt(o, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("offsets of %s: bad entry %q=%q", m, p, o)
		}
		next[int32(pi)] = oi
	}
	vals := make(map[string]entry, len(data.Val()))
	for f, v := range data.Val() {
		vals[f] = newEntry(m, []byte(v))
	}
	mm := s.mirror.models[m]
	mm.mu.Lock()
	mm.epoch, mm.ready, mm.data, mm.loaded = epoch, rd.Val() == epoch, vals, true
	mm.next = make(map[int32]int64, len(next))
	for p, o := range next {
		mm.next[p] = o
	}
	mm.mu.Unlock()
	return next, nil
}

// resume returns the offsets the mirror continues from when it still holds epoch
// (a builder restarting after a broker or Redis error), so the model is not read
// from Redis again; ok is false when a snapshot is needed.
func (s *Store) resume(m Model, epoch string) (map[int32]int64, bool) {
	mm := s.mirror.models[m]
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	if mm.epoch != epoch || mm.next == nil {
		return nil, false
	}
	next := make(map[int32]int64, len(mm.next))
	for p, o := range mm.next {
		next[p] = o
	}
	return next, true
}

// mirrorApply applies a batch of partition Redis accepted for epoch; next is the
// partition's next offset after it.
func (s *Store) mirrorApply(m Model, epoch string, partition int32, next int64, changes []Change) {
	if s.mirror == nil {
		return
	}
	decoded := make([]entry, len(changes))
	for i, c := range changes {
		if c.Value != nil {
			decoded[i] = newEntry(m, c.Value)
		}
	}
	mm := s.mirror.models[m]
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.epoch != epoch {
		return
	}
	for i, c := range changes {
		if c.Value == nil {
			delete(mm.data, c.Field)
		} else {
			mm.data[c.Field] = decoded[i]
		}
	}
	mm.next[partition] = max(mm.next[partition], next)
}

func (s *Store) mirrorReady(m Model, epoch string) {
	if s.mirror == nil {
		return
	}
	mm := s.mirror.models[m]
	mm.mu.Lock()
	if mm.epoch == epoch {
		mm.ready = true
	}
	mm.mu.Unlock()
}

// mirrorDrop forgets every model: their epoch is gone.
func (s *Store) mirrorDrop(ms ...Model) {
	if s.mirror == nil {
		return
	}
	for _, m := range ms {
		mm := s.mirror.models[m]
		mm.mu.Lock()
		mm.epoch, mm.ready, mm.data, mm.next = "", false, nil, nil
		mm.mu.Unlock()
	}
}

// getMirror is Get from memory: the stored bytes (raw) or the decoded values.
func (s *Store) getMirror(lookups []Lookup, raw bool) ([][]any, error) {
	out := make([][]any, len(lookups))
	var notReady []Model
	for i, l := range lookups {
		mm := s.mirror.models[l.Model]
		if mm == nil {
			notReady = append(notReady, l.Model)
			continue
		}
		mm.mu.RLock()
		if !mm.ready || mm.epoch == "" {
			mm.mu.RUnlock()
			notReady = append(notReady, l.Model)
			continue
		}
		vals := make([]any, len(l.Fields))
		var bad error
		for j, f := range l.Fields {
			e, ok := mm.data[f]
			switch {
			case !ok:
			case raw:
				vals[j] = e.raw
			case e.err != nil:
				bad = &CorruptError{Model: l.Model, Field: f, Err: e.err}
			default:
				vals[j] = e.val
			}
		}
		mm.mu.RUnlock()
		if bad != nil {
			return nil, bad
		}
		out[i] = vals
	}
	if len(notReady) > 0 {
		return nil, &NotReadyError{Models: notReady}
	}
	return out, nil
}
