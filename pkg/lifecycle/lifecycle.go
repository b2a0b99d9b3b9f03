// Package lifecycle runs a program's long-running parts together: the first
// one to fail stops the others, a SIGINT/SIGTERM stops all of them within a
// bounded time, a second signal forces exit, and context.Canceled is not an
// error.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/logging"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Component is one long-running part.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// Run runs every component until ctx ends or one fails; it returns the
// first real failure.
func Run(ctx context.Context, log *slog.Logger, comps ...Component) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Run(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = fmt.Errorf("%s: %w", c.Name, err) })
				log.Error("component failed", "component", c.Name, "err", err)
			}
			cancel()
		}()
	}
	wg.Wait()
	return first
}

// Configurable is a service's configuration: it declares its settings
// (including the Common ones) and exposes the Common part.
type Configurable interface {
	Register(s *config.Set)
	Base() *config.Common
}

// Main is the whole of a service's main(): it parses the settings of cfg,
// builds the logger, logs the effective configuration and calls run with a
// context cancelled by SIGINT/SIGTERM. It returns the process exit code;
// errors are printed as one line.
func Main(program string, cfg Configurable, run func(ctx context.Context, log *slog.Logger) error) int {
	return MainArgs(program, os.Args[1:], os.Stderr, cfg, run)
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
	// PII attribute names come from the topic catalog, so logs mask every
	// field the contracts mark as personal data.
	log := logging.New(stderr, cfg.Base().LogLevel, catalog.MustEmbedded().PIIFields()...).With("service", program)
	gcPercent := 0
	if t, ok := cfg.(GCTuned); ok {
		gcPercent = t.GCPercent()
	}
	log.Info("starting", append(s.EffectiveAttrs(), TuneGC(gcPercent).Attrs()...)...)
	ctx, stop := SignalContext(context.Background(), log)
	defer stop()
	shutdownTracing, err := tracing.Setup(ctx, program)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx)
	}()
	start := time.Now()
	if err := run(ctx, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with error", "err", err)
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	log.Info("stopped cleanly", "uptime", time.Since(start).String())
	return 0
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
