package opsapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/bearer"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
)

// FlowModes is what the API reads of the routing modes: a flowmode.Watcher
// the reconciler runs.
type FlowModes interface {
	// At answers once every mode record appended before t has been read
	// (a retriable error when that takes too long).
	At(ctx context.Context, flow string, t time.Time) (string, error)
	// Current is every flow's latest record.
	Current() map[string]contracts.FlowMode
}

// Flow is one routed flow as GET /api/ops/flows lists it.
type Flow struct {
	Flow string `json:"flow"`
	// Mode is the latest recorded mode (NEW when none is recorded), in
	// force from EffectiveAt; InForce is the mode in force now (the
	// previous one until a change takes effect).
	Mode        string                    `json:"mode"`
	InForce     string                    `json:"in_force"`
	Recorded    bool                      `json:"recorded"`
	EffectiveAt *time.Time                `json:"effective_at,omitempty"`
	ChangedBy   string                    `json:"changed_by,omitempty"`
	Reason      string                    `json:"reason,omitempty"`
	History     []contracts.RoutingPeriod `json:"history"`
}

// FlowOf is the listing of flow from its latest record (nil: none).
func FlowOf(flow string, rec *contracts.FlowMode, now time.Time) Flow {
	f := Flow{Flow: flow, Mode: flowmode.Default, InForce: flowmode.Default, History: []contracts.RoutingPeriod{}}
	if rec == nil {
		return f
	}
	at := rec.EffectiveAt.UTC()
	f.Mode, f.Recorded, f.EffectiveAt, f.ChangedBy, f.Reason = rec.Mode, true, &at, rec.ChangedBy, contracts.Deref(rec.Reason)
	f.InForce = flowmode.ScheduleOf(rec).At(now)
	if rec.History != nil {
		f.History = rec.History
	}
	return f
}

// caughtUp waits until the watcher has read every mode record appended
// before now (another instance's changes too); false after a 503.
func (a *API) caughtUp(w http.ResponseWriter, r *http.Request, p *bearer.Principal, at ...slog.Attr) bool {
	if a.Modes == nil {
		a.fail(w, r, p, http.StatusServiceUnavailable, "", "flow modes are not followed by this reconciler", at...)
		return false
	}
	if _, err := a.Modes.At(r.Context(), flowmode.Flows[0], a.Now()); err != nil {
		a.fail(w, r, p, http.StatusServiceUnavailable, "", "flow modes not read up to now: "+err.Error(), at...)
		return false
	}
	return true
}

func (a *API) flows(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	if !mayRead(p) {
		a.forbid(w, r, p, "reading needs one of the roles "+strings.Join(AllRoles, ", "))
		return
	}
	if !a.caughtUp(w, r, p) {
		return
	}
	cur, now := a.Modes.Current(), a.Now()
	out := make([]Flow, 0, len(flowmode.Flows))
	for _, f := range flowmode.Flows {
		var rec *contracts.FlowMode
		if v, ok := cur[f]; ok {
			rec = &v
		}
		out = append(out, FlowOf(f, rec, now))
	}
	reply(w, http.StatusOK, map[string]any{"flows": out})
}

// ModeRequest is the body of PUT /api/ops/flows/{flow}/mode.
type ModeRequest struct {
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
}

// ModeReply answers a mode change: the record written and where.
type ModeReply struct {
	Flow    Flow                `json:"flow"`
	Record  *contracts.FlowMode `json:"record"`
	Topic   string              `json:"topic"`
	Warning string              `json:"warning,omitempty"`
}

func (a *API) setMode(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	flow := r.PathValue("flow")
	at := []slog.Attr{slog.String("flow", flow)}
	if !p.HasRole(RoleCutover) {
		a.forbid(w, r, p, "changing a flow's mode needs the role "+RoleCutover, at...)
		return
	}
	if err := flowmode.ValidFlow(flow); err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "flow", err.Error(), at...)
		return
	}
	var req ModeRequest
	if err := readBody(r, &req); err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "body", err.Error(), at...)
		return
	}
	if strings.TrimSpace(req.Mode) == "" {
		a.fail(w, r, p, http.StatusBadRequest, "mode", "mode is required: legacy, shadow or new", at...)
		return
	}
	mode, err := flowmode.ParseMode(req.Mode)
	if err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "mode", err.Error(), at...)
		return
	}
	if len(req.Reason) > 2000 {
		a.fail(w, r, p, http.StatusBadRequest, "reason", "reason is longer than 2000 bytes", at...)
		return
	}
	at = append(at, slog.String("mode", mode), slog.String("reason", req.Reason))
	// One change at a time here; caughtUp sees the other instances'.
	a.modeMu.Lock()
	defer a.modeMu.Unlock()
	if !a.caughtUp(w, r, p, at...) {
		return
	}
	var cur *contracts.FlowMode
	if v, ok := a.Modes.Current()[flow]; ok {
		cur = &v
	}
	now := a.Now()
	v, err := flowmode.Next(cur, flowmode.Change{Flow: flow, Mode: mode, By: p.Subject, Reason: req.Reason, Lead: a.ModeLead}, now)
	if err != nil {
		// Flow and mode are valid: what Next refuses is the flow's state
		// (already in that mode, or a change not yet in effect).
		a.fail(w, r, p, http.StatusConflict, "mode", err.Error(), at...)
		return
	}
	rep := ModeReply{Record: &v, Topic: contracts.TopicOpsFlowModeV1, Flow: FlowOf(flow, &v, now)}
	if err := flowmode.Publish(r.Context(), a.Client, a.Kafka, a.Serde, &v); err != nil {
		if !errors.Is(err, flowmode.ErrLate) {
			a.fail(w, r, p, http.StatusServiceUnavailable, "", a.Kafka.Explain(err).Error(), at...)
			return
		}
		rep.Warning = err.Error()
	}
	a.audit("mode_changed", p.Subject, r, append(at, slog.String("effective_at", v.EffectiveAt.UTC().Format(time.RFC3339Nano)),
		slog.String("event_id", v.Metadata.EventID), slog.String("warning", rep.Warning))...)
	reply(w, http.StatusCreated, rep)
}
