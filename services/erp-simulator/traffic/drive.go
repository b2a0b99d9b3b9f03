package traffic

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Pace is how fast and how long to generate.
type Pace struct {
	Rate     float64       // records per second (> 0)
	Duration time.Duration // 0: until ctx ends
}

// Stats count what Drive did.
type Stats struct {
	Sent    int64            // records acknowledged by the brokers
	Errors  int64            // records that failed (encode or produce)
	Pending int64            // produced but not acknowledged yet
	ByKind  map[string]int64 // acknowledged records per Event.Kind
	Elapsed time.Duration
	// LastError is the text of the most recent error, if any.
	LastError string
}

// Producer encodes events with a serde and produces them to the physical
// topics of a cluster configuration.
type Producer struct {
	cl   *kgo.Client
	sd   *serde.Serde
	kcfg kafka.Config

	sent, errors, pending atomic.Int64
	mu                    sync.Mutex
	byKind                map[string]int64
	lastErr               string
}

// NewProducer returns a producer over a client (idempotent producing is
// franz-go's default) and a serde.
func NewProducer(cl *kgo.Client, sd *serde.Serde, kcfg kafka.Config) *Producer {
	return &Producer{cl: cl, sd: sd, kcfg: kcfg, byKind: map[string]int64{}}
}

// Produce encodes and produces ev asynchronously; failures are counted.
func (p *Producer) Produce(ctx context.Context, ev Event) {
	topic := p.kcfg.Topic(ev.Topic)
	b, err := p.sd.Encode(ctx, topic, ev.Value)
	if err != nil {
		p.fail(fmt.Errorf("encode %s: %w", ev.Topic, err))
		return
	}
	r := &kgo.Record{Topic: topic, Key: []byte(ev.Key), Value: b}
	if corr := correlationOf(ev); corr != "" {
		tracing.SetHeader(&r.Headers, tracing.HeaderCorrelationID, corr)
	}
	p.pending.Add(1)
	kind := ev.Kind
	p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
		p.pending.Add(-1)
		if err != nil {
			p.fail(fmt.Errorf("produce %s: %w", ev.Topic, err))
			return
		}
		p.sent.Add(1)
		p.mu.Lock()
		p.byKind[kind]++
		p.mu.Unlock()
	})
}

func (p *Producer) fail(err error) {
	p.errors.Add(1)
	p.mu.Lock()
	p.lastErr = err.Error()
	p.mu.Unlock()
}

// Flush waits for every produced record to be acknowledged or failed.
func (p *Producer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Stats returns the counters so far.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	by := make(map[string]int64, len(p.byKind))
	for k, v := range p.byKind {
		by[k] = v
	}
	return Stats{Sent: p.sent.Load(), Errors: p.errors.Load(), Pending: p.pending.Load(), ByKind: by, LastError: p.lastErr}
}

func correlationOf(ev Event) string {
	if md := contracts.MetadataOf(ev.Value); md != nil {
		return md.CorrelationID
	}
	return ""
}

// Drive calls gen.Next at the pace's rate (records per second, counted in
// generated records) and hands every event to emit, until the duration is
// over or ctx ends. It returns the number of records generated.
func Drive(ctx context.Context, gen *Generator, pace Pace, emit func(Event)) (int64, error) {
	if pace.Rate <= 0 {
		return 0, fmt.Errorf("rate must be > 0, got %g", pace.Rate)
	}
	if pace.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pace.Duration)
		defer cancel()
	}
	start := time.Now()
	tick := 20 * time.Millisecond
	if iv := time.Duration(float64(time.Second) / pace.Rate); iv > tick {
		tick = min(iv, 200*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var n int64
	for {
		due := int64(time.Since(start).Seconds()*pace.Rate) + 1
		for n < due && ctx.Err() == nil {
			for _, ev := range gen.Next(time.Now()) {
				emit(ev)
				n++
			}
		}
		select {
		case <-ctx.Done():
			return n, nil
		case <-t.C:
		}
	}
}
