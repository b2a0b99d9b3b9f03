package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// mdCarrier adapts gRPC metadata for trace-context propagation.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// UnaryClientInterceptor starts a client span per call and sends the trace
// context (traceparent) and the correlation id with it, so a gateway call
// made while processing a Kafka record continues that record's trace.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	tracer := Tracer("isthmus/grpc-client")
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient))
		defer span.End()
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		propagator.Inject(ctx, mdCarrier(md))
		if id := Correlation(ctx); id != "" {
			md.Set(HeaderCorrelationID, id)
		}
		err := invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
		if err != nil {
			span.RecordError(err)
		}
		return err
	}
}

// FromIncomingGRPC returns ctx with the caller's trace context (its span as
// the remote parent) and correlation id from the call's metadata. It looks up
// only those keys: copying the whole metadata on every call is garbage a
// latency-bound server does not need.
func FromIncomingGRPC(ctx context.Context) context.Context {
	ctx = propagator.Extract(ctx, incomingCarrier{ctx})
	if v := metadata.ValueFromIncomingContext(ctx, HeaderCorrelationID); len(v) > 0 && v[0] != "" {
		ctx = WithCorrelation(ctx, v[0])
	}
	return ctx
}

// incomingCarrier reads trace context from a call's incoming metadata key by
// key.
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.ctx)
	return mdCarrier(md).Keys()
}
