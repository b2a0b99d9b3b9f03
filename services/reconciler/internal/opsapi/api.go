// Package opsapi is the operations API, served with the dashboard: people
// authenticated by bearer token (pkg/bearer, the gateway's issuer model)
// act on exceptions and dead letters according to their roles. It is the
// only writer of ops.decisions.v1; every decision carries the verified
// subject as actor, and every decision and refusal is audited (a
// structured log line "ops audit" with the actor).
//
//	GET  /api/ops/me                              subject, roles, and what they may do
//	POST /api/ops/exceptions/{id}/decisions       {"action","parameters","comment"} → 201 published, 202 pending approval
//	GET  /api/ops/exceptions/{id}/timeline        the exception, its updates and decisions, its pending approvals
//	GET  /api/ops/approvals                       pending approvals
//	POST /api/ops/approvals/{id}/approve          {"comment"} (finance.approver, not the requester) → 200 published
//	POST /api/ops/approvals/{id}/reject           {"comment"} (finance.approver or the requester) → 200
//	                                              ({id}: the approval id, or the exception id of its one pending approval)
//	POST /api/ops/dlq/{service}/replay            {"partition","offset"} | {"all":true}, "dry_run" (ops.replayer)
//	GET  /api/ops/flows                           each routed flow's mode, when it took effect, who set it, why, its history
//	PUT  /api/ops/flows/{flow}/mode               {"mode":"shadow","reason"} (ops.cutover) → 201 recorded on ops.flow-mode.v1
//
// Four eyes: OVERRIDE and RELEASE_HOLD, and any decision on an exception
// whose amount is above the threshold, are kept as pending approvals on the
// compacted topic reconciler.approvals.v1 until a different person with
// finance.approver approves; the decision is then published with
// approved_by. A mode change (flowmode.Next from the current record, which
// the reconciler's flowmode.Watcher has read up to the request) is
// recorded on ops.flow-mode.v1 with its history: the record is the event.
// Answers: 401 without or with an invalid token, 403 for a
// role (or person) that may not, 400 for bad input, 404 for an unknown id,
// 409 for a state that forbids it (a flow already in the mode, or whose
// last change has not taken effect yet).
package opsapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/bearer"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/deadletter"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
)

// MaxBody bounds a request body.
const MaxBody = 16 << 10

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/#|+-]{0,127}$`)

// API serves the operations endpoints.
type API struct {
	Verifier  *bearer.Verifier
	Kafka     kafka.Config
	Serde     *serde.Serde
	Model     *readmodel.Model
	Approvals *Approvals
	Client    *kgo.Client // produces decisions and replays
	Log       *slog.Logger
	// Threshold is the four-eyes amount (minor units): decisions on an
	// exception above it need approval; 0 disables the amount rule.
	Threshold int64
	Now       func() time.Time
	// Modes follows ops.flow-mode.v1 (nil: the flow routes answer 503).
	Modes FlowModes
	// ModeLead is how long after a mode change is recorded it takes
	// effect (flowmode.DefaultLead when zero).
	ModeLead time.Duration

	modeMu sync.Mutex
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	if a.Now == nil {
		a.Now = time.Now
	}
	mux.Handle("GET /api/ops/me", a.auth(a.me))
	mux.Handle("POST /api/ops/exceptions/{id}/decisions", a.auth(a.decide))
	mux.Handle("GET /api/ops/exceptions/{id}/timeline", a.auth(a.timeline))
	mux.Handle("GET /api/ops/approvals", a.auth(a.approvals))
	mux.Handle("POST /api/ops/approvals/{id}/approve", a.auth(a.approve))
	mux.Handle("POST /api/ops/approvals/{id}/reject", a.auth(a.reject))
	mux.Handle("POST /api/ops/dlq/{service}/replay", a.auth(a.replay))
	mux.Handle("GET /api/ops/flows", a.auth(a.flows))
	mux.Handle("PUT /api/ops/flows/{flow}/mode", a.auth(a.setMode))
	unknown := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, apiError{Error: r.Method + " " + r.URL.Path + " is not an operations API route"})
	})
	mux.Handle("GET /api/ops/", unknown)
	mux.Handle("POST /api/ops/", unknown)
	mux.Handle("PUT /api/ops/", unknown)
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

