// Package bench measures PriceQuote (5 lines) over gRPC and REST against a no-op
// pricing handler on the same server setup (auth, rate limiting in Redis, metrics,
// REST bridge), in one run, and prints the ratios.
//
//	make gateway-bench    (or: go test -run '^$' -bench PriceQuote ./bench/)
//
// Redis is the real server at ISTHMUS_REDIS_URL (database 14) when set, miniredis
// otherwise; Kafka is kfake (only used to build the models before the run).
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
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

// load calls fn from workers goroutines for d; with rate > 0 the calls are paced
// (open loop) at rate per second in total.
func load(d time.Duration, workers int, rate float64, fn func() error) result {
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
	elapsed := time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	return result{qps: float64(count.Load()) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), errors: errs.Load()}
}

func BenchmarkPriceQuote(b *testing.B) {
	redisURL := ""
	if u := os.Getenv("ISTHMUS_REDIS_URL"); u != "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		redisURL = fmt.Sprintf("redis://%s/14", o.Addr)
	}
	e := gwtest.Local(b, redisURL)
	now := time.Now()
	recs := []gwtest.Record{gwtest.Customer("C1", "", false, now)}
	for i, s := range skus {
		recs = append(recs, gwtest.PriceEntry(s, "NA", "USD", "", int64(1000+i*111), 3, 0, 825, now, gwtest.Tier{Min: 10, Unit: int64(900 + i*100)}, gwtest.Tier{Min: 30, Unit: int64(800 + i*100)}))
		recs = append(recs, gwtest.PriceEntry(s, "NA", "USD", "C1", 0, 3, 1250, 825, now))
	}
	e.Produce(recs...)
	token := e.Token("bench", time.Hour, gwtest.AllScopes...)

	cfg := e.Config()
	cfg.RateLimit, cfg.RateBurst = 1e6, 1e6 // the limiter runs (one Redis call) but never refuses
	real := e.Start(cfg)
	// Warm up and take the real answer as the no-op's canned response.
	conn := dialGRPC(b, real.GRPCAddr)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	pc := pricingv1.NewPricingServiceClient(conn)
	var canned *pricingv1.PriceQuoteResponse
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := pc.PriceQuote(ctx, request())
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

	d := 3 * time.Second
	if s := os.Getenv("GATEWAY_BENCH_SECONDS"); s != "" {
		if v, err := time.ParseDuration(s + "s"); err == nil {
			d = v
		}
	}
	const workers = 16
	type row struct {
		name       string
		full, half result
	}
	var rows []row
	for _, g := range []struct {
		name string
		addr *gwtest.Gateway
	}{{"PriceQuote", real}, {"no-op", nop}} {
		gc := pricingv1.NewPricingServiceClient(dialGRPC(b, g.addr.GRPCAddr))
		callGRPC := func() error { _, err := gc.PriceQuote(ctx, request()); return err }
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
		url := "http://" + g.addr.HTTPAddr + "/v1/pricing:quote"
		callREST := func() error {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(restBody)))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		for _, tr := range []struct {
			name string
			fn   func() error
		}{{"gRPC", callGRPC}, {"REST", callREST}} {
			load(500*time.Millisecond, workers, 0, tr.fn) // warm-up
			full := load(d, workers, 0, tr.fn)
			half := load(d, workers, full.qps/2, tr.fn)
			rows = append(rows, row{name: g.name + " " + tr.name, full: full, half: half})
		}
	}
	b.StopTimer()
	fmt.Printf("\nPriceQuote, 5 lines, %d workers, %v per run (GOMAXPROCS=%d, redis=%s)\n", workers, d, runtimeProcs(), map[bool]string{true: "redis-server", false: "miniredis"}[redisURL != ""])
	fmt.Printf("%-20s %10s %10s %10s %8s | %-22s\n", "target", "max QPS", "p50", "p99", "errors", "p99 at half max QPS")
	for _, r := range rows {
		fmt.Printf("%-20s %10.0f %10v %10v %8d | %v\n", r.name, r.full.qps, r.full.p50.Round(time.Microsecond), r.full.p99.Round(time.Microsecond), r.full.errors+r.half.errors, r.half.p99.Round(time.Microsecond))
	}
	for i, tr := range []string{"gRPC", "REST"} {
		real, nop := rows[i], rows[i+2]
		ratio := real.full.qps / nop.full.qps
		fmt.Printf("%s: PriceQuote/no-op QPS ratio %.2f (target >= 0.70), p99 at half load %v (target <= 2ms)\n", tr, ratio, real.half.p99.Round(time.Microsecond))
		b.ReportMetric(ratio, tr+"-qps-ratio")
		b.ReportMetric(real.full.qps, tr+"-qps")
		b.ReportMetric(float64(real.half.p99.Microseconds()), tr+"-p99-half-us")
	}
	for _, r := range rows {
		if r.full.errors+r.half.errors > 0 {
			b.Errorf("%s: %d failed calls", r.name, r.full.errors+r.half.errors)
		}
	}
}

func dialGRPC(b *testing.B, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}
