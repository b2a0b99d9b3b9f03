// Package lifecycle runs a program's long-running parts together. Each part
// has start, run and stop phases and may depend on others: it starts after
// them and stops before them. The first part to fail (or end) stops the
// others; a SIGINT/SIGTERM stops all of them, and the stop is bounded (the
// parts still running at the deadline are named in the error and the
// program exits non-zero); a second signal forces exit at once;
// context.Canceled is not an error. Main is a service's whole main():
// settings, logger and tracing (Observe), GC tuning, signals.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/logging"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// DefaultStopTimeout bounds the stop of Run: the chart gives a pod 45 s
// between SIGTERM and SIGKILL, and the process reports what did not stop
// before that.
const DefaultStopTimeout = 30 * time.Second

// Component is one long-running part: Start prepares it, Run runs it until
// its context ends, Stop releases what it holds.
type Component struct {
	Name string
	// Start, when set, prepares the part (binds its port, loads its state)
	// before its Run and before the parts that depend on it start. An error
	// ends the start: the parts already started are stopped and Run returns
	// the error. Its context ends when the group stops, and it must return
	// then: the stop deadline counts from the end of the start.
	Start func(ctx context.Context) error
	// Run runs until ctx ends (context.Canceled is not an error) or the part
	// fails; when it returns, the whole group stops.
	Run func(ctx context.Context) error
	// Stop, when set, runs once Run has returned, with a context that ends
	// at the group's stop deadline.
	Stop func(ctx context.Context) error
	// DependsOn names parts this one uses: it starts after they have
	// started, and its context ends, and it stops, before theirs.
	DependsOn []string
}

// StopTimeoutError names the parts that had not stopped when the stop
// deadline passed; Run returns without waiting for them.
type StopTimeoutError struct {
	Parts   []string
	Timeout time.Duration
}

func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("did not stop within %s: %s", e.Timeout, strings.Join(e.Parts, ", "))
}

// Run runs every component (Group with the default stop timeout).
func Run(ctx context.Context, log *slog.Logger, comps ...Component) error {
	return Group{Log: log}.Run(ctx, comps...)
}

// Group runs components together.
type Group struct {
	Log *slog.Logger
	// StopTimeout bounds the stop, from the moment it begins to the last
	// part's Stop. Default: DefaultStopTimeout.
	StopTimeout time.Duration
}

// part is a component while the group runs it.
type part struct {
	Component
	cancel context.CancelFunc
	done   chan struct{} // closed once Run and Stop have returned
}

// Run starts the components in dependency order (the given order among
// independent ones), runs them until ctx ends or one of them returns, then
// stops them in reverse dependency order within the stop timeout. It
// returns the first real failure (its part named), and a
// *StopTimeoutError when parts did not stop in time.
func (g Group) Run(ctx context.Context, comps ...Component) error {
	order, err := startOrder(comps)
	if err != nil || len(order) == 0 {
		return err
	}
	timeout := g.StopTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	log := g.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu       sync.Mutex
		first    error
		deadline time.Time
		once     sync.Once
		stopping = make(chan struct{})
	)
	fail := func(name string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		log.Error("component failed", "component", name, "err", err)
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = fmt.Errorf("%s: %w", name, err)
		}
	}
	stop := func() {
		once.Do(func() {
			mu.Lock()
			deadline = time.Now().Add(timeout)
			mu.Unlock()
			close(stopping)
		})
	}
	stopCtx := func() (context.Context, context.CancelFunc) {
		mu.Lock()
		defer mu.Unlock()
		return context.WithDeadline(context.WithoutCancel(ctx), deadline)
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-stopping:
		}
	}()
	// Starts end when the group stops (a signal, a failed part).
	startCtx, cancelStarts := context.WithCancel(ctx)
	defer cancelStarts()
	go func() { <-stopping; cancelStarts() }()

	var started []*part