type handler func(w http.ResponseWriter, r *http.Request, p *bearer.Principal)

// Authenticate returns the verified caller of r, or writes 401.
func (a *API) Authenticate(w http.ResponseWriter, r *http.Request) (*bearer.Principal, bool) {
	tok, err := bearer.FromHeader(r.Header.Values("Authorization")...)
	if err == nil {
		var p *bearer.Principal
		if p, err = a.Verifier.Verify(tok); err == nil {
			return p, true
		}
	}
	msg := "missing bearer token"
	if !errors.Is(err, bearer.ErrNoToken) {
		msg = "invalid bearer token"
	}
	a.audit("refused", "", r, slog.Int("status", http.StatusUnauthorized), slog.String("reason", msg))
	w.Header().Set("WWW-Authenticate", `Bearer realm="isthmus-ops"`)
	reply(w, http.StatusUnauthorized, apiError{Error: msg})
	return nil, false
}

func (a *API) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.Authenticate(w, r)
		if !ok {
			return
		}
		h(w, r, p)
	})
}

// Viewer wraps a read-only handler: a valid token with any operations role.
func (a *API) Viewer(h http.Handler) http.Handler {
	return a.auth(func(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
		if !mayRead(p) {
			a.forbid(w, r, p, "reading needs one of the roles "+strings.Join(AllRoles, ", "))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// audit writes one structured audit line.
func (a *API) audit(outcome, actor string, r *http.Request, attrs ...slog.Attr) {
	all := append([]slog.Attr{slog.Bool("audit", true), slog.String("outcome", outcome), slog.String("actor", actor),
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr)}, attrs...)
	a.Log.LogAttrs(r.Context(), slog.LevelInfo, "ops audit", all...)
}

func (a *API) forbid(w http.ResponseWriter, r *http.Request, p *bearer.Principal, msg string, attrs ...slog.Attr) {
	a.audit("refused", p.Subject, r, append(attrs, slog.Int("status", http.StatusForbidden), slog.String("reason", msg), slog.Any("roles", p.Roles))...)
	reply(w, http.StatusForbidden, apiError{Error: msg})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, p *bearer.Principal, status int, param, msg string, attrs ...slog.Attr) {
	a.audit("refused", p.Subject, r, append(attrs, slog.Int("status", status), slog.String("reason", msg))...)
	reply(w, status, apiError{Error: msg, Param: param})
}

// readBody decodes a JSON body into v strictly (unknown fields refused); an
// empty body leaves v as it is.
func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(b) > MaxBody {
		return fmt.Errorf("body is larger than %d bytes", MaxBody)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("body holds more than one JSON value")
	}
	return nil
}

// Me is what the caller may do.
type Me struct {
	Subject    string   `json:"subject"`
	Roles      []string `json:"roles"`
	Read       bool     `json:"read"`
	Actions    []string `json:"actions"`
	Approve    bool     `json:"approve"`
	Replay     bool     `json:"replay"`
	Cutover    bool     `json:"cutover"`
	Threshold  int64    `json:"four_eyes_threshold_minor"`
	FourEyesOn []string `json:"four_eyes_actions"`
}

func (a *API) me(w http.ResponseWriter, _ *http.Request, p *bearer.Principal) {
	m := Me{Subject: p.Subject, Roles: p.Roles, Read: mayRead(p), Actions: []string{}, Approve: p.HasRole(RoleApprover),
		Replay: p.HasRole(RoleReplayer), Cutover: p.HasRole(RoleCutover), Threshold: a.Threshold, FourEyesOn: alwaysApproved}
	if m.Roles == nil {
		m.Roles = []string{}
	}
	for _, act := range Actions {
		if mayTake(p, act) {
			m.Actions = append(m.Actions, act)
		}
	}
	reply(w, http.StatusOK, m)
}

// DecisionRequest is the body of POST .../decisions.
type DecisionRequest struct {
	Action     string            `json:"action"`
	Parameters map[string]string `json:"parameters"`
	Comment    string            `json:"comment"`
}

// DecisionReply answers a decision or an approval.
type DecisionReply struct {
	Status     string              `json:"status"` // published, pending_approval, rejected
	Decision   *contracts.Decision `json:"decision"`
	ApprovalID string              `json:"approval_id,omitempty"`
	Reason     string              `json:"reason,omitempty"`
	Topic      string              `json:"topic,omitempty"`
	Partition  int32               `json:"partition"`
	Offset     int64               `json:"offset"`
}

func (a *API) exceptionID(w http.ResponseWriter, r *http.Request, p *bearer.Principal) (string, bool) {
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		a.fail(w, r, p, http.StatusBadRequest, "id", "exception id may contain only letters, digits and . _ : @ / # | + - (at most 128, starting with a letter or digit)")
		return "", false
	}
	return id, true
}

func (a *API) decide(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	id, ok := a.exceptionID(w, r, p)
	if !ok {
		return
	}
	var req DecisionRequest
	if err := readBody(r, &req); err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "body", err.Error(), slog.String("exception_id", id))
		return
	}
	action := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(req.Action), "-", "_"))
	at := []slog.Attr{slog.String("exception_id", id), slog.String("action", action)}
	switch {
	case action == "":
		a.fail(w, r, p, http.StatusBadRequest, "action", "action is required: one of "+strings.Join(Actions, ", "), at...)
		return
	case !slices.Contains(Actions, action):
		a.fail(w, r, p, http.StatusBadRequest, "action", fmt.Sprintf("action %q is not one of %s", req.Action, strings.Join(Actions, ", ")), at...)
		return
	case len(req.Comment) > 2000:
		a.fail(w, r, p, http.StatusBadRequest, "comment", "comment is longer than 2000 bytes", at...)
		return
	}
	for k, v := range req.Parameters {
		if k == "" || len(k) > 64 || len(v) > 512 {
			a.fail(w, r, p, http.StatusBadRequest, "parameters", "parameter names must be 1-64 bytes and values at most 512", at...)
			return
		}
	}
	if !mayTake(p, action) {
		a.forbid(w, r, p, fmt.Sprintf("%s needs the role %s", action, strings.Join(ActionRoles[action], " or ")), at...)
		return
	}
	x, ok := a.Model.Exception(id)
	if !ok {
		a.fail(w, r, p, http.StatusNotFound, "id", fmt.Sprintf("unknown exception %q", id), at...)
		return
	}
	if !x.Open() {
		a.fail(w, r, p, http.StatusConflict, "id", fmt.Sprintf("exception %s is already %s", id, x.Status), at...)
		return
	}
	if !slices.Contains(x.AllowedActions, action) {
		allowed := strings.Join(x.AllowedActions, ", ")
		if allowed == "" {
			allowed = "none"
		}
		a.fail(w, r, p, http.StatusBadRequest, "action", fmt.Sprintf("action %s is not allowed for exception %s (allowed: %s)", action, id, allowed), at...)
		return
	}
	d, err := newDecision(&x, action, req.Parameters, p.Subject, req.Comment, a.Now())
	if err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "parameters", err.Error(), at...)
		return
	}
	at = append(at, slog.String("decision_id", d.DecisionID), slog.String("owner_service", d.OwnerService))
	if reason := approvalReason(action, x.Amount, a.Threshold); reason != "" {
		if err := a.Approvals.Sync(r.Context()); err != nil {
			a.fail(w, r, p, http.StatusServiceUnavailable, "", err.Error(), at...)
			return
		}
		if old := a.Approvals.List(id); len(old) > 0 {
			a.fail(w, r, p, http.StatusConflict, "id", fmt.Sprintf("%v: approval %s (%s by %s)", errPendingExists, old[0].ApprovalID, old[0].Decision.Action, old[0].RequestedBy), at...)
			return
		}
		pend := &Pending{ApprovalID: d.DecisionID, Decision: d, RequestedBy: p.Subject, RequestedAt: a.Now().UTC(), Reason: reason,
			Queue: x.Queue, Summary: x.Summary, Amount: x.Amount}
		if err := a.Approvals.Put(r.Context(), pend); err != nil {
			a.fail(w, r, p, http.StatusServiceUnavailable, "", err.Error(), at...)
			return
		}
		a.audit("pending_approval", p.Subject, r, append(at, slog.String("reason", reason))...)
		reply(w, http.StatusAccepted, DecisionReply{Status: "pending_approval", Decision: d, ApprovalID: pend.ApprovalID, Reason: reason})
		return
	}
	a.publish(w, r, p, d, http.StatusCreated, at)
}

