package tracing

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// collector is an in-process OTLP trace receiver.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string][]string // span name → hex trace ids
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.spans[sp.Name] = append(c.spans[sp.Name], hexID(sp.TraceId))
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, v := range b {
		out[2*i], out[2*i+1] = digits[v>>4], digits[v&15]
	}
	return string(out)
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// TestTraceFollowsRecordThroughGRPCAndIsExported: a record's traceparent is
// continued by the consumer span, carried over gRPC to the server span, put
// on the output record, and every span reaches the OTLP collector with the
// record's trace id.
func TestTraceFollowsRecordThroughGRPCAndIsExported(t *testing.T) {
	col := &collector{spans: map[string][]string{}}
	colAddr := serve(t, func(s *grpc.Server) { collectortrace.RegisterTraceServiceServer(s, col) })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+colAddr)
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	prev := provider
	t.Cleanup(func() { SetProvider(prev) })
	shutdown, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}

	// The server side continues the caller's trace.
	var serverTrace, serverCorr string
	srvAddr := serve(t, func(s *grpc.Server) {
		healthpb.RegisterHealthServer(s, checkFunc(func(ctx context.Context) {
			ctx = FromIncomingGRPC(ctx)
			ctx, span := Tracer("server").Start(ctx, "server-span")
			serverTrace, serverCorr = TraceID(ctx), Correlation(ctx)
			span.End()
		}))
	})

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in := []kgo.RecordHeader{{Key: HeaderTraceparent, Value: []byte(parent)}}
	ctx := WithCorrelation(Extract(context.Background(), in), "corr-7")
	ctx, span := Tracer("consumer").Start(ctx, "process crm.quote.v1")
	conn, err := grpc.NewClient(srvAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	var out []kgo.RecordHeader
	Inject(ctx, &out)
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if serverTrace != traceID || serverCorr != "corr-7" {
		t.Fatalf("server saw trace %q correlation %q", serverTrace, serverCorr)
	}
	if tp, _ := Header(out, HeaderTraceparent); len(tp) != 55 || tp[3:35] != traceID {
		t.Fatalf("output traceparent %q", tp)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, name := range []string{"process crm.quote.v1", "/grpc.health.v1.Health/Check", "server-span"} {
		ids := col.spans[name]
		if len(ids) != 1 || ids[0] != traceID {
			t.Errorf("span %q exported with trace ids %v, want [%s]", name, ids, traceID)
		}
	}
}

// checkFunc is a health server that runs f on each Check.
type checkFunc func(context.Context)

func (f checkFunc) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	f(ctx)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (f checkFunc) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	return &healthpb.HealthListResponse{}, nil
}

func (f checkFunc) Watch(*healthpb.HealthCheckRequest, healthpb.Health_WatchServer) error { return nil }

// The headers built for a record's outputs are the ones the W3C propagator
// and Inject write, and a child span context continues the input's trace.
func TestPropagationHeadersMatchInject(t *testing.T) {
	in := []kgo.RecordHeader{{Key: HeaderTraceparent, Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}, {Key: HeaderTracestate, Value: []byte("vendor=x")}}
	sc := ChildSpanContext(in)
	if got := sc.TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("trace id %s, want the input's", got)
	}
	if sc.SpanID().String() == "b7ad6b7169203331" || !sc.IsSampled() {
		t.Fatalf("child span %s sampled=%v: want a new span id and the input's flags", sc.SpanID(), sc.IsSampled())
	}
	ctx := WithIDs(trace.ContextWithSpanContext(context.Background(), sc), "corr-1", "cause-1")
	var want []kgo.RecordHeader
	Inject(ctx, &want)
	got := PropagationHeaders(ctx)
	if len(got) != len(want) {
		t.Fatalf("headers %v, want %v", got, want)
	}
	for _, w := range want {
		v, ok := Header(got, w.Key)
		if !ok || v != string(w.Value) {
			t.Errorf("header %s = %q, want %q", w.Key, v, w.Value)
		}
	}
	if fresh := ChildSpanContext(nil); !fresh.IsValid() {
		t.Fatal("no traceparent: want a new valid trace")
	}
}
