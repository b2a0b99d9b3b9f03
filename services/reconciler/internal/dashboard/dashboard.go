// Package dashboard serves the operations dashboard (plain HTML/CSS/JS
// embedded in the binary, no CDN) and its JSON API over the read model.
//
//	GET /api/overview                    throughput per flow, open breaks by kind, exception queues, health
//	GET /api/breaks?kind=&status=&limit= breaks, newest first
//	GET /api/exceptions?queue=&status=   exceptions, newest first
//	GET /api/timeline?q=<id>             every kept event carrying the id, oldest first
//	GET /api/parity                      per routed flow: its mode, parity counts by verdict, the newest differences
//	    /api/ops/...                     the operations API (package opsapi)
//
// Bad input (unknown filter values, ids with characters no id has, strings
// longer than MaxQueryLen) gets 400 with {"error": "..."}; an id nobody
// knows gets an empty result.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serve"
	"github.com/isthmus/isthmus/services/reconciler/internal/opsapi"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
)

//go:embed assets
var assets embed.FS

// MaxQueryLen bounds every query parameter.
const MaxQueryLen = 128

// idPattern is what a business id, correlation id or match key looks like.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/#|+-]*$`)

// Health reports a dependency's state for the overview.
type Health struct {
	Status string `json:"status"` // ok, degraded, down, unknown
	Detail string `json:"detail"`
}

// Server is the dashboard HTTP server.
type Server struct {
	Addr   string
	Model  *readmodel.Model
	Log    *slog.Logger
	Health func(ctx context.Context) map[string]Health
	// Modes is every routed flow's latest mode record
	// (flowmode.Watcher.Current); nil: every flow shows the default.
	Modes func() map[string]contracts.FlowMode
	Now   func() time.Time
	// Ops is the operations API; with it every /api route needs a bearer
	// token (reads: any operations role). Nil: actions off (503), reads open.
	Ops *opsapi.API

	run *serve.Runner
}

// Listen binds the address (fail fast when taken): "dashboard listener
// <addr>: ...". The routes are those of the settings at this point.
func (s *Server) Listen() error {
	if s.run == nil {
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
		s.run = serve.New("dashboard", s.Addr, serve.HTTP(srv), serve.Logger(s.Log))
	}
	return s.run.Listen()
}

// URL is the base URL of the bound listener.
func (s *Server) URL() string { return "http://" + s.run.Addr() }

// Run serves until ctx ends, then stops within 5 s (pkg/serve).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.run.Run(ctx)
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /", http.FileServerFS(static))
	read := func(h http.HandlerFunc) http.Handler { return h }
	if s.Ops != nil {
		s.Ops.Register(mux)
		read = func(h http.HandlerFunc) http.Handler { return s.Ops.Viewer(h) }
	} else {
		off := func(w http.ResponseWriter, _ *http.Request) {
			reply(w, http.StatusServiceUnavailable, apiError{Error: "operations API off: the reconciler has no operator token keys (ISTHMUS_OPS_JWKS_URL, ISTHMUS_OPS_JWKS_FILE or ISTHMUS_OPS_JWT_PUBLIC_KEYS)"})
		}
		mux.HandleFunc("GET /api/ops/", off)
		mux.HandleFunc("POST /api/ops/", off)
		mux.HandleFunc("PUT /api/ops/", off)
	}
	mux.Handle("GET /api/overview", read(s.overview))
	mux.Handle("GET /api/breaks", read(s.breaks))
	mux.Handle("GET /api/exceptions", read(s.exceptions))
	mux.Handle("GET /api/timeline", read(s.timeline))
	mux.Handle("GET /api/parity", read(s.parity))
	return secure(mux)
}

func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

type apiError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bad(w http.ResponseWriter, param, msg string) {
	reply(w, http.StatusBadRequest, apiError{Error: msg, Param: param})
}

