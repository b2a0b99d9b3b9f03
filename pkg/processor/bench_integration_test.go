//go:build integration

package processor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// BenchmarkRuntimeVsRawTransactional measures, on the real broker and in one
// run, the runtime at its default settings (Avro decode → handler → Avro
// encode → transactional produce with the offsets) against a minimal
// franz-go GroupTransactSession loop doing the same Avro work (decode,
// modify, encode; one transaction per poll) over the same topic layout, and
// prints both rates and their ratio (target ≥ 0.7), median of three rounds,
// with the CPU time per record this process spent on each; then the
// latency from producing an input to reading its committed output at half
// the runtime's rate (target p99 ≤ 100 ms), and the runtime's rate with
// GOMAXPROCS 1 and 2 (target ≥ 1.6×). The broker shares the machine, so
// the scaling figure says as much about the machine's spare cores as about
// the runtime: the minimal loop's own rates at GOMAXPROCS 1 and 2 are
// printed next to it.
func BenchmarkRuntimeVsRawTransactional(b *testing.B) {
	const n, partitions = 200_000, 6
	brokers := testinfra.Brokers(b)
	rc, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(b)))
	if err != nil {
		b.Fatal(err)
	}
	sd := serde.New(rc, serde.AutoRegister(true))
	for range b.N {
		e := newEnv(b, brokers, partitions)
		ctx := context.Background()
		var recs []*kgo.Record
		for i := range n {
			a := &contracts.Account{
				Metadata:  contracts.EventMetadata{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), CorrelationID: "bench", SourceSystem: contracts.SourceSystemCRM, OccurredAt: time.UnixMilli(1_700_000_000_000)},
				Op:        contracts.ChangeOperationUpsert,
				AccountID: fmt.Sprintf("ACC-%06d", i), Name: "Acme Industrial Supplies GmbH", Status: contracts.AccountStatusCustomer,
				SourceUpdatedAt: time.UnixMilli(1_700_000_000_000),
			}
			v, err := sd.Encode(ctx, e.kcfg.Topic(e.in), a)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(a.AccountID), Value: v})
		}
		e.produce(recs...)
		var raws, runtimes, ratios []float64
		for round := range 3 {
			out := fmt.Sprintf("raw-out-%d.v1", round)
			e.createTopics(partitions, out)
			start, cpu0 := time.Now(), cpuTime()
			avroLoop(b, e, sd, n, fmt.Sprintf("raw-%d", round), out)
			raw := float64(n) / time.Since(start).Seconds()
			rawCPU := (cpuTime() - cpu0) / n
			e.consume(out, n, 5*time.Minute)

			// The runtime at its defaults: decode, handle, encode, produce in
			// the transaction.
			rtOut := fmt.Sprintf("rt-out-%d.v1", round)
			e.createTopics(partitions, rtOut)
			h := benchHandler(rtOut)
			start, cpu0 = time.Now(), cpuTime()
			p, err := New(Config{Service: fmt.Sprintf("bench-%d", round), Topics: []string{e.in}, Handler: h}, e.kcfg, WithSerde(sd))
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(rctx) }()
			waitCommitted(b, e, fmt.Sprintf("bench-%d", round), n)
			runtime := float64(n) / time.Since(start).Seconds()
			rtCPU := (cpuTime() - cpu0) / n
			cancel()
			<-done
			e.consume(rtOut, n, 5*time.Minute)
			raws, runtimes, ratios = append(raws, raw), append(runtimes, runtime), append(ratios, runtime/raw)
			fmt.Printf("processor throughput round %d: franz-go EOS loop %.0f records/s (%.1f µs CPU/record in this process), runtime %.0f records/s (%.1f µs CPU/record), ratio %.2f\n",
				round+1, raw, rawCPU.Seconds()*1e6, runtime, rtCPU.Seconds()*1e6, runtime/raw)
		}
		raw, runtime, ratio := median(raws), median(runtimes), median(ratios)
		b.ReportMetric(raw, "raw-records/s")
		b.ReportMetric(runtime, "runtime-records/s")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("processor throughput (median of 3, %d Avro records, %d partitions, GOMAXPROCS=%d): minimal franz-go EOS loop with the same Avro work %.0f records/s, runtime at defaults %.0f records/s, ratio %.2f (target >= 0.70)\n",
			n, partitions, goruntime.GOMAXPROCS(0), raw, runtime, ratio)

		// Latency at half the runtime's rate: records produced at a steady
		// pace, each stamped with its produce time (outputs carry their
		// input's timestamp), read back by a read_committed consumer.
		load := runtime / 2
		p50, p99, got := latencyAtRate(b, e, sd, load, 8*time.Second)
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		fmt.Printf("processor latency at half load (%.0f records/s for 8s, %d records measured after 2s warm-up): input produced to output committed and read p50 %.1f ms, p99 %.1f ms (target p99 <= 100 ms)\n",
			load, got, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)

		// Parallel partitions, at the defaults (every partition on its own
		// lane): the runtime on one core and on two; then the same for the
		// minimal loop, what a second core is worth on this machine while
		// the broker shares it.
		rate := func(procs int, name string, run func(name, out string)) float64 {
			prev := goruntime.GOMAXPROCS(procs)
			defer goruntime.GOMAXPROCS(prev)
			name = fmt.Sprintf("%s-%d", name, procs)
			out := name + ".out.v1"
			e.createTopics(partitions, out)
			start := time.Now()
			run(name, out)
			return float64(n) / time.Since(start).Seconds()
		}
		runtimeRun := func(svc, out string) {
			p, err := New(Config{Service: svc, Topics: []string{e.in}, Handler: benchHandler(out)}, e.kcfg, WithSerde(sd))
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(rctx) }()
			waitCommitted(b, e, svc, n)
			cancel()
			<-done
		}
		rawRun := func(group, out string) { avroLoop(b, e, sd, n, group, out) }
		one, two := rate(1, "procs", runtimeRun), rate(2, "procs", runtimeRun)
		b.ReportMetric(two/one, "procs2/procs1")
		fmt.Printf("processor scaling (defaults): GOMAXPROCS=1 %.0f records/s, GOMAXPROCS=2 %.0f records/s, ratio %.2f (target >= 1.6)\n", one, two, two/one)
		rawOne, rawTwo := rate(1, "raw-procs", rawRun), rate(2, "raw-procs", rawRun)
		b.ReportMetric(rawTwo/rawOne, "raw-procs2/procs1")
		fmt.Printf("processor scaling reference: the franz-go EOS loop GOMAXPROCS=1 %.0f records/s, GOMAXPROCS=2 %.0f records/s, ratio %.2f\n", rawOne, rawTwo, rawTwo/rawOne)
	}
}

