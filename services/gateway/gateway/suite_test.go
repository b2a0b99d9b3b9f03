package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// client holds gRPC stubs and a REST helper for one gateway.
type client struct {
	t       testing.TB
	conn    *grpc.ClientConn
	pricing pricingv1.PricingServiceClient
	credit  creditv1.CreditServiceClient
	avail   inventoryv1.AvailabilityServiceClient
	base    string
	token   string
}

func dial(t testing.TB, g *gwtest.Gateway, token string) *client {
	t.Helper()
	conn, err := grpc.NewClient(g.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, pricing: pricingv1.NewPricingServiceClient(conn), credit: creditv1.NewCreditServiceClient(conn),
		avail: inventoryv1.NewAvailabilityServiceClient(conn), base: "http://" + g.HTTPAddr, token: token}
}

func (c *client) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c.t.Cleanup(cancel)
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return ctx
}

// rest posts a JSON body and returns status, headers and decoded body.
func (c *client) rest(path string, body any, hdr ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	return c.call(http.MethodPost, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, hdr...)...)
}

// get sends a GET and returns status and decoded body.
func (c *client) get(path string) (int, map[string]any) {
	c.t.Helper()
	code, _, out := c.call(http.MethodGet, path, nil)
	return code, out
}

// call sends a request with the client's token and header pairs, and
// decodes the JSON answer.
func (c *client) call(method, path string, body io.Reader, hdr ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, out
}

var now = time.Now().UTC()

// seed writes a small ERP world: one customer C1 (CRM account CRM-1), two SKUs in NA/USD.
func seed(e *gwtest.Env) {
	e.Produce(
		gwtest.Customer("C1", "CRM-1", false, now),
		gwtest.Customer("C2", "", true, now),
		gwtest.Xref("CRM-1", "C1", now),
		gwtest.PriceEntry("W", "NA", "USD", "", 1000, 7, 0, 825, now, gwtest.Tier{Min: 10, Unit: 900}, gwtest.Tier{Min: 100, Unit: 800}),
		gwtest.PriceEntry("W", "NA", "USD", "C1", 0, 8, 1250, 825, now),
		gwtest.PriceEntry("G", "NA", "USD", "", 2599, 7, 0, 0, now),
		gwtest.CreditAccount("C1", "USD", 100000, 20000, 30000, false, now),
		gwtest.CreditAccount("C2", "USD", 100000, 0, 0, true, now),
		gwtest.InventoryLevel("W", "S1", 100, 30, now),
	)
	// Bad records never stall a model: bytes that are not the wire format, and a
	// schema id the registry does not know.
	e.ProduceRaw("erp.price-book.v1", "X|NA|USD", []byte("not avro"))
	e.ProduceRaw("erp.credit.v1", "C9", []byte{0, 0, 0x7f, 0xff, 0xff, 1, 2})
}

func quote(lines ...*pricingv1.QuoteLine) *pricingv1.PriceQuoteRequest {
	return &pricingv1.PriceQuoteRequest{Customer: &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: "C1"}, CurrencyCode: "USD", Region: "NA", Lines: lines}
}

func line(sku string, qty int64) *pricingv1.QuoteLine {
	return &pricingv1.QuoteLine{Sku: sku, Quantity: qty}
}

func usd(v int64) *typev1.Money { return &typev1.Money{CurrencyCode: "USD", UnitsMinor: v} }

// waitReady retries PriceQuote until the read models answer (UNAVAILABLE before).
func waitReady(t testing.TB, c *client) {
	t.Helper()
	waitAnswer(t, "read models", func() error {
		_, err := c.pricing.PriceQuote(c.ctx(), quote(line("W", 1)))
		return err
	}, codes.Unavailable)
}

