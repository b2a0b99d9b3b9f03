//go:build integration && statebench

package processor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// BenchmarkStateRestore1M: a processor holding 1,000,000 keys (100-byte
// values, 4 partitions) on the real broker, restarted. It prints, from one
// run, the restore of the on-disk store (Pebble) from an empty directory
// (the whole changelog), its restart from the local checkpoint with 10,000
// changelog records written meanwhile by another owner (targets: ≤ 10 s,
// peak RSS ≤ 256 MiB), and the in-memory store restoring the same state,
// with each process's restore time and peak RSS. Each start is a separate
// process (this test binary as the sample processor), so RSS is its own.
// Run: make bench-state (it needs the build tag statebench).
func BenchmarkStateRestore1M(b *testing.B) {
	const keys, parts, tail, valueSize = 1_000_000, 4, 10_000, 100
	for range b.N {
		e := newEnv(b, testinfra.Brokers(b), parts)
		changelog := e.kcfg.Topic(ChangelogTopic("counter", "counts"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		compact := "compact"
		resp, err := kadm.NewClient(e.client()).CreateTopic(ctx, parts, -1, map[string]*string{"cleanup.policy": &compact}, changelog)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			b.Fatal(err)
		}
		// The state, written as its owner would: one changelog record per key.
		seed := func(from, n int, gen byte) {
			cl := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
			value := []byte(strings.Repeat(string('a'+gen), valueSize))
			for i := from; i < from+n; i++ {
				cl.Produce(ctx, &kgo.Record{Topic: changelog, Partition: int32(i % parts), Key: fmt.Appendf(nil, "key-%07d", i), Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		seed(0, keys, 0)
		b.Logf("seeded %d keys in %s", keys, time.Since(start).Round(time.Millisecond))
		dir := b.TempDir()
		run := func(name string, extra ...string) restoreRun {
			path := filepath.Join(b.TempDir(), "restored")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "PROCESSOR_CHILD=1", "PROCESSOR_MODE=noop",
				"PROCESSOR_BROKERS="+strings.Join(e.kcfg.Brokers, ","), "PROCESSOR_PREFIX="+e.kcfg.TopicPrefix,
				"PROCESSOR_STATIC=1", "PROCESSOR_RESTORED_STATS="+path, fmt.Sprintf("PROCESSOR_PARTITIONS=%d", parts))
			cmd.Env = append(cmd.Env, extra...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			out, err := os.ReadFile(path)
			if err != nil {
				b.Fatalf("%s: no restore report: %v", name, err)
			}
			r := restoreRun{name: name}
			if _, err := fmt.Sscan(string(out), &r.ready, &r.restore, &r.records, &r.peakKiB, &r.rssKiB); err != nil {
				b.Fatalf("%s: report %q: %v", name, out, err)
			}
			b.Logf("%s: %+v", name, r)
			return r
		}
		full := run("disk, empty directory", "PROCESSOR_STATE_DIR="+dir)
		seed(keys-tail, tail, 1) // another owner updates 10,000 keys meanwhile
		restart := run("disk, restart from checkpoint", "PROCESSOR_STATE_DIR="+dir)
		mem := run("memory")
		cancel()

		fmt.Printf("\nstate restore, %d keys of %d-byte values, %d partitions, real broker (each start a process of its own)\n", keys, valueSize, parts)
		fmt.Printf("%-34s %10s %12s %12s %14s %10s\n", "store", "records", "restore s", "to ready s", "peak RSS MiB", "RSS MiB")
		for _, r := range []restoreRun{full, restart, mem} {
			fmt.Printf("%-34s %10d %12.2f %12.2f %14.0f %10.0f\n", r.name, r.records, r.restore, r.ready, r.peakKiB/1024, r.rssKiB/1024)
		}
		verdict := func(ok bool) string {
			if ok {
				return "ok"
			}
			return "MISSED"
		}
		fmt.Printf("disk restart: restore %.2f s (target ≤ 10 s: %s), peak RSS %.0f MiB (target ≤ 256 MiB: %s); restored %d records = the tail of %d (%s)\n",
			restart.restore, verdict(restart.restore <= 10), restart.peakKiB/1024, verdict(restart.peakKiB/1024 <= 256), restart.records, tail, verdict(restart.records == tail))
		fmt.Printf("disk restart vs memory: restore time %.3fx, peak RSS %.2fx\n", restart.restore/mem.restore, restart.peakKiB/mem.peakKiB)
		b.ReportMetric(restart.restore, "restart-restore-s")
		b.ReportMetric(restart.peakKiB/1024, "restart-peak-RSS-MiB")
		b.ReportMetric(mem.restore, "memory-restore-s")
		b.ReportMetric(mem.peakKiB/1024, "memory-peak-RSS-MiB")
	}
}

type restoreRun struct {
	name            string
	ready, restore  float64
	records         int
	peakKiB, rssKiB float64
}