// param reads one query parameter; ok is false after a 400 was written.
func param(w http.ResponseWriter, r *http.Request, name string, allowed []string) (string, bool) {
	vals := r.URL.Query()[name]
	if len(vals) > 1 {
		bad(w, name, fmt.Sprintf("%s given %d times; give it once", name, len(vals)))
		return "", false
	}
	if len(vals) == 0 || vals[0] == "" {
		return "", true
	}
	v := vals[0]
	if len(v) > MaxQueryLen {
		bad(w, name, fmt.Sprintf("%s is %d bytes long; at most %d", name, len(v), MaxQueryLen))
		return "", false
	}
	if allowed != nil && !slices.Contains(allowed, v) {
		bad(w, name, fmt.Sprintf("%s must be one of %v", name, allowed))
		return "", false
	}
	return v, true
}

func limit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v, ok := param(w, r, "limit", nil)
	if !ok {
		return 0, false
	}
	if v == "" {
		return 500, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 5000 {
		bad(w, "limit", "limit must be an integer between 1 and 5000")
		return 0, false
	}
	return n, true
}

type overview struct {
	*readmodel.Overview
	Health map[string]Health `json:"health"`
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	o := overview{Overview: s.Model.Overview(s.Now())}
	if s.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		o.Health = s.Health(ctx)
	}
	reply(w, http.StatusOK, o)
}

var breakStatuses = []string{contracts.BreakStatusOpen, contracts.BreakStatusClosed}

var exceptionStatuses = []string{"open", contracts.ExceptionStatusOpen, contracts.ExceptionStatusRetrying, contracts.ExceptionStatusResolved, contracts.ExceptionStatusClosed}

var queues = []string{contracts.ExceptionQueueSalesOps, contracts.ExceptionQueueFinanceOps, contracts.ExceptionQueueMasterData, contracts.ExceptionQueueTradeCompliance, contracts.ExceptionQueueServiceOps, contracts.ExceptionQueueUnknown}

func (s *Server) breaks(w http.ResponseWriter, r *http.Request) {
	kind, ok := param(w, r, "kind", readmodel.BreakKinds)
	if !ok {
		return
	}
	status, ok := param(w, r, "status", breakStatuses)
	if !ok {
		return
	}
	n, ok := limit(w, r)
	if !ok {
		return
	}
	reply(w, http.StatusOK, map[string]any{"breaks": s.Model.Breaks(kind, status, n)})
}

func (s *Server) exceptions(w http.ResponseWriter, r *http.Request) {
	queue, ok := param(w, r, "queue", queues)
	if !ok {
		return
	}
	status, ok := param(w, r, "status", exceptionStatuses)
	if !ok {
		return
	}
	n, ok := limit(w, r)
	if !ok {
		return
	}
	reply(w, http.StatusOK, map[string]any{"exceptions": s.Model.Exceptions(queue, status, n)})
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	q, ok := param(w, r, "q", nil)
	if !ok {
		return
	}
	if q == "" {
		bad(w, "q", "q is required: a correlation id, order, quote, customer, contract, invoice or journal id")
		return
	}
	if !idPattern.MatchString(q) {
		bad(w, "q", "q may contain only letters, digits and . _ : @ / # | + - (and must start with a letter or digit)")
		return
	}
	reply(w, http.StatusOK, map[string]any{"query": q, "events": s.Model.Timeline(q)})
}

// FlowParity is one routed flow on the parity panel: its mode (as the
// operations API lists it) and its parity over the dashboard's lookback.
type FlowParity struct {
	Mode opsapi.Flow `json:"mode"`
	readmodel.ParityStat
}

func (s *Server) parity(w http.ResponseWriter, _ *http.Request) {
	var modes map[string]contracts.FlowMode
	if s.Modes != nil {
		modes = s.Modes()
	}
	now := s.Now()
	out := []FlowParity{}
	for _, st := range s.Model.Parity() {
		var rec *contracts.FlowMode
		if v, ok := modes[st.Flow]; ok {
			rec = &v
		}
		out = append(out, FlowParity{Mode: opsapi.FlowOf(st.Flow, rec, now), ParityStat: st})
	}
	reply(w, http.StatusOK, map[string]any{"flows": out})
}