// benchHandler is the benchmark's job: decode an account, change it,
// encode it to out.
func benchHandler(out string) Handler {
	return func(ctx context.Context, m *Message) error {
		var a contracts.Account
		if err := m.Decode(&a); err != nil {
			return err
		}
		a.Name += " (processed)"
		return m.EmitValue(out, a.AccountID, &a)
	}
}

// latencyAtRate runs the runtime at its defaults while records are
// produced at rate per second for d, and returns the p50 and p99 of the
// time from producing an input to reading its output with read_committed,
// for inputs produced after the first quarter of d.
func latencyAtRate(b *testing.B, e *env, sd *serde.Serde, rate float64, d time.Duration) (p50, p99 time.Duration, n int) {
	ctx := context.Background()
	const svc = "latency"
	in, out := "latency.in.v1", "latency.out.v1"
	e.createTopics(6, in, out)
	const distinct = 1000
	values := make([][]byte, distinct)
	for i := range distinct {
		a := &contracts.Account{
			Metadata:  contracts.EventMetadata{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), CorrelationID: "bench", SourceSystem: contracts.SourceSystemCRM, OccurredAt: time.UnixMilli(1_700_000_000_000)},
			Op:        contracts.ChangeOperationUpsert,
			AccountID: fmt.Sprintf("ACC-%06d", i), Name: "Acme Industrial Supplies GmbH", Status: contracts.AccountStatusCustomer,
			SourceUpdatedAt: time.UnixMilli(1_700_000_000_000),
		}
		v, err := sd.Encode(ctx, e.kcfg.Topic(in), a)
		if err != nil {
			b.Fatal(err)
		}
		values[i] = v
	}
	p, err := New(Config{Service: svc, Topics: []string{in}, Handler: benchHandler(out)}, e.kcfg, WithSerde(sd))
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	defer func() { cancel(); <-done }()
	for p.Ready(ctx) != nil {
		time.Sleep(20 * time.Millisecond)
	}
	cons := e.client(kgo.ConsumeTopics(e.kcfg.Topic(out)), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	prod := e.client(kgo.ProducerLinger(0))
	start := time.Now()
	warm := start.Add(d / 4)
	var sent atomic.Int64
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		i := 0
		for now := range tick.C {
			if now.Sub(start) >= d {
				return
			}
			due := int(rate * now.Sub(start).Seconds())
			for ; i < due; i++ {
				prod.Produce(ctx, &kgo.Record{Topic: e.kcfg.Topic(in), Key: []byte(fmt.Sprintf("ACC-%06d", i%distinct)), Value: values[i%distinct], Timestamp: time.Now()}, nil)
			}
			sent.Store(int64(i))
		}
	}()
	var lat []time.Duration
	total := 0
	deadline := start.Add(d + time.Minute)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cons.PollFetches(pctx)
		pcancel()
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			total++
			if r.Timestamp.After(warm) {
				lat = append(lat, now.Sub(r.Timestamp))
			}
		})
		select {
		case <-fed:
			if int64(total) >= sent.Load() {
				deadline = time.Time{}
			}
		default:
		}
	}
	if len(lat) == 0 {
		b.Fatal("no output within the latency run")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// avroLoop is the baseline: a minimal GroupTransactSession loop that
// decodes each record, modifies it, encodes it and produces it, committing
// once per poll; it returns when a read_committed consumer has seen all n.
func avroLoop(b *testing.B, e *env, sd *serde.Serde, n int, group, out string) {
	opts, err := e.kcfg.Opts()
	if err != nil {
		b.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.ConsumerGroup(e.kcfg.TopicPrefix+group), kgo.ConsumeTopics(e.kcfg.Topic(e.in)),
		kgo.TransactionalID(e.kcfg.TopicPrefix+group+"-0"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	ctx := context.Background()
	outTopic := e.kcfg.Topic(out)
	copied := 0
	for copied < n {
		fs := sess.PollFetches(ctx)
		if fs.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			b.Fatal(err)
		}
		batch := 0
		fs.EachRecord(func(r *kgo.Record) {
			var a contracts.Account
			if err := sd.Decode(ctx, r.Value, &a); err != nil {
				b.Fatal(err)
			}
			a.Name += " (processed)"
			v, err := sd.Encode(ctx, outTopic, &a)
			if err != nil {
				b.Fatal(err)
			}
			sess.Produce(ctx, &kgo.Record{Topic: outTopic, Key: r.Key, Value: v}, nil)
			batch++
		})
		ok, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			copied += batch
		}
	}
}

// waitCommitted returns once group has committed offsets past all n input
// records: the moment an EOS loop has made all its outputs visible (the
// offsets commit with them). Both sides of the comparison are timed so.
func waitCommitted(b *testing.B, e *env, group string, n int) {
	adm := kadm.NewClient(e.client())
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		offs, err := adm.FetchOffsets(context.Background(), e.kcfg.TopicPrefix+group)
		if err == nil {
			var sum int64
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum >= int64(n) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("group %s did not commit %d records within 5m", group, n)
}

// BenchmarkRebalance measures, on the real broker, what replacing an
// instance of a three-instance stateful group costs while records keep
// coming (6 partitions, 60,000 keys of state): the time from the event to
// every partition producing committed output again, and the input records
// the survivors handled twice and the changelog records they restored.
// Events: a new instance joins (scale-out step of a rolling update), an old
// one leaves (SIGTERM), and a static member is killed and restarted with
// the same id (a StatefulSet pod restart). Targets: ≤ 10 s to resume, 0
// records re-read by the survivors for the partitions they keep.
func BenchmarkRebalance(b *testing.B) {
	brokers := testinfra.Brokers(b)
	for range b.N {
		e := newEnv(b, brokers, 6)
		const keys = 60_000
		var recs []*kgo.Record
		for i := range keys {
			recs = append(recs, &kgo.Record{Topic: e.in, Key: []byte(fmt.Sprintf("key-%05d", i)), Value: []byte("0")})
		}
		e.produce(recs...)
		dir := b.TempDir()
		statsOf := func(id string) string { return "PROCESSOR_STATS=" + filepath.Join(dir, id) }
		f := newFleet(b, e, "counter")
		// a1, a3 and d1 have per-pod ids (a Deployment: dynamic members
		// that leave the group on shutdown); a2 has a stable id (a
		// StatefulSet pod: a static member that takes its place back).
		for _, id := range []string{"a1", "a2", "a3"} {
			f.start(id, statsOf(id), "PROCESSOR_DELAY=0", "PROCESSOR_STATIC="+map[bool]string{true: "1"}[id == "a2"])
		}
		pr := newProgress(b, e, e.out)
		pr.advance(keys, 5*time.Minute, "state built")
		fd := startFeeder(b, e, 600, func(i int) *kgo.Record {
			return &kgo.Record{Key: []byte(fmt.Sprintf("key-%05d", (i*7919)%keys)), Value: []byte(strconv.Itoa(i))}
		})
		// stall watches the outputs for a window after an event and returns
		// the longest time any partition went without committed output:
		// how long the event stopped the group.
		stall := func(event string, window time.Duration) time.Duration {
			b.Helper()
			last := map[int32]time.Time{}
			start := time.Now()
			var worst time.Duration
			ctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			for ctx.Err() == nil {
				fs := pr.cl.PollFetches(ctx)
				now := time.Now()
				fs.EachRecord(func(r *kgo.Record) {
					pr.seen = append(pr.seen, r)
					prev, ok := last[r.Partition]
					if !ok {
						prev = start
					}
					worst = max(worst, now.Sub(prev))
					last[r.Partition] = now
				})
			}
			for p := int32(0); p < 6; p++ {
				if _, ok := last[p]; !ok {
					b.Fatalf("%s: partition %d produced no output within %s", event, p, window)
				}
			}
			return worst
		}
		stall("warm-up", 3*time.Second)
		base := stall("steady state", 8*time.Second)
		f.start("d1", statsOf("d1"), "PROCESSOR_DELAY=0")
		join := stall("d1 joined", 15*time.Second)
		f.stop("a1", syscall.SIGTERM)
		leave := stall("a1 left", 15*time.Second)
		f.stop("a2", syscall.SIGKILL)
		f.start("a2", statsOf("a2-restarted"), "PROCESSOR_DELAY=0", "PROCESSOR_STATIC=1")
		restart := stall("a2 killed and restarted", 15*time.Second)
		fd.finish()
		for _, id := range []string{"a2", "a3", "d1"} {
			f.stop(id, syscall.SIGTERM)
		}
		read := func(id string) (handled, reprocessed, restored, restoredAgain int64) {
			raw, err := os.ReadFile(filepath.Join(dir, id))
			if err != nil {
				b.Fatalf("stats of %s: %v", id, err)
			}
			fmt.Sscan(string(raw), &handled, &reprocessed, &restored, &restoredAgain)
			return
		}
		// a3 is the survivor of every event.
		handled, reprocessed, restored, restoredAgain := read("a3")
		b.ReportMetric(join.Seconds(), "join-resume-s")
		b.ReportMetric(leave.Seconds(), "leave-resume-s")
		b.ReportMetric(restart.Seconds(), "restart-resume-s")
		b.ReportMetric(float64(restoredAgain), "survivor-kept-restored-records")
		b.ReportMetric(float64(reprocessed), "survivor-rehandled-records")
		fmt.Printf("rebalance (3 instances, 6 partitions, %d keys of state, 600 records/s): longest partition stall %.1fs in steady state, %.1fs when a new instance joined, %.1fs when an instance left (SIGTERM), %.1fs when a static member was killed and restarted (target <= 10s)\n",
			keys, base.Seconds(), join.Seconds(), leave.Seconds(), restart.Seconds())
		fmt.Printf("rebalance: survivor a3 restored %d changelog records, %d of them for partitions it already had (target 0); it handled %d input records, %d twice (the batch in flight when it gave a partition away is aborted and fetched again)\n",
			restored, restoredAgain, handled, reprocessed)
	}
}
