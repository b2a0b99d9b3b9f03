package processor

import (
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Flow emits the events one cause (an input's event id, a tick's TickID)
// produces in a flow the handler keeps itself (a saga's, a case's): their
// metadata numbered 1, 2, … in emission order (event.Output), in the flow's
// correlation, from source, at the given time. A replay of the cause emits
// the same ids. (The records' headers carry the input's trace context and
// correlation id, as every Emit's.)
type Flow struct {
	m           *Message
	cause       string
	correlation string
	source      string
	at          time.Time
	n           int
}

// Flow starts the outputs of cause in correlation ("" is the input's).
func (m *Message) Flow(cause, correlation, source string, at time.Time) *Flow {
	if correlation == "" {
		correlation = m.CorrelationID()
	}
	return &Flow{m: m, cause: cause, correlation: correlation, source: source, at: at}
}

// Next is the metadata of the flow's next event.
func (f *Flow) Next() contracts.EventMetadata {
	f.n++
	return event.Output(f.cause, f.n, f.correlation, f.source, f.at)
}

// Emit sets *md (the value's metadata field) to Next and emits v to topic
// under key.
func (f *Flow) Emit(topic, key string, v serde.Record, md *contracts.EventMetadata) error {
	*md = f.Next()
	return f.m.EmitValue(topic, key, v)
}
