package processor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/isthmus/isthmus/pkg/tracing"
)

// The scale-out conformance suite runs real processes of the sample
// processors (this test binary, see TestMain) against a cluster while a
// producer keeps writing, and puts the group through everything a
// Kubernetes deployment does to it: scale 1→3, a rolling replacement of
// every instance with new ids, a SIGKILL, a SIGSTOP past the session
// timeout and back (the zombie), and scale 3→1. A second, uninterrupted
// group then processes the same input; outputs and state must be equal.

const scaleSession = 6 * time.Second

type fleet struct {
	t    testing.TB
	e    *env
	mode string
	mu   sync.Mutex
	proc map[string]*exec.Cmd
}

func newFleet(t testing.TB, e *env, mode string) *fleet {
	f := &fleet{t: t, e: e, mode: mode, proc: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.proc {
			_ = c.Process.Signal(syscall.SIGCONT)
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	return f
}

// start runs one instance; extra are KEY=VALUE settings.
func (f *fleet) start(id string, extra ...string) {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCESSOR_CHILD=1",
		"PROCESSOR_BROKERS="+strings.Join(f.e.kcfg.Brokers, ","),
		"PROCESSOR_PREFIX="+f.e.kcfg.TopicPrefix,
		"PROCESSOR_MODE="+f.mode,
		"PROCESSOR_INSTANCE="+id,
		"PROCESSOR_SESSION="+scaleSession.String(),
		"PROCESSOR_DELAY=300us", "PROCESSOR_LOG_LEVEL="+os.Getenv("PROCESSOR_LOG_LEVEL"))
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.proc[id] = cmd
	f.mu.Unlock()
	f.t.Logf("started %s (pid %d)", id, cmd.Process.Pid)
}

func (f *fleet) signal(id string, sig syscall.Signal) {
	f.t.Helper()
	f.mu.Lock()
	cmd := f.proc[id]
	f.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		f.t.Fatalf("signal %s: %v", id, err)
	}
	f.t.Logf("%s → %s", sig, id)
}

// stop ends an instance with sig and waits for it to exit.
func (f *fleet) stop(id string, sig syscall.Signal) {
	f.t.Helper()
	f.signal(id, sig)
	f.mu.Lock()
	cmd := f.proc[id]
	delete(f.proc, id)
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		f.t.Fatalf("%s did not stop within 60s of %s", id, sig)
	}
}

// feeder produces records to in.v1 at a steady rate until stopped; next
// makes record i (key, value, timestamp). It remembers what it wrote.
type feeder struct {
	stop   chan struct{}
	done   chan struct{}
	inputs map[string][]string
	recs   []*kgo.Record
}

func startFeeder(t testing.TB, e *env, rate int, next func(i int) *kgo.Record) *feeder {
	fd := &feeder{stop: make(chan struct{}), done: make(chan struct{}), inputs: map[string][]string{}}
	cl := e.client(kgo.DefaultProduceTopic(e.kcfg.Topic(e.in)), kgo.ProducerLinger(5*time.Millisecond))
	go func() {
		defer close(fd.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-fd.stop:
				if err := cl.Flush(context.Background()); err != nil {
					t.Errorf("flush: %v", err)
				}
				return
			case <-tick.C:
			}
			for range rate / 50 {
				r := next(i)
				fd.inputs[string(r.Key)] = append(fd.inputs[string(r.Key)], string(r.Value))
				fd.recs = append(fd.recs, r)
				cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
				i++
			}
		}
	}()
	return fd
}

func (fd *feeder) finish() map[string][]string {
	close(fd.stop)
	<-fd.done
	return fd.inputs
}

// progress waits until n more committed outputs than before have arrived.
type progress struct {
	t        testing.TB
	cl       *kgo.Client
	seen     []*kgo.Record
	diagnose func(missing []string)
}

func newProgress(t testing.TB, e *env, topic string) *progress {
	return &progress{t: t, cl: e.client(kgo.ConsumeTopics(e.kcfg.Topic(topic)), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))}
}

