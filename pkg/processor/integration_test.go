//go:build integration

package processor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

func TestRealExactlyOnceAndOrder(t *testing.T) { suiteExactlyOnceAndOrder(t, testinfra.Brokers(t)) }
func TestRealPoisonToDLQ(t *testing.T)         { suitePoisonToDLQ(t, testinfra.Brokers(t)) }
func TestRealTransientRetried(t *testing.T)    { suiteTransientRetried(t, testinfra.Brokers(t)) }
func TestRealRetriableBeyondBudget(t *testing.T) {
	suiteRetriableBeyondBudget(t, testinfra.Brokers(t))
}
func TestRealEventTimeOrder(t *testing.T) { suiteEventTimeOrder(t, testinfra.Brokers(t)) }

// produceCounted writes n records over keys and returns the expected
// per-key value sequences.
func produceCounted(e *env, n, keys int) map[string][]string {
	inputs := map[string][]string{}
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		k := fmt.Sprintf("key-%03d", i%keys)
		v := strconv.Itoa(i)
		inputs[k] = append(inputs[k], v)
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte(v)})
	}
	e.produce(recs...)
	return inputs
}

// readState reads a changelog to its end and returns the last value per key.
func readState(e *env, store string, n int) map[string]string {
	recs := e.consume(ChangelogTopic("counter", store), n, 2*time.Minute)
	state := map[string]string{}
	for _, r := range recs {
		state[string(r.Key)] = string(r.Value)
	}
	return state
}

// TestSIGKILLEffectivelyOnce kills the sample processor at random moments
// (at least ten times) while it consumes 50,000 records, restarts it, and
// checks that a read_committed consumer sees every output exactly once in
// per-key order and that the changelog state equals an uninterrupted run's.
func TestSIGKILLEffectivelyOnce(t *testing.T) {
	const total, keys = 50_000, 200
	e := newEnv(t, testinfra.Brokers(t), 4)
	inputs := produceCounted(e, total, keys)

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PROCESSOR_CHILD=1",
			"PROCESSOR_BROKERS="+strings.Join(e.kcfg.Brokers, ","),
			"PROCESSOR_PREFIX="+e.kcfg.TopicPrefix,
			"PROCESSOR_DELAY=800us", "PROCESSOR_STATIC=1")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	kills := 0
	progress := e.client(kgo.ConsumeTopics(e.kcfg.Topic(e.out)), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := 0
	for kills < 12 {
		cmd := start()
		time.Sleep(time.Duration(1000+rng.IntN(2000)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		progress.PollFetches(ctx).EachRecord(func(*kgo.Record) { seen++ })
		cancel()
		t.Logf("kill %d: %d committed outputs so far", kills, seen)
	}
	if seen >= total {
		t.Fatalf("the stream finished before the kills ended (%d outputs); slow the child down", seen)
	}
	cmd := start()
	outs := e.consume(e.out, total, 5*time.Minute)
	e.settle(e.out, total, 3*time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	checkCounts(t, outs, inputs)

	want := map[string]string{}
	for k, vs := range inputs {
		want[k] = strconv.Itoa(len(vs))
	}
	// The changelog holds one record per committed update; its last value
	// per key must be the uninterrupted run's count.
	got := readState(e, "counts", total)
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("state[%s] = %q, want %q", k, got[k], v)
		}
	}
	t.Logf("%d kills, %d outputs exactly once, state of %d keys equal to an uninterrupted run", kills, len(outs), len(got))
}

// TestBrokerOutageRecovers stops a private broker for 20 s mid-stream and
// restarts it: the processor recovers by itself with nothing lost or
// duplicated.
func TestBrokerOutageRecovers(t *testing.T) {
	b := testinfra.StartKafka(t)
	e := newEnv(t, b.Brokers(), 2)
	const total = 4000
	inputs := produceCounted(e, total, 40)
	var flakes atomic.Int64
	inner := counterHandler(&flakes)
	h := func(ctx context.Context, m *Message) error {
		time.Sleep(2 * time.Millisecond)
		return inner(ctx, m)
	}
	stop := e.start(h, WithMaxPollRecords(100))
	defer stop()
	e.consume(e.out, 500, 2*time.Minute)
	b.Stop()
	t.Log("broker stopped")
	time.Sleep(20 * time.Second)
	b.Start()
	t.Log("broker restarted")
	outs := e.consume(e.out, total, 5*time.Minute)
	e.settle(e.out, total, 3*time.Second)
	checkCounts(t, outs, inputs)
}

func TestStartupFailsFastWithClearMessage(t *testing.T) {
	var flakes atomic.Int64
	// Unreachable broker.
	p, err := New(Config{Service: "counter", Topics: []string{"in.v1"}, Handler: counterHandler(&flakes)},
		kafka.Config{Brokers: []string{"127.0.0.1:1"}}, WithStartupTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach Kafka brokers [127.0.0.1:1]") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %s to fail", time.Since(start))
	}
	if err := p.Ready(context.Background()); err == nil {
		t.Fatal("ready without a broker")
	}
	// Missing input topic.
	p, _ = New(Config{Service: "counter", Topics: []string{"no-such-topic.v1"}, Handler: counterHandler(&flakes)},
		kafka.Config{Brokers: testinfra.Brokers(t), TopicPrefix: "missing."}, WithStartupTimeout(10*time.Second))
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "input topic missing.no-such-topic.v1 does not exist") {
		t.Fatalf("err = %v", err)
	}
}

