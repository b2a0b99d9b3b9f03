//go:build integration

package processor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The on-disk state store on the real broker: a restart restores only the
// changelog's tail, a partition that moved to another instance and back
// ends with exactly the changelog's state, and SIGKILLs leave no write of
// an aborted transaction in the local store.

// The exactly-once suite with the state on disk: its restart restores from
// the local checkpoint.
func TestRealExactlyOnceDiskState(t *testing.T) {
	suiteExactlyOnceAndOrder(t, testinfra.Brokers(t), WithStateDir(t.TempDir()))
}

// changelogState reads a store's changelog, read_committed, to its high
// watermark: the last value per key of every partition, and how many
// (non-control) records that took.
func changelogState(e *env, store string) (map[int32]map[string]string, int) {
	e.t.Helper()
	topic := e.kcfg.Topic(ChangelogTopic("counter", store))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(e.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(lo kadm.ListedOffset) {
		if st, _ := starts.Lookup(topic, lo.Partition); lo.Offset > st.Offset {
			want[lo.Partition] = lo.Offset
			parts[lo.Partition] = kgo.NewOffset().AtStart()
		}
	})
	state := map[int32]map[string]string{}
	n := 0
	if len(parts) == 0 {
		return state, 0
	}
	cl := e.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("changelog %s not read to its end: %v left", topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				if state[r.Partition] == nil {
					state[r.Partition] = map[string]string{}
				}
				if r.Value == nil {
					delete(state[r.Partition], string(r.Key))
				} else {
					state[r.Partition][string(r.Key)] = string(r.Value)
				}
				n++
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return state, n
}

// diskState reads what an instance's on-disk store holds for a store, per
// partition (the processor must be stopped).
func diskState(t *testing.T, dir, prefix, instance, store string, partitions int32) map[int32]map[string]string {
	t.Helper()
	d, err := openDiskBackend(stateDirOf(dir, prefix, "counter", instance), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	out := map[int32]map[string]string{}
	for part := range partitions {
		must(t, d.scan(store, part, func(k string, v []byte) bool {
			if out[part] == nil {
				out[part] = map[string]string{}
			}
			out[part][k] = string(v)
			return true
		}))
	}
	return out
}

// startCounter runs the counter processor as instance id; it returns the
// stop function and the processor's metrics.
func (e *env) startCounter(instance string, opts ...Option) (func(), *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	var flakes atomic.Int64
	stop := e.run(Config{Service: "counter", Instance: instance, Topics: []string{e.in}, Stores: []string{"counts"}, Handler: counterHandler(&flakes)},
		append([]Option{WithRegisterer(reg), WithSessionTimeout(6 * time.Second),
			WithRetryPolicy(retry.Policy{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 5 * time.Second})}, opts...)...)
	return stop, reg
}

// produceMore produces n counted records after the ones already in all.
func produceMore(e *env, all map[string][]string, n, keys int) int {
	recs := make([]*kgo.Record, 0, n)
	seen := 0
	for _, vs := range all {
		seen += len(vs)
	}
	for i := seen; i < seen+n; i++ {
		k := fmt.Sprintf("key-%03d", i%keys)
		v := strconv.Itoa(i)
		all[k] = append(all[k], v)
		recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(k), Value: []byte(v)})
	}
	e.produce(recs...)
	return seen + n
}