func (pr *progress) advance(n int, timeout time.Duration, what string) {
	pr.t.Helper()
	want := len(pr.seen) + n
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for len(pr.seen) < want {
		fs := pr.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			pr.t.Fatalf("%s: %d of %d outputs within %s", what, len(pr.seen), want, timeout)
		}
		fs.EachRecord(func(r *kgo.Record) { pr.seen = append(pr.seen, r) })
	}
	pr.t.Logf("%s: %d outputs", what, len(pr.seen))
}

// until reads outputs until exactly total have arrived and nothing more
// comes for quiet.
func (pr *progress) until(total int, timeout, quiet time.Duration) []*kgo.Record {
	pr.t.Helper()
	if len(pr.seen) < total {
		pr.advance(total-len(pr.seen), timeout, "drain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	for ctx.Err() == nil {
		pr.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { pr.seen = append(pr.seen, r) })
	}
	if len(pr.seen) != total {
		pr.t.Fatalf("%d outputs, want exactly %d", len(pr.seen), total)
	}
	return pr.seen
}

// churn puts a fleet of the given mode through the scale-out scenario
// while the feeder runs, and leaves one instance running.
func churn(t testing.TB, f *fleet, pr *progress, step int) (last string) {
	wait := 3 * time.Minute
	f.start("a1")
	pr.advance(step, wait, "one instance")
	f.start("a2")
	f.start("a3")
	pr.advance(step, wait, "scaled to three")
	// Rolling replacement with new ids, one at a time.
	for i, old := range []string{"a1", "a2", "a3"} {
		f.start(fmt.Sprintf("b%d", i+1))
		pr.advance(step/2, wait, "replacement b"+strconv.Itoa(i+1)+" joined")
		f.stop(old, syscall.SIGTERM)
		pr.advance(step/2, wait, old+" left")
	}
	// A crash: SIGKILL, replaced by a new instance.
	f.stop("b1", syscall.SIGKILL)
	f.start("c1")
	pr.advance(step, wait, "b1 killed, c1 started")
	// The zombie: stalled past the session timeout, its partitions move to
	// the others; then it resumes and must not commit what it held.
	f.signal("b2", syscall.SIGSTOP)
	time.Sleep(scaleSession + 4*time.Second)
	pr.advance(step/2, wait, "b2 stalled")
	f.signal("b2", syscall.SIGCONT)
	pr.advance(step, wait, "b2 resumed")
	// Scale down to one.
	f.stop("b2", syscall.SIGTERM)
	f.stop("c1", syscall.SIGTERM)
	pr.advance(step, wait, "scaled to one")
	return "b3"
}

// outputsByKey groups output values by key, in order.
func outputsByKey(outs []*kgo.Record) map[string][]string {
	got := map[string][]string{}
	for _, r := range outs {
		got[string(r.Key)] = append(got[string(r.Key)], string(r.Value))
	}
	return got
}

// lastByKey reads a changelog to its end: the state per key.
func lastByKey(t testing.TB, e *env, topic string) map[string]string {
	cl := e.client(kgo.ConsumeTopics(e.kcfg.Topic(topic)), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	state := map[string]string{}
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(state, string(r.Key))
			} else {
				state[string(r.Key)] = string(r.Value)
			}
		})
	}
	return state
}

// reference runs one uninterrupted instance of the same processor as
// another service (its own group, changelog and output topic) over the
// same input and returns its outputs.
func reference(t testing.TB, e *env, mode string, total int) []*kgo.Record {
	f := newFleet(t, e, mode)
	f.start("ref", "PROCESSOR_SERVICE=reference", "PROCESSOR_OUT=ref.v1")
	defer f.stop("ref", syscall.SIGTERM)
	return newProgress(t, e, "ref.v1").until(total, 5*time.Minute, 3*time.Second)
}

