// Package bench measures the gateway's synchronous answers in one run against two
// baselines: a bare gRPC server answering a canned PriceQuote with no interceptors
// (the machine's ceiling), and the full stack (auth, rate limiting, metrics, REST
// face) with a no-op pricing handler. It measures PriceQuote (5 lines) over gRPC
// and REST and CheckCredit with a reservation (Idempotency-Key), and prints the
// ratios and p99 at half of the measured maximum next to the targets
// (PASS/MISS; figures, not assertions: the machine is shared).
//
//	make gateway-bench    (or: go test -run '^$' -bench PriceQuote ./bench/)
//
// Redis is the real server at ISTHMUS_REDIS_URL (database 14, emptied first) when set, miniredis
// otherwise; Kafka is kfake (only used to build the models before the run).
package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/gateway/gateway"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
	"github.com/isthmus/isthmus/services/gateway/internal/server"
)

// noop answers a canned 5-line quote without reading anything.
type noop struct {
	pricingv1.UnimplementedPricingServiceServer
	resp *pricingv1.PriceQuoteResponse
}

func (n *noop) PriceQuote(context.Context, *pricingv1.PriceQuoteRequest) (*pricingv1.PriceQuoteResponse, error) {
	return n.resp, nil
}

var skus = []string{"S1", "S2", "S3", "S4", "S5"}

func request() *pricingv1.PriceQuoteRequest {
	r := &pricingv1.PriceQuoteRequest{Customer: &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: "C1"}, CurrencyCode: "USD", Region: "NA"}
	for i, s := range skus {
		r.Lines = append(r.Lines, &pricingv1.QuoteLine{Sku: s, Quantity: int64(5 + 10*i)})
	}
	return r
}

const restBody = `{"erpCustomerId":"C1","currencyCode":"USD","region":"NA","lines":[{"sku":"S1","quantity":"5"},{"sku":"S2","quantity":"15"},{"sku":"S3","quantity":"25"},{"sku":"S4","quantity":"35"},{"sku":"S5","quantity":"45"}]}`

type result struct {
	qps      float64
	p50, p99 time.Duration
	errors   int64
}

// sample is one load run.
type sample struct {
	calls, errors int64
	elapsed       time.Duration
	lats          []time.Duration
}

// summarize merges runs of one target.
func summarize(ss ...sample) result {
	var (
		calls, errs int64
		elapsed     time.Duration
		lats        []time.Duration
	)
	for _, s := range ss {
		calls += s.calls
		errs += s.errors
		elapsed += s.elapsed
		lats = append(lats, s.lats...)
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	return result{qps: float64(calls) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), errors: errs}
}