// TestRealDiskStateRestoresOnlyTheTail: an instance with the on-disk store
// stops; another instance (in-memory store) goes on with the partitions;
// when the first comes back it reads exactly the changelog records written
// meanwhile, and nothing at a plain restart.
func TestRealDiskStateRestoresOnlyTheTail(t *testing.T) {
	e := newEnv(t, testinfra.Brokers(t), 2)
	dir := t.TempDir()
	inputs := map[string][]string{}
	total := produceMore(e, inputs, 600, 40)
	stop, reg := e.startCounter("a", WithStateDir(dir))
	e.consume(e.out, total, time.Minute)
	stop()
	if n := counterSum(reg, "isthmus_processor_restored_records_total"); n != 0 {
		t.Fatalf("first start restored %v records from an empty changelog", n)
	}
	_, afterA := changelogState(e, "counts")

	total = produceMore(e, inputs, 300, 40)
	stop, reg = e.startCounter("b")
	e.consume(e.out, total, time.Minute)
	stop()
	if n := counterSum(reg, "isthmus_processor_restored_records_total"); int(n) != afterA {
		t.Fatalf("the in-memory instance restored %v records, want the whole changelog (%d)", n, afterA)
	}
	_, afterB := changelogState(e, "counts")

	total = produceMore(e, inputs, 100, 40)
	stop, reg = e.startCounter("a", WithStateDir(dir))
	outs := e.consume(e.out, total, time.Minute)
	e.settle(e.out, total, 2*time.Second)
	stop()
	restored := int(counterSum(reg, "isthmus_processor_restored_records_total"))
	t.Logf("changelog: %d records after the disk instance, %d after the other; the disk instance restored %d", afterA, afterB, restored)
	if restored != afterB-afterA {
		t.Fatalf("restored %d records, want only the %d written by the other instance", restored, afterB-afterA)
	}
	checkCounts(t, outs, inputs)
	want, _ := changelogState(e, "counts")
	if d := cmp.Diff(want, diskState(t, dir, e.kcfg.TopicPrefix, "a", "counts", 2)); d != "" {
		t.Fatalf("local store differs from the changelog (-changelog +disk):\n%s", d)
	}

	stop, reg = e.startCounter("a", WithStateDir(dir))
	time.Sleep(3 * time.Second)
	stop()
	if n := counterSum(reg, "isthmus_processor_restored_records_total"); n != 0 {
		t.Fatalf("a restart with nothing new restored %v records", n)
	}
}

// TestRealDiskStateTwoInstancesMoveAndBack: two instances with their own
// on-disk stores; the second joins (partitions move to it) and leaves
// (they come back). Outputs stay exactly once in order, the first
// instance restores only what the second wrote, and its store ends equal
// to the changelog.
func TestRealDiskStateTwoInstancesMoveAndBack(t *testing.T) {
	const parts = 4
	e := newEnv(t, testinfra.Brokers(t), parts)
	dirA, dirB := t.TempDir(), t.TempDir()
	inputs := map[string][]string{}
	total := produceMore(e, inputs, 800, 50)
	stopA, regA := e.startCounter("a", WithStateDir(dirA))
	e.consume(e.out, total, time.Minute)

	stopB, regB := e.startCounter("b", WithStateDir(dirB))
	deadline := time.Now().Add(time.Minute)
	for counterSum(regB, "isthmus_processor_records_in_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second instance never got a partition")
		}
		total = produceMore(e, inputs, 200, 50)
		time.Sleep(500 * time.Millisecond)
	}
	e.consume(e.out, total, time.Minute)
	stopB()
	inB := counterSum(regB, "isthmus_processor_records_in_total")

	total = produceMore(e, inputs, 400, 50)
	outs := e.consume(e.out, total, time.Minute)
	e.settle(e.out, total, 2*time.Second)
	stopA()
	checkCounts(t, outs, inputs)

	want, records := changelogState(e, "counts")
	restored := int(counterSum(regA, "isthmus_processor_restored_records_total"))
	t.Logf("second instance handled %v records; the first restored %d of the changelog's %d records when its partitions came back", inB, restored, records)
	if restored == 0 || restored >= records {
		t.Fatalf("the first instance restored %d records; want the second one's writes only (more than 0, fewer than the changelog's %d)", restored, records)
	}
	if d := cmp.Diff(want, diskState(t, dirA, e.kcfg.TopicPrefix, "a", "counts", parts)); d != "" {
		t.Fatalf("local store differs from the changelog (-changelog +disk):\n%s", d)
	}
}

