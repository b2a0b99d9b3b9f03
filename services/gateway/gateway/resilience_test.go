package gateway_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// testFlushRebuild flushes Redis under load: every answer must be the correct price
// or UNAVAILABLE, and correct answers must come back.
func testFlushRebuild(t *testing.T, e *gwtest.Env, flush func()) {
	seed(e)
	// Enough history that a rebuild takes a moment: older versions of the price.
	for v := int64(1); v <= 200; v++ {
		e.Produce(gwtest.PriceEntry("H", "NA", "USD", "", 100+v, v, 0, 0, now))
	}
	g := e.Start(e.Config())
	c := dial(t, g, e.Token("q2o", time.Hour, gwtest.AllScopes...))
	waitReady(t, c)
	const want = 300 // the final version's price
	e.Produce(gwtest.PriceEntry("H", "NA", "USD", "", want, 201, 0, 0, now))
	for deadline := time.Now().Add(5 * time.Second); ; {
		got, err := c.pricing.PriceQuote(c.ctx(), quote(line("H", 1)))
		if err == nil && got.GetLines()[0].GetListPrice().GetUnitsMinor() == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("final price never visible: %v %v", got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var (
		ok, unavailable atomic.Int64
		mu              sync.Mutex
		wrong           []string
		stop            = make(chan struct{})
		wg              sync.WaitGroup
	)
	bad := func(s string) { mu.Lock(); wrong = append(wrong, s); mu.Unlock() }
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := c.pricing.PriceQuote(c.ctx(), quote(line("H", 1)))
				switch {
				case status.Code(err) == codes.Unavailable:
					unavailable.Add(1)
				case err != nil:
					bad("error: " + err.Error())
				case got.GetLines()[0].GetListPrice().GetUnitsMinor() != want:
					bad("price " + got.GetLines()[0].GetListPrice().String())
				default:
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	ok.Store(0)
	flush()
	sawOK := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if unavailable.Load() > 0 && ok.Load() > 0 {
			sawOK = true
			break
		}
	}
	close(stop)
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d wrong answers during rebuild, first: %v", len(wrong), wrong[0])
	}
	if !sawOK {
		t.Fatalf("after flush: %d UNAVAILABLE, %d correct answers; want both", unavailable.Load(), ok.Load())
	}
	t.Logf("during rebuild: %d UNAVAILABLE, then correct answers", unavailable.Load())
}

// testReplicas runs two gateways on the same Redis and topics: reservations made
// through one are seen by the other, and concurrent reservations through both never
// exceed the headroom.
func testReplicas(t *testing.T, e *gwtest.Env) {
	seed(e)
	a := dial(t, e.Start(e.Config()), e.Token("q2o", time.Hour, gwtest.AllScopes...))
	b := dial(t, e.Start(e.Config()), e.Token("q2o", time.Hour, gwtest.AllScopes...))
	waitReady(t, a)
	waitReady(t, b)
	// Both replicas read the two bad records seed wrote; each lands in
	// dlq.gateway.v1 once, with its original bytes and the DLQ headers.
	dlq := e.ReadAll(catalog.DLQTopic("gateway"), 2, 30*time.Second)
	if len(dlq) != 2 {
		t.Fatalf("dlq.gateway.v1 has %d records, want the 2 bad ones exactly once", len(dlq))
	}
	for _, r := range dlq {
		topic, _ := tracing.Header(r.Headers, catalog.DLQHeaderTopic)
		class, _ := tracing.Header(r.Headers, catalog.DLQHeaderErrorClass)
		if class != "poison" || (topic != "erp.price-book.v1" && topic != "erp.credit.v1") {
			t.Errorf("DLQ record %q from %q class %q", r.Key, topic, class)
		}
		if topic == "erp.price-book.v1" && string(r.Value) != "not avro" {
			t.Errorf("DLQ value %q, want the original bytes", r.Value)
		}
	}
	cust := &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: "C1"}
	r, err := a.credit.CheckCredit(a.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(10000), Reserve: true, OrderId: "A-1"})
	if err != nil || r.GetReservation() == nil {
		t.Fatalf("reserve on A: %v %v", r, err)
	}
	seen, err := b.credit.CheckCredit(b.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(1)})
	if err != nil || seen.GetExposure().GetReservations().GetUnitsMinor() != 10000 || seen.GetAvailableCredit().GetUnitsMinor() != 40000 {
		t.Fatalf("B does not see A's reservation: %v %v", seen, err)
	}
	if _, err := b.credit.ReleaseReservation(b.ctx(), &creditv1.ReleaseReservationRequest{ReservationId: r.GetReservation().GetReservationId()}); err != nil {
		t.Fatal(err)
	}
	// Headroom 50000, hold threshold 90% of 100000 = 40000 of new exposure: 1000 each,
	// so at most 40 approvals among 100 concurrent calls on both replicas.
	var approved atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a
			if i%2 == 1 {
				c = b
			}
			got, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(1000), Reserve: true})
			if err != nil && status.Code(err) != codes.Aborted {
				t.Errorf("reserve: %v", err)
				return
			}
			if got.GetReservation() != nil {
				approved.Add(1)
			}
		}()
	}
	wg.Wait()
	final, err := a.credit.CheckCredit(a.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(1)})
	if err != nil {
		t.Fatal(err)
	}
	if approved.Load() > 40 || final.GetExposure().GetReservations().GetUnitsMinor() != approved.Load()*1000 {
		t.Fatalf("%d approvals, reservations %v: headroom spent twice", approved.Load(), final.GetExposure().GetReservations())
	}
	t.Logf("%d of 100 concurrent reservations approved", approved.Load())
}

