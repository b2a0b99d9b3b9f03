package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// diskBackend keeps state in a Pebble database (an embedded LSM tree), so
// a processor's state may be larger than its memory. One database per
// processor instance holds every store and partition:
//
//	'd' partition(4 bytes, big endian) store 0x00 key → value
//	'c' partition(4 bytes, big endian) changelog topic → checkpoint
//
// Only committed writes reach it (the runtime keeps a transaction's writes
// in memory until the commit), each partition's applied in one Pebble batch
// with its checkpoint, so whatever survives a crash is the state of the
// changelog up to that checkpoint: a restart restores only the tail, and
// never sees a write of an aborted transaction.
type diskBackend struct {
	db  *pebble.DB
	dir string
}

// DiskCacheBytes is the block cache of the on-disk store (each instance).
const DiskCacheBytes = 32 << 20

// openDiskBackend opens (or creates) the database in dir; a second process
// on the same directory is refused (Pebble's lock file).
func openDiskBackend(dir string, log *slog.Logger) (*diskBackend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	cache := pebble.NewCache(DiskCacheBytes)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:        cache,
		MemTableSize: 16 << 20,
		Logger:       pebbleLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("open state directory %s (is another process using it?): %w", dir, err)
	}
	return &diskBackend{db: db, dir: dir}, nil
}

func dataPrefix(part int32, store string) []byte {
	b := make([]byte, 0, 6+len(store))
	b = append(b, 'd')
	b = binary.BigEndian.AppendUint32(b, uint32(part))
	b = append(b, store...)
	return append(b, 0)
}

func partPrefix(kind byte, part int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{kind}, uint32(part))
}

// upperBound is the first key after every key starting with prefix.
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (d *diskBackend) get(store string, part int32, key string) ([]byte, bool, error) {
	v, closer, err := d.db.Get(append(dataPrefix(part, store), key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte{}, v...)
	return out, true, closer.Close()
}

func (d *diskBackend) scan(store string, part int32, fn func(string, []byte) bool) error {
	prefix := dataPrefix(part, store)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(string(it.Key()[len(prefix):]), append([]byte{}, it.Value()...)) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}

func (d *diskBackend) apply(part int32, cs []change, cps map[string]checkpoint) error {
	b := d.db.NewBatch()
	defer b.Close()
	for _, c := range cs {
		k := append(dataPrefix(part, c.store), c.key...)
		var err error
		if c.value == nil {
			err = b.Delete(k, nil)
		} else {
			err = b.Set(k, c.value, nil)
		}
		if err != nil {
			return err
		}
	}
	for t, cp := range cps {
		v := binary.BigEndian.AppendUint64(nil, uint64(cp.Offset))
		v = binary.BigEndian.AppendUint64(v, uint64(cp.At.UnixMilli()))
		v = append(v, cp.TopicID[:]...)
		if err := b.Set(append(partPrefix('c', part), t...), v, nil); err != nil {
			return err
		}
	}
	// No fsync: a process crash keeps what the OS has; a machine crash
	// loses a suffix of batches, each atomic with its checkpoint.
	return b.Commit(pebble.NoSync)
}

func (d *diskBackend) checkpoints(part int32) (map[string]checkpoint, error) {
	prefix := partPrefix('c', part)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, err
	}
	out := map[string]checkpoint{}
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) != 32 {
			continue // unreadable: treated as missing (full restore)
		}
		var cp checkpoint
		cp.Offset = int64(binary.BigEndian.Uint64(v))
		cp.At = time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:])))
		copy(cp.TopicID[:], v[16:])
		out[string(it.Key()[len(prefix):])] = cp
	}
	return out, errors.Join(it.Error(), it.Close())
}

func (d *diskBackend) wipe(part int32) error {
	b := d.db.NewBatch()
	defer b.Close()
	for _, kind := range []byte{'c', 'd'} {
		p := partPrefix(kind, part)
		if err := b.DeleteRange(p, upperBound(p), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// release keeps the partition's state and checkpoints: if it comes back,
// only what its other owners wrote meanwhile is read.
func (d *diskBackend) release(int32) error { return nil }

func (d *diskBackend) close() error { return d.db.Close() }

// pebbleLogger sends Pebble's messages to the processor's logger.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(strings.TrimSpace(msg), "component", "pebble")
	panic("pebble: " + msg)
}

// stateDirOf is the directory of one instance's database under dir.
func stateDirOf(dir, prefix, service, instance string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == 0 {
			return '_'
		}
		return r
	}, prefix+service+"-"+instance)
	return filepath.Join(dir, name)
}