// TestRealDiskStateSIGKILL kills a child processor with the on-disk store
// mid-stream several times: every output exactly once in order, no write
// of an aborted transaction in the local store (it equals the changelog),
// and the last start restores only a tail.
func TestRealDiskStateSIGKILL(t *testing.T) {
	const total, keys = 20000, 100
	e := newEnv(t, testinfra.Brokers(t), 2)
	inputs := produceCounted(e, total, keys)
	dir := t.TempDir()
	statsFile := filepath.Join(t.TempDir(), "stats")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PROCESSOR_CHILD=1",
			"PROCESSOR_BROKERS="+strings.Join(e.kcfg.Brokers, ","),
			"PROCESSOR_PREFIX="+e.kcfg.TopicPrefix,
			"PROCESSOR_DELAY=500us", "PROCESSOR_STATIC=1",
			"PROCESSOR_STATE_DIR="+dir, "PROCESSOR_STATS="+statsFile)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for kill := 1; kill <= 5; kill++ {
		cmd := start()
		time.Sleep(time.Duration(1500+kill*300) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	cmd := start()
	outs := e.consume(e.out, total, 3*time.Minute)
	e.settle(e.out, total, 2*time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	checkCounts(t, outs, inputs)

	want, records := changelogState(e, "counts")
	if d := cmp.Diff(want, diskState(t, dir, e.kcfg.TopicPrefix, "child", "counts", 2)); d != "" {
		t.Fatalf("local store differs from the changelog after SIGKILLs (-changelog +disk):\n%s", d)
	}
	b, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatal(err)
	}
	var handled, reprocessed, restored, again int
	if _, err := fmt.Sscan(string(b), &handled, &reprocessed, &restored, &again); err != nil {
		t.Fatalf("stats %q: %v", b, err)
	}
	t.Logf("after 5 SIGKILLs the last start handled %d records and restored %d of the changelog's %d", handled, restored, records)
	if restored >= records {
		t.Fatalf("the last start restored %d records: the whole changelog (%d), not its tail", restored, records)
	}
}

// TestRealDiskStateCheckpointOutsideTheLog: the changelog's records before
// the local checkpoint are deleted (its log start moves past it): the
// local state can no longer be trusted to match the log, so it is wiped
// and restored from what the log still has.
func TestRealDiskStateCheckpointOutsideTheLog(t *testing.T) {
	e := newEnv(t, testinfra.Brokers(t), 1)
	dir := t.TempDir()
	inputs := map[string][]string{}
	total := produceMore(e, inputs, 200, 20)
	stop, _ := e.startCounter("a", WithStateDir(dir))
	e.consume(e.out, total, time.Minute)
	stop()
	if got := diskState(t, dir, e.kcfg.TopicPrefix, "a", "counts", 1); len(got[0]) != 20 {
		t.Fatalf("local store has %d keys, want 20", len(got[0]))
	}
	total = produceMore(e, inputs, 100, 20)
	stop, _ = e.startCounter("b")
	e.consume(e.out, total, time.Minute)
	stop()
	topic := e.kcfg.Topic(ChangelogTopic("counter", "counts"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(e.client())
	// Deleting records needs the delete policy too (still compacted).
	policy := "compact,delete"
	alts, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &policy}}, topic)
	must(t, err)
	for _, a := range alts {
		must(t, a.Err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	must(t, err)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: ends[topic][0].Offset})
	resps, err := adm.DeleteRecords(ctx, offsets)
	must(t, err)
	must(t, resps.Error())

	stop, reg := e.startCounter("a", WithStateDir(dir))
	time.Sleep(3 * time.Second)
	stop()
	if n := counterSum(reg, "isthmus_processor_restored_records_total"); n != 0 {
		t.Fatalf("restored %v records from an emptied changelog", n)
	}
	want, _ := changelogState(e, "counts")
	if d := cmp.Diff(want, diskState(t, dir, e.kcfg.TopicPrefix, "a", "counts", 1)); d != "" {
		t.Fatalf("local store kept state the changelog no longer has (-changelog +disk):\n%s", d)
	}
}
