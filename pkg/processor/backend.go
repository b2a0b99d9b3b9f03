package processor

import (
	"time"

	"github.com/google/btree"
	"github.com/twmb/franz-go/pkg/kadm"
)

// backend holds the committed state of a processor's partitions: only
// writes of committed transactions (and restored changelog records) reach
// it, each partition's together with the changelog offsets they bring the
// state to. Two implementations: memory (default) and Pebble on disk
// (WithStateDir). Only the processing goroutine calls it.
type backend interface {
	// get reads a committed value.
	get(store string, part int32, key string) ([]byte, bool, error)
	// scan calls fn for the committed keys of store in part in key order
	// until fn returns false; it costs the keys visited.
	scan(store string, part int32, fn func(key string, value []byte) bool) error
	// apply writes changes (in order; nil value deletes) and the
	// checkpoints they bring the partition to, atomically.
	apply(part int32, cs []change, cps map[string]checkpoint) error
	// checkpoints returns the partition's checkpoint per changelog topic;
	// nil when the backend keeps none (memory: always a full restore).
	checkpoints(part int32) (map[string]checkpoint, error)
	// wipe forgets a partition's state and checkpoints.
	wipe(part int32) error
	// release: the partition is no longer owned here (memory frees it,
	// the disk keeps it for a later return).
	release(part int32) error
	close() error
}

// checkpoint is the changelog position a partition's local state matches:
// every committed record below Offset is applied.
type checkpoint struct {
	Offset  int64
	At      time.Time    // when it was written
	TopicID kadm.TopicID // the changelog's id, so a recreated topic is noticed
}

// memBackend keeps state in maps, with a B-tree of each partition's keys
// for ordered scans, built at the first scan of the store (most stores are
// never ranged; they pay only for the map).
type memBackend struct {
	data map[string]map[int32]*memPart // store → partition
}

type memPart struct {
	kv   map[string][]byte
	keys *btree.BTreeG[string] // nil until the first scan
}

func newMemBackend() *memBackend { return &memBackend{data: map[string]map[int32]*memPart{}} }

func (mb *memBackend) part(store string, part int32, create bool) *memPart {
	ps := mb.data[store]
	if ps == nil {
		if !create {
			return nil
		}
		ps = map[int32]*memPart{}
		mb.data[store] = ps
	}
	mp := ps[part]
	if mp == nil && create {
		mp = &memPart{kv: map[string][]byte{}}
		ps[part] = mp
	}
	return mp
}

func (mb *memBackend) get(store string, part int32, key string) ([]byte, bool, error) {
	mp := mb.part(store, part, false)
	if mp == nil {
		return nil, false, nil
	}
	v, ok := mp.kv[key]
	return v, ok, nil
}

func (mb *memBackend) scan(store string, part int32, fn func(string, []byte) bool) error {
	mp := mb.part(store, part, false)
	if mp == nil {
		return nil
	}
	if mp.keys == nil {
		mp.keys = btree.NewOrderedG[string](32)
		for k := range mp.kv {
			mp.keys.ReplaceOrInsert(k)
		}
	}
	mp.keys.Ascend(func(k string) bool { return fn(k, mp.kv[k]) })
	return nil
}

func (mb *memBackend) apply(part int32, cs []change, _ map[string]checkpoint) error {
	for _, c := range cs {
		mp := mb.part(c.store, part, true)
		if c.value == nil {
			if _, had := mp.kv[c.key]; had {
				delete(mp.kv, c.key)
				if mp.keys != nil {
					mp.keys.Delete(c.key)
				}
			}
			continue
		}
		if _, had := mp.kv[c.key]; !had && mp.keys != nil {
			mp.keys.ReplaceOrInsert(c.key)
		}
		mp.kv[c.key] = c.value
	}
	return nil
}

func (mb *memBackend) checkpoints(int32) (map[string]checkpoint, error) { return nil, nil }

func (mb *memBackend) wipe(part int32) error {
	for _, ps := range mb.data {
		delete(ps, part)
	}
	return nil
}

func (mb *memBackend) release(part int32) error { return mb.wipe(part) }

func (mb *memBackend) close() error { return nil }
