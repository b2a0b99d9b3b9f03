package processor

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Handler processes one input record. Everything it emits or stores through
// m is committed atomically with the input offset. Return an error classified
// with pkg/errs: retriable errors are retried (never reordering a key),
// poison and unclassified ones dead-lettered, and the partition keeps
// flowing.
type Handler func(ctx context.Context, m *Message) error

// Middleware wraps a handler with a cross-cutting behaviour.
type Middleware func(Handler) Handler

// Chain applies middleware so that the first one is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// maxErrorMessageBytes bounds the error-message header of a DLQ record.
const maxErrorMessageBytes = 4096

// DeadLetterRecord is the record a service writes to its DLQ for a failed
// input: the original key, value and headers, plus the catalog's
// dlq-*/error-* headers (class, reason, message, original topic, partition,
// offset and timestamp, service, time of failure). Plain consumers that are
// not processors (the gateway's read-model builder) use it too.
func DeadLetterRecord(kcfg kafka.Config, service, logicalTopic string, in *kgo.Record, err error, now time.Time) *kgo.Record {
	msg := err.Error()
	if len(msg) > maxErrorMessageBytes {
		msg = msg[:maxErrorMessageBytes]
	}
	// A forwarded record is reported where it was first consumed, and the
	// runtime's own routing headers are not copied.
	partition, offset := strconv.Itoa(int(in.Partition)), strconv.FormatInt(in.Offset, 10)
	headers := make([]kgo.RecordHeader, 0, len(in.Headers)+9)
	for _, h := range in.Headers {
		switch h.Key {
		case HeaderOriginPartition:
			partition = string(h.Value)
		case HeaderOriginOffset:
			offset = string(h.Value)
		case HeaderOriginTopic:
		default:
			headers = append(headers, h)
		}
	}
	for _, h := range [][2]string{
		{catalog.DLQHeaderErrorClass, string(errs.ClassOf(err))},
		{catalog.DLQHeaderErrorReason, errs.ReasonOf(err)},
		{catalog.DLQHeaderErrorMessage, msg},
		{catalog.DLQHeaderTopic, logicalTopic},
		{catalog.DLQHeaderPartition, partition},
		{catalog.DLQHeaderOffset, offset},
		{catalog.DLQHeaderTimestamp, in.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00")},
		{catalog.DLQHeaderService, service},
		{catalog.DLQHeaderFailedAt, now.UTC().Format("2006-01-02T15:04:05.000Z07:00")},
	} {
		tracing.SetHeader(&headers, h[0], h[1])
	}
	return &kgo.Record{Topic: kcfg.Topic(catalog.DLQTopic(service)), Key: in.Key, Value: in.Value, Headers: headers}
}

// recoverer turns a panic in the handler into a poison error with the stack in
// the log, so one bad record cannot crash the service.
func recoverer() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if se, ok := r.(*StateError); ok {
						// The local store failed (disk): try again, never dead-letter.
						err = errs.Retriable(errs.ReasonState, se)
						return
					}
					m.p.metrics.failures.WithLabelValues(m.p.cfg.Service, "panic").Inc()
					m.p.log.ErrorContext(ctx, "handler panic", "topic", m.Record.Topic, "partition", m.Record.Partition, "offset", m.Record.Offset, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = errs.Poison(errs.ReasonPanic, fmt.Errorf("handler panic: %v", r))
				}
			}()
			return next(ctx, m)
		}
	}
}

// retrying retries retriable failures in place with capped exponential backoff
// and jitter, within policy's budget; the record's partition waits, so a key
// is never reordered. Once the budget is spent the error goes up, the
// transaction is aborted and the record is fetched again later: never
// dropped.
func retrying(policy retry.Policy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			return retry.Do(ctx, policy, func(attempt int) error {
				m.attempt = attempt
				m.reset()
				return next(ctx, m)
			}, func(attempt int, err error, wait time.Duration) {
				m.p.metrics.retries.WithLabelValues(m.p.cfg.Service).Inc()
				m.p.log.WarnContext(ctx, "retriable failure, retrying", "topic", m.Topic, "partition", m.Record.Partition, "offset", m.Record.Offset, "attempt", attempt, "wait", wait.String(), "err", err)
			})
		}
	}
}

// deadLetter sends records whose handler failed with a non-retriable error
// to the service's DLQ topic, with the original key, value and headers plus
// the context headers, and reports success so the partition keeps flowing.
func deadLetter() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			err := next(ctx, m)
			class := errs.ClassOf(err)
			if err == nil || class == errs.ClassRetriable {
				return err
			}
			m.p.metrics.failures.WithLabelValues(m.p.cfg.Service, string(class)).Inc()
			m.p.metrics.dlq.WithLabelValues(m.p.cfg.Service).Inc()
			m.reset()
			in := m.Record
			m.outputs = append(m.outputs, DeadLetterRecord(m.p.kcfg, m.p.cfg.Service, m.Topic, in, err, m.p.now()))
			m.p.log.WarnContext(ctx, "record dead-lettered", "topic", m.Topic, "partition", in.Partition, "offset", in.Offset, "class", class, "reason", errs.ReasonOf(err), "err", err)
			return nil
		}
	}
}

// traced continues the input's trace (W3C traceparent header) in a span per
// record, and puts the correlation id (header, or derived from the record's
// position) and causation id in the context; Emit copies them to outputs.
// Without a recording tracer provider (no exporter) the span is only its
// ids, made without the tracer (see tracing.ChildSpanContext).
func traced() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			in := m.Record
			corr, ok := tracing.Header(in.Headers, tracing.HeaderCorrelationID)
			if !ok || corr == "" {
				corr = m.EventID()
			}
			if !tracing.Recording() {
				ctx = trace.ContextWithSpanContext(ctx, tracing.ChildSpanContext(in.Headers))
				m.ctx = tracing.WithIDs(ctx, corr, m.EventID())
				return next(m.ctx, m)
			}
			ctx = tracing.Extract(ctx, in.Headers)
			ctx = tracing.WithIDs(ctx, corr, m.EventID())
			ctx, span := tracing.Tracer("isthmus/processor").Start(ctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer))
			if span.IsRecording() {
				span.SetAttributes(
					attribute.String("messaging.system", "kafka"),
					attribute.String("messaging.destination.name", m.Topic),
					attribute.Int("messaging.kafka.partition", int(in.Partition)),
					attribute.Int64("messaging.kafka.offset", in.Offset),
					attribute.String("isthmus.service", m.p.cfg.Service),
					attribute.String("isthmus.correlation_id", corr),
				)
			}
			defer span.End()
			m.ctx = ctx
			err := next(ctx, m)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, errs.ReasonOf(err))
			}
			return err
		}
	}
}

// measured records handler latency and input counts.
func measured() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			start := time.Now()
			err := next(ctx, m)
			pm := m.p.measures
			pm.handlerSeconds.Observe(time.Since(start).Seconds())
			if c, ok := pm.recordsIn[m.Topic]; ok {
				c.Inc()
			} else {
				m.p.metrics.recordsIn.WithLabelValues(m.p.cfg.Service, m.Topic).Inc()
			}
			if errs.ClassOf(err) == errs.ClassRetriable {
				m.p.metrics.failures.WithLabelValues(m.p.cfg.Service, string(errs.ClassRetriable)).Inc()
			}
			return err
		}
	}
}
