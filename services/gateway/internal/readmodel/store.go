// Package readmodel keeps the gateway's read models in Redis: one hash per model
// (price book, credit, inventory, customer, xref) built from ERP's compacted topics,
// the consumed offset of every partition stored next to it, an epoch that detects a
// flushed Redis, and a "ready" marker set once the model has caught up with the high
// watermarks seen when its build started. Every replica shares the same keys.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Model names one read model; its value is the logical topic it is built from.
type Model string

const (
	PriceBook Model = "erp.price-book.v1"
	Credit    Model = "erp.credit.v1"
	Inventory Model = "erp.inventory.v1"
	Customer  Model = "erp.customer.v1"
	Xref      Model = "mdm.xref.v1"
)

// Models lists every model.
var Models = []Model{PriceBook, Credit, Inventory, Customer, Xref, Contract}

// ErrNotReady is returned when a model has not caught up with its topic (first build,
// or rebuild after Redis lost it). Callers answer UNAVAILABLE and retry later.
var ErrNotReady = errors.New("read model not caught up")

// ErrEpochChanged is returned to a builder whose model was flushed or reset.
var ErrEpochChanged = errors.New("read model epoch changed (redis flushed or reset)")

// NotReadyError names the models that are not ready.
type NotReadyError struct{ Models []Model }

func (e *NotReadyError) Error() string   { return fmt.Sprintf("%v: %v", ErrNotReady, e.Models) }
func (e *NotReadyError) Is(t error) bool { return t == ErrNotReady }

// Store reads and writes the models.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	mirror *mirror // nil: Get reads Redis
}

// NewStore returns a store whose keys start with prefix (e.g. the topic prefix, so
// environments sharing a Redis do not collide).
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
}

// Redis returns the client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Keys of one model share a hash tag so the scripts work on Redis Cluster too.
func (s *Store) key(m Model, kind string) string {
	return s.prefix + "isthmus:{gw:" + string(m) + "}:" + kind
}

// Data is the hash of the model's entries.
func (s *Store) Data(m Model) string    { return s.key(m, "data") }
func (s *Store) offsets(m Model) string { return s.key(m, "offsets") }
func (s *Store) epoch(m Model) string   { return s.key(m, "epoch") }
func (s *Store) ready(m Model) string   { return s.key(m, "ready") }

// beginScript adopts the model's epoch, or when there is none (first build, flushed
// Redis, manual reset) clears the model and starts a new one.
var beginScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1])
if e then return e end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// Begin returns the model's current epoch (creating one, with an empty model, when
// there is none) and the next offset to consume for each partition it has stored.
func (s *Store) Begin(ctx context.Context, m Model, candidate string) (string, map[int32]int64, error) {
	e, err := beginScript.Run(ctx, s.rdb, []string{s.epoch(m), s.Data(m), s.offsets(m), s.ready(m)}, candidate).Text()
	if err != nil {
		return "", nil, fmt.Errorf("begin %s: %w", m, err)
	}
	raw, err := s.rdb.HGetAll(ctx, s.offsets(m)).Result()
	if err != nil {
		return "", nil, fmt.Errorf("offsets of %s: %w", m, err)
	}
	offs := make(map[int32]int64, len(raw))
	for p, o := range raw {
		pi, err1 := strconv.ParseInt(p, 10, 32)
		oi, err2 := strconv.ParseInt(o, 10, 64)
		if err1 != nil || err2 != nil {
			return "", nil, fmt.Errorf("offsets of %s: bad entry %q=%q", m, p, o)
		}
		offs[int32(pi)] = oi
	}
	return e, offs, nil
}

// applyScript writes a batch of one partition, skipping records below the stored
// offset (another replica already applied them) and refusing when the epoch changed.
// ARGV: epoch, partition, next offset, then (offset, field, value) triples; an empty
// value deletes the field.
var applyScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local n = 0
for i = 4, #ARGV, 3 do
  if tonumber(ARGV[i]) >= stored then
    if ARGV[i+2] == '' then
      redis.call('HDEL', KEYS[1], ARGV[i+1])
    else
      redis.call('HSET', KEYS[1], ARGV[i+1], ARGV[i+2])
    end
    n = n + 1
  end
end
if tonumber(ARGV[3]) > stored then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
return n
`)

// Change is one record's effect on a model: Value nil deletes Field.
type Change struct {
	Offset int64
	Field  string
	Value  []byte
}

// Apply writes the changes of one partition (in offset order) and records next as
// the partition's next offset, atomically.
func (s *Store) Apply(ctx context.Context, m Model, epoch string, partition int32, next int64, changes []Change) error {
	script := applyScript
	args := make([]any, 0, 4+3*len(changes))
	args = append(args, epoch, partition, next)
	if m == Golden { // files the records under their blocking keys too
		script = applyGoldenScript
		args = append(args, s.BlockPrefix())
	}
	for _, c := range changes {
		args = append(args, c.Offset, c.Field, c.Value)
	}
	n, err := script.Run(ctx, s.rdb, []string{s.Data(m), s.offsets(m), s.epoch(m)}, args...).Int()
	if err != nil {
		return fmt.Errorf("apply %s[%d]: %w", m, partition, err)
	}
	if n < 0 {
		return ErrEpochChanged
	}
	return nil
}

var readyScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`)

