package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
)

var quiet = slog.New(slog.DiscardHandler)

// journal records what the parts did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// before reports whether a was recorded, and before b.
func (j *journal) before(a, b string) bool {
	ev := j.list()
	ia, ib := slices.Index(ev, a), slices.Index(ev, b)
	return ia >= 0 && ib >= 0 && ia < ib
}

// waiting is a part that runs until its context ends, recording its phases.
func waiting(j *journal, name string, deps ...string) Component {
	return Component{
		Name:      name,
		DependsOn: deps,
		Start:     func(context.Context) error { j.add("start %s", name); return nil },
		Run: func(ctx context.Context) error {
			j.add("run %s", name)
			<-ctx.Done()
			j.add("end %s", name)
			return ctx.Err()
		},
		Stop: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				j.add("stop %s without a deadline", name)
			}
			j.add("stop %s", name)
			return nil
		},
	}
}

// runFor runs g until stop is called; the result arrives on the channel.
func runFor(g Group, comps ...Component) (stop context.CancelFunc, result <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, comps...) }()
	return cancel, done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s")
		return nil
	}
}

// TestDependencyOrder: a part starts after the parts it depends on, and its
// context ends and it stops before theirs; independent parts keep the
// given order.
func TestDependencyOrder(t *testing.T) {
	var j journal
	// api uses store, store uses log; metrics is independent. Given in an
	// order that is not the dependency order.
	stop, done := runFor(Group{Log: quiet},
		waiting(&j, "api", "store"), waiting(&j, "metrics"), waiting(&j, "store", "log"), waiting(&j, "log"))
	waitFor(t, "every part running", func() bool {
		ev := j.list()
		return slices.Contains(ev, "run api") && slices.Contains(ev, "run metrics")
	})
	stop()
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	ev := j.list()
	var starts []string
	for _, e := range ev {
		if name, ok := strings.CutPrefix(e, "start "); ok {
			starts = append(starts, name)
		}
	}
	// Each Start runs once the Start of what the part uses has returned.
	if want := []string{"metrics", "log", "store", "api"}; !slices.Equal(starts, want) {
		t.Errorf("start order %v, want %v", starts, want)
	}
	for _, c := range [][2]string{
		{"stop api", "end store"}, {"stop store", "end log"}, // stopped before what they use
		{"end api", "stop api"}, {"end store", "stop store"}, {"end log", "stop log"}, {"end metrics", "stop metrics"},
	} {
		if !j.before(c[0], c[1]) {
			t.Errorf("%q not before %q in %v", c[0], c[1], ev)
		}
	}
	for _, e := range ev {
		if strings.Contains(e, "without a deadline") {
			t.Errorf("%s", e)
		}
	}
}

// TestFailureStopsTheOthers: the first part to fail stops the others, and
// Run returns its error, naming it.
func TestFailureStopsTheOthers(t *testing.T) {
	var j journal
	boom := errors.New("boom")
	stop, done := runFor(Group{Log: quiet}, waiting(&j, "a"), waiting(&j, "b", "a"),
		Component{Name: "bad", Run: func(context.Context) error {
			time.Sleep(20 * time.Millisecond)
			return boom
		}})
	defer stop()
	err := result(t, done)
	if !errors.Is(err, boom) || err.Error() != "bad: boom" {
		t.Fatalf("Run = %v, want bad: boom", err)
	}
	for _, e := range []string{"stop a", "stop b"} {
		if !slices.Contains(j.list(), e) {
			t.Errorf("%s missing: %v", e, j.list())
		}
	}
}

// TestStartFailure: a failed Start stops the parts already started and
// starts no more.
func TestStartFailure(t *testing.T) {
	var j journal
	bad := waiting(&j, "bad", "a")
	bad.Start = func(context.Context) error { return errors.New("port taken") }
	stop, done := runFor(Group{Log: quiet}, waiting(&j, "a"), bad, waiting(&j, "after", "bad"))
	defer stop()
	err := result(t, done)
	if err == nil || err.Error() != "bad: port taken" {
		t.Fatalf("Run = %v, want bad: port taken", err)
	}
	ev := j.list()
	if !slices.Contains(ev, "stop a") || slices.ContainsFunc(ev, func(e string) bool { return strings.HasSuffix(e, " after") || e == "run bad" }) {
		t.Fatalf("events %v: want a stopped, bad and after never run", ev)
	}
}

