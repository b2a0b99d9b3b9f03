// Package recon is `isthmus recon report`: a summary of the reconciliation
// breaks (recon.breaks.v1) and of the reconciler's periodic reports
// (recon.reports.v1) over a time window, read from the cluster; and
// `isthmus recon parity`: the cutover readiness of a routed flow from the
// parity verdicts (recon.parity.v1).
package recon

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
)

const usage = `Usage: isthmus recon report [--since 24h] [--format text|json|csv] [flags]

Reads recon.breaks.v1 and recon.reports.v1 from --since ago to now and prints
the breaks (latest state of each), a summary per kind and the reconciler's
report windows. --output json is the same as --format json.`

// Run is the verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return verbs.Run(ctx, args, stdout, stderr)
}

// verbs are the sub-verbs.
var verbs = cli.Dispatcher{Path: "isthmus recon", Commands: []cli.Command{
	{Name: "report", Summary: "[--since 24h] [--format text|json|csv]: the breaks and the reconciler's reports over a window", Run: report},
	{Name: "parity", Summary: "--flow customers|orders [--since 24h] [--min-compared 20] [--json]: legacy/new ERP path parity and the cutover verdict (exit 3: not ready)", Run: parity},
}}

func report(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	return run(ctx, &env, args, stdout, stderr)
}

func run(ctx context.Context, env *opsenv.Env, args []string, stdout, stderr io.Writer) error {
	fs := opsenv.NewFlagSet("isthmus recon report", usage, stderr)
	env.Flags(fs)
	since := fs.Duration("since", 24*time.Hour, "report window: from this long ago until now")
	format := fs.String("format", "", "text, json or csv (default: --output)")
	pos, err := env.Parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, pos[0])
	}
	if *format == "" {
		*format = env.Output
	}
	if *format != "text" && *format != "json" && *format != "csv" {
		return fmt.Errorf("%w: --format %q: want text, json or csv", cli.ErrUsage, *format)
	}
	if *since <= 0 {
		return fmt.Errorf("%w: --since must be positive", cli.ErrUsage)
	}
	sd, err := env.Serde()
	if err != nil {
		return err
	}
	end := time.Now().UTC()
	start := end.Add(-*since)
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	rep, err := Build(ctx, cl, env.Kafka(), env.Timeout, sd, start, end)
	if err != nil {
		return env.ClusterErr(err)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return rep.CSV(stdout)
	}
	return rep.Text(stdout)
}

// KindSummary counts one break kind in the window.
type KindSummary struct {
	Kind   string `json:"kind"`
	Opened int    `json:"opened"`
	Closed int    `json:"closed"`
	Open   int    `json:"open"`
}

// Break is the latest state of a break seen in the window.
type Break struct {
	BreakID       string            `json:"break_id"`
	Kind          string            `json:"kind"`
	Severity      string            `json:"severity"`
	Status        string            `json:"status"`
	CorrelationID string            `json:"correlation_id"`
	EntityIDs     map[string]string `json:"entity_ids"`
	Description   string            `json:"description"`
	Expected      string            `json:"expected,omitempty"`
	Actual        string            `json:"actual,omitempty"`
	Deadline      *time.Time        `json:"deadline,omitempty"`
	DetectedAt    time.Time         `json:"detected_at"`
	ClosedAt      *time.Time        `json:"closed_at,omitempty"`
	Resolution    string            `json:"resolution,omitempty"`
}

// Window is the reconciler's summaries of one window, summed over its
// partitions (each matcher partition reports its own share).
type Window struct {
	Start              time.Time `json:"window_start"`
	End                time.Time `json:"window_end"`
	ExpectationsOpened int64     `json:"expectations_opened"`
	ExpectationsMet    int64     `json:"expectations_met"`
	BreaksOpened       int64     `json:"breaks_opened"`
	BreaksClosed       int64     `json:"breaks_closed"`
	OpenBreaks         int64     `json:"open_breaks"`
}

// Report is the verb's output.
type Report struct {
	Since   time.Time     `json:"since"`
	Until   time.Time     `json:"until"`
	ByKind  []KindSummary `json:"by_kind"`
	Breaks  []Break       `json:"breaks"`
	Windows []Window      `json:"windows"`
}