func testRateLimit(t *testing.T, e *gwtest.Env) {
	seed(e)
	cfg := e.Config()
	cfg.RateLimit, cfg.RateBurst = 0.5, 3
	c := dial(t, e.Start(cfg), e.Token("noisy", time.Hour, gwtest.AllScopes...))
	var err error
	for range 4 {
		_, err = c.avail.Check(c.ctx(), availReq())
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("4th call within burst 3: %v", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("no retry delay: %v", status.Convert(err).Details())
	}
	code, hdr, _ := c.rest("/v1/availability:check", map[string]any{"sku": "W", "site": "S1", "quantity": "1"})
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("REST: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	// Another client has its own budget.
	other := dial(t, &gwtest.Gateway{GRPCAddr: c.conn.Target(), HTTPAddr: c.base[len("http://"):]}, e.Token("quiet", time.Hour, gwtest.AllScopes...))
	if _, err := other.avail.Check(other.ctx(), availReq()); err != nil && status.Code(err) != codes.Unavailable {
		t.Errorf("other client: %v", err)
	}
}

func TestFlushRebuild(t *testing.T) {
	e := gwtest.Unit(t)
	testFlushRebuild(t, e, func() { e.Mini.FlushAll() })
}

func TestReplicas(t *testing.T)  { testReplicas(t, gwtest.Unit(t)) }
func TestRateLimit(t *testing.T) { testRateLimit(t, gwtest.Unit(t)) }

// TestAnswersFromMemory: once a replica's read models are ready, PriceQuote costs
// no Redis call — it still answers, from the replica's mirror of the last ready
// epoch, with Redis gone (rate limits off: they need Redis for their leases).
func TestAnswersFromMemory(t *testing.T) {
	e := gwtest.Unit(t)
	seed(e)
	c := dial(t, e.Start(e.Config()), e.Token("q2o", time.Hour, gwtest.AllScopes...))
	waitReady(t, c)
	before, err := c.pricing.PriceQuote(c.ctx(), quote(line("W", 12), line("G", 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.Mini.Close()
	after, err := c.pricing.PriceQuote(c.ctx(), quote(line("W", 12), line("G", 1)))
	if err != nil {
		t.Fatalf("with Redis gone: %v", err)
	}
	if before.GetGrandTotal().GetUnitsMinor() != after.GetGrandTotal().GetUnitsMinor() || after.GetGrandTotal().GetUnitsMinor() == 0 {
		t.Fatalf("grand total %v, then %v with Redis gone", before.GetGrandTotal(), after.GetGrandTotal())
	}
}