// TestStopIsBounded: a part that ignores its context does not hold the stop
// past the timeout; Run names it (and only it) in a *StopTimeoutError.
func TestStopIsBounded(t *testing.T) {
	var j journal
	hung := make(chan struct{})
	defer close(hung)
	stuck := Component{Name: "stuck", Run: func(context.Context) error { j.add("run stuck"); <-hung; return nil }}
	start := time.Now()
	stop, done := runFor(Group{Log: quiet, StopTimeout: 150 * time.Millisecond}, waiting(&j, "fine"), stuck)
	waitFor(t, "both parts running", func() bool {
		ev := j.list()
		return slices.Contains(ev, "run stuck") && slices.Contains(ev, "run fine")
	})
	stop()
	err := result(t, done)
	took := time.Since(start)
	var te *StopTimeoutError
	if !errors.As(err, &te) || !slices.Equal(te.Parts, []string{"stuck"}) || te.Timeout != 150*time.Millisecond {
		t.Fatalf("Run = %v, want a StopTimeoutError naming stuck", err)
	}
	if err.Error() != "did not stop within 150ms: stuck" || took > 2*time.Second {
		t.Fatalf("Run = %q after %v", err, took)
	}
	if !slices.Contains(j.list(), "stop fine") {
		t.Errorf("the part that could stop did not: %v", j.list())
	}
}

// TestEndedPartStopsTheOthers: a part that returns nil ends the group
// without an error; context.Canceled is not an error either.
func TestEndedPartStopsTheOthers(t *testing.T) {
	var j journal
	stop, done := runFor(Group{Log: quiet}, waiting(&j, "a"), Component{Name: "once", Run: func(context.Context) error { return nil }})
	defer stop()
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !slices.Contains(j.list(), "stop a") {
		t.Fatalf("a not stopped: %v", j.list())
	}
}

func TestBadDependencies(t *testing.T) {
	run := func(context.Context) error { return nil }
	for _, c := range []struct {
		comps []Component
		want  string
	}{
		{[]Component{{Name: "a", Run: run, DependsOn: []string{"b"}}, {Name: "b", Run: run, DependsOn: []string{"a"}}}, "lifecycle: dependency cycle among a, b"},
		{[]Component{{Name: "a", Run: run, DependsOn: []string{"nope"}}}, `lifecycle: a depends on "nope", which is not a component`},
		{[]Component{{Name: "a", Run: run}, {Name: "a", Run: run}}, `lifecycle: two components named "a"`},
	} {
		if err := Run(context.Background(), quiet, c.comps...); err == nil || err.Error() != c.want {
			t.Errorf("Run = %v, want %s", err, c.want)
		}
	}
}

type plainProgram struct{ config.Common }

func (c *plainProgram) Register(s *config.Set) { c.Common.Register(s, "stuck-program") }
func (c *plainProgram) Base() *config.Common   { return &c.Common }

// TestMainExitsWhenAPartDoesNotStop: on SIGTERM, a program whose part
// does not stop exits non-zero, the part named on stderr.
func TestMainExitsWhenAPartDoesNotStop(t *testing.T) {
	hung := make(chan struct{})
	defer close(hung)
	var stderr bytes.Buffer
	code := MainArgs("stuck-program", nil, &stderr, &plainProgram{}, func(ctx context.Context, log *slog.Logger) error {
		// SignalContext is listening by now: the signal stops the group,
		// it does not kill the test.
		go func() {
			time.Sleep(50 * time.Millisecond)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
		return Group{Log: log, StopTimeout: 100 * time.Millisecond}.Run(ctx,
			Component{Name: "stuck", Run: func(context.Context) error { <-hung; return nil }})
	})
	if code != 1 || !strings.Contains(stderr.String(), "stuck-program: did not stop within 100ms: stuck") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestNothingToRun: no components, nothing to wait for.
func TestNothingToRun(t *testing.T) {
	if err := Run(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
}

// TestProgram: a service's main hands Run the very config it parsed, and
// Run's failure is the exit status.
func TestProgram(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	os.Args = []string{"plain-program"}
	cfg := &plainProgram{}
	var got *plainProgram
	if code := Program("plain-program", cfg, func(_ context.Context, c *plainProgram, _ *slog.Logger) error { got = c; return nil }); code != 0 || got != cfg {
		t.Fatalf("exit %d, run got %p, want %p", code, got, cfg)
	}
	if code := Program("plain-program", &plainProgram{}, func(context.Context, *plainProgram, *slog.Logger) error { return errors.New("boom") }); code != 1 {
		t.Fatalf("a failing run exits %d, want 1", code)
	}
}