// Build reads both topics of the cluster kcfg names (through cl) for
// [start, end) and aggregates them; timeout bounds each request.
func Build(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, sd *serde.Serde, start, end time.Time) (*Report, error) {
	topic := kcfg.Topic
	rep := &Report{Since: start, Until: end, Breaks: []Break{}, Windows: []Window{}, ByKind: []KindSummary{}}
	byID := map[string]*Break{}
	kinds := map[string]*KindSummary{}
	kind := func(k string) *KindSummary {
		if kinds[k] == nil {
			kinds[k] = &KindSummary{Kind: k}
		}
		return kinds[k]
	}
	err := readRange(ctx, cl, kcfg, timeout, topic(contracts.TopicReconBreaksV1), start, end, func(r *kgo.Record) error {
		var b contracts.ReconBreak
		if err := sd.Decode(ctx, r.Value, &b); err != nil {
			return fmt.Errorf("decode %s@%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		switch b.Status {
		case contracts.BreakStatusOpen:
			kind(b.Kind).Opened++
		case contracts.BreakStatusClosed:
			kind(b.Kind).Closed++
		}
		v := &Break{BreakID: b.BreakID, Kind: b.Kind, Severity: b.Severity, Status: b.Status, CorrelationID: b.Metadata.CorrelationID,
			EntityIDs: b.EntityIds, Description: b.Description, Expected: contracts.Deref(b.Expected), Actual: contracts.Deref(b.Actual),
			Deadline: b.Deadline, DetectedAt: b.DetectedAt, ClosedAt: b.ClosedAt, Resolution: contracts.Deref(b.Resolution)}
		if old := byID[b.BreakID]; old != nil && b.Status == contracts.BreakStatusClosed && old.Status == contracts.BreakStatusOpen {
			v.DetectedAt = old.DetectedAt
		}
		byID[b.BreakID] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	windows := map[time.Time]*Window{}
	err = readRange(ctx, cl, kcfg, timeout, topic(contracts.TopicReconReportsV1), start, end, func(r *kgo.Record) error {
		var rr contracts.ReconReport
		if err := sd.Decode(ctx, r.Value, &rr); err != nil {
			return fmt.Errorf("decode %s@%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		w := windows[rr.WindowStart]
		if w == nil {
			w = &Window{Start: rr.WindowStart, End: rr.WindowEnd}
			windows[rr.WindowStart] = w
		}
		w.ExpectationsOpened += rr.ExpectationsOpened
		w.ExpectationsMet += rr.ExpectationsMet
		w.BreaksOpened += rr.BreaksOpened
		w.BreaksClosed += rr.BreaksClosed
		w.OpenBreaks += rr.OpenBreaks
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, b := range byID {
		if b.Status == contracts.BreakStatusOpen {
			kind(b.Kind).Open++
		}
		rep.Breaks = append(rep.Breaks, *b)
	}
	sort.Slice(rep.Breaks, func(i, j int) bool {
		if !rep.Breaks[i].DetectedAt.Equal(rep.Breaks[j].DetectedAt) {
			return rep.Breaks[i].DetectedAt.Before(rep.Breaks[j].DetectedAt)
		}
		return rep.Breaks[i].BreakID < rep.Breaks[j].BreakID
	})
	for _, k := range kinds {
		rep.ByKind = append(rep.ByKind, *k)
	}
	sort.Slice(rep.ByKind, func(i, j int) bool { return rep.ByKind[i].Kind < rep.ByKind[j].Kind })
	for _, w := range windows {
		rep.Windows = append(rep.Windows, *w)
	}
	sort.Slice(rep.Windows, func(i, j int) bool { return rep.Windows[i].Start.Before(rep.Windows[j].Start) })
	return rep, nil
}

// readRange calls fn for every committed record of topic whose timestamp
// is in [start, end), reading every partition up to its end at call time.
func readRange(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, topic string, start, end time.Time, fn func(*kgo.Record) error) error {
	spans, err := kafka.PartitionsSince(ctx, kadm.NewClient(cl), topic, start)
	if err != nil {
		return fmt.Errorf("%s: %w (run `isthmus topics apply`?)", topic, err)
	}
	var ferr error
	err = kafka.Scan(ctx, kcfg, timeout, topic, spans, func(r *kgo.Record) bool {
		if r.Timestamp.Before(start) || !r.Timestamp.Before(end) {
			return true
		}
		ferr = fn(r)
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// Text prints the summary and the open breaks as tables.
func (r *Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Reconciliation %s – %s\n\n", r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339))
	fmt.Fprintln(tw, "KIND\tOPENED\tCLOSED\tSTILL OPEN")
	for _, k := range r.ByKind {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", k.Kind, k.Opened, k.Closed, k.Open)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "DETECTED\tKIND\tSEVERITY\tSTATUS\tCORRELATION\tENTITIES\tEXPECTED\tACTUAL")
	for _, b := range r.Breaks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.DetectedAt.Format(time.RFC3339), b.Kind, b.Severity, b.Status,
			b.CorrelationID, ids(b.EntityIDs), b.Expected, b.Actual)
	}
	return tw.Flush()
}

// CSV prints one row per break.
func (r *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"break_id", "kind", "severity", "status", "correlation_id", "entity_ids", "expected", "actual", "deadline", "detected_at", "closed_at", "resolution", "description"})
	for _, b := range r.Breaks {
		_ = cw.Write([]string{b.BreakID, b.Kind, b.Severity, b.Status, b.CorrelationID, ids(b.EntityIDs), b.Expected, b.Actual,
			ts(b.Deadline), b.DetectedAt.Format(time.RFC3339Nano), ts(b.ClosedAt), b.Resolution, b.Description})
	}
	cw.Flush()
	return cw.Error()
}

func ts(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func ids(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "match_key" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ";")
}
