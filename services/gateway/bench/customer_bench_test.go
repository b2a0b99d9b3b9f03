package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// BenchmarkCheckDuplicate measures CustomerService.CheckDuplicate over gRPC
// (auth, rate limiter, metrics: the full stack) against a private
// redis-server holding 1,000,000 golden customers (GOLDEN_BENCH_RECORDS to
// change it), written with the golden model's own apply script. Queries are
// half near-duplicates of existing records (a typo in the name, same domain)
// and half new companies. It prints p50/p99 at a paced 500 QPS (the target:
// p99 <= 20 ms) and the maximum QPS of 16 workers, next to two baselines from
// the same run: the stream's in-process index (pkg/match.Index over the same
// records) and a Redis PING round trip.
//
//	make bench-lead-to-account   (or: go test -run '^$' -bench CheckDuplicate -benchtime 1x ./bench/)
func BenchmarkCheckDuplicate(b *testing.B) {
	size := 1_000_000
	if s := os.Getenv("GOLDEN_BENCH_RECORDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			size = n
		}
	}
	redisURL := testinfra.StartRedis(b)
	e := gwtest.Local(b, redisURL)
	ctx := context.Background()
	store := readmodel.NewStore(e.Redis, e.Prefix)
	epoch, _, err := store.Begin(ctx, readmodel.Golden, "bench")
	if err != nil {
		b.Fatal(err)
	}
	syn := matchtest.NewSynth(7)
	existing := make([]match.Features, 0, size/1000+1)
	start := time.Now()
	const batch = 500
	changes := make([]readmodel.Change, 0, batch)
	for i := range size {
		f := syn.Features(i)
		if i%1000 == 0 {
			existing = append(existing, f)
		}
		raw, err := readmodel.EncodeGolden(readmodel.GoldenInfo{ID: fmt.Sprintf("cus-%016x", i+1), Name: f.Name, Features: f, AsOf: start})
		if err != nil {
			b.Fatal(err)
		}
		changes = append(changes, readmodel.Change{Offset: int64(i), Field: fmt.Sprintf("cus-%016x", i+1), Value: raw})
		if len(changes) == batch || i == size-1 {
			if err := store.Apply(ctx, readmodel.Golden, epoch, 0, 0, changes); err != nil {
				b.Fatal(err)
			}
			changes = changes[:0]
		}
	}
	if err := store.MarkReady(ctx, readmodel.Golden, epoch); err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	mem, _ := e.Redis.Info(ctx, "memory").Result()
	fmt.Printf("\nloaded %d golden records into redis-server in %v (%s)\n", size, loaded.Round(time.Second), usedMemory(mem))

	// Queries: half typos of existing records, half new companies.
	const nq = 4096
	queries := make([]*customerv1.CheckDuplicateRequest, nq)
	feats := make([]match.Features, nq)
	for i := range nq {
		f := syn.Query(existing, size, i)
		f.TaxID, f.Phone = "", "" // synthetic ones are not valid for every country
		feats[i] = f
		queries[i] = &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: f.Name, Domain: f.Domain,
			Address: &customerv1.Address{Country: f.Country, PostalCode: f.Postal}}}
	}

	gcfg := e.Config()
	gcfg.RateLimit, gcfg.RateBurst = 1e6, 1e6 // the limiter runs but never refuses
	g := e.Start(gcfg)
	token := e.Token("bench", time.Hour, gwtest.AllScopes...)
	cctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	cc := customerv1.NewCustomerServiceClient(dialGRPC(b, g.GRPCAddr))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := cc.CheckDuplicate(cctx, queries[0])
		if err == nil && r.GetGoldenRecords() == int64(size) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("golden model not ready: %v %v", r, err)
		}
	}
	var seq atomic.Int64
	dups := atomic.Int64{}
	call := func() error {
		n := seq.Add(1)
		r, err := cc.CheckDuplicate(cctx, queries[n%nq])
		if err == nil && r.GetVerdict() == customerv1.Verdict_VERDICT_DUPLICATE {
			dups.Add(1)
		}
		return err
	}
	ping := func() error { return e.Redis.Ping(ctx).Err() }

	d := 5 * time.Second
	if s := os.Getenv("GATEWAY_BENCH_SECONDS"); s != "" {
		if v, err := time.ParseDuration(s + "s"); err == nil {
			d = v
		}
	}
	runtime.GC()
	load(time.Second, 8, 0, call) // warm-up
	b.ResetTimer()
	paced := summarize(load(d, 16, 500, call))
	full := summarize(load(d, 16, 0, call))
	pingR := summarize(load(d/2, 1, 0, ping))
	b.StopTimer()
	// The stream's index over the same records, built only now so that its
	// heap does not slow the gateway's measurement (one process).
	ix := match.NewIndex(match.DefaultConfig())
	ix.Grow(size)
	isyn := matchtest.NewSynth(7)
	for i := range size {
		ix.Upsert(match.ID(i+1), isyn.Features(i))
	}
	runtime.GC()
	var iseq atomic.Int64
	index := summarize(load(d/2, 1, 0, func() error { ix.Match(feats[iseq.Add(1)%nq], nil); return nil }))
	dupShare := float64(dups.Load()) / float64(max(1, seq.Load()))

	fmt.Printf("CheckDuplicate over gRPC, %d golden records in redis-server, %d distinct queries (half typos of existing records; %.0f%% answered DUPLICATE)\n", size, nq, 100*dupShare)
	fmt.Printf("%-34s %10s %10s %10s %8s\n", "target", "QPS", "p50", "p99", "errors")
	for _, r := range []struct {
		name string
		r    result
	}{{"CheckDuplicate paced at 500 QPS", paced}, {"CheckDuplicate max (16 workers)", full},
		{"baseline: in-process index Match", index}, {"baseline: redis PING round trip", pingR}} {
		fmt.Printf("%-34s %10.0f %10v %10v %8d\n", r.name, r.r.qps, r.r.p50.Round(time.Microsecond), r.r.p99.Round(time.Microsecond), r.r.errors)
	}
	fmt.Printf("CheckDuplicate p50 %.1fx the in-process index, %.1fx a redis round trip\n",
		float64(paced.p50)/float64(max(1, index.p50)), float64(paced.p50)/float64(max(1, pingR.p50)))
	verdict := "MISS"
	if paced.p99 <= 20*time.Millisecond && paced.qps >= 450 {
		verdict = "PASS"
	}
	fmt.Printf("target p99 <= 20ms at 500 QPS: p99 %v at %.0f QPS  %s\n", paced.p99.Round(time.Microsecond), paced.qps, verdict)
	b.ReportMetric(float64(paced.p50.Microseconds())/1000, "p50-ms@500qps")
	b.ReportMetric(float64(paced.p99.Microseconds())/1000, "p99-ms@500qps")
	b.ReportMetric(full.qps, "max-qps")
	if paced.errors+full.errors > 0 {
		b.Errorf("%d failed calls", paced.errors+full.errors)
	}
}

func usedMemory(info string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory_human:"); ok {
			return "redis used_memory " + v
		}
	}
	return "redis used_memory unknown"
}
