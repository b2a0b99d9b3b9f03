// Package exceptions is `isthmus exceptions`: the operations queues of
// business exceptions and the decisions on them, through the operations
// API served with the dashboard (package opsclient: --api or
// ISTHMUS_OPS_URL, the operator's token in ISTHMUS_OPERATOR_TOKEN). The API
// is the only writer of ops.decisions.v1: the decision carries the token's
// verified subject, the action is checked against the operator's roles and
// the exception's allowed actions, and overrides, releases and amounts
// above the four-eyes threshold wait for a second person's approval.
package exceptions

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsclient"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
)

// ActionVerbs map the decision verbs to their action (ops.decisions.v1).
var ActionVerbs = map[string]string{
	"retry": "RETRY", "dismiss": "DISMISS", "cancel": "CANCEL", "override": "OVERRIDE", "release-hold": "RELEASE_HOLD",
	"reject": "REJECT", "approve-price": "APPROVE_PRICE", "requote": "REQUOTE", "repost": "REPOST", "route-to-finance": "ROUTE_TO_FINANCE",
	"merge": "MERGE", "not-duplicate": "NOT_DUPLICATE", "pick-survivor": "PICK_SURVIVOR", "split": "SPLIT",
}

// notes follow the listing of the sub-verbs.
const notes = `Every sub-verb calls the operations API (--api, env ISTHMUS_OPS_URL, default
http://localhost:8088) with the bearer token in ISTHMUS_OPERATOR_TOKEN.`

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return RunWith(ctx, args, stdout, stderr, nil)
}

// RunWith is Run with lookup replacing os.LookupEnv (tests).
func RunWith(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	return verbs(lookup).Run(ctx, args, stdout, stderr)
}

// verbs are the sub-verbs, each reading the environment through lookup.
func verbs(lookup func(string) (string, bool)) *cli.Dispatcher {
	type run = func(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error
	with := func(f run) func(context.Context, []string, io.Writer, io.Writer) error {
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return f(ctx, args, stdout, stderr, lookup)
		}
	}
	decision := func(verb, action string) run {
		return func(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
			return decide(ctx, verb, action, args, stdout, stderr, lookup)
		}
	}
	settlement := func(verb string) run {
		return func(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
			return settle(ctx, verb, args, stdout, stderr, lookup)
		}
	}
	cmds := []cli.Command{
		{Name: "list", Summary: "[--queue Q] [--status S] [--limit N]: exceptions (latest state), newest first", Run: with(list)},
		{Name: "show", Summary: "<exception id>: one exception, its updates, decisions and pending approvals", Run: with(show)},
		{Name: "resolve", Summary: "<exception id> [--action A] [--param k=v]... [--comment TEXT]: decide (default RESOLVE)", Run: with(decision("resolve", ""))},
	}
	for _, v := range sortedVerbs() {
		cmds = append(cmds, cli.Command{Name: v, Summary: "<exception id> [--param k=v]... [--comment TEXT]: decide " + ActionVerbs[v], Run: with(decision(v, ActionVerbs[v]))})
	}
	cmds = append(cmds,
		cli.Command{Name: "approvals", Summary: "decisions waiting for a second person (four eyes)", Run: with(approvals)},
		cli.Command{Name: "approve", Summary: "<approval or exception id> [--comment TEXT]: approve one (finance.approver, not the requester)", Run: with(settlement("approve"))},
		cli.Command{Name: "deny", Summary: "<approval or exception id> [--comment TEXT]: drop one (finance.approver or the requester)", Run: with(settlement("deny"))},
	)
	return &cli.Dispatcher{Path: "isthmus exceptions", Commands: cmds, Notes: notes}
}