// waitAnswer retries call until it fails with none of the codes (UNAVAILABLE:
// a model not ready), for up to 30s; the first such answer must be a success.
func waitAnswer(t testing.TB, what string, call func() error, retry ...codes.Code) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call()
		if !slices.Contains(retry, status.Code(err)) {
			if err != nil {
				t.Fatalf("%s: first answer: %v", what, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func badRequestFields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// testAPI is the end-to-end suite, run against kfake+miniredis and, with
// -tags integration, against the real broker and Redis.
func testAPI(t *testing.T, e *gwtest.Env) {
	seed(e)
	g := e.Start(e.Config())
	c := dial(t, g, e.Token("q2o", time.Hour, gwtest.AllScopes...))
	waitReady(t, c)

	t.Run("PriceQuote gRPC", func(t *testing.T) {
		got, err := c.pricing.PriceQuote(c.ctx(), quote(line("W", 10), line("G", 2)))
		if err != nil {
			t.Fatal(err)
		}
		want := &pricingv1.PriceQuoteResponse{
			ErpCustomerId: "C1", CurrencyCode: "USD", Region: "NA",
			Lines: []*pricingv1.PricedLine{
				{LineNumber: 1, Sku: "W", Quantity: 10, ListPrice: usd(1000), VolumeTier: &pricingv1.VolumeTier{MinQuantity: 10, UnitPrice: usd(900)},
					CustomerDiscountBps: 1250, PriceBookId: "NA-2025", NetUnitPrice: usd(788), LineTotal: usd(7880), TaxRateBps: 825, Tax: usd(650)},
				{LineNumber: 2, Sku: "G", Quantity: 2, ListPrice: usd(2599), PriceBookId: "NA-2025", NetUnitPrice: usd(2599), LineTotal: usd(5198), Tax: usd(0)},
			},
			Subtotal: usd(13078), TaxTotal: usd(650), GrandTotal: usd(13728), PriceBookVersion: 8,
		}
		if d := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&pricingv1.PriceQuoteResponse{}, "freshness")); d != "" {
			t.Errorf("quote (-want +got):\n%s", d)
		}
		if got.GetFreshness().GetAsOf().AsTime().Unix() != now.Unix() {
			t.Errorf("freshness as_of = %v, want %v", got.GetFreshness().GetAsOf().AsTime(), now)
		}
	})
	t.Run("PriceQuote by CRM id over REST", func(t *testing.T) {
		code, _, body := c.rest("/v1/pricing:quote", map[string]any{"crmAccountId": "CRM-1", "currencyCode": "USD", "region": "NA", "lines": []any{map[string]any{"sku": "W", "quantity": "10"}}})
		if code != 200 {
			t.Fatalf("status %d: %v", code, body)
		}
		if got := body["grandTotal"].(map[string]any)["unitsMinor"]; got != "8530" {
			t.Errorf("grandTotal = %v, want 8530", got)
		}
	})
	t.Run("tax exempt customer", func(t *testing.T) {
		r := quote(line("W", 1))
		r.Customer = &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: "C2"}
		got, err := c.pricing.PriceQuote(c.ctx(), r)
		if err != nil || got.GetTaxTotal().GetUnitsMinor() != 0 || got.GetSubtotal().GetUnitsMinor() != 1000 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("invalid input has field violations", func(t *testing.T) {
		r := quote(line("", 0))
		r.CurrencyCode = "usd"
		_, err := c.pricing.PriceQuote(c.ctx(), r)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v", err)
		}
		if d := cmp.Diff([]string{"currency_code", "lines[0].sku", "lines[0].quantity"}, badRequestFields(err)); d != "" {
			t.Errorf("violations (-want +got):\n%s", d)
		}
		code, _, body := c.rest("/v1/pricing:quote", map[string]any{"erpCustomerId": "C1", "currencyCode": "XXX", "region": "NA", "lines": []any{}})
		if code != 400 || !strings.Contains(fmt.Sprint(body["details"]), "fieldViolations") {
			t.Errorf("REST bad input: %d %v", code, body)
		}
	})
	t.Run("unknown sku and customer are NOT_FOUND", func(t *testing.T) {
		if _, err := c.pricing.PriceQuote(c.ctx(), quote(line("NOPE", 1))); status.Code(err) != codes.NotFound {
			t.Errorf("unknown sku: %v", err)
		}
		r := quote(line("W", 1))
		r.Customer = &pricingv1.PriceQuoteRequest_CrmAccountId{CrmAccountId: "CRM-404"}
		if _, err := c.pricing.PriceQuote(c.ctx(), r); status.Code(err) != codes.NotFound {
			t.Errorf("unknown CRM account: %v", err)
		}
		code, _, _ := c.rest("/v1/pricing:quote", map[string]any{"erpCustomerId": "C1", "currencyCode": "EUR", "region": "NA", "lines": []any{map[string]any{"sku": "W", "quantity": "1"}}})
		if code != 404 {
			t.Errorf("REST no EUR price: %d", code)
		}
	})
	t.Run("ValidatePrices", func(t *testing.T) {
		got, err := c.pricing.ValidatePrices(c.ctx(), &pricingv1.ValidatePricesRequest{
			Customer: &pricingv1.ValidatePricesRequest_ErpCustomerId{ErpCustomerId: "C1"}, CurrencyCode: "USD", Region: "NA", ToleranceMinor: 1,
			Lines: []*pricingv1.QuotedLine{{Sku: "W", Quantity: 10, QuotedUnitPrice: usd(787)}, {Sku: "G", Quantity: 1, QuotedUnitPrice: usd(2500)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetValid() || len(got.GetViolations()) != 1 || got.GetViolations()[0].GetLineNumber() != 2 || got.GetViolations()[0].GetDifference().GetUnitsMinor() != -99 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("CheckCredit decisions", func(t *testing.T) {
		for _, tc := range []struct {
			cust   string
			amount int64
			want   creditv1.Decision
		}{
			{"C1", 30000, creditv1.Decision_DECISION_APPROVED},
			{"C1", 45000, creditv1.Decision_DECISION_HOLD}, // above 90% of the limit
			{"C1", 50001, creditv1.Decision_DECISION_REJECTED},
			{"C2", 1, creditv1.Decision_DECISION_HOLD}, // ERP credit hold
		} {
			got, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: tc.cust}, Amount: usd(tc.amount)})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetDecision() != tc.want {
				t.Errorf("%s %d: decision %v, want %v (%v)", tc.cust, tc.amount, got.GetDecision(), tc.want, got.GetReasons())
			}
		}
	})
	t.Run("reservations spend headroom once; idempotent; released", func(t *testing.T) {
		req := &creditv1.CheckCreditRequest{Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: "C1"}, Amount: usd(30000), Reserve: true, OrderId: "O-1"}
		ctx := metadata.AppendToOutgoingContext(c.ctx(), "idempotency-key", "k-1")
		first, err := c.credit.CheckCredit(ctx, req)
		if err != nil || first.GetReservation() == nil {
			t.Fatalf("first reservation: %v %v", first, err)
		}
		again, err := c.credit.CheckCredit(metadata.AppendToOutgoingContext(c.ctx(), "idempotency-key", "k-1"), req)
		if err != nil || again.GetReservation().GetReservationId() != first.GetReservation().GetReservationId() {
			t.Fatalf("replay: %v %v", again, err)
		}
		// Headroom was 50000; 30000 reserved: another 30000 no longer fits.
		second, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: req.Customer, Amount: usd(30000), Reserve: true, OrderId: "O-2"})
		if err != nil || second.GetDecision() != creditv1.Decision_DECISION_REJECTED || second.GetExposure().GetReservations().GetUnitsMinor() != 30000 {
			t.Fatalf("second: %v %v", second, err)
		}
		if _, err := c.credit.CheckCredit(metadata.AppendToOutgoingContext(c.ctx(), "idempotency-key", "k-1"), &creditv1.CheckCreditRequest{Customer: req.Customer, Amount: usd(1), Reserve: true}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("idempotency key reused with another request: %v", err)
		}
		code, _, body := c.rest("/v1/credit/reservations/"+first.GetReservation().GetReservationId()+":release", map[string]any{})
		if code != 200 || body["released"] != true {
			t.Fatalf("release: %d %v", code, body)
		}
		after, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: req.Customer, Amount: usd(30000)})
		if err != nil || after.GetDecision() != creditv1.Decision_DECISION_APPROVED {
			t.Errorf("after release: %v %v", after, err)
		}
	})
	t.Run("REST Idempotency-Key header reaches the call", func(t *testing.T) {
		body := map[string]any{"erpCustomerId": "C1", "amount": map[string]any{"currencyCode": "USD", "unitsMinor": "100"}, "reserve": true, "orderId": "O-R"}
		code, _, first := c.rest("/v1/credit:check", body, "Idempotency-Key", "k-rest")
		res, _ := first["reservation"].(map[string]any)
		if code != 200 || res["reservationId"] == nil {
			t.Fatalf("first: %d %v", code, first)
		}
		code, _, again := c.rest("/v1/credit:check", body, "Idempotency-Key", "k-rest")
		if res2, _ := again["reservation"].(map[string]any); code != 200 || res2["reservationId"] != res["reservationId"] {
			t.Fatalf("replay with the same header: %d %v, want reservation %v", code, again, res["reservationId"])
		}
		body["idempotencyKey"] = "k-other"
		if code, _, out := c.rest("/v1/credit:check", body, "Idempotency-Key", "k-rest"); code != 400 || !strings.Contains(fmt.Sprint(out), "Idempotency-Key header") {
			t.Errorf("header and body keys differ: %d %v, want 400 naming the header", code, out)
		}
		if code, _, out := c.rest("/v1/credit/reservations/"+res["reservationId"].(string)+":release", map[string]any{}); code != 200 {
			t.Fatalf("release: %d %v", code, out)
		}
	})
	t.Run("ERP exposure that covers a reservation settles it", func(t *testing.T) {
		cust := &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: "C1"}
		r, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(5000), Reserve: true, OrderId: "O-9"})
		if err != nil || r.GetReservation() == nil {
			t.Fatalf("reserve: %v %v", r, err)
		}
		exposure := func() int64 {
			got, err := c.credit.CheckCredit(c.ctx(), &creditv1.CheckCreditRequest{Customer: cust, Amount: usd(1)})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetExposure().GetReservations().GetUnitsMinor()
		}
		// A position computed before the settle delay (30s) has passed keeps it ...
		e.Produce(gwtest.CreditAccount("C1", "USD", 100000, 20000, 30000, false, time.Now().Add(5*time.Second)))
		time.Sleep(300 * time.Millisecond)
		if got := exposure(); got != 5000 {
			t.Fatalf("reservations = %d after an early position, want 5000", got)
		}
		// ... one computed after it (open orders now include the order) releases it.
		e.Produce(gwtest.CreditAccount("C1", "USD", 100000, 20000, 35000, false, time.Now().Add(31*time.Second)))
		for deadline := time.Now().Add(5 * time.Second); exposure() != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reservation not settled: %d", exposure())
			}
		}
		e.Produce(gwtest.CreditAccount("C1", "USD", 100000, 20000, 30000, false, now))
	})
	t.Run("availability", func(t *testing.T) {
		got, err := c.avail.Check(c.ctx(), &inventoryv1.CheckRequest{Sku: "W", Site: "S1", Quantity: 71})
		if err != nil || got.GetAvailableToPromise() != 70 || got.GetAvailable() {
			t.Fatalf("got %v %v", got, err)
		}
		code, _, body := c.rest("/v1/availability:check", map[string]any{"sku": "W", "site": "S1", "quantity": "70"})
		if code != 200 || body["available"] != true {
			t.Errorf("REST: %d %v", code, body)
		}
	})
	t.Run("openapi.json is served", func(t *testing.T) {
		resp, err := http.Get(c.base + "/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["swagger"] != "2.0" {
			t.Errorf("openapi: %v %v", doc["swagger"], err)
		}
	})
	t.Run("price-book change is reflected within 1s", func(t *testing.T) {
		start := time.Now()
		e.Produce(gwtest.PriceEntry("G", "NA", "USD", "", 2799, 9, 0, 0, time.Now()))
		for {
			got, err := c.pricing.PriceQuote(c.ctx(), quote(line("G", 1)))
			if err != nil {
				t.Fatal(err)
			}
			if got.GetLines()[0].GetListPrice().GetUnitsMinor() == 2799 {
				break
			}
			if got.GetLines()[0].GetListPrice().GetUnitsMinor() != 2599 {
				t.Fatalf("wrong price %v", got.GetLines()[0])
			}
			if time.Since(start) > time.Second {
				t.Fatalf("price change not visible after %v", time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("price change visible after %v", time.Since(start))
	})
}

func availReq() *inventoryv1.CheckRequest {
	return &inventoryv1.CheckRequest{Sku: "W", Site: "S1", Quantity: 1}
}