// load calls fn from workers goroutines for d; with rate > 0 the calls are paced
// (open loop) at rate per second in total.
func load(d time.Duration, workers int, rate float64, fn func() error) sample {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  []time.Duration
		errs  atomic.Int64
		count atomic.Int64
	)
	start := time.Now()
	end := start.Add(d)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(workers) / rate)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			next := start.Add(time.Duration(w) * interval / time.Duration(workers))
			for {
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := fn(); err != nil {
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return sample{calls: count.Load(), errors: errs.Load(), elapsed: time.Since(start), lats: lats}
}

// benchCustomers spreads the credit reservations over many customers: a
// customer's reservations are summed on every check, so one customer would make
// the benchmark measure a growing list rather than the call.
const benchCustomers = 2000

func BenchmarkPriceQuote(b *testing.B) {
	redisURL := ""
	if u := os.Getenv("ISTHMUS_REDIS_URL"); u != "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		redisURL = fmt.Sprintf("redis://%s/14", o.Addr)
		// Database 14 is the benchmark's: emptied first, so the reservations
		// and idempotency keys of earlier runs (kept until their TTL) do not
		// cost the server expiry work during this one.
		rc := redis.NewClient(&redis.Options{Addr: o.Addr, DB: 14})
		err = rc.FlushDB(context.Background()).Err()
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	// The gateway's collector settings, as its process applies them.
	tuning := lifecycle.TuneGC((&gateway.Config{}).GCPercent())
	e := gwtest.Local(b, redisURL)
	now := time.Now()
	recs := []gwtest.Record{gwtest.Customer("C1", "", false, now)}
	for i, s := range skus {
		recs = append(recs, gwtest.PriceEntry(s, "NA", "USD", "", int64(1000+i*111), 3, 0, 825, now, gwtest.Tier{Min: 10, Unit: int64(900 + i*100)}, gwtest.Tier{Min: 30, Unit: int64(800 + i*100)}))
		recs = append(recs, gwtest.PriceEntry(s, "NA", "USD", "C1", 0, 3, 1250, 825, now))
	}
	for i := range benchCustomers {
		recs = append(recs, gwtest.CreditAccount(fmt.Sprintf("K%d", i), "USD", 1_000_000_000, 0, 0, false, now))
	}
	// The installed base for CheckEntitlement: assets of C1, every one
	// under warranty, one in two also under one of 50 service contracts.
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	for i := range benchAssets {
		var sc gwtest.Cover
		if i%2 == 0 {
			sc = gwtest.Cover{Start: day(-100), End: day(600), Types: []string{"REPAIR", "PREVENTIVE_MAINTENANCE"}, ContractID: fmt.Sprintf("SC-B%d", i%50), Response: 8}
		}
		recs = append(recs, gwtest.Asset(fmt.Sprintf("SN-B%d", i), "PUMP-100", "C1", "INSTALLED", gwtest.Cover{Start: day(-10), End: day(355), Types: []string{"REPAIR", "PARTS"}}, sc, now))
	}
	for i := range 50 {
		recs = append(recs, gwtest.Deal(fmt.Sprintf("SC-B%d", i), "CRM-1", "NEW", 0, day(-100), day(600), "", now))
	}
	e.Produce(recs...)
	token := e.Token("bench", time.Hour, gwtest.AllScopes...)

	cfg := e.Config()
	cfg.RateLimit, cfg.RateBurst = 1e6, 1e6 // the limiter runs but never refuses
	real := e.Start(cfg)
	// Warm up and take the real answer as the no-op's canned response.
	conn := dialGRPC(b, real.GRPCAddr)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	pc := pricingv1.NewPricingServiceClient(conn)
	var canned *pricingv1.PriceQuoteResponse
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := pc.PriceQuote(ctx, request())
		if err == nil {
			_, err = creditv1.NewCreditServiceClient(conn).CheckCredit(ctx, creditRequest(benchCustomers-1))
		}
		if err == nil {
			_, err = servicev1.NewEntitlementServiceClient(conn).CheckEntitlement(ctx, entitlementRequest(benchAssets-1))
		}
		if err == nil {
			canned = r
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("read models not ready: %v", err)
		}
	}
	ncfg := e.Config()
	ncfg.RateLimit, ncfg.RateBurst = 1e6, 1e6
	nop := e.Start(ncfg, gatewayNoop(proto.Clone(canned).(*pricingv1.PriceQuoteResponse)))
	bare := startBare(b, proto.Clone(canned).(*pricingv1.PriceQuoteResponse))

	d := 3 * time.Second
	if s := os.Getenv("GATEWAY_BENCH_SECONDS"); s != "" {
		if v, err := time.ParseDuration(s + "s"); err == nil {
			d = v
		}
	}
	const workers = 16
	// The load comes from a child process (see loadgen_test.go), as callers of
	// a gateway do: the client's garbage, and its collections, are not the
	// gateway's.
	targets := map[string]target{
		"bare gRPC":           {kind: kindQuoteGRPC, addr: bare},
		"no-op gRPC":          {kind: kindQuoteGRPC, addr: nop.GRPCAddr},
		"no-op REST":          {kind: kindQuoteREST, addr: nop.HTTPAddr},
		"PriceQuote gRPC":     {kind: kindQuoteGRPC, addr: real.GRPCAddr},
		"PriceQuote REST":     {kind: kindQuoteREST, addr: real.HTTPAddr},
		"Credit+reserve gRPC": {kind: kindCredit, addr: real.GRPCAddr},
		"Entitlement gRPC":    {kind: kindEntitlement, addr: real.GRPCAddr},
	}
	type row struct {
		name       string
		full, half result
	}
	rows := map[string]row{}
	order := []string{"bare gRPC", "no-op gRPC", "no-op REST", "PriceQuote gRPC", "PriceQuote REST", "Credit+reserve gRPC", "Entitlement gRPC"}
	// The machine is shared: targets take turns in short rounds, so a change of
	// background load hits every target alike rather than skewing the ratios.
	const rounds = 3
	fulls, halves := map[string][]sample{}, map[string][]sample{}
	for range rounds {
		for _, name := range order {
			fulls[name] = append(fulls[name], targets[name].load(b, token, d/rounds, workers, 0))
		}
	}
	for range rounds {
		for _, name := range order {
			rate := summarize(fulls[name]...).qps / 2
			halves[name] = append(halves[name], targets[name].load(b, token, d/rounds, workers, rate))
		}
	}
	for _, name := range order {
		rows[name] = row{name: name, full: summarize(fulls[name]...), half: summarize(halves[name]...)}
	}
	b.StopTimer()
	fmt.Printf("\nGateway hot path, %d workers in a load process (GOMAXPROCS=%d), %v per target and load in %d interleaved rounds (GOMAXPROCS=%d, redis=%s, gateway %v); PriceQuote has 5 lines\n", workers, loadProcs(), d, rounds, runtimeProcs(), map[bool]string{true: "redis-server", false: "miniredis"}[redisURL != ""], tuning.Attrs())
	fmt.Printf("%-20s %10s %10s %10s %8s | %-22s\n", "target", "max QPS", "p50", "p99", "errors", "p99 at half max QPS")
	for _, name := range order {
		r := rows[name]
		fmt.Printf("%-20s %10.0f %10v %10v %8d | %v\n", r.name, r.full.qps, r.full.p50.Round(time.Microsecond), r.full.p99.Round(time.Microsecond), r.full.errors+r.half.errors, r.half.p99.Round(time.Microsecond))
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	bareQPS := rows["bare gRPC"].full.qps
	for _, c := range []struct {
		name, metric, vs string
		ratio, target    float64
	}{
		{"PriceQuote gRPC", "gRPC-vs-bare", "bare gRPC", rows["PriceQuote gRPC"].full.qps / bareQPS, 0.5},
		{"PriceQuote gRPC", "gRPC-vs-noop", "full-stack no-op gRPC", rows["PriceQuote gRPC"].full.qps / rows["no-op gRPC"].full.qps, 0.8},
		{"PriceQuote REST", "REST-vs-bare", "bare gRPC", rows["PriceQuote REST"].full.qps / bareQPS, 0.5},
		{"PriceQuote REST", "REST-vs-noop", "full-stack no-op REST", rows["PriceQuote REST"].full.qps / rows["no-op REST"].full.qps, 0.8},
		{"Credit+reserve gRPC", "credit-vs-bare", "bare gRPC", rows["Credit+reserve gRPC"].full.qps / bareQPS, 0.3},
	} {
		fmt.Printf("%-20s QPS %.2fx %-22s (target >= %.1f)  %s\n", c.name, c.ratio, c.vs, c.target, verdict(c.ratio >= c.target))
		b.ReportMetric(c.ratio, c.metric)
	}
	// CheckEntitlement: one Redis round trip (the asset), the rest from
	// memory; no target of its own, reported for comparison.
	entRatio := rows["Entitlement gRPC"].full.qps / bareQPS
	fmt.Printf("%-20s QPS %.2fx %-22s (no target: one Redis round trip per call)\n", "Entitlement gRPC", entRatio, "bare gRPC")
	b.ReportMetric(entRatio, "entitlement-vs-bare")
	for _, c := range []struct {
		name   string
		target time.Duration
	}{{"PriceQuote gRPC", 2 * time.Millisecond}, {"PriceQuote REST", 2 * time.Millisecond}, {"Credit+reserve gRPC", 3 * time.Millisecond}} {
		p := rows[c.name].half.p99
		fmt.Printf("%-20s p99 at half load %-10v (target <= %v)  %s\n", c.name, p.Round(time.Microsecond), c.target, verdict(p <= c.target))
	}
	for _, name := range order {
		b.ReportMetric(rows[name].full.qps, strings.ReplaceAll(name, " ", "-")+"-qps")
	}
	for _, name := range order {
		if r := rows[name]; r.full.errors+r.half.errors > 0 {
			b.Errorf("%s: %d failed calls", r.name, r.full.errors+r.half.errors)
		}
	}
}

// benchAssets is the size of the installed base CheckEntitlement reads.
const benchAssets = 2000

func entitlementRequest(asset int) *servicev1.CheckEntitlementRequest {
	return &servicev1.CheckEntitlementRequest{Customer: &servicev1.CheckEntitlementRequest_ErpCustomerId{ErpCustomerId: "C1"},
		Serial: fmt.Sprintf("SN-B%d", asset), ServiceType: servicev1.ServiceType_SERVICE_TYPE_REPAIR}
}

func creditRequest(customer int) *creditv1.CheckCreditRequest {
	return &creditv1.CheckCreditRequest{
		Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: fmt.Sprintf("K%d", customer)},
		Amount:   &typev1.Money{CurrencyCode: "USD", UnitsMinor: 1}, Reserve: true,
	}
}

// startBare serves the canned quote from a gRPC server with no interceptors, no
// auth and no metrics: the ceiling of this machine for the call.
func startBare(b *testing.B, resp *pricingv1.PriceQuoteResponse) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// The gateway's transport settings (its stream workers), so the
	// baseline is this machine's ceiling for the call, not a server that
	// pays for a new goroutine's stack on every call.
	s := grpc.NewServer(server.StreamWorkers())
	pricingv1.RegisterPricingServiceServer(s, &noop{resp: resp})
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(s.Stop)
	return ln.Addr().String()
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func dialGRPC(b *testing.B, addr string) *grpc.ClientConn {
	conn, err := dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}
