package processor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
)

// Codec turns a store's values into bytes and back.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// JSON is the codec of a store holding T as JSON (encoding/json).
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }
func (jsonCodec[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// Store is a typed view of a state store declared in Config.Stores: what
// handlers read and write through it is a T, encoded with its codec.
//
// Corrupt own state has one policy. A value this service wrote that its
// codec cannot read back (or a value it cannot encode) is our own bug, not
// bad input: Get, Range and Put return an errs.Retriable error with reason
// errs.ReasonCorruptState naming the store and key. Returned by the
// handler, it is retried in place, then its transaction is aborted and the
// record fetched again: the record's partition — and, while the record
// fails, the other partitions of the instance's transaction with it —
// waits, loudly (retries_total, aborts_total, the error in the log) and
// loses nothing, until a release that can read the value is deployed.
// Never dead-lettered, never skipped.
type Store[T any] struct {
	name  string
	codec Codec[T]
}

// NewStore is the typed view of the store named name with codec c.
func NewStore[T any](name string, c Codec[T]) Store[T] { return Store[T]{name: name, codec: c} }

// Name is the store's name (for Config.Stores).
func (s Store[T]) Name() string { return s.name }

// Get reads key for the message's partition (its own writes first, then
// the transaction's, then committed state). ok is false when key is unset.
func (s Store[T]) Get(m *Message, key string) (v T, ok bool, err error) {
	b, ok := m.Get(s.name, key)
	if !ok {
		return v, false, nil
	}
	v, err = s.codec.Decode(b)
	if err != nil {
		return v, false, corrupt(s.name, key, "read", err)
	}
	return v, true, nil
}

// Load is Get for state held by pointer: nil (and no error) when key is
// unset.
func (s Store[T]) Load(m *Message, key string) (*T, error) {
	v, ok, err := s.Get(m, key)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// Put writes v under key; it commits with the message like Message.Put.
func (s Store[T]) Put(m *Message, key string, v T) error {
	b, err := s.codec.Encode(v)
	if err != nil {
		return corrupt(s.name, key, "encode", err)
	}
	m.Put(s.name, key, b)
	return nil
}

// Delete removes key.
func (s Store[T]) Delete(m *Message, key string) { m.Put(s.name, key, nil) }

// Range calls fn for every key of the message's partition in key order
// until fn returns false; a value that cannot be read stops it with the
// corrupt-state error.
func (s Store[T]) Range(m *Message, fn func(key string, v T) bool) error {
	var err error
	m.Range(s.name, func(k string, b []byte) bool {
		v, derr := s.codec.Decode(b)
		if derr != nil {
			err = corrupt(s.name, k, "read", derr)
			return false
		}
		return fn(k, v)
	})
	return err
}

func corrupt(store, key, what string, err error) error {
	return errs.Retriable(errs.ReasonCorruptState, fmt.Errorf("%s own state %s/%q: %w", what, store, key, err))
}

// CorruptState is the error of the one corrupt-own-state policy (see
// Store) for state a handler reads itself, without a Store: key of store
// holds a value this service wrote and cannot read back.
func CorruptState(store, key string, err error) error { return corrupt(store, key, "read", err) }

// Raw is the codec of a store whose values are bytes as they are.
func Raw() Codec[[]byte] { return rawCodec{} }

type rawCodec struct{}

func (rawCodec) Encode(v []byte) ([]byte, error) { return v, nil }
func (rawCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// Timers is a deadline-ordered timer index kept in a state store of its
// own (declared in Config.Stores, used for nothing else): one deadline per
// id, the due ones found in deadline order at the cost of what fires.
type Timers struct{ name string }

// NewTimers is the timer index kept in the store named name.
func NewTimers(name string) Timers { return Timers{name: name} }

// Name is the store's name (for Config.Stores).
func (t Timers) Name() string { return t.name }

// Set schedules id at at, replacing its earlier deadline.
func (t Timers) Set(m *Message, id string, at time.Time) { m.SetTimer(t.name, id, at) }

// Schedule sets id's timer at at, or cancels it when at is zero (state
// whose deadline field is empty when nothing is due).
func (t Timers) Schedule(m *Message, id string, at time.Time) {
	if at.IsZero() {
		t.Cancel(m, id)
		return
	}
	t.Set(m, id, at)
}

// Cancel removes id's timer (unset is fine).
func (t Timers) Cancel(m *Message, id string) { m.CancelTimer(t.name, id) }

// At is id's deadline, if set.
func (t Timers) At(m *Message, id string) (time.Time, bool) { return m.TimerAt(t.name, id) }

// Due calls fn, earliest first, for each timer due at or before now until fn
// returns false; a timer stays set until cancelled or set again.
func (t Timers) Due(m *Message, now time.Time, fn func(id string, at time.Time) bool) {
	m.DueTimers(t.name, now, fn)
}

// MoveTimers moves up to limit entries of the store from — timers an
// earlier release kept in a layout of its own — into the timer index t,
// deleting each entry it moves, and reports how many it moved (0 once from
// is empty: from then on it costs one empty scan). parse reads an entry's
// timer id and deadline; an entry it cannot read is our own state gone
// bad (CorruptState), never dropped. Services call it from their tick until
// it returns 0, so timers pending across an upgrade still fire.
func MoveTimers(m *Message, from string, t Timers, limit int, parse func(key string, value []byte) (id string, at time.Time, err error)) (int, error) {
	moved := 0
	var err error
	m.Range(from, func(k string, v []byte) bool {
		if moved >= limit {
			return false
		}
		id, at, perr := parse(k, v)
		if perr != nil {
			err = CorruptState(from, k, perr)
			return false
		}
		t.Set(m, id, at)
		m.Put(from, k, nil)
		moved++
		return true
	})
	return moved, err
}

// Fire calls fn for every timer due at or before now, earliest first, and
// stops at fn's first error. The due ids are collected first, so fn may
// set, cancel or re-set timers (its own included); a timer fn leaves set
// fires again at the next tick.
func (t Timers) Fire(m *Message, now time.Time, fn func(id string, at time.Time) error) error {
	type due struct {
		id string
		at time.Time
	}
	var ds []due
	t.Due(m, now, func(id string, at time.Time) bool {
		ds = append(ds, due{id, at})
		return true
	})
	for _, d := range ds {
		if err := fn(d.id, d.at); err != nil {
			return err
		}
	}
	return nil
}

// TickID is the deterministic id of what a tick at now does for id (a
// timer, an entity) on the message's partition: the cause its outputs derive
// their ids from, as an input's event id is for a record.
func (m *Message) TickID(id string, now time.Time) string {
	return event.ID("tick", strconv.Itoa(int(m.Record.Partition)), id, strconv.FormatInt(now.UnixMilli(), 10))
}