func TestRealInternalRekey(t *testing.T) { suiteInternalRekey(t, testinfra.Brokers(t)) }

func TestRealTickFailureIsolated(t *testing.T) { suiteTickFailureIsolated(t, testinfra.Brokers(t)) }

func TestRealScaleOutCounter(t *testing.T) { suiteScaleOutCounter(t, testinfra.Brokers(t)) }
func TestRealScaleOutTimers(t *testing.T)  { suiteScaleOutTimers(t, testinfra.Brokers(t)) }

func TestRealTimerBacklogAfterDowntime(t *testing.T) {
	suiteTimerBacklogAfterDowntime(t, testinfra.Brokers(t))
}

// The scale-out suites on kfake too: the child processes connect to the
// in-process fake cluster over loopback like to a broker. They take minutes,
// so they run in the integration tier.
func TestFakeScaleOutCounter(t *testing.T) { suiteScaleOutCounter(t, fakeCluster(t)) }
func TestFakeScaleOutTimers(t *testing.T)  { suiteScaleOutTimers(t, fakeCluster(t)) }

func TestRealForwardMisPartitioned(t *testing.T) { suiteForwardMisPartitioned(t, testinfra.Brokers(t)) }
func TestRealRetryTopic(t *testing.T)            { suiteRetryTopic(t, testinfra.Brokers(t)) }

// TestInstanceClaimed: a second live process with the same stable instance
// id takes it over; the first stops at once with ErrInstanceClaimed naming
// the id instead of fencing the other back forever.
func TestInstanceClaimed(t *testing.T) {
	e := newEnv(t, testinfra.Brokers(t), 2)
	produceCounted(e, 200, 10)
	var flakes atomic.Int64
	newP := func() *Processor {
		p, err := New(Config{Service: "counter", Instance: "same", Topics: []string{e.in}, Stores: []string{"counts"}, Handler: counterHandler(&flakes)}, e.kcfg,
			WithStaticMembership(true), WithSessionTimeout(6*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- newP().Run(ctx) }()
	e.consume(e.out, 200, time.Minute)
	go func() { second <- newP().Run(ctx) }()
	select {
	case err := <-first:
		if !errors.Is(err, ErrInstanceClaimed) || !strings.Contains(err.Error(), "counter-same") {
			t.Fatalf("first: %v, want ErrInstanceClaimed naming the id", err)
		}
		t.Logf("first process stopped: %v", err)
	case err := <-second:
		t.Fatalf("the second process stopped instead: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("two live processes with one instance id ran side by side for 60s")
	}
	// The second one carries on.
	more := produceCounted(e, 20, 10)
	_ = more
	e.consume(e.out, 220, time.Minute)
}

func TestRealExactlyOnceSequential(t *testing.T) {
	suiteExactlyOnceAndOrder(t, testinfra.Brokers(t), WithPartitionConcurrency(1))
}

func TestRealSlowPartitionOnly(t *testing.T) { suiteSlowPartitionOnly(t, testinfra.Brokers(t)) }
