package processor

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Message is one input record and everything the handler does about it:
// outputs and state changes are buffered here and committed atomically with
// the input offset, or discarded together when the handler fails.
type Message struct {
	// Topic is the logical input topic (prefix stripped).
	Topic string
	// Record is the input record as consumed.
	Record *kgo.Record

	p       *Processor
	ctx     context.Context
	batch   *batch
	outputs []*kgo.Record
	puts    []put
	attempt int
	eventID string
	// internalEmits numbers this message's records to internal topics.
	internalEmits int
	// propagation holds the trace and id headers of this record's outputs,
	// built at the first Emit.
	propagation []kgo.RecordHeader
}

type put struct {
	store string
	key   string
	value []byte // nil deletes
}

// Key returns the record key as a string (business keys are UTF-8).
func (m *Message) Key() string { return string(m.Record.Key) }

// Value returns the record value.
func (m *Message) Value() []byte { return m.Record.Value }

// HeaderEventID carries the event id of a record of an internal topic.
const HeaderEventID = "isthmus-event-id"

// HeaderEventTime carries a re-keyed record's event time (Unix ms) through
// an internal topic.
const HeaderEventTime = "isthmus-event-time"

// EventTime is when the input happened as far as the runtime knows: the
// record's timestamp, or, for a record of an internal topic, the event time
// of the record it was re-keyed from. Handlers use it instead of the clock.
func (m *Message) EventTime() time.Time {
	if v, ok := tracing.Header(m.Record.Headers, HeaderEventTime); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
	}
	return m.Record.Timestamp
}

// Partition returns the input partition; state is kept per partition.
func (m *Message) Partition() int32 { return m.Record.Partition }

// Header returns the first header named key.
func (m *Message) Header(key string) (string, bool) { return tracing.Header(m.Record.Headers, key) }

// CorrelationID returns the correlation id of the input (header, or a
// deterministic id derived from the record's position when absent).
func (m *Message) CorrelationID() string { return tracing.Correlation(m.ctx) }

// EventID is a deterministic id for this input record: its position. Handlers
// derive output event ids from it so a replay emits identical events.
func (m *Message) EventID() string {
	if m.eventID == "" {
		// A record of an internal topic (re-keyed or forwarded) carries the
		// id its producer derived from its own input: its offset depends on
		// how transactions were cut, so it must not make the id.
		if id, ok := tracing.Header(m.Record.Headers, HeaderEventID); ok && (m.p.isInternal(m.p.kcfg.Logical(m.Record.Topic)) || m.p.rerouted(m.p.kcfg.Logical(m.Record.Topic))) {
			m.eventID = id
		} else {
			m.eventID = event.PositionID(m.Record.Topic, m.Record.Partition, m.Record.Offset)
		}
	}
	return m.eventID
}

// DerivedID is a deterministic id derived from this input's event id and
// parts: a replay of the input derives the same ids.
func (m *Message) DerivedID(parts ...string) string {
	return event.ID(append([]string{m.EventID()}, parts...)...)
}

// Metadata is the metadata of this input's n-th output event (1, 2, …):
// event id DerivedID("out", n), caused by the input, in the input's
// correlation (CorrelationID), produced by source, occurred at the input's
// event time. Handlers whose flow keeps its own correlation id (a saga's)
// use OutputMetadata.
func (m *Message) Metadata(source string, n int) contracts.EventMetadata {
	return m.OutputMetadata(source, n, m.CorrelationID())
}

// OutputMetadata is Metadata in the correlation of a flow the handler keeps
// itself (correlation "" means the input's).
func (m *Message) OutputMetadata(source string, n int, correlation string) contracts.EventMetadata {
	if correlation == "" {
		correlation = m.CorrelationID()
	}
	return event.Output(m.EventID(), n, correlation, source, m.EventTime())
}

// Attempt is 1 on the first try and counts retries.
func (m *Message) Attempt() int { return m.attempt }

// Logger returns the processor's logger.
func (m *Message) Logger() *slog.Logger { return m.p.log }