func sortedVerbs() []string {
	out := make([]string, 0, len(ActionVerbs))
	for v := range ActionVerbs {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// parse parses the flags of a sub-verb and wants exactly npos positional arguments.
func parse(c *opsclient.Client, fs *flag.FlagSet, args []string, npos int, what string) ([]string, error) {
	pos, err := c.Parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != npos {
		if npos == 0 {
			return nil, fmt.Errorf("unexpected argument %q (see --help)", pos[0])
		}
		return nil, fmt.Errorf("want exactly one %s (see --help)", what)
	}
	return pos, nil
}

// Exception is an exception as the API lists it.
type Exception struct {
	ExceptionID    string            `json:"exception_id"`
	Queue          string            `json:"queue"`
	Category       string            `json:"category"`
	Severity       string            `json:"severity"`
	Status         string            `json:"status"`
	Summary        string            `json:"summary"`
	OwnerService   string            `json:"owner_service"`
	CorrelationID  string            `json:"correlation_id"`
	EntityIDs      map[string]string `json:"entity_ids"`
	AllowedActions []string          `json:"allowed_actions"`
	DecisionID     string            `json:"decision_id,omitempty"`
	Amount         string            `json:"amount,omitempty"`
	RaisedAt       time.Time         `json:"raised_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// NormQueue turns sales-ops / SALES_OPS into the enum symbol.
func NormQueue(q string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(q), "-", "_"))
}

var queues = map[string]bool{"SALES_OPS": true, "FINANCE_OPS": true, "MASTER_DATA": true, "TRADE_COMPLIANCE": true, "SERVICE_OPS": true}
var statuses = map[string]string{"open": "open", "retrying": "RETRYING", "resolved": "RESOLVED", "closed": "CLOSED", "all": ""}

func list(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c := opsclient.Client{}
	c.Lookup(lookup)
	fs := opsenv.NewFlagSet("exceptions list", "Usage: isthmus exceptions list [--queue Q] [--status S] [--limit N] [flags]\nLists business exceptions (latest state per exception id), newest first.", stderr)
	c.Flags(fs)
	queue := fs.String("queue", "", "only this queue: sales-ops, finance-ops, master-data, trade-compliance or service-ops")
	status := fs.String("status", "open", "open (OPEN and RETRYING), retrying, resolved, closed or all")
	limit := fs.Int("limit", 50, "show at most this many (1-5000)")
	if _, err := parse(&c, fs, args, 0, ""); err != nil {
		return err
	}
	q := url.Values{}
	if *queue != "" {
		if !queues[NormQueue(*queue)] {
			return fmt.Errorf("--queue %q: want sales-ops, finance-ops, master-data, trade-compliance or service-ops", *queue)
		}
		q.Set("queue", NormQueue(*queue))
	}
	st, ok := statuses[strings.ToLower(*status)]
	if !ok {
		return fmt.Errorf("--status %q: want open, retrying, resolved, closed or all", *status)
	}
	if st != "" {
		q.Set("status", st)
	}
	if *limit < 1 || *limit > 5000 {
		return fmt.Errorf("--limit %d: want 1 to 5000", *limit)
	}
	q.Set("limit", fmt.Sprint(*limit))
	var out struct {
		Exceptions []Exception `json:"exceptions"`
	}
	if err := c.Do(ctx, "GET", "/api/exceptions?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, out.Exceptions)
	}
	if len(out.Exceptions) == 0 {
		fmt.Fprintln(stdout, "no exceptions match")
		return nil
	}
	fmt.Fprintf(stdout, "%-38s %-9s %-16s %-20s %-8s %-15s %s\n", "ID", "STATUS", "QUEUE", "CATEGORY", "SEVERITY", "OWNER", "SUMMARY")
	for _, x := range out.Exceptions {
		fmt.Fprintf(stdout, "%-38s %-9s %-16s %-20s %-8s %-15s %s\n", x.ExceptionID, x.Status, x.Queue, x.Category, x.Severity, x.OwnerService, clip(x.Summary, 80))
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Timeline is GET /api/ops/exceptions/{id}/timeline.
type Timeline struct {
	Exception Exception `json:"exception"`
	Events    []struct {
		Topic  string            `json:"topic"`
		At     time.Time         `json:"at"`
		Status string            `json:"status"`
		IDs    map[string]string `json:"ids"`
	} `json:"events"`
	Pending []Pending `json:"pending_approvals"`
}

// Pending is a decision waiting for approval.
type Pending struct {
	ApprovalID  string    `json:"approval_id"`
	Decision    Decision  `json:"decision"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	Reason      string    `json:"reason"`
}

// Decision is the part of a decision the verbs print.
type Decision struct {
	DecisionID   string            `json:"decision_id"`
	ExceptionID  string            `json:"exception_id"`
	OwnerService string            `json:"owner_service"`
	Action       string            `json:"action"`
	Parameters   map[string]string `json:"parameters"`
	Actor        string            `json:"actor"`
	ApprovedBy   []string          `json:"approved_by"`
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c := opsclient.Client{}
	c.Lookup(lookup)
	fs := opsenv.NewFlagSet("exceptions show", "Usage: isthmus exceptions show <exception id> [flags]\nShows one exception: its latest state, its updates and decisions, and decisions waiting for approval.", stderr)
	c.Flags(fs)
	pos, err := parse(&c, fs, args, 1, "exception id (see isthmus exceptions list)")
	if err != nil {
		return err
	}
	var t Timeline
	if err := c.Do(ctx, "GET", "/api/ops/exceptions/"+url.PathEscape(pos[0])+"/timeline", nil, &t); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, t)
	}
	x := t.Exception
	fmt.Fprintf(stdout, "exception %s\n  status    %s\n  queue     %s\n  category  %s\n  severity  %s\n  owner     %s\n  summary   %s\n  allowed   %s\n",
		x.ExceptionID, x.Status, x.Queue, x.Category, x.Severity, x.OwnerService, x.Summary, strings.Join(x.AllowedActions, ", "))
	if x.Amount != "" {
		fmt.Fprintf(stdout, "  amount    %s\n", x.Amount)
	}
	fmt.Fprintln(stdout, "  timeline:")
	for _, e := range t.Events {
		what := "update  " + e.Status
		if e.Topic == "ops.decisions.v1" {
			what = "decision " + e.Status
		}
		d := ""
		if id := e.IDs["decision_id"]; id != "" {
			d = "  decision " + id
		}
		fmt.Fprintf(stdout, "    %s  %s%s\n", e.At.Format(time.RFC3339), what, d)
	}
	for _, p := range t.Pending {
		fmt.Fprintf(stdout, "  waiting for approval: %s %s by %s (%s)\n", p.ApprovalID, p.Decision.Action, p.RequestedBy, p.Reason)
	}
	return nil
}

