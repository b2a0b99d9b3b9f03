package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// started runs r until the returned stop is called; stop cancels and returns
// Run's error and how long Run took to return after the cancel.
func started(t *testing.T, r *Runner) (stop func() (time.Duration, error)) {
	t.Helper()
	if err := r.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	var took time.Duration
	stop = func() (time.Duration, error) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err = <-done:
				took = time.Since(start)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of the cancel")
			}
		})
		return took, err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestServesAndStops(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
	r := New("test", "127.0.0.1:0", HTTP(&http.Server{Handler: h}))
	if r.Addr() != "127.0.0.1:0" {
		t.Fatalf("Addr before Listen = %q, want the configured address", r.Addr())
	}
	stop := started(t, r)
	_, port, _ := net.SplitHostPort(r.Addr())
	if port == "" || port == "0" {
		t.Fatalf("Addr after Listen = %q, want the bound port", r.Addr())
	}
	code, body, err := get(t, "http://"+r.Addr()+"/")
	if err != nil || code != 200 || body != "hello" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	if took, err := stop(); err != nil || took > time.Second {
		t.Fatalf("idle stop: %v after %v, want nil at once", err, took)
	}
	if _, _, err := get(t, "http://"+r.Addr()+"/"); err == nil {
		t.Fatal("still serving after Run returned")
	}
}

// TestInFlightRequestFinishes: a request under way when the stop begins is
// answered (graceful), and Run returns once it is.
func TestInFlightRequestFinishes(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	r := New("test", "127.0.0.1:0", HTTP(&http.Server{Handler: h}), StopTimeout(5*time.Second))
	stop := started(t, r)
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() { c, b, err := get(t, "http://"+r.Addr()+"/"); res <- result{c, b, err} }()
	<-entered
	took, err := stop()
	got := <-res
	if got.err != nil || got.code != 200 || got.body != "done" {
		t.Fatalf("in-flight request: %d %q %v, want it answered", got.code, got.body, got.err)
	}
	if err != nil || took < 200*time.Millisecond {
		t.Fatalf("Run returned %v after %v, want nil once the request was answered", err, took)
	}
}

// TestHungRequestIsCutOff: a request that never ends does not hold the stop
// past the timeout; the cut-off is logged.
func TestHungRequestIsCutOff(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	r := New("hung", "127.0.0.1:0", HTTP(&http.Server{Handler: h}), StopTimeout(200*time.Millisecond), Logger(log))
	stop := started(t, r)
	res := make(chan error, 1)
	go func() { _, _, err := get(t, "http://"+r.Addr()+"/"); res <- err }()
	<-entered
	took, err := stop()
	if err != nil || took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Run returned %v after %v, want nil just after the 200ms stop timeout", err, took)
	}
	if err := <-res; err == nil {
		t.Fatal("the hung request was answered, want it cut off")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "in-flight requests cut off") || !strings.Contains(logs.String(), "server=hung") {
		t.Fatalf("log %q, want the cut-off reported with the server's name", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestListenErrorNamesTheListener(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	r := New("dashboard", addr, HTTP(&http.Server{}))
	for name, f := range map[string]func() error{"Listen": r.Listen, "Run": func() error { return r.Run(context.Background()) }} {
		err := f()
		if err == nil || !strings.HasPrefix(err.Error(), "dashboard listener "+addr+": ") || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%s on a taken port: %v, want %q naming the listener, wrapping EADDRINUSE", name, err, "dashboard listener "+addr)
		}
	}
}

// TestServerFailureIsReturned: Run returns when the server fails on its
// own, with the failure.
func TestServerFailureIsReturned(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Accept fails at once
	r := New("test", "", HTTP(&http.Server{}), Listener(ln))
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Run = %v, want the listener's failure", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return on a failed server")
	}
}

// TestGRPC: a gRPC server answers, and a call that never ends (a health
// watch) is cut off at the stop timeout instead of holding the stop.
func TestGRPC(t *testing.T) {
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	r := New("gRPC", "127.0.0.1:0", GRPC(gs), StopTimeout(200*time.Millisecond))
	stop := started(t, r)
	conn, err := grpc.NewClient(r.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", resp, err)
	}
	watch, err := cl.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	took, err := stop()
	if err != nil || took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Run returned %v after %v, want nil just after the 200ms stop timeout", err, took)
	}
	if _, err := watch.Recv(); err == nil {
		t.Fatal("the watch outlived the server")
	}
}