// Emit buffers an output record for a logical topic. A nil value is a
// tombstone. Headers carry the correlation id, causation id and traceparent
// of the input's trace; the record's timestamp is the input's.
func (m *Message) Emit(topic, key string, value []byte, headers ...kgo.RecordHeader) {
	// Outputs carry the input's timestamp (a tick's: its time), not the
	// wall clock, so a replay emits identical records and handlers that
	// read the timestamp of a re-keyed record see the original event time.
	r := &kgo.Record{Topic: m.p.physicalTopic(topic), Key: []byte(key), Value: value, Timestamp: m.Record.Timestamp}
	// Room for the trace context, correlation, causation and event-time
	// headers, so they are added without growing the slice.
	r.Headers = make([]kgo.RecordHeader, len(headers), len(headers)+5)
	copy(r.Headers, headers)
	if m.p.isInternal(topic) {
		// Internal topics are stamped by the broker (retention); the
		// event time travels in a header and EventTime reads it back. The
		// record's event id derives from this input's, not from where it
		// lands (see EventID).
		tracing.SetHeader(&r.Headers, HeaderEventTime, strconv.FormatInt(m.EventTime().UnixMilli(), 10))
		m.internalEmits++
		tracing.SetHeader(&r.Headers, HeaderEventID, event.ID(m.EventID(), topic, key, strconv.Itoa(m.internalEmits)))
	}
	if m.propagation == nil {
		m.propagation = tracing.PropagationHeaders(m.ctx)
	}
	for _, h := range m.propagation {
		setHeader(&r.Headers, h)
	}
	m.outputs = append(m.outputs, r)
}

// Get reads a value of a state store for the input's partition, seeing this
// message's own writes, then the batch's, then committed state.
func (m *Message) Get(store, key string) ([]byte, bool) {
	for i := len(m.puts) - 1; i >= 0; i-- {
		if p := m.puts[i]; p.store == store && p.key == key {
			return p.value, p.value != nil
		}
	}
	return m.p.stores.get(m.batch, store, m.Record.Partition, key)
}

// Put writes a value (nil deletes) into a state store for the input's
// partition; it is written to the store's changelog in the same
// transaction as the outputs.
func (m *Message) Put(store, key string, value []byte) {
	m.p.stores.mustHave(store)
	m.puts = append(m.puts, put{store: store, key: key, value: value})
}

// Range calls fn for every key of store in the input's partition, in key
// order, including this batch's writes.
func (m *Message) Range(store string, fn func(key string, value []byte) bool) {
	m.p.stores.rangeKeys(m.batch, m.puts, store, m.Record.Partition, fn)
}

// Discard drops what the handler emitted and wrote so far (a middleware
// that answers a failure with other outputs calls it first).
func (m *Message) Discard() { m.reset() }

// reset drops everything the handler buffered (before a retry or a DLQ).
func (m *Message) reset() {
	m.outputs = m.outputs[:0]
	m.puts = m.puts[:0]
	m.internalEmits = 0
}

// Decode decodes the input value (Confluent wire format) into v with the
// processor's serde. Decoding failures are classified by pkg/serde (bad
// bytes and unknown schema ids are poison, an unreachable registry is
// retriable), so handlers just return the error.
func (m *Message) Decode(v serde.Record) error {
	if m.p.serde == nil {
		panic("processor: Decode needs WithSerde")
	}
	return m.p.serde.Decode(m.ctx, m.Record.Value, v)
}

// EmitValue encodes v for a logical topic (subject "<physical topic>-value")
// and buffers it like Emit.
func (m *Message) EmitValue(topic, key string, v serde.Record, headers ...kgo.RecordHeader) error {
	if m.p.serde == nil {
		panic("processor: EmitValue needs WithSerde")
	}
	b, err := m.p.serde.Encode(m.ctx, m.p.physicalTopic(topic), v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", topic, err)
	}
	m.Emit(topic, key, b, headers...)
	return nil
}

// Context returns the context of the record being processed (trace,
// correlation id).
func (m *Message) Context() context.Context { return m.ctx }

// setHeader replaces or appends h; the value is shared, not copied (the
// propagation headers of one record's outputs are equal and never changed).
func setHeader(headers *[]kgo.RecordHeader, h kgo.RecordHeader) {
	for i := range *headers {
		if (*headers)[i].Key == h.Key {
			(*headers)[i].Value = h.Value
			return
		}
	}
	*headers = append(*headers, h)
}