type params map[string]string

func (p params) String() string { return fmt.Sprint(map[string]string(p)) }
func (p params) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	p[strings.TrimSpace(k)] = val
	return nil
}

// Reply is the API's answer to a decision or an approval.
type Reply struct {
	Status     string   `json:"status"`
	Decision   Decision `json:"decision"`
	ApprovalID string   `json:"approval_id"`
	Reason     string   `json:"reason"`
	Topic      string   `json:"topic"`
	Partition  int32    `json:"partition"`
	Offset     int64    `json:"offset"`
}

func decide(ctx context.Context, verb, action string, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c := opsclient.Client{}
	c.Lookup(lookup)
	u := "Usage: isthmus exceptions " + verb + " <exception id> [--param k=v]... [--comment TEXT] [flags]\n" +
		"Decides " + action + " on the exception through the operations API, which publishes it on ops.decisions.v1 for the owning service\n" +
		"(or keeps it for a second person's approval: OVERRIDE, RELEASE_HOLD and amounts above the threshold)."
	if verb == "resolve" {
		u = "Usage: isthmus exceptions resolve <exception id> [--action A] [--param k=v]... [--comment TEXT] [flags]\n" +
			"Decides on the exception through the operations API (default RESOLVE). MERGE takes survivor_golden_id and merged_golden_id,\n" +
			"NOT_DUPLICATE golden_id and other_golden_id; both default to the exception's golden and candidate ids."
	}
	fs := opsenv.NewFlagSet("exceptions "+verb, u, stderr)
	c.Flags(fs)
	p := params{}
	act := fs.String("action", "", "decision action (resolve only; default RESOLVE)")
	fs.Var(p, "param", "decision parameter key=value (repeatable)")
	comment := fs.String("comment", "", "justification, kept with the decision")
	pos, err := parse(&c, fs, args, 1, "exception id (see isthmus exceptions list)")
	if err != nil {
		return err
	}
	if verb != "resolve" && *act != "" {
		return fmt.Errorf("--action is for resolve; %s decides %s", verb, action)
	}
	if action == "" {
		action = "RESOLVE"
		if *act != "" {
			action = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(*act), "-", "_"))
		}
	}
	var r Reply
	err = c.Do(ctx, "POST", "/api/ops/exceptions/"+url.PathEscape(pos[0])+"/decisions",
		map[string]any{"action": action, "parameters": map[string]string(p), "comment": *comment}, &r)
	if err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, r)
	}
	if r.Status == "pending_approval" {
		fmt.Fprintf(stdout, "%s on %s waits for a second person's approval %s: %s\n", r.Decision.Action, r.Decision.ExceptionID, r.ApprovalID, r.Reason)
		return nil
	}
	fmt.Fprintf(stdout, "published decision %s: %s on exception %s by %s for %s, %s/%d offset %d\n",
		r.Decision.DecisionID, r.Decision.Action, r.Decision.ExceptionID, r.Decision.Actor, r.Decision.OwnerService, r.Topic, r.Partition, r.Offset)
	return nil
}