// MarkReady records that the model caught up, if its epoch is still epoch.
func (s *Store) MarkReady(ctx context.Context, m Model, epoch string) error {
	n, err := readyScript.Run(ctx, s.rdb, []string{s.epoch(m), s.ready(m)}, epoch).Int()
	if err != nil {
		return fmt.Errorf("mark %s ready: %w", m, err)
	}
	if n < 0 {
		return ErrEpochChanged
	}
	return nil
}

// Epochs returns the current epoch of each model ("" when missing).
func (s *Store) Epochs(ctx context.Context, ms ...Model) (map[Model]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ms))
	for i, m := range ms {
		cmds[i] = pipe.Get(ctx, s.epoch(m))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[Model]string, len(ms))
	for i, m := range ms {
		out[m] = cmds[i].Val()
	}
	return out, nil
}

// Lookup is a set of fields to read from one model.
type Lookup struct {
	Model  Model
	Fields []string
}

// Get reads the fields of every lookup, after checking that each model is ready;
// values[i][j] is nil when lookups[i].Fields[j] is absent. A store WithMirror
// answers from memory; otherwise Get costs one pipelined Redis round trip.
//
// A pipeline is not atomic: another client (a FLUSHDB, a rebuild) may run
// between its commands. The model's epoch is read before and after the data,
// so an answer is given only from one unchanged, ready epoch.
func (s *Store) Get(ctx context.Context, lookups ...Lookup) ([][][]byte, error) {
	if s.mirror != nil {
		vals, err := s.getMirror(lookups, true)
		if err != nil {
			return nil, err
		}
		out := make([][][]byte, len(vals))
		for i, vs := range vals {
			out[i] = make([][]byte, len(vs))
			for j, v := range vs {
				out[i][j], _ = v.([]byte)
			}
		}
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	before := make([]*redis.StringCmd, len(lookups))
	after := make([]*redis.StringCmd, len(lookups))
	ready := make([]*redis.IntCmd, len(lookups))
	vals := make([]*redis.SliceCmd, len(lookups))
	for i, l := range lookups {
		before[i] = pipe.Get(ctx, s.epoch(l.Model))
		ready[i] = pipe.Exists(ctx, s.ready(l.Model))
		if len(l.Fields) > 0 {
			vals[i] = pipe.HMGet(ctx, s.Data(l.Model), l.Fields...)
		}
		after[i] = pipe.Get(ctx, s.epoch(l.Model))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read models: %w", err)
	}
	var notReady []Model
	for i, l := range lookups {
		if ready[i].Val() == 0 || before[i].Val() == "" || before[i].Val() != after[i].Val() {
			notReady = append(notReady, l.Model)
		}
	}
	if len(notReady) > 0 {
		return nil, &NotReadyError{Models: notReady}
	}
	out := make([][][]byte, len(lookups))
	for i, l := range lookups {
		out[i] = make([][]byte, len(l.Fields))
		if vals[i] == nil {
			continue
		}
		for j, v := range vals[i].Val() {
			if str, ok := v.(string); ok {
				out[i][j] = []byte(str)
			}
		}
	}
	return out, nil
}

// ErrCorrupt is returned when a stored value does not decode.
var ErrCorrupt = errors.New("undecodable read model entry")

// CorruptError names the entry that does not decode.
type CorruptError struct {
	Model Model
	Field string
	Err   error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s[%s]: %v", ErrCorrupt, e.Model, e.Field, e.Err)
}
func (e *CorruptError) Is(t error) bool { return t == ErrCorrupt }
func (e *CorruptError) Unwrap() error   { return e.Err }

// Values is Get returning decoded values: values[i][j] is nil when absent, else a
// pointer to the domain value of lookups[i].Model (see decodeValue), shared and
// read-only. A store WithMirror answers from memory with values decoded once, when
// they arrived; otherwise Values decodes what Get read. An entry that does not
// decode is a *CorruptError.
func (s *Store) Values(ctx context.Context, lookups ...Lookup) ([][]any, error) {
	if s.mirror != nil {
		return s.getMirror(lookups, false)
	}
	raw, err := s.Get(ctx, lookups...)
	if err != nil {
		return nil, err
	}
	out := make([][]any, len(raw))
	for i, vs := range raw {
		out[i] = make([]any, len(vs))
		for j, r := range vs {
			if r == nil {
				continue
			}
			v, err := decodeValue(lookups[i].Model, r)
			if err != nil {
				return nil, &CorruptError{Model: lookups[i].Model, Field: lookups[i].Fields[j], Err: err}
			}
			out[i][j] = v
		}
	}
	return out, nil
}

// deadLetterTTL bounds how long a dead-letter claim is remembered (longer
// than any topic's retention, so a rebuild never writes a record twice).
const deadLetterTTL = 45 * 24 * time.Hour

func (s *Store) deadLetterKey(m Model, part int32, offset int64) string {
	return s.key(m, fmt.Sprintf("dlq:%d:%d", part, offset))
}

// ClaimDeadLetter reports whether this caller is the first to dead-letter
// the record at (model, partition, offset).
func (s *Store) ClaimDeadLetter(ctx context.Context, m Model, part int32, offset int64) (bool, error) {
	return s.rdb.SetNX(ctx, s.deadLetterKey(m, part, offset), time.Now().UTC().Format(time.RFC3339), deadLetterTTL).Result()
}

// ReleaseDeadLetter gives a claim back when the DLQ write failed.
func (s *Store) ReleaseDeadLetter(ctx context.Context, m Model, part int32, offset int64) error {
	return s.rdb.Del(ctx, s.deadLetterKey(m, part, offset)).Err()
}