// publish produces d on ops.decisions.v1 and answers with where it went.
func (a *API) publish(w http.ResponseWriter, r *http.Request, p *bearer.Principal, d *contracts.Decision, status int, at []slog.Attr) bool {
	topic := a.Kafka.Topic(contracts.TopicOpsDecisionsV1)
	b, err := a.Serde.Encode(r.Context(), topic, d)
	if err != nil {
		a.fail(w, r, p, http.StatusInternalServerError, "", "encode decision: "+err.Error(), at...)
		return false
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(d.ExceptionID), Value: b}
	tracing.SetHeader(&rec.Headers, tracing.HeaderCorrelationID, d.Metadata.CorrelationID)
	res := a.Client.ProduceSync(r.Context(), rec)
	if err := res.FirstErr(); err != nil {
		a.fail(w, r, p, http.StatusServiceUnavailable, "", "publish decision: "+a.Kafka.Explain(err).Error(), at...)
		return false
	}
	out := res[0].Record
	a.audit("published", p.Subject, r, append(at, slog.Any("approved_by", d.ApprovedBy), slog.Int("partition", int(out.Partition)), slog.Int64("offset", out.Offset))...)
	reply(w, status, DecisionReply{Status: "published", Decision: d, Topic: contracts.TopicOpsDecisionsV1, Partition: out.Partition, Offset: out.Offset})
	return true
}

