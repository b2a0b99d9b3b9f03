package processor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/retry"
)

// TestMain lets the test binary double as the sample processors that the
// SIGKILL and scale-out tests start, stop and kill: PROCESSOR_CHILD=1 runs
// one until a signal. PROCESSOR_MODE picks the counter (default), the
// timer processor or noop (a store, no work: the restore benchmark);
// PROCESSOR_SERVICE, _INSTANCE, _OUT, _STATIC, _SESSION, _STATE_DIR and
// _DELAY tune it, PROCESSOR_RESTORED_STATS makes it report its restore
// and stop.
func TestMain(m *testing.M) {
	if os.Getenv("PROCESSOR_CHILD") == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func childMain() int {
	kcfg := kafka.Config{Brokers: strings.Split(os.Getenv("PROCESSOR_BROKERS"), ","), TopicPrefix: os.Getenv("PROCESSOR_PREFIX")}
	delay, _ := time.ParseDuration(os.Getenv("PROCESSOR_DELAY"))
	out := envOr("PROCESSOR_OUT", "out.v1")
	cfg := Config{Service: envOr("PROCESSOR_SERVICE", "counter"), Instance: envOr("PROCESSOR_INSTANCE", "child"), Topics: []string{"in.v1"}}
	switch os.Getenv("PROCESSOR_MODE") {
	case "noop":
		cfg.Stores = []string{"counts"}
		cfg.Handler = func(context.Context, *Message) error { return nil }
	case "timer":
		cfg.Stores = []string{"timers"}
		cfg.Handler = timerHandler(delay)
		cfg.Tick, cfg.OnTick = 200*time.Millisecond, timerTick(out, cfg.Instance)
	default:
		var flakes atomic.Int64
		inner := counterHandlerTo(&flakes, out)
		cfg.Stores = []string{"counts"}
		cfg.Handler = func(ctx context.Context, m *Message) error {
			if delay > 0 {
				time.Sleep(delay)
			}
			stats.see(m)
			return inner(ctx, m)
		}
	}
	level := slog.LevelWarn
	_ = level.UnmarshalText([]byte(envOr("PROCESSOR_LOG_LEVEL", "warn")))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("instance", cfg.Instance)
	reg := prometheus.NewRegistry()
	opts := []Option{WithLogger(log), WithRegisterer(reg), WithMaxPollRecords(200), WithTransactionTimeout(20 * time.Second),
		WithRetryPolicy(retry.Policy{Base: 50 * time.Millisecond, Max: time.Second, MaxElapsed: 5 * time.Second}),
		WithStaticMembership(os.Getenv("PROCESSOR_STATIC") == "1"), WithIdleTimeout(5 * time.Second)}
	if dir := os.Getenv("PROCESSOR_STATE_DIR"); dir != "" {
		opts = append(opts, WithStateDir(dir))
	}
	if d, err := time.ParseDuration(os.Getenv("PROCESSOR_SESSION")); err == nil {
		opts = append(opts, WithSessionTimeout(d))
	}
	p, err := New(cfg, kcfg, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if path := os.Getenv("PROCESSOR_RESTORED_STATS"); path != "" {
		parts, _ := strconv.Atoi(os.Getenv("PROCESSOR_PARTITIONS"))
		go func() {
			reportRestored(ctx, reg, parts, path)
			stop()
		}()
	}
	err = p.Run(ctx)
	if path := os.Getenv("PROCESSOR_STATS"); path != "" {
		stats.write(path, reg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childStats counts, for the rebalance benchmark, input records a child
// handled again (at or below an offset it had already handled: work lost
// to an aborted batch or a re-read partition) and changelog records it
// restored.
type childStats struct {
	mu          sync.Mutex
	maxOffset   map[int32]int64
	handled     int64
	reprocessed int64
	// restoredAgain counts changelog records restored for a partition this
	// child had already handled records of (a partition it should have
	// kept, unless it lost it in between).
	restoredAgain int64
}

var stats = &childStats{maxOffset: map[int32]int64{}}

func init() {
	restoreHook = func(part int32, records int) {
		stats.mu.Lock()
		defer stats.mu.Unlock()
		if _, ok := stats.maxOffset[part]; ok {
			stats.restoredAgain += int64(records)
		}
	}
}

func (s *childStats) see(m *Message) {
	if m.Attempt() > 1 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled++
	if max, ok := s.maxOffset[m.Record.Partition]; ok && m.Record.Offset <= max {
		s.reprocessed++
		return
	}
	s.maxOffset[m.Record.Partition] = m.Record.Offset
}

func (s *childStats) write(path string, reg *prometheus.Registry) {
	restored := counterSum(reg, "isthmus_processor_restored_records_total")
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = os.WriteFile(path, fmt.Appendf(nil, "%d %d %.0f %d\n", s.handled, s.reprocessed, restored, s.restoredAgain), 0o644)
}

// reportRestored waits until parts partitions are restored and writes
// "<seconds since start> <restore seconds> <records restored> <peak RSS
// KiB> <RSS KiB>" to path (the state restore benchmark).
func reportRestored(ctx context.Context, reg *prometheus.Registry, parts int, path string) {
	start := time.Now()
	for ctx.Err() == nil {
		var n uint64
		var sum float64
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "isthmus_processor_restore_seconds" {
				for _, m := range mf.GetMetric() {
					n += m.GetHistogram().GetSampleCount()
					sum += m.GetHistogram().GetSampleSum()
				}
			}
		}
		if int(n) >= parts {
			status, _ := os.ReadFile("/proc/self/status")
			kib := func(field string) string {
				for _, line := range strings.Split(string(status), "\n") {
					if v, ok := strings.CutPrefix(line, field+":"); ok {
						return strings.TrimSuffix(strings.TrimSpace(v), " kB")
					}
				}
				return "0"
			}
			restored := counterSum(reg, "isthmus_processor_restored_records_total")
			_ = os.WriteFile(path, fmt.Appendf(nil, "%.3f %.3f %.0f %s %s\n", time.Since(start).Seconds(), sum, restored, kib("VmHWM"), kib("VmRSS")), 0o644)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// timerHandler keeps one timer per key: "set:<deadline ms>" arms it,
// "cancel" disarms it; anything else only advances stream time.
func timerHandler(delay time.Duration) Handler {
	return func(_ context.Context, m *Message) error {
		if delay > 0 {
			time.Sleep(delay)
		}
		v := string(m.Value())
		switch {
		case strings.HasPrefix(v, "set:"):
			ms, err := strconv.ParseInt(strings.TrimPrefix(v, "set:"), 10, 64)
			if err != nil {
				return nil
			}
			m.SetTimer("timers", m.Key(), time.UnixMilli(ms))
		case v == "cancel":
			m.CancelTimer("timers", m.Key())
		}
		return nil
	}
}

// timerTick fires every due timer once: it emits "fired:<key>:<deadline>"
// and cancels the timer in the same transaction.
func timerTick(out, instance string) TickHandler {
	return func(_ context.Context, m *Message, now time.Time) error {
		m.DueTimers("timers", now, func(k string, at time.Time) bool {
			m.CancelTimer("timers", k)
			m.Emit(out, k, []byte(fmt.Sprintf("fired:%s:%d", k, at.UnixMilli())), kgo.RecordHeader{Key: "fired-by", Value: []byte(fmt.Sprintf("%s@%d/p%d", instance, now.UnixMilli(), m.Partition()))})
			return true
		})
		return nil
	}
}
