package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/retry"
)

// Outcome is what handling one record (or one tick) produced, as a
// committed transaction would have: the output records (physical topics,
// including dead letters) and the state writes, in order.
type Outcome struct {
	Outputs []*kgo.Record
	Writes  []StateWrite
}

// StateWrite is one write of a state store; a nil Value deletes Key.
type StateWrite struct {
	Store     string
	Partition int32
	Key       string
	Value     []byte
}

// Handle runs one record through the processor's whole chain (trace,
// measure, dead-letter, retry, recover and Config.Middleware) against its
// local state, without a broker: what the handler emits and writes is
// returned, and the writes are applied to the local state as a committed
// transaction would apply them, so the next call sees them. r.Topic is the
// physical topic (kafka.Config.Topic of the logical one); r.Partition
// chooses the state partition.
//
// The error is what would have aborted the transaction: a retriable
// failure that outlived the retry policy (WithRetryPolicy; nothing is
// applied then). Poison, business and unclassified failures come back as a
// dead-letter output and a nil error, as in production.
//
// Handle is for tests (see pkg/processor/processortest) and tools; it must
// not be called while Run runs.
func (p *Processor) Handle(ctx context.Context, r *kgo.Record) (Outcome, error) {
	if r == nil || r.Topic == "" {
		return Outcome{}, errors.New("processor: Handle needs a record with a topic")
	}
	b := newBatch()
	m := &Message{Topic: p.logicalTopic(r), Record: r, p: p, ctx: ctx, batch: b}
	if err := p.chain(ctx, m); err != nil {
		return Outcome{}, err
	}
	return p.apply(b, m)
}

// HandleTick runs OnTick for partition part at the time at, like Handle
// runs a record (recover and retry around it, as the runtime's ticks).
func (p *Processor) HandleTick(ctx context.Context, part int32, at time.Time) (Outcome, error) {
	if p.cfg.OnTick == nil {
		return Outcome{}, fmt.Errorf("processor %s: no OnTick", p.cfg.Service)
	}
	b := newBatch()
	m := &Message{Record: &kgo.Record{Partition: part, Offset: -1, Timestamp: at}, p: p, ctx: ctx, batch: b}
	h := Chain(func(ctx context.Context, m *Message) error { return p.cfg.OnTick(ctx, m, at) }, recoverer())
	err := retry.Do(ctx, p.retry, func(attempt int) error {
		m.attempt = attempt
		m.reset()
		return h(ctx, m)
	}, nil)
	if err != nil {
		if errs.ClassOf(err) == errs.ClassRetriable {
			return Outcome{}, err
		}
		// The runtime drops a partition's tick work on a permanent failure.
		return Outcome{}, fmt.Errorf("tick of partition %d failed permanently (its work is dropped): %w", part, err)
	}
	return p.apply(b, m)
}

// apply commits a handled message's writes to the local state.
func (p *Processor) apply(b *batch, m *Message) (Outcome, error) {
	out := Outcome{Outputs: append([]*kgo.Record(nil), m.outputs...)}
	for _, pt := range m.puts {
		b.put(pt.store, m.Record.Partition, pt.key, pt.value)
		out.Writes = append(out.Writes, StateWrite{Store: pt.store, Partition: m.Record.Partition, Key: pt.key, Value: pt.value})
	}
	p.stores.owned[m.Record.Partition] = true
	if err := p.stores.commit(b); err != nil {
		return Outcome{}, err
	}
	return out, nil
}
