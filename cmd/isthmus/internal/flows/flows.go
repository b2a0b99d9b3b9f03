// Package flows is `isthmus flows`: the routed ERP flows (customers,
// orders) and the path serving each — legacy, shadow or new — through the
// operations API (package opsclient: --api or ISTHMUS_OPS_URL, the
// operator's token in ISTHMUS_OPERATOR_TOKEN). `isthmus flows set` changes
// a flow's mode (role ops.cutover); the API records the change on
// ops.flow-mode.v1, effective a few seconds later, with its history.
package flows

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsclient"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
)

const usage = `Usage: isthmus flows [list] [flags]
       isthmus flows set <flow> <legacy|shadow|new> [--reason TEXT] [flags]

list (the default): each routed flow (customers, orders), its mode, the mode in
force now (the previous one until a change takes effect), when and by whom it was
set, and why. set: change a flow's mode (role ops.cutover); the change takes
effect a few seconds after it is recorded on ops.flow-mode.v1, so every ERP path
routes each command alike. A flow with no recorded mode is NEW.
Both call the operations API (--api, env ISTHMUS_OPS_URL, default
http://localhost:8088) with the bearer token in ISTHMUS_OPERATOR_TOKEN.`

// Flow is a flow as the API lists it (GET /api/ops/flows).
type Flow struct {
	Flow        string                    `json:"flow"`
	Mode        string                    `json:"mode"`
	InForce     string                    `json:"in_force"`
	Recorded    bool                      `json:"recorded"`
	EffectiveAt *time.Time                `json:"effective_at,omitempty"`
	ChangedBy   string                    `json:"changed_by,omitempty"`
	Reason      string                    `json:"reason,omitempty"`
	History     []contracts.RoutingPeriod `json:"history"`
}

// Run is the verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return RunWith(ctx, args, stdout, stderr, nil)
}

// RunWith is Run with lookup replacing os.LookupEnv (tests).
func RunWith(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	if len(args) > 0 {
		switch args[0] {
		case "help":
			fmt.Fprintln(stdout, usage)
			return nil
		case "list":
			return list(ctx, args[1:], stdout, stderr, lookup)
		case "set":
			return set(ctx, args[1:], stdout, stderr, lookup)
		}
		if !strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("%w: unknown sub-verb %q (want list or set)", cli.ErrUsage, args[0])
		}
	}
	return list(ctx, args, stdout, stderr, lookup)
}

func client(name string, stderr io.Writer, lookup func(string) (string, bool)) (*opsclient.Client, *flag.FlagSet) {
	c := &opsclient.Client{}
	c.Lookup(lookup)
	fs := opsenv.NewFlagSet(name, usage, stderr)
	c.Flags(fs)
	return c, fs
}

func list(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c, fs := client("isthmus flows", stderr, lookup)
	pos, err := c.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", cli.ErrUsage, pos[0])
	}
	var out struct {
		Flows []Flow `json:"flows"`
	}
	if err := c.Do(ctx, "GET", "/api/ops/flows", nil, &out); err != nil {
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, out.Flows)
	}
	return Table(stdout, out.Flows)
}

// Table prints the flows, one line each.
func Table(w io.Writer, flows []Flow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tMODE\tIN FORCE\tEFFECTIVE AT\tCHANGED BY\tREASON\tEARLIER")
	for _, f := range flows {
		at, by := "-", "-"
		if f.EffectiveAt != nil {
			at, by = f.EffectiveAt.UTC().Format(time.RFC3339), f.ChangedBy
		}
		reason := f.Reason
		if !f.Recorded {
			reason = "(no mode recorded: default)"
		}
		earlier := make([]string, len(f.History))
		for i, h := range f.History {
			earlier[i] = h.Mode + " from " + h.EffectiveAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Flow, f.Mode, f.InForce, at, by, reason, strings.Join(earlier, ", "))
	}
	return tw.Flush()
}

func set(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	c, fs := client("isthmus flows set", stderr, lookup)
	reason := fs.String("reason", "", "why (recorded with the change)")
	pos, err := c.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: want a flow and a mode: isthmus flows set <%s> <legacy|shadow|new>", cli.ErrUsage, strings.Join(flowmode.Flows, "|"))
	}
	if err := flowmode.ValidFlow(pos[0]); err != nil {
		return err
	}
	mode, err := flowmode.ParseMode(pos[1])
	if err != nil {
		return err
	}
	var out struct {
		Flow    Flow   `json:"flow"`
		Warning string `json:"warning"`
	}
	err = c.Do(ctx, "PUT", "/api/ops/flows/"+url.PathEscape(pos[0])+"/mode", map[string]string{"mode": mode, "reason": *reason}, &out)
	if err != nil {
		var ae *opsclient.APIError
		if errors.As(err, &ae) && ae.Status == 403 {
			return fmt.Errorf("%w (a mode change needs the role ops.cutover)", err)
		}
		return err
	}
	if c.JSON() {
		return opsenv.WriteJSON(stdout, out)
	}
	f := out.Flow
	fmt.Fprintf(stdout, "flow %s: %s recorded by %s, in force from %s (until then %s)\n", f.Flow, f.Mode, f.ChangedBy, f.EffectiveAt.UTC().Format(time.RFC3339Nano), f.InForce)
	if out.Warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", out.Warning)
	}
	return nil
}