func suiteScaleOutCounter(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 6)
	e.createTopics(6, "ref.v1")
	fd := startFeeder(t, e, 400, func(i int) *kgo.Record {
		return &kgo.Record{Key: []byte(fmt.Sprintf("key-%03d", i%120)), Value: []byte(strconv.Itoa(i))}
	})
	pr := newProgress(t, e, e.out)
	f := newFleet(t, e, "counter")
	last := churn(t, f, pr, 1500)
	inputs := fd.finish()
	total := 0
	for _, vs := range inputs {
		total += len(vs)
	}
	outs := pr.until(total, 5*time.Minute, 3*time.Second)
	f.stop(last, syscall.SIGTERM)
	checkCounts(t, outs, inputs)
	ref := reference(t, e, "counter", total)
	if d := cmp.Diff(outputsByKey(ref), outputsByKey(outs)); d != "" {
		t.Fatalf("outputs differ from an uninterrupted run (-ref +churn):\n%s", d)
	}
	got, want := lastByKey(t, e, ChangelogTopic("counter", "counts")), lastByKey(t, e, ChangelogTopic("reference", "counts"))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("state differs from an uninterrupted run (-ref +churn):\n%s", d)
	}
	t.Logf("%d records through scale 1→3, rolling replacement, SIGKILL, zombie and 3→1: exactly once, in order, outputs and state of %d keys equal to an uninterrupted run", total, len(got))
}

// suiteScaleOutTimers arms one timer per key, due 1.5 s of event time after
// it is set, and cancels every third one about 0.2 s later; every timer not
// cancelled before its deadline must fire exactly once across the churn,
// as in an uninterrupted run.
func suiteScaleOutTimers(t *testing.T, brokers []string) {
	e := newEnv(t, brokers, 6)
	e.createTopics(6, "ref.v1")
	const lagN, due = 80, 1500 * time.Millisecond
	var sets []*kgo.Record
	fd := startFeeder(t, e, 400, func(i int) *kgo.Record {
		now := time.Now()
		// Every third record cancels the timer set lagN sets (about 0.3 s)
		// earlier; the others set a new key's timer.
		if i%3 == 2 && len(sets) > lagN {
			return &kgo.Record{Key: sets[len(sets)-lagN].Key, Value: []byte("cancel"), Timestamp: now}
		}
		r := &kgo.Record{Key: []byte(fmt.Sprintf("t-%06d", len(sets))), Value: []byte("set:" + strconv.FormatInt(now.Add(due).UnixMilli(), 10)), Timestamp: now}
		sets = append(sets, r)
		return r
	})
	pr := newProgress(t, e, e.out)
	f := newFleet(t, e, "timer")
	last := churn(t, f, pr, 600)
	fd.finish()
	// Which timers must fire: not cancelled, or cancelled only at or after
	// the deadline (then either outcome is right; they are left out).
	must, mustNot, either := map[string]bool{}, map[string]bool{}, map[string]bool{}
	deadline := map[string]int64{}
	for _, r := range sets {
		ms, _ := strconv.ParseInt(strings.TrimPrefix(string(r.Value), "set:"), 10, 64)
		deadline[string(r.Key)] = ms
		must[string(r.Key)] = true
	}
	for _, r := range fd.recs {
		if string(r.Value) != "cancel" {
			continue
		}
		k := string(r.Key)
		delete(must, k)
		if r.Timestamp.UnixMilli() < deadline[k] {
			mustNot[k] = true
		} else {
			either[k] = true
		}
	}
	fired := func(outs []*kgo.Record) map[string]int {
		n := map[string]int{}
		for _, r := range outs {
			n[string(r.Key)]++
		}
		return n
	}
	// Wait for every timer that must fire, then for quiet.
	pr.diagnose = func(missing []string) {
		state := lastByKey(t, e, ChangelogTopic("counter", "timers"))
		n := fired(pr.seen)
		dups := 0
		for _, c := range n {
			if c > 1 {
				dups++
			}
		}
		inState := 0
		for _, k := range missing {
			if _, ok := state[timerIDKey(k)]; ok {
				inState++
			}
		}
		for k, c := range n {
			if c > 1 {
				for _, r := range pr.seen {
					if string(r.Key) == k {
						by, _ := tracing.Header(r.Headers, "fired-by")
						t.Logf("duplicate %s: %s by %s", k, r.Value, by)
					}
				}
				break
			}
		}
		t.Logf("diagnosis: %d keys fired more than once; %d of %d missing timers are still armed in the changelog; first missing: %v", dups, inState, len(missing), missing[:min(5, len(missing))])
	}
	got := fired(pr.untilKeys(must, 90*time.Second, 5*time.Second))
	f.stop(last, syscall.SIGTERM)
	rf := newFleet(t, e, "timer")
	rf.start("ref", "PROCESSOR_SERVICE=reference", "PROCESSOR_OUT=ref.v1")
	ref := fired(newProgress(t, e, "ref.v1").untilKeys(must, 5*time.Minute, 5*time.Second))
	rf.stop("ref", syscall.SIGTERM)
	firings := func(k string) {
		for _, r := range pr.seen {
			if string(r.Key) == k {
				by, _ := tracing.Header(r.Headers, "fired-by")
				t.Logf("%s: %s by %s (output %d/%d, producer %d epoch %d; its transaction %s)", k, r.Value, by, r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch, txnOutcome(e, r))
			}
		}
		for _, r := range fd.recs {
			if string(r.Key) == k {
				t.Logf("input %s: %s at %d", k, r.Value, r.Timestamp.UnixMilli())
			}
		}
	}
	for k := range must {
		if got[k] != 1 || ref[k] != 1 {
			firings(k)
			t.Fatalf("timer %s fired %d times (uninterrupted run: %d), want once", k, got[k], ref[k])
		}
	}
	for k := range mustNot {
		if got[k] != 0 {
			firings(k)
			t.Fatalf("timer %s cancelled before its deadline fired %d times", k, got[k])
		}
	}
	for k, n := range got {
		if n > 1 {
			firings(k)
			t.Fatalf("timer %s fired %d times", k, n)
		}
	}
	t.Logf("%d timers fired exactly once, %d cancelled in time never fired, %d cancelled late left open", len(must), len(mustNot), len(either))
}

