// Package serve runs network servers the one way every Isthmus process
// does: bind the address first (a taken port fails the start, not the
// first request), serve until the context ends, then stop gracefully —
// new connections refused, in-flight requests finish — within a bounded
// time, and close whatever is still open after it. The admin port, the
// reconciler's dashboard, the gateway's gRPC and REST faces and the
// development schema registry run through it.
//
//	r := serve.New("dashboard", addr, serve.HTTP(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}))
//	if err := r.Listen(); err != nil { // "dashboard listener :8088: ..."
//		return err
//	}
//	log.Info("dashboard listening", "addr", r.Addr())
//	return r.Run(ctx)
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultStopTimeout is how long a graceful stop may take unless
// StopTimeout says otherwise.
const DefaultStopTimeout = 5 * time.Second

// Server is a server a Runner can serve and stop: an *http.Server through
// HTTP, a *grpc.Server through GRPC.
type Server interface {
	// Serve accepts connections on ln until the server is shut down or
	// closed (then it returns nil) or fails.
	Serve(ln net.Listener) error
	// Shutdown refuses new connections and waits for in-flight requests
	// until they finish or ctx ends (then it returns ctx's error).
	Shutdown(ctx context.Context) error
	// Close stops at once, cutting in-flight requests off.
	Close() error
}

// HTTP is s as a Server: over TLS when s.TLSConfig is set (its
// certificates; see pkg/tlsconf), in plain text otherwise.
func HTTP(s *http.Server) Server { return httpServer{s} }

type httpServer struct{ *http.Server }

func (h httpServer) Serve(ln net.Listener) error {
	var err error
	if h.TLSConfig != nil {
		err = h.Server.ServeTLS(ln, "", "")
	} else {
		err = h.Server.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// GRPCServer is the part of a *grpc.Server GRPC uses.
type GRPCServer interface {
	Serve(ln net.Listener) error
	GracefulStop()
	Stop()
}

// GRPC is s as a Server: Shutdown is GracefulStop (pending calls finish),
// Close is Stop.
func GRPC(s GRPCServer) Server { return grpcServer{s} }

type grpcServer struct{ s GRPCServer }

func (g grpcServer) Serve(ln net.Listener) error { return g.s.Serve(ln) }

func (g grpcServer) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.s.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g grpcServer) Close() error { g.s.Stop(); return nil }

// Listen binds addr (":0": a free port), its error naming the listener:
// "<name> listener <addr>: ...".
func Listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	return ln, nil
}

// Runner serves one Server on one address.
type Runner struct {
	name, addr string
	srv        Server
	stop       time.Duration
	log        *slog.Logger
	ln         net.Listener
}

// Option changes a Runner.
type Option func(*Runner)

// StopTimeout bounds the graceful stop; what is still in flight after it is
// cut off. Default: DefaultStopTimeout.
func StopTimeout(d time.Duration) Option { return func(r *Runner) { r.stop = d } }

// Listener serves on ln, bound by the caller (a test's ":0" port), instead
// of binding the address. Default: Listen binds it.
func Listener(ln net.Listener) Option { return func(r *Runner) { r.ln = ln } }

// Logger reports a graceful stop that ran out of time. Default: not
// reported.
func Logger(log *slog.Logger) Option { return func(r *Runner) { r.log = log } }

// New returns a runner of srv on addr; name (admin, dashboard, gRPC...)
// names it in errors and logs.
func New(name, addr string, srv Server, opts ...Option) *Runner {
	r := &Runner{name: name, addr: addr, srv: srv, stop: DefaultStopTimeout}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Listen binds the address unless it is bound already, so a program fails
// at start when its port is taken.
func (r *Runner) Listen() error {
	if r.ln != nil {
		return nil
	}
	ln, err := Listen(r.name, r.addr)
	if err != nil {
		return err
	}
	r.ln = ln
	return nil
}

// Addr is the bound address once Listen has bound it (the port ":0"
// chose), the configured one before.
func (r *Runner) Addr() string {
	if r.ln == nil {
		return r.addr
	}
	return r.ln.Addr().String()
}

// Run binds the address if Listen has not, serves until ctx ends or the
// server fails, then stops it: gracefully within the stop timeout, then by
// closing it. It returns the server's failure, or nil after a stop — also
// one that had to cut requests off, which the Logger reports.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- r.srv.Serve(r.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.stop)
	defer cancel()
	if err := r.srv.Shutdown(sctx); err != nil {
		_ = r.srv.Close()
		if r.log != nil {
			r.log.Warn("server stop ran out of time; in-flight requests cut off", "server", r.name, "timeout", r.stop.String(), "err", err)
		}
	}
	<-errc // what Serve says once stopped is not news (gRPC: "server stopped" when the stop came first)
	return nil
}
