package recon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
)

const parityUsage = `Usage: isthmus recon parity --flow customers|orders [--since 24h] [--min-compared 20] [--json] [flags]

Reads recon.parity.v1 (the reconciler's comparison of the legacy and the new ERP
path of a flow in SHADOW) from --since ago to now, keeps the latest verdict of
each entity, and prints how many were compared, matched, differed or missed an
answer, a cutover verdict and the differences (entity, field, legacy, new).

READY for cutover: at least --min-compared entities compared, none DIFFERENT,
none MISSING_NEW or MISSING_LEGACY. Exit status: 0 READY, 3 NOT READY (the line
says why), 1 on errors (bad flags, unknown flow, cluster unreachable), 2 usage.`

// ExitNotReady is the exit status of a flow not ready for cutover.
const ExitNotReady = 3

// MaxDifferenceRows bounds the differences printed as text (--json lists all).
const MaxDifferenceRows = 20

func parity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	return runParity(ctx, &env, args, stdout, stderr)
}

func runParity(ctx context.Context, env *opsenv.Env, args []string, stdout, stderr io.Writer) error {
	fs := opsenv.NewFlagSet("isthmus recon parity", parityUsage, stderr)
	env.Flags(fs)
	flow := fs.String("flow", "", "the routed flow: "+strings.Join(flowmode.Flows, " or "))
	since := fs.Duration("since", 24*time.Hour, "window: from this long ago until now")
	minCompared := fs.Int("min-compared", 20, "entities that must have been compared for READY")
	asJSON := fs.Bool("json", false, "print the report as JSON (same as --output json)")
	pos, err := env.Parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, pos[0])
	case *flow == "":
		return fmt.Errorf("%w: --flow is required (%s)", cli.ErrUsage, strings.Join(flowmode.Flows, " or "))
	case *since <= 0:
		return fmt.Errorf("%w: --since must be positive", cli.ErrUsage)
	case *minCompared < 0:
		return fmt.Errorf("%w: --min-compared must not be negative", cli.ErrUsage)
	}
	if err := flowmode.ValidFlow(*flow); err != nil {
		return err
	}
	sd, err := env.Serde()
	if err != nil {
		return err
	}
	end := time.Now().UTC()
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	rep, err := BuildParity(ctx, cl, env.Kafka(), env.Timeout, sd, *flow, end.Add(-*since), end, *minCompared)
	if err != nil {
		return env.ClusterErr(err)
	}
	if *asJSON || env.JSON() {
		if err := opsenv.WriteJSON(stdout, rep); err != nil {
			return err
		}
	} else if err := rep.Text(stdout); err != nil {
		return err
	}
	if !rep.Ready {
		return &cli.ExitError{Code: ExitNotReady, Err: fmt.Errorf("%s NOT READY for cutover: %s", rep.Flow, rep.Why)}
	}
	return nil
}

// ParityRow is one difference of one entity, or one entity a path did not
// answer (field "answer").
type ParityRow struct {
	EntityID  string    `json:"entity_id"`
	Verdict   string    `json:"verdict"`
	Field     string    `json:"field"`
	Legacy    *string   `json:"legacy"`
	New       *string   `json:"new"`
	DecidedAt time.Time `json:"decided_at"`
}

// ParityReport is the verb's output.
type ParityReport struct {
	Flow        string    `json:"flow"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	MinCompared int       `json:"min_compared"`
	flowmode.Tally
	Ready       bool        `json:"ready"`
	Why         string      `json:"why,omitempty"`
	Differences []ParityRow `json:"differences"`
}

// BuildParity reads recon.parity.v1 of the cluster kcfg names (through
// cl) for [start, end), keeps the latest verdict of each entity of flow
// and decides readiness.
func BuildParity(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, sd *serde.Serde, flow string, start, end time.Time, minCompared int) (*ParityReport, error) {
	latest := map[string]*contracts.ParityResult{}
	err := readRange(ctx, cl, kcfg, timeout, kcfg.Topic(contracts.TopicReconParityV1), start, end, func(r *kgo.Record) error {
		var p contracts.ParityResult
		if err := sd.Decode(ctx, r.Value, &p); err != nil {
			return fmt.Errorf("decode %s@%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		// One entity's verdicts share a key, so a partition: later offsets
		// are later verdicts.
		if p.Flow == flow {
			latest[p.EntityID] = &p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &ParityReport{Flow: flow, Since: start, Until: end, MinCompared: minCompared, Differences: []ParityRow{}}
	answer := func(p *contracts.ParityResult, legacy bool) ParityRow {
		present, missing := "answered", "no answer within the window"
		row := ParityRow{EntityID: p.EntityID, Verdict: p.Verdict, Field: "answer", Legacy: &present, New: &missing, DecidedAt: p.DecidedAt}
		if !legacy {
			row.Legacy, row.New = &missing, &present
		}
		return row
	}
	for _, p := range latest {
		rep.Add(p.Verdict)
		switch p.Verdict {
		case contracts.ParityVerdictDifferent:
			for _, d := range p.Differences {
				rep.Differences = append(rep.Differences, ParityRow{EntityID: p.EntityID, Verdict: p.Verdict, Field: d.Field, Legacy: d.Legacy, New: d.New, DecidedAt: p.DecidedAt})
			}
		case contracts.ParityVerdictMissingNew:
			rep.Differences = append(rep.Differences, answer(p, true))
		case contracts.ParityVerdictMissingLegacy:
			rep.Differences = append(rep.Differences, answer(p, false))
		}
	}
	sort.Slice(rep.Differences, func(i, j int) bool {
		a, b := rep.Differences[i], rep.Differences[j]
		if a.EntityID != b.EntityID {
			return a.EntityID < b.EntityID
		}
		return a.Field < b.Field
	})
	var why []string
	if rep.Different > 0 {
		why = append(why, fmt.Sprintf("%d DIFFERENT", rep.Different))
	}
	if n := rep.MissingNew + rep.MissingLegacy; n > 0 {
		why = append(why, fmt.Sprintf("%d MISSING (%d new, %d legacy)", n, rep.MissingNew, rep.MissingLegacy))
	}
	if rep.Compared < minCompared {
		why = append(why, fmt.Sprintf("only %d compared, want at least %d", rep.Compared, minCompared))
	}
	rep.Ready, rep.Why = len(why) == 0, strings.Join(why, "; ")
	return rep, nil
}

// Text prints the counts, the verdict and at most MaxDifferenceRows
// differences with a count of the rest.
func (r *ParityReport) Text(w io.Writer) error {
	fmt.Fprintf(w, "Parity of %s, %s – %s\n\n", r.Flow, r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339))
	fmt.Fprintf(w, "compared %d  match %d  different %d  missing %d (new %d, legacy %d)\n\n",
		r.Compared, r.Match, r.Different, r.MissingNew+r.MissingLegacy, r.MissingNew, r.MissingLegacy)
	if r.Ready {
		fmt.Fprintf(w, "READY for cutover: %d compared (at least %d), no difference, no missing answer\n", r.Compared, r.MinCompared)
	} else {
		fmt.Fprintf(w, "NOT READY for cutover: %s\n", r.Why)
	}
	if len(r.Differences) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tVERDICT\tFIELD\tLEGACY\tNEW")
	for i, d := range r.Differences {
		if i == MaxDifferenceRows {
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.EntityID, d.Verdict, d.Field, orDash(d.Legacy), orDash(d.New))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rest := len(r.Differences) - MaxDifferenceRows; rest > 0 {
		fmt.Fprintf(w, "… and %d more (--json lists all)\n", rest)
	}
	return nil
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