starting:
	for _, c := range order {
		select {
		case <-stopping:
			break starting
		default:
		}
		if c.Start != nil {
			if err := c.Start(startCtx); err != nil {
				fail(c.Name, err)
				stop()
				break
			}
		}
		// Each part has a context of its own, ended in dependency order
		// once the group stops.
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p := &part{Component: c, cancel: cancel, done: make(chan struct{})}
		started = append(started, p)
		go func() {
			defer close(p.done)
			fail(p.Name, p.Run(runCtx))
			stop()
			if p.Stop != nil {
				sctx, cancel := stopCtx()
				defer cancel()
				fail(p.Name, p.Stop(sctx))
			}
		}()
	}
	<-stopping

	// A part's context ends once every started part that depends on it
	// has stopped.
	for _, p := range started {
		var dependents []*part
		for _, q := range started {
			if slices.Contains(q.DependsOn, p.Name) {
				dependents = append(dependents, q)
			}
		}
		go func() {
			for _, q := range dependents {
				<-q.done
			}
			p.cancel()
		}()
	}
	mu.Lock()
	timer := time.NewTimer(time.Until(deadline))
	mu.Unlock()
	defer timer.Stop()
	for _, p := range started {
		select {
		case <-p.done:
			continue
		case <-timer.C:
		}
		var late []string
		for _, q := range started {
			select {
			case <-q.done:
			default:
				late = append(late, q.Name)
				q.cancel() // the parts it was waiting for too
			}
		}
		te := &StopTimeoutError{Parts: late, Timeout: timeout}
		log.Error("components did not stop in time", "components", late, "timeout", timeout.String())
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(first, te)
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// startOrder sorts comps so that each comes after the parts it depends on,
// keeping the given order otherwise; unknown dependencies, duplicate names
// and cycles are errors.
func startOrder(comps []Component) ([]Component, error) {
	index := make(map[string]int, len(comps))
	for i, c := range comps {
		if _, dup := index[c.Name]; dup {
			return nil, fmt.Errorf("lifecycle: two components named %q", c.Name)
		}
		index[c.Name] = i
	}
	for _, c := range comps {
		for _, d := range c.DependsOn {
			if _, ok := index[d]; !ok {
				return nil, fmt.Errorf("lifecycle: %s depends on %q, which is not a component", c.Name, d)
			}
		}
	}
	placed := make([]bool, len(comps))
	ready := func(c Component) bool {
		return !slices.ContainsFunc(c.DependsOn, func(d string) bool { return !placed[index[d]] })
	}
	order := make([]Component, 0, len(comps))
	for len(order) < len(comps) {
		progress := false
		for i, c := range comps {
			if placed[i] || !ready(c) {
				continue
			}
			placed[i] = true
			order = append(order, c)
			progress = true
			break
		}
		if !progress {
			var left []string
			for i, c := range comps {
				if !placed[i] {
					left = append(left, c.Name)
				}
			}
			return nil, fmt.Errorf("lifecycle: dependency cycle among %s", strings.Join(left, ", "))
		}
	}
	return order, nil
}

// Configurable is a service's configuration: it declares its settings
// (including the Common ones) and exposes the Common part.
type Configurable interface {
	config.Settings
	Base() *config.Common
}

// Main is the whole of a service's main(): it parses the settings of cfg,
// builds the logger, logs the effective configuration and calls run with a
// context cancelled by SIGINT/SIGTERM. It returns the process exit code;
// errors are printed as one line.
func Main(program string, cfg Configurable, run func(ctx context.Context, log *slog.Logger) error) int {
	return MainArgs(program, os.Args[1:], os.Stderr, cfg, run)
}

// Program is Main for a service whose entry is Run(ctx, cfg, log): a
// service's whole main() is
//
//	os.Exit(lifecycle.Program(svc.Name, &svc.Config{}, svc.Run))
func Program[C Configurable](program string, cfg C, run func(ctx context.Context, cfg C, log *slog.Logger) error) int {
	return Main(program, cfg, func(ctx context.Context, log *slog.Logger) error { return run(ctx, cfg, log) })
}

// MainArgs is Main with explicit arguments and error stream (tests).
func MainArgs(program string, args []string, stderr io.Writer, cfg Configurable, run func(ctx context.Context, log *slog.Logger) error) int {
	s := config.NewSet(program)
	cfg.Register(s)
	if err := s.Parse(args, nil, stderr); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 2
	}
	log, flush, err := Observe(context.Background(), program, stderr, cfg.Base().LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 2
	}
	defer flush()
	log = log.With("service", program)
	gcPercent := 0
	if t, ok := cfg.(GCTuned); ok {
		gcPercent = t.GCPercent()
	}
	log.Info("starting", append(s.EffectiveAttrs(), TuneGC(gcPercent).Attrs()...)...)
	ctx, stop := SignalContext(context.Background(), log)
	defer stop()
	start := time.Now()
	if err := run(ctx, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with error", "err", err)
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	log.Info("stopped cleanly", "uptime", time.Since(start).String())
	return 0
}

// Observe is how a program starts its logs and traces: a JSON logger on w
// at level that masks every field the topic catalog marks as personal data,
// and tracing named service (pkg/tracing: exported over OTLP when
// configured). flush sends the spans still buffered, within 5 s. Main calls
// it for every service; `isthmus dev` for the suite it runs in one process.
func Observe(ctx context.Context, service string, w io.Writer, level slog.Leveler) (log *slog.Logger, flush func(), err error) {
	log = logging.New(w, level, catalog.MustEmbedded().PIIFields()...)
	shutdown, err := tracing.Setup(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	return log, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
	}, nil
}

// SignalContext returns a context cancelled by the first SIGINT/SIGTERM; a
// second signal exits the process at once with status 130.
func SignalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			log.Info("signal received, shutting down (send again to force)", "signal", sig.String())
			cancel()
		case <-ctx.Done():
			return
		}
		sig := <-ch
		log.Error("second signal, forcing exit", "signal", sig.String())
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