// untilKeys reads outputs until every key of keys has one, then until
// nothing more comes for quiet.
func (pr *progress) untilKeys(keys map[string]bool, timeout, quiet time.Duration) []*kgo.Record {
	pr.t.Helper()
	seen := map[string]bool{}
	for _, r := range pr.seen {
		seen[string(r.Key)] = true
	}
	missing := func() int {
		n := 0
		for k := range keys {
			if !seen[k] {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for missing() > 0 {
		fs := pr.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			if pr.diagnose != nil {
				var ks []string
				for k := range keys {
					if !seen[k] {
						ks = append(ks, k)
					}
				}
				sort.Strings(ks)
				pr.diagnose(ks)
			}
			pr.t.Fatalf("%d of %d expected keys never got an output within %s", missing(), len(keys), timeout)
		}
		fs.EachRecord(func(r *kgo.Record) { pr.seen = append(pr.seen, r); seen[string(r.Key)] = true })
	}
	qctx, qcancel := context.WithTimeout(context.Background(), quiet)
	defer qcancel()
	for qctx.Err() == nil {
		pr.cl.PollFetches(qctx).EachRecord(func(r *kgo.Record) { pr.seen = append(pr.seen, r) })
	}
	return pr.seen
}

// txnOutcome reads r's partition uncommitted from r on and names the first
// control record of r's producer after it: how its transaction ended.
func txnOutcome(e *env, r *kgo.Record) string {
	cl := e.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.Offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		var out string
		cl.PollFetches(ctx).EachRecord(func(c *kgo.Record) {
			if out == "" && c.Attrs.IsControl() && c.ProducerID == r.ProducerID {
				var key kmsg.ControlRecordKey
				switch err := key.ReadFrom(c.Key); {
				case err != nil:
					out = fmt.Sprintf("unreadable control record at %d: %v", c.Offset, err)
				case key.Type == kmsg.ControlRecordKeyTypeCommit:
					out = fmt.Sprintf("committed at %d", c.Offset)
				default:
					out = fmt.Sprintf("aborted at %d", c.Offset)
				}
			}
		})
		if out != "" {
			return out
		}
	}
	return "still open"
}
