// Package cli is the shape every isthmus verb has: a name, a one-line
// summary and Run(ctx, args, stdout, stderr) error, and the one dispatcher
// that picks a verb from the command line, or a sub-verb of a verb that has
// them (dlq list|show|replay, ...). Main runs the top-level table, prints a
// returned error as one line `isthmus <verb>: <err>` and exits non-zero.
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

// Command is one verb or sub-verb.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// ErrUsage marks a usage error (exit status 2).
var ErrUsage = errors.New("usage")

// ExitError ends the command with its own exit status (a verdict, not a
// failure: `isthmus recon parity` exits 3 when a flow is not ready for
// cutover). Main prints its message as the one line of every error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a usage error whose message is only its reason (a missing or
// unknown command): errors.Is(err, ErrUsage).
type usageError string

func (e usageError) Error() string        { return string(e) }
func (e usageError) Is(target error) bool { return target == ErrUsage }

// Dispatcher runs the command its first argument names, with the remaining
// arguments: the CLI's verbs, or the sub-verbs of one verb. Its Run has the
// signature of Command.Run, so a verb with sub-verbs is
//
//	{Name: "dlq", Summary: "...", Run: dispatcher.Run}
//
// Run answers the same way at every level:
//
//   - -h, --help or help: the listing on stdout; nil.
//   - no argument: the listing on stderr; an ErrUsage naming the commands.
//   - an unknown name: an ErrUsage naming it and the commands.
type Dispatcher struct {
	// Path is the command line up to the name Run picks: "isthmus dlq".
	Path string
	// Noun is what that name is called in the listing and in errors;
	// default "sub-verb".
	Noun string
	// Title is the listing's first line; none by default.
	Title string
	// Commands, listed in this order.
	Commands []Command
	// Notes follow the listing; none by default.
	Notes string
}

// Run dispatches args.
func (d *Dispatcher) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		d.Usage(stderr)
		return usageError(fmt.Sprintf("missing %s: %s", d.noun(), d.names()))
	}
	switch args[0] {
	case "-h", "--help", "help":
		d.Usage(stdout)
		return nil
	}
	c, ok := d.find(args[0])
	if !ok {
		return usageError(fmt.Sprintf("unknown %s %q (want %s)", d.noun(), args[0], d.names()))
	}
	return c.Run(ctx, args[1:], stdout, stderr)
}

// Usage writes the listing: every command with its summary.
func (d *Dispatcher) Usage(w io.Writer) {
	if d.Title != "" {
		fmt.Fprintln(w, d.Title)
		fmt.Fprintln(w)
	}
	n := d.noun()
	fmt.Fprintf(w, "Usage: %s <%s> [flags]   (%s <%s> --help for its flags)\n\n", d.Path, n, d.Path, n)
	width := 12
	for _, c := range d.Commands {
		width = max(width, len(c.Name)+1)
	}
	for _, c := range d.Commands {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.Name, c.Summary)
	}
	if d.Notes != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, d.Notes)
	}
}

func (d *Dispatcher) noun() string {
	if d.Noun == "" {
		return "sub-verb"
	}
	return d.Noun
}

func (d *Dispatcher) find(name string) (Command, bool) {
	for _, c := range d.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// names is "a, b or c".
func (d *Dispatcher) names() string {
	names := make([]string, len(d.Commands))
	for i, c := range d.Commands {
		names[i] = c.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Main runs the command line with the verbs cmds (listed by name) and
// returns the exit status: 0, 2 for a usage error, an ExitError's code,
// 1 for any other error; an error is printed as one line
// `isthmus <verb>: <err>` (`isthmus: <err>` when no verb was found).
func Main(args []string, stdout, stderr io.Writer, cmds []Command) int {
	cmds = append([]Command(nil), cmds...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	top := &Dispatcher{
		Path:     "isthmus",
		Noun:     "command",
		Title:    "isthmus — operate the Isthmus CRM⇄ERP integration suite",
		Commands: cmds,
	}
	prefix := "isthmus"
	if len(args) > 0 {
		if c, ok := top.find(args[0]); ok {
			prefix += " " + c.Name
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := top.Run(ctx, args, stdout, stderr)
	var exit *ExitError
	switch {
	case errors.As(err, &exit):
		fmt.Fprintf(stderr, "%s: %s\n", prefix, oneLine(err))
		return exit.Code
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %s\n", prefix, oneLine(err))
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %s\n", prefix, oneLine(err))
		return 1
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}
