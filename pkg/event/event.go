// Package event is the one place Isthmus events get their identity and
// metadata: deterministic ids derived from what caused an event (so a replay
// emits identical events) and the EventMetadata every event carries, with
// occurred_at normalised once (UTC, millisecond precision: what the Avro
// timestamp-millis field keeps).
//
// Handlers of a processor use the Message helpers built on it
// (processor.Message.Metadata, DerivedID); producers outside a processor
// (the simulator's traffic, the operations API) call Metadata directly. A
// test in this package fails when contracts.EventMetadata is constructed
// anywhere else outside tests.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// ID derives a stable UUID-shaped id from parts, so replaying the same input
// yields the same ids (no randomness in outputs). Parts are separated
// unambiguously: ID("a", "bc") differs from ID("ab", "c").
func ID(parts ...string) string {
	// One hash over the parts, each followed by a zero byte; a stack buffer
	// and a fixed-size hex layout keep it to one allocation (the string).
	var stack [256]byte
	buf := stack[:0]
	for _, p := range parts {
		buf = append(buf, p...)
		buf = append(buf, 0)
	}
	return idOf(buf)
}

// PositionID is ID(topic, partition, offset) with the numbers in decimal,
// without formatting them first: the id of a record by its position.
func PositionID(topic string, partition int32, offset int64) string {
	var stack [256]byte
	buf := append(stack[:0], topic...)
	buf = append(buf, 0)
	buf = strconv.AppendInt(buf, int64(partition), 10)
	buf = append(buf, 0)
	buf = strconv.AppendInt(buf, offset, 10)
	buf = append(buf, 0)
	return idOf(buf)
}

func idOf(buf []byte) string {
	sum := sha256.Sum256(buf)
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x50 // version 5 style
	b[8] = (b[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// Time normalises an event time the way every event carries it: UTC,
// truncated to the millisecond. The zero time stays zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// Metadata is the metadata of one event: its id, the correlation id of its
// flow, the id of the event that caused it ("" when it starts a flow: null),
// the system that produced it and when the fact happened (normalised by
// Time).
func Metadata(id, correlation, causation, source string, occurred time.Time) contracts.EventMetadata {
	md := contracts.EventMetadata{EventID: id, CorrelationID: correlation, SourceSystem: source, OccurredAt: Time(occurred)}
	if causation != "" {
		md.CausationID = &causation
	}
	return md
}

// Output is the metadata of the n-th event (1, 2, …) emitted for an input
// whose event id is cause: its id is ID(cause, "out", n), so a replay of the
// input emits the same ids, and it is caused by the input.
func Output(cause string, n int, correlation, source string, occurred time.Time) contracts.EventMetadata {
	return Metadata(ID(cause, "out", strconv.Itoa(n)), correlation, cause, source, occurred)
}
