// Package logging builds the structured JSON logger every Isthmus program
// uses. A handler masks PII attributes (names from the topic catalog) at any
// depth and adds the correlation id and trace id found in the context, so
// call sites never mask or annotate by hand.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/isthmus/isthmus/pkg/tracing"
)

// Mask is what a PII value is replaced with.
const Mask = "****"

// New returns a JSON logger at level that masks the given PII attribute
// names (case-insensitive) wherever they appear.
func New(w io.Writer, level slog.Leveler, piiFields ...string) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), piiFields...))
}

// Handler masks PII and adds context ids.
type Handler struct {
	next slog.Handler
	pii  map[string]bool
}

// NewHandler wraps next.
func NewHandler(next slog.Handler, piiFields ...string) *Handler {
	pii := make(map[string]bool, len(piiFields))
	for _, f := range piiFields {
		pii[strings.ToLower(f)] = true
	}
	return &Handler{next: next, pii: pii}
}

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.mask(a))
		return true
	})
	if id := tracing.Correlation(ctx); id != "" {
		nr.AddAttrs(slog.String("correlation_id", id))
	}
	if id := tracing.TraceID(ctx); id != "" {
		nr.AddAttrs(slog.String("trace_id", id))
	}
	return h.next.Handle(ctx, nr)
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.mask(a)
	}
	return &Handler{next: h.next.WithAttrs(masked), pii: h.pii}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), pii: h.pii}
}

func (h *Handler) mask(a slog.Attr) slog.Attr {
	if h.pii[strings.ToLower(a.Key)] {
		return slog.String(a.Key, Mask)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		out := make([]any, len(group))
		for i, g := range group {
			out[i] = h.mask(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if m, ok := v.Any().(map[string]any); ok {
			return slog.Any(a.Key, h.maskMap(m))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *Handler) maskMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch {
		case h.pii[strings.ToLower(k)]:
			out[k] = Mask
		default:
			if sub, ok := v.(map[string]any); ok {
				out[k] = h.maskMap(sub)
			} else {
				out[k] = v
			}
		}
	}
	return out
}
