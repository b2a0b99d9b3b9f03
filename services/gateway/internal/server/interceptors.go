package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/gateway/internal/auth"
	"github.com/isthmus/isthmus/services/gateway/internal/ratelimit"
)

type serverMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	limited  *prometheus.CounterVec

	// The series each call updates, looked up once per label set: the
	// vectors hash their label values on every lookup.
	mu       sync.RWMutex
	counters map[requestLabels]prometheus.Counter
	timers   map[requestLabels]prometheus.Observer
}

type requestLabels struct {
	method, transport string
	code              codes.Code
}

// done counts a finished call and observes its latency.
func (m *serverMetrics) done(method, transport string, code codes.Code, start time.Time) {
	k := requestLabels{method: method, transport: transport, code: code}
	m.mu.RLock()
	c, t := m.counters[k], m.timers[requestLabels{method: method, transport: transport}]
	m.mu.RUnlock()
	if c == nil || t == nil {
		c = m.requests.WithLabelValues(method, code.String(), transport)
		t = m.latency.WithLabelValues(method, transport)
		m.mu.Lock()
		m.counters[k] = c
		m.timers[requestLabels{method: method, transport: transport}] = t
		m.mu.Unlock()
	}
	c.Inc()
	t.Observe(time.Since(start).Seconds())
}

func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if r == nil {
		return c
	}
	if err := r.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex
			}
		}
		panic(err)
	}
	return c
}

func newServerMetrics(r prometheus.Registerer) *serverMetrics {
	return &serverMetrics{
		requests: register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "isthmus_gateway_requests_total", Help: "Gateway API calls by method, status code and transport (grpc or rest)."}, []string{"method", "code", "transport"})),
		latency: register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "isthmus_gateway_request_seconds", Help: "Gateway API latency by method and transport (handler time, after auth).",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method", "transport"})),
		limited:  register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "isthmus_gateway_rate_limit_total", Help: "Rate limiter outcomes: limited, or error (Redis unreachable; the call is let through)."}, []string{"outcome"})),
		counters: map[requestLabels]prometheus.Counter{}, timers: map[requestLabels]prometheus.Observer{},
	}
}

// recoverUnary turns a panic into INTERNAL without leaking it.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

// observe records metrics and a span, and carries the correlation id.
// Without a span exporter (tracing.Recording) no span is started: the
// caller's trace context stays in the call's context for its logs, and a
// span nobody records is only garbage on the hot path.
func observe(m *serverMetrics, transport string) grpc.UnaryServerInterceptor {
	tracer := tracing.Tracer("isthmus/gateway")
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		// Continue the caller's trace (traceparent) and correlation id.
		ctx = tracing.FromIncomingGRPC(ctx)
		start := time.Now()
		if !tracing.Recording() {
			resp, err := h(ctx, req)
			m.done(info.FullMethod, transport, status.Code(err), start)
			return resp, err
		}
		ctx, span := tracer.Start(ctx, info.FullMethod, trace.WithSpanKind(trace.SpanKindServer))
		resp, err := h(ctx, req)
		code := status.Code(err)
		span.SetAttributes(attribute.String("rpc.grpc.status_code", code.String()), attribute.String("transport", transport))
		span.End()
		m.done(info.FullMethod, transport, code, start)
		return resp, err
	}
}

// rateLimit spends one call of the caller's budget (after auth).
func rateLimit(l *ratelimit.Limiter, m *serverMetrics, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p := auth.FromContext(ctx)
		if l == nil || p == nil {
			return h(ctx, req)
		}
		ok, wait, err := l.Allow(ctx, p.Subject)
		if err != nil {
			m.limited.WithLabelValues("error").Inc()
			log.WarnContext(ctx, "rate limiter unavailable; allowing the call", "err", err)
			return h(ctx, req)
		}
		if !ok {
			m.limited.WithLabelValues("limited").Inc()
			st := status.New(codes.ResourceExhausted, "rate limit exceeded for client "+p.Subject)
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
				st = d
			}
			return nil, st.Err()
		}
		return h(ctx, req)
	}
}
