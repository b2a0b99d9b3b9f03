package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// recorder is a command that records its arguments and answers err.
type recorder struct {
	got [][]string
	err error
}

func (r *recorder) run(_ context.Context, args []string, stdout, _ io.Writer) error {
	r.got = append(r.got, args)
	fmt.Fprintln(stdout, "ran", strings.Join(args, " "))
	return r.err
}

func TestDispatcher(t *testing.T) {
	var list, show recorder
	d := &Dispatcher{Path: "isthmus dlq", Commands: []Command{
		{Name: "list", Summary: "every topic", Run: list.run},
		{Name: "show", Summary: "one message", Run: show.run},
	}, Notes: "Flags are per sub-verb."}

	t.Run("dispatch", func(t *testing.T) {
		var out, errb bytes.Buffer
		if err := d.Run(context.Background(), []string{"show", "quote-to-order", "--offset", "3"}, &out, &errb); err != nil {
			t.Fatal(err)
		}
		if want := [][]string{{"quote-to-order", "--offset", "3"}}; !slices.EqualFunc(show.got, want, slices.Equal) || len(list.got) != 0 {
			t.Errorf("show got %v, list got %v; want show %v", show.got, list.got, want)
		}
		if out.String() != "ran quote-to-order --offset 3\n" || errb.Len() != 0 {
			t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
		}
	})
	t.Run("error passes through", func(t *testing.T) {
		boom := errors.New("boom")
		d := &Dispatcher{Path: "isthmus x", Commands: []Command{{Name: "go", Run: (&recorder{err: boom}).run}}}
		if err := d.Run(context.Background(), []string{"go"}, io.Discard, io.Discard); err != boom {
			t.Errorf("err = %v, want the command's own", err)
		}
	})
	for _, help := range []string{"help", "-h", "--help"} {
		t.Run(help, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := d.Run(context.Background(), []string{help}, &out, &errb); err != nil {
				t.Fatal(err)
			}
			want := "Usage: isthmus dlq <sub-verb> [flags]   (isthmus dlq <sub-verb> --help for its flags)\n\n" +
				"  list         every topic\n" +
				"  show         one message\n\n" +
				"Flags are per sub-verb.\n"
			if out.String() != want || errb.Len() != 0 {
				t.Errorf("stdout %q, want %q; stderr %q", out.String(), want, errb.String())
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := d.Run(context.Background(), nil, &out, &errb)
		if !errors.Is(err, ErrUsage) || err.Error() != "missing sub-verb: list or show" {
			t.Errorf("err = %v, want a usage error naming the sub-verbs", err)
		}
		if out.Len() != 0 || !strings.Contains(errb.String(), "  show         one message\n") {
			t.Errorf("stdout %q, stderr %q: want the listing on stderr", out.String(), errb.String())
		}
	})
	t.Run("unknown", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := d.Run(context.Background(), []string{"purge", "--all"}, &out, &errb)
		if !errors.Is(err, ErrUsage) || err.Error() != `unknown sub-verb "purge" (want list or show)` {
			t.Errorf("err = %v", err)
		}
		if out.Len() != 0 || errb.Len() != 0 {
			t.Errorf("stdout %q, stderr %q: want nothing written", out.String(), errb.String())
		}
	})
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"serve"}, "serve"},
		{[]string{"apply", "check"}, "apply or check"},
		{[]string{"list", "show", "replay"}, "list, show or replay"},
	} {
		d := &Dispatcher{}
		for _, n := range tc.names {
			d.Commands = append(d.Commands, Command{Name: n})
		}
		if got := d.names(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestMainStatus(t *testing.T) {
	sub := &Dispatcher{Path: "isthmus dlq", Commands: []Command{{Name: "list", Summary: "every topic", Run: (&recorder{}).run}}}
	cmds := []Command{
		{Name: "topics", Summary: "create topics", Run: (&recorder{}).run},
		{Name: "dlq", Summary: "dead letters", Run: sub.Run},
		{Name: "fail", Summary: "fails", Run: (&recorder{err: errors.New("broker\n  unreachable")}).run},
		{Name: "misuse", Summary: "bad flags", Run: (&recorder{err: fmt.Errorf("%w: --topic is required", ErrUsage)}).run},
		{Name: "flaghelp", Summary: "--help of a flag set", Run: (&recorder{err: flag.ErrHelp}).run},
		{Name: "verdict", Summary: "not ready", Run: (&recorder{err: &ExitError{Code: 3, Err: errors.New("NOT READY: 2 DIFFERENT")}}).run},
	}
	tests := []struct {
		name           string
		args           []string
		status         int
		stdout, stderr string // substrings; "" wants nothing written
	}{
		{"verb", []string{"topics", "apply"}, 0, "ran apply", ""},
		{"sub-verb", []string{"dlq", "list", "-v"}, 0, "ran -v", ""},
		{"help", []string{"--help"}, 0, "  dlq          dead letters\n", ""},
		{"listing is sorted", []string{"help"}, 0, "  dlq          dead letters\n  fail ", ""},
		{"missing command", nil, 2, "", "isthmus: missing command: dlq, fail, flaghelp, misuse, topics or verdict\n"},
		{"unknown command", []string{"frobnicate"}, 2, "", "isthmus: unknown command \"frobnicate\" (want dlq, fail, flaghelp, misuse, topics or verdict)\n"},
		{"missing sub-verb", []string{"dlq"}, 2, "", "Usage: isthmus dlq <sub-verb>"},
		{"missing sub-verb reason", []string{"dlq"}, 2, "", "isthmus dlq: missing sub-verb: list\n"},
		{"unknown sub-verb", []string{"dlq", "purge"}, 2, "", "isthmus dlq: unknown sub-verb \"purge\" (want list)\n"},
		{"sub-verb help", []string{"dlq", "help"}, 0, "Usage: isthmus dlq <sub-verb> [flags]", ""},
		{"error on one line", []string{"fail"}, 1, "ran", "isthmus fail: broker unreachable\n"},
		{"usage error", []string{"misuse"}, 2, "ran", "isthmus misuse: usage: --topic is required\n"},
		{"flag help", []string{"flaghelp"}, 0, "ran", ""},
		{"own exit status", []string{"verdict"}, 3, "ran", "isthmus verdict: NOT READY: 2 DIFFERENT\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := Main(tc.args, &out, &errb, cmds); got != tc.status {
				t.Errorf("status %d, want %d (stderr %q)", got, tc.status, errb.String())
			}
			for _, w := range []struct {
				name, got, want string
			}{{"stdout", out.String(), tc.stdout}, {"stderr", errb.String(), tc.stderr}} {
				if (w.want == "" && w.got != "") || !strings.Contains(w.got, w.want) {
					t.Errorf("%s %q, want %q", w.name, w.got, w.want)
				}
			}
		})
	}
	if cmds[0].Name != "topics" {
		t.Error("Main reordered the caller's table")
	}
}