func approvals(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c := opsclient.Client{}
	c.Lookup(lookup)
	fs := opsenv.NewFlagSet("exceptions approvals", "Usage: isthmus exceptions approvals [flags]\nLists the decisions waiting for a second person's approval (four eyes), oldest first.", stderr)
	c.Flags(fs)
	if _, err := parse(&c, fs, args, 0, ""); err != nil {
		return err
	}
	var out struct {
		Approvals []Pending `json:"approvals"`
	}
	if err := c.Do(ctx, "GET", "/api/ops/approvals", nil, &out); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, out.Approvals)
	}
	if len(out.Approvals) == 0 {
		fmt.Fprintln(stdout, "no decision waits for approval")
		return nil
	}
	fmt.Fprintf(stdout, "%-38s %-14s %-20s %-12s %s\n", "APPROVAL", "ACTION", "EXCEPTION", "REQUESTED BY", "WHY")
	for _, p := range out.Approvals {
		fmt.Fprintf(stdout, "%-38s %-14s %-20s %-12s %s\n", p.ApprovalID, p.Decision.Action, p.Decision.ExceptionID, p.RequestedBy, p.Reason)
	}
	return nil
}

func settle(ctx context.Context, verb string, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c := opsclient.Client{}
	c.Lookup(lookup)
	u := "Usage: isthmus exceptions approve <approval id | exception id> [--comment TEXT] [flags]\nApproves a waiting decision (role finance.approver; not the person who asked): it is published with you in approved_by."
	if verb == "deny" {
		u = "Usage: isthmus exceptions deny <approval id | exception id> [--comment TEXT] [flags]\nDrops a waiting decision (role finance.approver, or the person who asked); nothing is published."
	}
	fs := opsenv.NewFlagSet("exceptions "+verb, u, stderr)
	c.Flags(fs)
	comment := fs.String("comment", "", "justification, kept in the audit log")
	pos, err := parse(&c, fs, args, 1, "approval id (see isthmus exceptions approvals)")
	if err != nil {
		return err
	}
	path := "/api/ops/approvals/" + url.PathEscape(pos[0]) + "/approve"
	if verb == "deny" {
		path = "/api/ops/approvals/" + url.PathEscape(pos[0]) + "/reject"
	}
	var r Reply
	if err := c.Do(ctx, "POST", path, map[string]any{"comment": *comment}, &r); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, r)
	}
	if verb == "deny" {
		fmt.Fprintf(stdout, "denied %s: %s on %s is not published\n", pos[0], r.Decision.Action, r.Decision.ExceptionID)
		return nil
	}
	fmt.Fprintf(stdout, "approved: published decision %s: %s on exception %s by %s, approved by %s, %s/%d offset %d\n",
		r.Decision.DecisionID, r.Decision.Action, r.Decision.ExceptionID, r.Decision.Actor, strings.Join(r.Decision.ApprovedBy, ", "), r.Topic, r.Partition, r.Offset)
	return nil
}
