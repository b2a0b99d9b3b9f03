// Package exceptions is `isthmus exceptions list|show|resolve|retry`: the
// operations queues of business exceptions (ops.exceptions.v1, latest
// state per exception id) and the decisions on them, which are published
// on ops.decisions.v1 for the owning service to act on (customer-sync:
// MERGE, NOT_DUPLICATE, RESOLVE, DISMISS; quote-to-order: RESOLVE, RETRY,
// ...; the exception's allowed_actions say which).
package exceptions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

const usage = `Usage: isthmus exceptions list|show|resolve|retry [flags]

  list    [--queue Q] [--status S]     open exceptions (latest state per id), filtered by queue and status
  show    <exception id>               one exception: every version and the decisions taken on it
  resolve <exception id> [--action A] [--param k=v]... [--comment TEXT]
                                       publish a decision (default RESOLVE, or the only allowed action)
  retry   <exception id> [--comment TEXT]
                                       publish a RETRY decision

isthmus exceptions <sub-verb> --help lists the flags.`

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return errors.New("missing sub-verb: list, show, resolve or retry")
		}
		return nil
	}
	switch args[0] {
	case "list":
		return list(ctx, args[1:], stdout, stderr)
	case "show":
		return show(ctx, args[1:], stdout, stderr)
	case "resolve":
		return decide(ctx, "resolve", args[1:], stdout, stderr)
	case "retry":
		return decide(ctx, "retry", args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown sub-verb %q (want list, show, resolve or retry)", args[0])
}

// Entry is an exception with its history and decisions.
type Entry struct {
	Latest    *contracts.OperationalException   `json:"latest"`
	Versions  []*contracts.OperationalException `json:"versions,omitempty"`
	Decisions []*contracts.Decision             `json:"decisions"`
}

// Board is the state of the exception queues: every exception by id.
type Board map[string]*Entry

// Load reads ops.exceptions.v1 and ops.decisions.v1 up to their current
// end (read_committed) and folds them by exception id.
func Load(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, sd *serde.Serde, timeout time.Duration, history bool, progress io.Writer) (Board, error) {
	b := Board{}
	n := 0
	start := time.Now()
	err := readAll(ctx, cl, kcfg, timeout, kcfg.Topic(contracts.TopicOpsExceptionsV1), func(r *kgo.Record) error {
		var ex contracts.OperationalException
		if err := sd.Decode(ctx, r.Value, &ex); err != nil {
			return fmt.Errorf("%s/%d offset %d: %w", contracts.TopicOpsExceptionsV1, r.Partition, r.Offset, err)
		}
		e := b[ex.ExceptionID]
		if e == nil {
			e = &Entry{Decisions: []*contracts.Decision{}}
			b[ex.ExceptionID] = e
		}
		e.Latest = &ex
		if history {
			e.Versions = append(e.Versions, &ex)
		}
		n++
		if progress != nil && n%20000 == 0 {
			fmt.Fprintf(progress, "… %d exception events read (%s)\n", n, time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readAll(ctx, cl, kcfg, timeout, kcfg.Topic(contracts.TopicOpsDecisionsV1), func(r *kgo.Record) error {
		var d contracts.Decision
		if err := sd.Decode(ctx, r.Value, &d); err != nil {
			return fmt.Errorf("%s/%d offset %d: %w", contracts.TopicOpsDecisionsV1, r.Partition, r.Offset, err)
		}
		if e := b[d.ExceptionID]; e != nil {
			e.Decisions = append(e.Decisions, &d)
		}
		return nil
	})
	return b, err
}

// readAll reads a physical topic from its start to the end offsets taken
// when it starts.
func readAll(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, topic string, fn func(*kgo.Record) error) error {
	spans, err := kafka.Partitions(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return fmt.Errorf("%w (run isthmus topics apply?)", err)
	}
	var herr error
	err = kafka.Scan(ctx, kcfg, timeout, topic, spans, func(r *kgo.Record) bool {
		herr = fn(r)
		return herr == nil
	})
	if herr != nil {
		return herr
	}
	return err
}

// Filter selects exceptions for list.
type Filter struct {
	Queue  string // "" any; queue symbol or its dashed name (sales-ops)
	Status string // "open" (OPEN and RETRYING), "all", or a status symbol
}

// NormQueue turns sales-ops / SALES_OPS into the enum symbol.
func NormQueue(q string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(q), "-", "_"))
}

var queues = map[string]bool{contracts.ExceptionQueueSalesOps: true, contracts.ExceptionQueueFinanceOps: true, contracts.ExceptionQueueMasterData: true, contracts.ExceptionQueueTradeCompliance: true, contracts.ExceptionQueueUnknown: true}
var statuses = map[string]bool{"OPEN": true, "RETRYING": true, "RESOLVED": true, "CLOSED": true, "UNKNOWN": true, "ALL": true}

// Validate checks the filter's values.
func (f Filter) Validate() error {
	if f.Queue != "" && !queues[NormQueue(f.Queue)] {
		return fmt.Errorf("--queue %q: want sales-ops, finance-ops, master-data or trade-compliance", f.Queue)
	}
	if s := strings.ToUpper(f.Status); s != "" && !statuses[s] {
		return fmt.Errorf("--status %q: want open, retrying, resolved, closed or all", f.Status)
	}
	return nil
}

// Select returns the matching exceptions, newest first.
func (b Board) Select(f Filter) []*Entry {
	var out []*Entry
	st := strings.ToUpper(f.Status)
	for _, e := range b {
		x := e.Latest
		if f.Queue != "" && x.Queue != NormQueue(f.Queue) {
			continue
		}
		switch st {
		case "", "ALL":
		case "OPEN":
			if x.Status != contracts.ExceptionStatusOpen && x.Status != contracts.ExceptionStatusRetrying {
				continue
			}
		default:
			if x.Status != st {
				continue
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Latest.Metadata.OccurredAt, out[j].Latest.Metadata.OccurredAt
		if !a.Equal(b) {
			return a.After(b)
		}
		return out[i].Latest.ExceptionID < out[j].Latest.ExceptionID
	})
	return out
}

type conn struct {
	env opsenv.Env
	cl  *kgo.Client
	sd  *serde.Serde
}

func (c *conn) open(ctx context.Context) error {
	cl, err := c.env.Connect(ctx)
	if err != nil {
		return err
	}
	sd, err := c.env.Serde()
	if err != nil {
		cl.Close()
		return err
	}
	c.cl, c.sd = cl, sd
	return nil
}

func list(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := opsenv.NewFlagSet("exceptions list", "Usage: isthmus exceptions list [--queue Q] [--status S] [--limit N] [flags]\nLists business exceptions (latest state per exception id), newest first.", stderr)
	c.env.Flags(fs)
	var f Filter
	fs.StringVar(&f.Queue, "queue", "", "only this queue: sales-ops, finance-ops, master-data or trade-compliance")
	fs.StringVar(&f.Status, "status", "open", "open (OPEN and RETRYING), retrying, resolved, closed or all")
	limit := fs.Int("limit", 50, "show at most this many (0: all)")
	pos, err := c.env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", pos[0])
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.cl.Close()
	b, err := Load(ctx, c.cl, c.env.Kafka(), c.sd, c.env.Timeout, false, stderr)
	if err != nil {
		return c.env.ClusterErr(err)
	}
	sel := b.Select(f)
	total := len(sel)
	if *limit > 0 && len(sel) > *limit {
		sel = sel[:*limit]
	}
	if c.env.JSON() {
		out := make([]*contracts.OperationalException, 0, len(sel))
		for _, e := range sel {
			out = append(out, e.Latest)
		}
		return opsenv.WriteJSON(stdout, out)
	}
	if total == 0 {
		fmt.Fprintln(stdout, "no exceptions match")
		return nil
	}
	fmt.Fprintf(stdout, "%-38s %-9s %-16s %-20s %-8s %-15s %s\n", "ID", "STATUS", "QUEUE", "CATEGORY", "SEVERITY", "OWNER", "SUMMARY")
	for _, e := range sel {
		x := e.Latest
		fmt.Fprintf(stdout, "%-38s %-9s %-16s %-20s %-8s %-15s %s\n", x.ExceptionID, x.Status, x.Queue, x.Category, x.Severity, x.OwnerService, clip(x.Summary, 80))
	}
	if total > len(sel) {
		fmt.Fprintf(stdout, "… %d more (use --limit 0)\n", total-len(sel))
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := opsenv.NewFlagSet("exceptions show", "Usage: isthmus exceptions show <exception id> [flags]\nShows one exception: its latest state, every version and the decisions on it.", stderr)
	c.env.Flags(fs)
	pos, err := c.env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want exactly one exception id (see isthmus exceptions list)")
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.cl.Close()
	b, err := Load(ctx, c.cl, c.env.Kafka(), c.sd, c.env.Timeout, true, stderr)
	if err != nil {
		return c.env.ClusterErr(err)
	}
	e, ok := b[pos[0]]
	if !ok {
		return fmt.Errorf("unknown exception id %q", pos[0])
	}
	if c.env.JSON() {
		return opsenv.WriteJSON(stdout, e)
	}
	x := e.Latest
	fmt.Fprintf(stdout, "exception %s\n  status    %s\n  queue     %s\n  category  %s\n  severity  %s\n  owner     %s\n  summary   %s\n", x.ExceptionID, x.Status, x.Queue, x.Category, x.Severity, x.OwnerService, x.Summary)
	if x.SuggestedAction != nil {
		fmt.Fprintf(stdout, "  suggested %s\n", *x.SuggestedAction)
	}
	fmt.Fprintf(stdout, "  allowed   %s\n", strings.Join(x.AllowedActions, ", "))
	fmt.Fprintln(stdout, "  entities:")
	for _, k := range sortedKeys(x.EntityIds) {
		fmt.Fprintf(stdout, "    %-24s %s\n", k, x.EntityIds[k])
	}
	fmt.Fprintln(stdout, "  context:")
	for _, k := range sortedKeys(x.Context) {
		fmt.Fprintf(stdout, "    %-24s %s\n", k, clip(x.Context[k], 200))
	}
	fmt.Fprintln(stdout, "  history:")
	for _, v := range e.Versions {
		fmt.Fprintf(stdout, "    %s  %s\n", v.Metadata.OccurredAt.Format(time.RFC3339), v.Status)
	}
	fmt.Fprintln(stdout, "  decisions:")
	for _, d := range e.Decisions {
		cm := ""
		if d.Comment != nil {
			cm = " — " + *d.Comment
		}
		fmt.Fprintf(stdout, "    %s  %s by %s %v%s\n", d.Metadata.OccurredAt.Format(time.RFC3339), d.Action, d.Actor, d.Parameters, cm)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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

// NewDecision builds the decision on exception x: action (validated
// against x.AllowedActions when the exception lists any), parameters with
// defaults for MERGE and NOT_DUPLICATE taken from the exception's entity
// ids, the actor and an optional comment.
func NewDecision(x *contracts.OperationalException, action string, p map[string]string, actor, comment string, now time.Time) (*contracts.Decision, error) {
	action = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(action), "-", "_"))
	if action == "" {
		switch {
		case len(x.AllowedActions) == 0 || contains(x.AllowedActions, contracts.DecisionActionResolve):
			action = contracts.DecisionActionResolve
		default:
			return nil, fmt.Errorf("exception %s does not allow RESOLVE; choose --action from %s", x.ExceptionID, strings.Join(x.AllowedActions, ", "))
		}
	}
	if len(x.AllowedActions) > 0 && !contains(x.AllowedActions, action) {
		return nil, fmt.Errorf("action %s is not allowed for exception %s (allowed: %s)", action, x.ExceptionID, strings.Join(x.AllowedActions, ", "))
	}
	if x.Status == contracts.ExceptionStatusResolved || x.Status == contracts.ExceptionStatusClosed {
		return nil, fmt.Errorf("exception %s is already %s", x.ExceptionID, x.Status)
	}
	pp := map[string]string{}
	for k, v := range p {
		pp[k] = v
	}
	ids := x.EntityIds
	switch action {
	case contracts.DecisionActionMerge:
		def(pp, "survivor_golden_id", ids["candidate_golden_id"])
		def(pp, "merged_golden_id", ids["golden_id"])
		if pp["survivor_golden_id"] == "" || pp["merged_golden_id"] == "" {
			return nil, errors.New("MERGE needs --param survivor_golden_id=<id> and --param merged_golden_id=<id>")
		}
	case contracts.DecisionActionNotDuplicate:
		def(pp, "golden_id", ids["golden_id"])
		def(pp, "other_golden_id", ids["candidate_golden_id"])
		if pp["golden_id"] == "" || pp["other_golden_id"] == "" {
			return nil, errors.New("NOT_DUPLICATE needs --param golden_id=<id> and --param other_golden_id=<id>")
		}
	}
	d := &contracts.Decision{
		Metadata: contracts.EventMetadata{
			EventID:       newUUID(),
			CorrelationID: x.Metadata.CorrelationID,
			CausationID:   &x.Metadata.EventID,
			SourceSystem:  contracts.SourceSystemOperator,
			OccurredAt:    now.UTC().Truncate(time.Millisecond),
		},
		ExceptionID:  x.ExceptionID,
		OwnerService: x.OwnerService,
		Action:       action,
		Parameters:   pp,
		Actor:        actor,
	}
	d.DecisionID = d.Metadata.EventID
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

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Publish produces a decision on ops.decisions.v1 keyed by exception id.
func Publish(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, sd *serde.Serde, d *contracts.Decision) (*kgo.Record, error) {
	topic := kcfg.Topic(contracts.TopicOpsDecisionsV1)
	b, err := sd.Encode(ctx, topic, d)
	if err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: topic, Key: []byte(d.ExceptionID), Value: b}
	tracing.SetHeader(&r.Headers, tracing.HeaderCorrelationID, d.Metadata.CorrelationID)
	res := cl.ProduceSync(ctx, r)
	if err := res.FirstErr(); err != nil {
		return nil, err
	}
	return res[0].Record, nil
}

func defaultActor() string {
	if v := os.Getenv("ISTHMUS_ACTOR"); v != "" {
		return v
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}

func decide(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	var c conn
	u := "Usage: isthmus exceptions resolve <exception id> [--action A] [--param k=v]... [--comment TEXT] [flags]\n" +
		"Publishes a decision on ops.decisions.v1 for the exception's owning service. The action defaults to RESOLVE;\n" +
		"for probable duplicates use --action MERGE (survivor_golden_id, merged_golden_id) or NOT_DUPLICATE\n" +
		"(golden_id, other_golden_id); the parameters default to the exception's golden and candidate ids."
	if verb == "retry" {
		u = "Usage: isthmus exceptions retry <exception id> [--comment TEXT] [flags]\nPublishes a RETRY decision on ops.decisions.v1: the owning service tries the failed step again."
	}
	fs := opsenv.NewFlagSet("exceptions "+verb, u, stderr)
	c.env.Flags(fs)
	action := ""
	p := params{}
	if verb == "resolve" {
		fs.StringVar(&action, "action", "", "decision action: RESOLVE, MERGE, NOT_DUPLICATE, RELEASE_HOLD, APPROVE_PRICE, CANCEL or DISMISS")
		fs.Var(p, "param", "decision parameter key=value (repeatable)")
	}
	comment := fs.String("comment", "", "justification, kept with the decision")
	actor := fs.String("actor", defaultActor(), "who decides (env ISTHMUS_ACTOR, else the user name)")
	dry := fs.Bool("dry-run", false, "print the decision without publishing it")
	pos, err := c.env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want exactly one exception id (see isthmus exceptions list)")
	}
	if verb == "retry" {
		action = contracts.DecisionActionRetry
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.cl.Close()
	b, err := Load(ctx, c.cl, c.env.Kafka(), c.sd, c.env.Timeout, false, stderr)
	if err != nil {
		return c.env.ClusterErr(err)
	}
	e, ok := b[pos[0]]
	if !ok {
		return fmt.Errorf("unknown exception id %q", pos[0])
	}
	d, err := NewDecision(e.Latest, action, p, *actor, *comment, time.Now())
	if err != nil {
		return err
	}
	if !*dry {
		if _, err := Publish(ctx, c.cl, c.env.Kafka(), c.sd, d); err != nil {
			return c.env.ClusterErr(fmt.Errorf("publish decision: %w", err))
		}
	}
	if c.env.JSON() {
		return opsenv.WriteJSON(stdout, map[string]any{"published": !*dry, "decision": d})
	}
	verbDone := "published"
	if *dry {
		verbDone = "would publish"
	}
	fmt.Fprintf(stdout, "%s decision %s: %s on exception %s for %s %v\n", verbDone, d.DecisionID, d.Action, d.ExceptionID, d.OwnerService, d.Parameters)
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