// newDecision builds the decision on x: parameters with defaults for MERGE
// and NOT_DUPLICATE from the exception's entity ids, the actor and comment.
func newDecision(x *readmodel.Exception, action string, p map[string]string, actor, comment string, now time.Time) (*contracts.Decision, error) {
	pp := map[string]string{}
	for k, v := range p {
		pp[k] = v
	}
	ids := x.EntityIDs
	switch action {
	case contracts.DecisionActionMerge:
		def(pp, "survivor_golden_id", ids["candidate_golden_id"])
		def(pp, "merged_golden_id", ids["golden_id"])
		if pp["survivor_golden_id"] == "" || pp["merged_golden_id"] == "" {
			return nil, errors.New("MERGE needs parameters survivor_golden_id and merged_golden_id")
		}
	case contracts.DecisionActionNotDuplicate:
		def(pp, "golden_id", ids["golden_id"])
		def(pp, "other_golden_id", ids["candidate_golden_id"])
		if pp["golden_id"] == "" || pp["other_golden_id"] == "" {
			return nil, errors.New("NOT_DUPLICATE needs parameters golden_id and other_golden_id")
		}
	}
	id := newUUID()
	d := &contracts.Decision{
		// Caused by the exception update the operator decided on.
		Metadata:     event.Metadata(id, x.CorrelationID, x.EventID, contracts.SourceSystemOperator, now),
		DecisionID:   id,
		ExceptionID:  x.ExceptionID,
		OwnerService: x.OwnerService,
		Action:       action,
		Parameters:   pp,
		Actor:        actor,
		ApprovedBy:   []string{},
	}
	if comment != "" {
		d.Comment = &comment
	}
	return d, nil
}

