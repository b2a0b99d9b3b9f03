package flowmode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Source answers a flow's mode at a command's time.
type Source interface {
	// At is the mode of flow in force at t. It fails with a retriable
	// error (errs.ReasonRoutingUnknown) while the mode at t cannot be known
	// yet: the command waits, it is never routed on a guess.
	At(ctx context.Context, flow string, t time.Time) (string, error)
}

// Fixed is a Source of modes that never change (a flow it lacks is
// Default): for handler tests and single-path deployments.
type Fixed map[string]string

// At is the fixed mode of flow.
func (f Fixed) At(_ context.Context, flow string, _ time.Time) (string, error) {
	if m, ok := f[flow]; ok {
		return m, nil
	}
	return Default, nil
}

// Watcher follows ops.flow-mode.v1 and answers At once it has read every
// record appended before the asked time.
type Watcher struct {
	kcfg  kafka.Config
	sd    *serde.Serde
	log   *slog.Logger
	topic string // physical
	// Wait bounds how long At waits for the watcher to catch up before it
	// fails (retriable).
	Wait time.Duration
	// Every is the pause between two reads of the topic's end while no
	// one waits; a command waiting in At starts the next read at once.
	Every time.Duration

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when caughtUp moves
	kick     chan struct{} // At asks for a read now
	caughtUp time.Time     // every record appended before it has been read
	current  map[string]contracts.FlowMode
	plans    map[string]Schedule
}

// NewWatcher returns a watcher of the flow-mode topic of kcfg; Run it.
func NewWatcher(kcfg kafka.Config, sd *serde.Serde, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{kcfg: kcfg, sd: sd, log: log, topic: kcfg.Topic(contracts.TopicOpsFlowModeV1),
		Wait: 10 * time.Second, Every: 500 * time.Millisecond,
		changed: make(chan struct{}), kick: make(chan struct{}, 1), current: map[string]contracts.FlowMode{}, plans: map[string]Schedule{}}
}

// Run reads the topic from its start until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	cl, err := w.kcfg.NewClient(
		kgo.ConsumeTopics(w.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("flow modes: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	next := map[int32]int64{} // next offset to read per partition
	for ctx.Err() == nil {
		start := time.Now()
		ends, err := adm.ListCommittedOffsets(ctx, w.topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("flow modes: cannot read the end of the mode topic", "topic", w.topic, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for !w.reached(ends, next) && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fs := cl.PollFetches(pctx)
			cancel()
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					w.log.Warn("flow modes: fetch", "topic", t, "partition", p, "err", err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				next[r.Partition] = r.Offset + 1
				w.apply(ctx, r)
			})
		}
		if ctx.Err() != nil {
			break
		}
		w.mu.Lock()
		w.caughtUp = start
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		t := time.NewTimer(w.Every)
		select {
		case <-t.C:
		case <-w.kick:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return nil
}

func (w *Watcher) reached(ends kadm.ListedOffsets, next map[int32]int64) bool {
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if next[o.Partition] < o.Offset {
			done = false
		}
	})
	return done
}

func (w *Watcher) apply(ctx context.Context, r *kgo.Record) {
	if r.Value == nil {
		w.mu.Lock()
		delete(w.current, string(r.Key))
		delete(w.plans, string(r.Key))
		w.mu.Unlock()
		return
	}
	var v contracts.FlowMode
	if err := w.sd.Decode(ctx, r.Value, &v); err != nil {
		// Written only by the operations API: a record it did not write is
		// left out, loudly.
		w.log.Error("flow modes: record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	w.mu.Lock()
	w.current[v.Flow] = v
	w.plans[v.Flow] = ScheduleOf(&v)
	w.mu.Unlock()
	w.log.Info("flow mode", "flow", v.Flow, "mode", v.Mode, "effective_at", v.EffectiveAt, "changed_by", v.ChangedBy)
}

// At is the mode of flow at t, once every change recorded before t has
// been read; it waits up to Wait for that.
func (w *Watcher) At(ctx context.Context, flow string, t time.Time) (string, error) {
	deadline := time.NewTimer(w.Wait)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		if t.Before(w.caughtUp) {
			m := w.plans[flow].At(t)
			w.mu.Unlock()
			return m, nil
		}
		ch, caught := w.changed, w.caughtUp
		w.mu.Unlock()
		select { // a read that starts after t answers for t
		case w.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		case <-deadline.C:
			return "", errs.Retriable(errs.ReasonRoutingUnknown,
				fmt.Errorf("flow %s: mode at %s not known: %s read only up to %s", flow, t.UTC().Format(time.RFC3339Nano), w.topic, caught.UTC().Format(time.RFC3339Nano)))
		}
	}
}

// Current is every flow's current mode record.
func (w *Watcher) Current() map[string]contracts.FlowMode {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]contracts.FlowMode, len(w.current))
	for k, v := range w.current {
		out[k] = v
	}
	return out
}

// Ready reports whether the watcher has read the topic to its end once.
func (w *Watcher) Ready() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.caughtUp.IsZero()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ErrLate is the error of Publish when the record was written but
// acknowledged only after its effective time.
var ErrLate = errors.New("mode recorded after it took effect")

// Publish records v, a record made by Next, on the mode topic of kcfg. It
// fails when the broker acknowledged it only after its effective time
// (ErrLate: the record is written, but commands in between may have been
// routed by the earlier mode on a path that had not read it).
func Publish(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, sd *serde.Serde, v *contracts.FlowMode) error {
	// The subject is the physical topic's (TopicNameStrategy, with the
	// prefix), like every other producer's.
	topic := kcfg.Topic(contracts.TopicOpsFlowModeV1)
	b, err := sd.Encode(ctx, topic, v)
	if err != nil {
		return fmt.Errorf("flow %s: encode mode: %w", v.Flow, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(v.Flow), Value: b}).FirstErr(); err != nil {
		return fmt.Errorf("flow %s: record mode: %w", v.Flow, err)
	}
	if late := time.Since(v.EffectiveAt); late > 0 {
		return fmt.Errorf("flow %s: mode %s %w by %s: commands in between may not have been routed alike; check parity", v.Flow, v.Mode, ErrLate, late.Round(time.Millisecond))
	}
	return nil
}
