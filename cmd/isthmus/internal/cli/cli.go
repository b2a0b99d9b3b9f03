// Package cli is the shape every isthmus verb has: a name, a one-line
// summary and Run(ctx, args, stdout, stderr) error. Main dispatches the
// command line, prints a returned error as one line `isthmus <verb>: <err>`
// and exits non-zero.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Command is one verb (possibly with sub-verbs handled by its Run).
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// ErrUsage marks a usage error (exit status 2).
var ErrUsage = errors.New("usage")

// Main runs the command line and returns the exit status.
func Main(args []string, stdout, stderr io.Writer, cmds []Command) int {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err := c.Run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, ErrUsage):
			fmt.Fprintf(stderr, "isthmus %s: %s\n", c.Name, oneLine(err))
			return 2
		default:
			fmt.Fprintf(stderr, "isthmus %s: %s\n", c.Name, oneLine(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "isthmus: unknown command %q (see isthmus --help)\n", args[0])
	return 2
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

func usage(w io.Writer, cmds []Command) {
	fmt.Fprintln(w, "isthmus — operate the Isthmus CRM⇄ERP integration suite")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: isthmus <command> [flags]   (isthmus <command> --help for its flags)")
	fmt.Fprintln(w)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.Name, c.Summary)
	}
}
