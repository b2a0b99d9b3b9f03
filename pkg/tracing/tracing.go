// Package tracing carries correlation ids and W3C trace context through
// contexts and Kafka headers. Every event's headers repeat its
// correlation-id and carry a traceparent; a processor continues the trace of
// its input in every output.
package tracing

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Header names used on every Kafka record.
const (
	HeaderCorrelationID = "correlation-id"
	HeaderCausationID   = "causation-id"
	HeaderTraceparent   = "traceparent"
	HeaderTracestate    = "tracestate"
)

type ctxKey int

const idsKey ctxKey = 0

// ids are the correlation and causation ids a context carries (one
// context value for both: a processor sets them for every record).
type ids struct{ correlation, causation string }

// WithIDs returns ctx carrying a correlation id and a causation id.
func WithIDs(ctx context.Context, correlation, causation string) context.Context {
	return context.WithValue(ctx, idsKey, ids{correlation, causation})
}

func idsOf(ctx context.Context) ids {
	v, _ := ctx.Value(idsKey).(ids)
	return v
}

// WithCorrelation returns ctx carrying a correlation id.
func WithCorrelation(ctx context.Context, id string) context.Context {
	return WithIDs(ctx, id, Causation(ctx))
}

// Correlation returns the correlation id in ctx, or "".
func Correlation(ctx context.Context) string { return idsOf(ctx).correlation }

// Causation returns the causation id in ctx, or "".
func Causation(ctx context.Context) string { return idsOf(ctx).causation }

// TraceID returns the hex trace id of the span in ctx, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

var propagator = propagation.TraceContext{}

// provider is the tracer provider of the process. Without an exporter it
// still creates real trace and span ids, so traceparent chains across
// services and logs carry trace ids, but it records nothing (spans nobody
// exports would cost an allocation-heavy span per record for nothing);
// Setup installs a recording, exporting provider.
var provider trace.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))

// recording is set once a provider that may record spans is installed.
var recording atomic.Bool

// SetProvider replaces the process' tracer provider (an exporter's).
func SetProvider(p trace.TracerProvider) {
	provider = p
	recording.Store(true)
	otel.SetTracerProvider(p)
}

// Recording reports whether spans may be recorded (SetProvider was
// called). Without it a span is only a pair of ids, and ChildSpanContext
// makes them without the tracer's machinery.
func Recording() bool { return recording.Load() }

// ChildSpanContext continues the trace of a W3C traceparent header in
// headers with a new span id (a new trace without one), like starting a
// non-recording child span, for hot paths that need only the ids.
func ChildSpanContext(headers []kgo.RecordHeader) trace.SpanContext {
	var cfg trace.SpanContextConfig
	if v, ok := headerBytes(headers, HeaderTraceparent); ok {
		if parent, ok := parseTraceparent(v); ok {
			cfg.TraceID, cfg.TraceFlags = parent.TraceID(), parent.TraceFlags()
			if ts, ok := headerBytes(headers, HeaderTracestate); ok {
				if state, err := trace.ParseTraceState(string(ts)); err == nil {
					cfg.TraceState = state
				}
			}
		}
	}
	for !cfg.TraceID.IsValid() {
		binary.LittleEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
	}
	for !cfg.SpanID.IsValid() {
		binary.LittleEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	}
	return trace.NewSpanContext(cfg)
}

// parseTraceparent reads a version-00 traceparent: 00-<32 hex>-<16 hex>-<2 hex>.
func parseTraceparent(v []byte) (trace.SpanContext, bool) {
	if len(v) < 55 || v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	var flags [1]byte
	if _, err := hex.Decode(cfg.TraceID[:], v[3:35]); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(cfg.SpanID[:], v[36:52]); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(flags[:], v[53:55]); err != nil {
		return trace.SpanContext{}, false
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0])
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// PropagationHeaders returns the headers Inject would write for ctx
// (traceparent, tracestate, correlation-id, causation-id), built once so a
// record's several outputs share them.
func PropagationHeaders(ctx context.Context) []kgo.RecordHeader {
	sc := trace.SpanContextFromContext(ctx)
	id := idsOf(ctx)
	ts := ""
	if sc.IsValid() {
		ts = sc.TraceState().String()
	}
	// One buffer holds every value.
	buf := make([]byte, 0, 55+len(ts)+len(id.correlation)+len(id.causation))
	out := make([]kgo.RecordHeader, 0, 4)
	add := func(key string, v []byte) {
		if len(v) > 0 {
			out = append(out, kgo.RecordHeader{Key: key, Value: v[:len(v):len(v)]})
		}
	}
	if sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		var tp [55]byte
		copy(tp[:3], "00-")
		hex.Encode(tp[3:35], tid[:])
		tp[35] = '-'
		hex.Encode(tp[36:52], sid[:])
		tp[52] = '-'
		hex.Encode(tp[53:55], []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
		buf = append(buf, tp[:]...)
		add(HeaderTraceparent, buf)
		n := len(buf)
		buf = append(buf, ts...)
		add(HeaderTracestate, buf[n:])
	}
	n := len(buf)
	buf = append(buf, id.correlation...)
	add(HeaderCorrelationID, buf[n:])
	n = len(buf)
	buf = append(buf, id.causation...)
	add(HeaderCausationID, buf[n:])
	return out
}

func headerBytes(headers []kgo.RecordHeader, key string) ([]byte, bool) {
	for _, h := range headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// Tracer returns the named tracer of the process' provider.
func Tracer(name string) trace.Tracer { return provider.Tracer(name) }

// HeaderCarrier adapts Kafka record headers for OpenTelemetry propagation.
type HeaderCarrier struct{ Headers *[]kgo.RecordHeader }

func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c HeaderCarrier) Set(key, value string) { SetHeader(c.Headers, key, value) }

func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		out = append(out, h.Key)
	}
	return out
}

// Extract returns ctx with the remote span context found in headers.
func Extract(ctx context.Context, headers []kgo.RecordHeader) context.Context {
	return propagator.Extract(ctx, HeaderCarrier{Headers: &headers})
}

// Inject writes ctx's trace context, correlation id and causation id into
// headers.
func Inject(ctx context.Context, headers *[]kgo.RecordHeader) {
	propagator.Inject(ctx, HeaderCarrier{Headers: headers})
	if id := Correlation(ctx); id != "" {
		SetHeader(headers, HeaderCorrelationID, id)
	}
	if id := Causation(ctx); id != "" {
		SetHeader(headers, HeaderCausationID, id)
	}
}

// Header returns the value of the first header named key.
func Header(headers []kgo.RecordHeader, key string) (string, bool) {
	for _, h := range headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// SetHeader replaces or appends a header.
func SetHeader(headers *[]kgo.RecordHeader, key, value string) {
	for i := range *headers {
		if (*headers)[i].Key == key {
			(*headers)[i].Value = []byte(value)
			return
		}
	}
	*headers = append(*headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}