func def(m map[string]string, k, v string) {
	if m[k] == "" && v != "" {
		m[k] = v
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Timeline is the exception with its updates and decisions, oldest first.
type Timeline struct {
	Exception *readmodel.Exception `json:"exception"`
	Events    []*readmodel.Entry   `json:"events"`
	Pending   []*Pending           `json:"pending_approvals"`
}

func (a *API) timeline(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	if !mayRead(p) {
		a.forbid(w, r, p, "reading needs one of the roles "+strings.Join(AllRoles, ", "))
		return
	}
	id, ok := a.exceptionID(w, r, p)
	if !ok {
		return
	}
	x, ok := a.Model.Exception(id)
	if !ok {
		reply(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown exception %q", id), Param: "id"})
		return
	}
	t := Timeline{Exception: &x, Events: []*readmodel.Entry{}, Pending: a.Approvals.List(id)}
	for _, e := range a.Model.Timeline(id) {
		if e.Key == id && (e.Topic == contracts.TopicOpsExceptionsV1 || e.Topic == contracts.TopicOpsDecisionsV1) {
			t.Events = append(t.Events, e)
		}
	}
	reply(w, http.StatusOK, t)
}

func (a *API) approvals(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	if !mayRead(p) {
		a.forbid(w, r, p, "reading needs one of the roles "+strings.Join(AllRoles, ", "))
		return
	}
	if err := a.Approvals.Sync(r.Context()); err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	reply(w, http.StatusOK, map[string]any{"approvals": a.Approvals.List("")})
}

// ApprovalRequest is the body of approve and reject.
type ApprovalRequest struct {
	Comment string `json:"comment"`
}

// pendingOf reads the approval of the path, after catching up with the
// topic (another instance may have settled it).
func (a *API) pendingOf(w http.ResponseWriter, r *http.Request, p *bearer.Principal) (*Pending, []slog.Attr, bool) {
	id := r.PathValue("id")
	at := []slog.Attr{slog.String("approval_id", id)}
	if !idPattern.MatchString(id) {
		a.fail(w, r, p, http.StatusBadRequest, "id", "approval id may contain only letters, digits and . _ : @ / # | + -", at...)
		return nil, nil, false
	}
	var req ApprovalRequest
	if err := readBody(r, &req); err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "body", err.Error(), at...)
		return nil, nil, false
	}
	if len(req.Comment) > 2000 {
		a.fail(w, r, p, http.StatusBadRequest, "comment", "comment is longer than 2000 bytes", at...)
		return nil, nil, false
	}
	if err := a.Approvals.Sync(r.Context()); err != nil {
		a.fail(w, r, p, http.StatusServiceUnavailable, "", err.Error(), at...)
		return nil, nil, false
	}
	pend, ok := a.Approvals.Get(id)
	if !ok {
		// An exception id names its one pending approval.
		if l := a.Approvals.List(id); len(l) == 1 {
			pend, ok = l[0], true
		}
	}
	if !ok {
		a.fail(w, r, p, http.StatusNotFound, "id", fmt.Sprintf("no pending approval %q (approved, rejected, or never requested)", id), at...)
		return nil, nil, false
	}
	at = append(at, slog.String("exception_id", pend.Decision.ExceptionID), slog.String("action", pend.Decision.Action),
		slog.String("decision_id", pend.Decision.DecisionID), slog.String("requested_by", pend.RequestedBy))
	if req.Comment != "" {
		at = append(at, slog.String("comment", req.Comment))
	}
	return pend, at, true
}

func (a *API) approve(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	if !p.HasRole(RoleApprover) {
		a.forbid(w, r, p, "approving needs the role "+RoleApprover, slog.String("approval_id", r.PathValue("id")))
		return
	}
	pend, at, ok := a.pendingOf(w, r, p)
	if !ok {
		return
	}
	if pend.RequestedBy == p.Subject {
		a.forbid(w, r, p, fmt.Sprintf("four eyes: %s requested this decision and cannot approve it; another %s must", p.Subject, RoleApprover), at...)
		return
	}
	d := *pend.Decision
	d.ApprovedBy = []string{p.Subject}
	if !a.publish(w, r, p, &d, http.StatusOK, at) {
		return
	}
	// Published first, then ended: a crash in between leaves the approval
	// pending, and approving it again republishes the same decision id,
	// which the owning service ignores.
	if err := a.Approvals.Delete(r.Context(), pend.ApprovalID); err != nil {
		a.Log.Error("decision published but its approval could not be ended; approving again republishes the same decision id", "approval_id", pend.ApprovalID, "err", err)
	}
}

func (a *API) reject(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	pend, at, ok := a.pendingOf(w, r, p)
	if !ok {
		return
	}
	if !p.HasRole(RoleApprover) && pend.RequestedBy != p.Subject {
		a.forbid(w, r, p, "rejecting needs the role "+RoleApprover+" (or being the requester)", at...)
		return
	}
	if err := a.Approvals.Delete(r.Context(), pend.ApprovalID); err != nil {
		a.fail(w, r, p, http.StatusServiceUnavailable, "", err.Error(), at...)
		return
	}
	a.audit("rejected", p.Subject, r, at...)
	reply(w, http.StatusOK, DecisionReply{Status: "rejected", Decision: pend.Decision, ApprovalID: pend.ApprovalID})
}

// ReplayRequest is the body of POST /api/ops/dlq/{service}/replay.
type ReplayRequest struct {
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
	All       bool   `json:"all"`
	DryRun    bool   `json:"dry_run"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request, p *bearer.Principal) {
	svc := r.PathValue("service")
	at := []slog.Attr{slog.String("dlq", svc)}
	if !p.HasRole(RoleReplayer) {
		a.forbid(w, r, p, "replaying needs the role "+RoleReplayer, at...)
		return
	}
	topic, err := deadletter.TopicOf(svc)
	if err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "service", err.Error(), at...)
		return
	}
	var req ReplayRequest
	if err := readBody(r, &req); err != nil {
		a.fail(w, r, p, http.StatusBadRequest, "body", err.Error(), at...)
		return
	}
	if (req.Offset != nil) == req.All {
		a.fail(w, r, p, http.StatusBadRequest, "offset", `give exactly one of "offset" and "all": true`, at...)
		return
	}
	o := deadletter.ReplayOptions{Topic: topic, All: req.All, DryRun: req.DryRun, Timeout: 15 * time.Second}
	if req.Offset != nil {
		if *req.Offset < 0 || req.Partition != nil && *req.Partition < 0 {
			a.fail(w, r, p, http.StatusBadRequest, "offset", "partition and offset must not be negative", at...)
			return
		}
		o.Offset = *req.Offset
		if req.Partition != nil {
			o.Partition = *req.Partition
		}
	}
	at = append(at, slog.Bool("all", o.All), slog.Int("partition", int(o.Partition)), slog.Int64("offset", o.Offset), slog.Bool("dry_run", o.DryRun))
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	outs, err := deadletter.Replay(ctx, a.Client, a.Kafka, o)
	if err != nil {
		status := http.StatusBadGateway
		if msg := err.Error(); strings.Contains(msg, "does not exist") || strings.Contains(msg, "no message at") || strings.Contains(msg, "has no partition") {
			status = http.StatusNotFound
		}
		a.fail(w, r, p, status, "", err.Error(), at...)
		return
	}
	if outs == nil {
		outs = []deadletter.Outcome{}
	}
	counts := map[string]int{}
	for _, oc := range outs {
		counts[oc.Action]++
	}
	a.audit("replayed", p.Subject, r, append(at, slog.Any("counts", counts))...)
	reply(w, http.StatusOK, map[string]any{"outcomes": outs})
}
