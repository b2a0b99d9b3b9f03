package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
)

// The benchmark's load runs in a child process: the test binary started
// again with loadEnv set, which calls one target for a while and writes its
// sample to stdout. The gateway is measured the way its callers see it,
// without the load generator's allocations and collections in its process;
// a child per target and round also starts each from fresh connections.

const loadEnv = "GATEWAY_BENCH_LOAD" // kind,addr,workers,duration,rate

// loadGCPercent is the load process's GOGC.
const loadGCPercent = 400

// loadProcs is the load process's GOMAXPROCS: half of the machine's CPUs
// (GATEWAY_BENCH_LOAD_PROCS to choose). A load generator as wide as the
// machine competes with the gateway for every core: on 2 cores its idle
// processors spinning for work cost the gateway more than they gave the
// load (every target's maximum was lower and its p99 at half load higher
// than with one processor for the load).
func loadProcs() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAY_BENCH_LOAD_PROCS")); err == nil && n > 0 {
		return n
	}
	return max(1, runtime.NumCPU()/2)
}

type kind string

const (
	kindQuoteGRPC   kind = "quote-grpc"
	kindQuoteREST   kind = "quote-rest"
	kindCredit      kind = "credit"
	kindEntitlement kind = "entitlement"
)

type target struct {
	kind kind
	addr string
}

// childSample is a sample as the child writes it.
type childSample struct {
	Calls, Errors int64
	Elapsed       time.Duration
	Lats          []time.Duration
	FirstError    string
}

// load runs the target from a child process for d with workers (paced at
// rate per second in total when rate > 0), after a short warm-up the child
// does not count.
func (t target) load(b *testing.B, token string, d time.Duration, workers int, rate float64) sample {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("%s=%s,%s,%d,%s,%f", loadEnv, t.kind, t.addr, workers, d, rate),
		"GATEWAY_BENCH_TOKEN="+token,
		// The load process's own collections would count in the latencies
		// it records; it trades memory for fewer of them, as the gateway does.
		"GOGC="+strconv.Itoa(loadGCPercent), "GOMAXPROCS="+strconv.Itoa(loadProcs()))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("load process for %s %s: %v: %s", t.kind, t.addr, err, errOut.String())
	}
	var cs childSample
	if err := gob.NewDecoder(&out).Decode(&cs); err != nil {
		b.Fatalf("load process for %s %s: reading its sample: %v: %s", t.kind, t.addr, err, errOut.String())
	}
	if cs.FirstError != "" {
		b.Logf("%s %s: %d failed calls, the first: %s", t.kind, t.addr, cs.Errors, cs.FirstError)
	}
	return sample{calls: cs.Calls, errors: cs.Errors, elapsed: cs.Elapsed, lats: cs.Lats}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadEnv); spec != "" {
		os.Exit(runLoadChild(spec))
	}
	os.Exit(m.Run())
}

func runLoadChild(spec string) int {
	var (
		k       kind
		addr    string
		workers int
		d       time.Duration
		rate    float64
	)
	parts := strings.Split(spec, ",")
	if len(parts) != 5 {
		fmt.Fprintf(os.Stderr, "%s=%q: want kind,addr,workers,duration,rate\n", loadEnv, spec)
		return 2
	}
	k, addr = kind(parts[0]), parts[1]
	workers, err1 := strconv.Atoi(parts[2])
	d, err2 := time.ParseDuration(parts[3])
	rate, err3 := strconv.ParseFloat(parts[4], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: want kind,addr,workers,duration,rate\n", loadEnv, spec)
		return 2
	}
	call, err := newCall(k, addr, os.Getenv("GATEWAY_BENCH_TOKEN"), workers)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	load(300*time.Millisecond, workers, 0, func() error { _ = call(); return nil }) // warm-up: connections, caches
	var first atomic.Value
	s := load(d, workers, rate, func() error {
		err := call()
		if err != nil {
			first.CompareAndSwap(nil, err.Error())
		}
		return err
	})
	cs := childSample{Calls: s.calls, Errors: s.errors, Elapsed: s.elapsed, Lats: s.lats}
	if v := first.Load(); v != nil {
		cs.FirstError = v.(string)
	}
	if err := gob.NewEncoder(os.Stdout).Encode(cs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// newCall makes one call of the kind to addr, as the workers share it.
func newCall(k kind, addr, token string, workers int) (func() error, error) {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	if k == kindQuoteREST {
		if os.Getenv("GATEWAY_BENCH_REST_CLIENT") != "net/http" {
			return restCall(addr, token, workers)
		}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
		url := "http://" + addr + "/v1/pricing:quote"
		return func() error {
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
		}, nil
	}
	conn, err := dial(addr)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	switch k {
	case kindQuoteGRPC:
		c := pricingv1.NewPricingServiceClient(conn)
		return func() error { _, err := c.PriceQuote(ctx, request()); return err }, nil
	case kindCredit:
		cc := creditv1.NewCreditServiceClient(conn)
		run := fmt.Sprintf("bench-%d-%d", os.Getpid(), time.Now().UnixNano())
		return func() error {
			n := seq.Add(1)
			cctx := metadata.AppendToOutgoingContext(ctx, "idempotency-key", fmt.Sprintf("%s-%d", run, n))
			r, err := cc.CheckCredit(cctx, creditRequest(int(n%benchCustomers)))
			if err == nil && r.GetReservation() == nil {
				err = fmt.Errorf("no reservation: %v", r.GetDecision())
			}
			return err
		}, nil
	case kindEntitlement:
		ec := servicev1.NewEntitlementServiceClient(conn)
		return func() error {
			r, err := ec.CheckEntitlement(ctx, entitlementRequest(int(seq.Add(1)%benchAssets)))
			if err == nil && r.GetCoverage() != servicev1.Coverage_COVERAGE_WARRANTY {
				err = fmt.Errorf("coverage %v", r.GetCoverage())
			}
			return err
		}, nil
	}
	conn.Close()
	return nil, fmt.Errorf("unknown load kind %q", k)
}

// restCall is a keep-alive HTTP/1.1 client as lean as a load generator
// such as wrk: one connection per worker, the request's bytes written
// once, the response read on the caller's goroutine. Go's net/http client
// hands every call to a writer and a reader goroutine per connection,
// three switches of goroutine per call that, on the load process's one
// processor, count in every latency it records (GATEWAY_BENCH_REST_CLIENT
// =net/http measures with that client instead).
func restCall(addr, token string, workers int) (func() error, error) {
	req := []byte(fmt.Sprintf("POST /v1/pricing:quote HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, token, len(restBody), restBody))
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	idle := make(chan *conn, workers)
	return func() error {
		var c *conn
		select {
		case c = <-idle:
		default:
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			c = &conn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}
		}
		resp, err := func() (*http.Response, error) {
			if _, err := c.c.Write(req); err != nil {
				return nil, err
			}
			resp, err := http.ReadResponse(c.r, nil)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp, err
		}()
		if err != nil || resp.Close {
			c.c.Close()
			if err != nil {
				return err
			}
		} else {
			select {
			case idle <- c:
			default:
				c.c.Close()
			}
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}, nil
}
