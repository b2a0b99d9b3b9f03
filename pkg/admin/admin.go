// Package admin serves the operational endpoints every Isthmus process has:
// /healthz (the process is alive), /readyz (every readiness check passes)
// and /metrics (Prometheus).
package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/isthmus/isthmus/pkg/serve"
)

// Check reports nil when its component is ready.
type Check func(context.Context) error

// Server is the admin HTTP server.
type Server struct {
	mu     sync.RWMutex
	checks map[string]Check
	mux    *http.ServeMux
	run    *serve.Runner
}

// New returns a server for addr exposing gatherer's metrics.
func New(addr string, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	s := &Server{checks: map[string]Check{}, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.run = serve.New("admin", addr, serve.HTTP(&http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}), serve.Logger(log))
	return s
}

// AddCheck registers a named readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle adds an extra route (e.g. a dashboard) to the admin mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.RLock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	s.mu.RUnlock()
	sort.Strings(names)
	status := http.StatusOK
	res := map[string]string{}
	for _, n := range names {
		s.mu.RLock()
		c := s.checks[n]
		s.mu.RUnlock()
		if err := c(ctx); err != nil {
			status = http.StatusServiceUnavailable
			res[n] = err.Error()
		} else {
			res[n] = "ok"
		}
	}
	writeJSON(w, status, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen binds the address (so start-up fails fast on a taken port):
// "admin listener <addr>: ...".
func (s *Server) Listen() error { return s.run.Listen() }

// Addr returns the bound address (after Listen).
func (s *Server) Addr() string { return s.run.Addr() }

// Run serves until ctx ends, then stops within 5 s (pkg/serve).
func (s *Server) Run(ctx context.Context) error { return s.run.Run(ctx) }
