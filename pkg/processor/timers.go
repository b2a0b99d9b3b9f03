package processor

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// Timers. A store used through SetTimer, CancelTimer and DueTimers (and
// nothing else) is a timer index: each timer is kept twice,
//
//	"d" + deadline (16 hex digits, Unix ms) + "|" + id → "1"  (ordered by deadline)
//	"i" + id → deadline                                       (lookup by id)
//
// so finding the due timers reads only the due ones (plus the batch's
// uncommitted writes), never every timer of the partition: with a million
// timers pending a tick still costs what fires. Both keys travel through
// the store's changelog like any other write.

const (
	timerDuePrefix = "d"
	timerIDPrefix  = "i"
)

func timerDueKey(at int64, id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(at, 0)))
	return timerDuePrefix + hex.EncodeToString(b[:]) + "|" + id
}

func timerIDKey(id string) string { return timerIDPrefix + id }

// SetTimer schedules timer id of store (a store used only for timers) at
// at, replacing its earlier deadline if any. Like Put, it is committed with
// the message.
func (m *Message) SetTimer(store, id string, at time.Time) {
	ms := at.UnixMilli()
	if old, ok := m.TimerAt(store, id); ok {
		if old.UnixMilli() == ms {
			return
		}
		m.Put(store, timerDueKey(old.UnixMilli(), id), nil)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(max(ms, 0)))
	m.Put(store, timerIDKey(id), v[:])
	m.Put(store, timerDueKey(ms, id), []byte("1"))
}

// CancelTimer removes timer id of store; a timer that is not set is fine.
func (m *Message) CancelTimer(store, id string) {
	if old, ok := m.TimerAt(store, id); ok {
		m.Put(store, timerDueKey(old.UnixMilli(), id), nil)
		m.Put(store, timerIDKey(id), nil)
	}
}

// TimerAt returns the deadline of timer id of store, if it is set.
func (m *Message) TimerAt(store, id string) (time.Time, bool) {
	v, ok := m.Get(store, timerIDKey(id))
	if !ok || len(v) != 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))), true
}

// DueTimers calls fn, earliest deadline first, for every timer of store
// due at or before now, until fn returns false. A timer stays set until
// the handler cancels or re-sets it (usually in fn: what fires and the
// timer's removal commit together). It costs the due timers, not the
// number of timers pending.
func (m *Message) DueTimers(store string, now time.Time, fn func(id string, at time.Time) bool) {
	limit := now.UnixMilli()
	m.Range(store, func(k string, _ []byte) bool {
		rest, ok := strings.CutPrefix(k, timerDuePrefix)
		if !ok || len(rest) < 17 || rest[16] != '|' {
			return false // past the deadline index
		}
		var b [8]byte
		if _, err := hex.Decode(b[:], []byte(rest[:16])); err != nil {
			return true
		}
		at := int64(binary.BigEndian.Uint64(b[:]))
		if at > limit {
			return false
		}
		return fn(rest[17:], time.UnixMilli(at))
	})
}
