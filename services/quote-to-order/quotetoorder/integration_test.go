//go:build integration

package quotetoorder_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
)

const partitions = 4

// ---- a gateway with simple rules, served over real gRPC --------------------

// prices is the price book: SKU → net unit price in USD cents.
var prices = map[string]int64{"SKU-1": 450, "SKU-2": 100, "EXP-1": 1000, "TAX-1": 200}

type fakeGateway struct {
	pricingv1.UnimplementedPricingServiceServer
	creditv1.UnimplementedCreditServiceServer
	inventoryv1.UnimplementedAvailabilityServiceServer

	mu       sync.Mutex
	approved map[string]bool // order ids with an approved, reserving credit check
	released bool            // credit of HOLD-* customers restored
	calls    int
	addr     string
	srv      *grpc.Server
}

func (g *fakeGateway) count() { g.mu.Lock(); g.calls++; g.mu.Unlock() }

func (g *fakeGateway) line(i int, sku string) (int64, error) {
	p, ok := prices[sku]
	if !ok {
		return 0, status.Errorf(codes.InvalidArgument, "lines[%d].sku: no active price for %s in NA/USD", i, sku)
	}
	return p, nil
}

func (g *fakeGateway) ValidatePrices(_ context.Context, r *pricingv1.ValidatePricesRequest) (*pricingv1.ValidatePricesResponse, error) {
	g.count()
	res := &pricingv1.ValidatePricesResponse{Valid: true, PriceBookVersion: 7}
	for i, l := range r.GetLines() {
		p, err := g.line(i, l.GetSku())
		if err != nil {
			return nil, err
		}
		if l.GetQuotedUnitPrice().GetUnitsMinor() != p {
			res.Valid = false
			res.Violations = append(res.Violations, &pricingv1.PriceViolation{LineNumber: int32(i + 1), Sku: l.GetSku(), QuotedUnitPrice: l.GetQuotedUnitPrice(), ComputedUnitPrice: &typev1.Money{CurrencyCode: "USD", UnitsMinor: p}})
		}
	}
	return res, nil
}

func (g *fakeGateway) PriceQuote(_ context.Context, r *pricingv1.PriceQuoteRequest) (*pricingv1.PriceQuoteResponse, error) {
	g.count()
	var sub int64
	for i, l := range r.GetLines() {
		p, err := g.line(i, l.GetSku())
		if err != nil {
			return nil, err
		}
		sub += p * l.GetQuantity()
	}
	tax := sub / 10
	m := func(n int64) *typev1.Money { return &typev1.Money{CurrencyCode: r.GetCurrencyCode(), UnitsMinor: n} }
	return &pricingv1.PriceQuoteResponse{ErpCustomerId: r.GetErpCustomerId(), Subtotal: m(sub), TaxTotal: m(tax), GrandTotal: m(sub + tax), PriceBookVersion: 7}, nil
}

func (g *fakeGateway) CheckCredit(_ context.Context, r *creditv1.CheckCreditRequest) (*creditv1.CheckCreditResponse, error) {
	g.count()
	g.mu.Lock()
	defer g.mu.Unlock()
	res := &creditv1.CheckCreditResponse{ErpCustomerId: r.GetErpCustomerId(), Decision: creditv1.Decision_DECISION_APPROVED,
		AvailableCredit: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 10_000_000}}
	if strings.HasPrefix(r.GetErpCustomerId(), "HOLD") && !g.released {
		res.Decision = creditv1.Decision_DECISION_HOLD
		res.Reasons = []*creditv1.Reason{{Code: "CREDIT_HOLD", Message: "customer on credit hold"}}
		return res, nil
	}
	if r.GetReserve() {
		res.Reservation = &creditv1.Reservation{ReservationId: "res-" + r.GetIdempotencyKey(), Amount: r.GetAmount(), OrderId: r.GetOrderId()}
		g.approved[r.GetOrderId()] = true
	}
	return res, nil
}

func (g *fakeGateway) ReleaseReservation(context.Context, *creditv1.ReleaseReservationRequest) (*creditv1.ReleaseReservationResponse, error) {
	return &creditv1.ReleaseReservationResponse{Released: true}, nil
}

func (g *fakeGateway) Check(_ context.Context, r *inventoryv1.CheckRequest) (*inventoryv1.CheckResponse, error) {
	g.count()
	return &inventoryv1.CheckResponse{Sku: r.GetSku(), Site: r.GetSite(), OnHand: 1000, AvailableToPromise: 1000, Available: r.GetQuantity() <= 1000}, nil
}

func (g *fakeGateway) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("gateway listen: %v", err)
	}
	g.addr = ln.Addr().String()
	g.srv = grpc.NewServer()
	pricingv1.RegisterPricingServiceServer(g.srv, g)
	creditv1.RegisterCreditServiceServer(g.srv, g)
	inventoryv1.RegisterAvailabilityServiceServer(g.srv, g)
	go g.srv.Serve(ln)
}

func (g *fakeGateway) stop() { g.srv.Stop() }

// ---- environment -----------------------------------------------------------

type env struct {
	t        testing.TB
	brokers  []string
	prefix   string
	regURL   string
	sd       *serde.Serde
	cl       *kgo.Client
	gw       *fakeGateway
	envVars  map[string]string
	mu       sync.Mutex
	life     map[string][]contracts.OrderLifecycle
	excs     []contracts.OperationalException
	commands map[string][]contracts.OrderCommand
	dlq      int
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, brokers: testinfra.Brokers(t), life: map[string][]contracts.OrderLifecycle{}, commands: map[string][]contracts.OrderCommand{}}
	e.prefix = fmt.Sprintf("qto%d.", time.Now().UnixNano())
	reg, err := schemaregistry.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	e.regURL = srv.URL
	rc, err := service.RegistryClient(config.Registry{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.sd = serde.New(rc, serde.AutoRegister(true))
	topics := []string{contracts.TopicCRMQuoteV1, contracts.TopicERPOrderStatusV1, contracts.TopicMDMXrefV1, contracts.TopicERPOrderCommandsV1,
		contracts.TopicOrdersLifecycleV1, contracts.TopicOpsExceptionsV1, contracts.TopicDlqQuoteToOrderV1, contracts.TopicOpsDecisionsV1}
	var phys []string
	for _, tp := range topics {
		phys = append(phys, e.prefix+tp)
	}
	testinfra.CreateTopics(t, e.brokers, partitions, phys...)
	// Register every schema the service encodes or decodes.
	ctx := context.Background()
	for tp, v := range map[string]serde.Record{
		contracts.TopicCRMQuoteV1: &contracts.Quote{}, contracts.TopicERPOrderStatusV1: &contracts.OrderStatus{}, contracts.TopicMDMXrefV1: &contracts.CrossReference{},
		contracts.TopicERPOrderCommandsV1: &contracts.OrderCommand{}, contracts.TopicOrdersLifecycleV1: &contracts.OrderLifecycle{},
		contracts.TopicOpsExceptionsV1: &contracts.OperationalException{}, contracts.TopicOpsDecisionsV1: &contracts.Decision{},
	} {
		text, err := serde.SchemaText(v.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.CreateSchema(ctx, serde.Subject(e.prefix+tp), sr.Schema{Schema: text, Type: sr.TypeAvro}); err != nil {
			t.Fatalf("register %s: %v", tp, err)
		}
	}
	e.cl = testinfra.NewClient(t, e.brokers, kgo.DefaultProduceTopic(e.prefix+contracts.TopicCRMQuoteV1))
	e.gw = &fakeGateway{approved: map[string]bool{}, addr: "127.0.0.1:0"}
	e.gw.start(t)
	t.Cleanup(e.gw.stop)
	e.envVars = map[string]string{
		"ISTHMUS_KAFKA_BROKERS": strings.Join(e.brokers, ","), "ISTHMUS_TOPIC_PREFIX": e.prefix,
		"ISTHMUS_SCHEMA_REGISTRY_URL": e.regURL, "ISTHMUS_GATEWAY_ADDR": e.gw.addr, "ISTHMUS_GATEWAY_TOKEN": "test-token",
		"ISTHMUS_ADMIN_ADDR": "127.0.0.1:0", "ISTHMUS_INSTANCE_ID": "it", "ISTHMUS_LOG_LEVEL": "warn",
		"ISTHMUS_QUOTE_TO_ORDER_ERP_ACK_SLA": "10m", "ISTHMUS_QUOTE_TO_ORDER_RETRY_MAX_ELAPSED": "3s",
		"ISTHMUS_QUOTE_TO_ORDER_GATEWAY_TIMEOUT": "500ms",
	}
	e.watch()
	e.erp()
	return e
}

// runService runs the service in-process until the test ends.
func (e *env) runService() {
	var cfg quotetoorder.Config
	s := config.NewSet(quotetoorder.Name)
	cfg.Register(s)
	if err := s.Parse(nil, func(k string) (string, bool) { v, ok := e.envVars[k]; return v, ok }, io.Discard); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- quotetoorder.Run(ctx, &cfg, log) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("service: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("service did not stop")
		}
	})
}

func (e *env) produce(topic, key string, v serde.Record) {
	e.t.Helper()
	b, err := e.sd.Encode(context.Background(), e.prefix+topic, v)
	if err != nil {
		e.t.Fatal(err)
	}
	e.produceRaw(topic, key, b)
}

func (e *env) produceRaw(topic, key string, b []byte) {
	e.t.Helper()
	if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: e.prefix + topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func meta(id string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: "00000000-0000-4000-8000-" + fmt.Sprintf("%012x", len(id)), CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemCRM, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func (e *env) xref(account, erpID string) {
	e.produce(contracts.TopicMDMXrefV1, "CRM:"+account, &contracts.CrossReference{Metadata: meta(account), System: contracts.SourceSystemCRM, SystemID: account,
		GoldenID: "G-" + account, Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: erpID}}})
}

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

func newQuote(id, account string, skus ...string) *contracts.Quote {
	q := &contracts.Quote{Metadata: meta(id), QuoteID: id, Version: 1, Status: contracts.QuoteStatusAccepted, SoldToAccountID: account, Currency: "USD", Region: "NA"}
	var total int64
	for i, sku := range skus {
		p, ok := prices[sku]
		if !ok {
			p = 100
		}
		q.Lines = append(q.Lines, contracts.QuoteLine{LineNumber: i + 1, SKU: sku, Quantity: 2, ListPrice: usd(p), UnitPrice: usd(p), LineTotal: usd(2 * p), ShipToCountry: "CN"})
		total += 2 * p
	}
	q.Total = usd(total)
	return q
}

// watch collects lifecycle events, exceptions and DLQ records (read_committed).
func (e *env) watch() {
	cl := testinfra.NewClient(e.t, e.brokers, kgo.ConsumeTopics(e.prefix+contracts.TopicOrdersLifecycleV1, e.prefix+contracts.TopicOpsExceptionsV1, e.prefix+contracts.TopicDlqQuoteToOrderV1),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				e.mu.Lock()
				defer e.mu.Unlock()
				switch strings.TrimPrefix(r.Topic, e.prefix) {
				case contracts.TopicOrdersLifecycleV1:
					var l contracts.OrderLifecycle
					if err := e.sd.Decode(ctx, r.Value, &l); err == nil {
						e.life[l.OrderID] = append(e.life[l.OrderID], l)
					}
				case contracts.TopicOpsExceptionsV1:
					var x contracts.OperationalException
					if err := e.sd.Decode(ctx, r.Value, &x); err == nil {
						e.excs = append(e.excs, x)
					}
				default:
					e.dlq++
				}
			})
		}
	}()
}

// erp plays ERP: it answers every CREATE command by SKU (EXP-* export
// control, TAX-* tax configuration) and then ships and invoices.
func (e *env) erp() {
	cl := testinfra.NewClient(e.t, e.brokers, kgo.ConsumeTopics(e.prefix+contracts.TopicERPOrderCommandsV1),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var c contracts.OrderCommand
				if err := e.sd.Decode(ctx, r.Value, &c); err != nil {
					return
				}
				e.mu.Lock()
				e.commands[c.OrderID] = append(e.commands[c.OrderID], c)
				e.mu.Unlock()
				st := contracts.OrderStatus{Metadata: meta(c.OrderID), OrderID: c.OrderID, CommandID: &c.CommandID, ERPOrderID: ptr("SO-" + c.OrderID)}
				st.Metadata.SourceSystem = contracts.SourceSystemERP
				rejected := 0
				for _, l := range c.Lines {
					ls := contracts.OrderLineStatus{LineNumber: l.LineNumber, SKU: l.SKU, Status: contracts.LineStatusAccepted, QuantityConfirmed: l.Quantity}
					switch {
					case strings.HasPrefix(l.SKU, "EXP-"):
						ls.Status, ls.RejectionReason, ls.ERPMessage = contracts.LineStatusRejected, ptr(contracts.RejectionReasonExportControl), ptr("ECCN 5A002 requires a licence for "+l.ShipToCountry)
						rejected++
					case strings.HasPrefix(l.SKU, "TAX-"):
						ls.Status, ls.RejectionReason, ls.ERPMessage = contracts.LineStatusRejected, ptr(contracts.RejectionReasonTaxConfiguration), ptr("no tax code for "+l.ShipToCountry)
						rejected++
					}
					st.Lines = append(st.Lines, ls)
				}
				send := func(s string) {
					st.Status = s
					b, err := e.sd.Encode(ctx, e.prefix+contracts.TopicERPOrderStatusV1, &st)
					if err == nil {
						cl.ProduceSync(ctx, &kgo.Record{Topic: e.prefix + contracts.TopicERPOrderStatusV1, Key: []byte(c.OrderID), Value: b})
					}
				}
				switch {
				case rejected == len(c.Lines):
					send(contracts.ErpOrderStateRejected)
				case rejected > 0:
					send(contracts.ErpOrderStatePartiallyRejected)
				default:
					send(contracts.ErpOrderStateAccepted)
					send(contracts.ErpOrderStateShipped)
					st.InvoiceID = ptr("INV-" + c.OrderID)
					send(contracts.ErpOrderStateInvoiced)
				}
			})
		}
	}()
}

func ptr[T any](v T) *T { return &v }

func (e *env) states(order string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, l := range e.life[order] {
		out = append(out, l.State)
	}
	return out
}

func (e *env) waitState(order, state string, within time.Duration) []string {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := e.states(order)
		if len(got) > 0 && got[len(got)-1] == state {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order %s: states %v, want last %s", order, got, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) exceptionsOf(quote string) []contracts.OperationalException {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []contracts.OperationalException
	for _, x := range e.excs {
		if x.EntityIds["quote_id"] == quote {
			out = append(out, x)
		}
	}
	return out
}

func join(s []string) string { return strings.Join(s, ",") }

// ---- scenarios -------------------------------------------------------------

func TestQuoteToOrder(t *testing.T) {
	e := newEnv(t)
	e.xref("A-1", "100042")
	e.xref("A-HOLD", "HOLD-1")
	e.runService()
	const long = 60 * time.Second

	t.Run("happy path to INVOICED", func(t *testing.T) {
		e.t = t
		e.produce(contracts.TopicCRMQuoteV1, "Q-HAPPY", newQuote("Q-HAPPY", "A-1", "SKU-1", "SKU-2"))
		got := e.waitState("Q-HAPPY", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.mu.Lock()
		last := e.life["Q-HAPPY"][len(e.life["Q-HAPPY"])-1]
		cmd := e.commands["Q-HAPPY"][0]
		e.mu.Unlock()
		if last.Pricing == nil || !last.Pricing.Valid || last.Credit == nil || last.Credit.Decision != contracts.CreditDecisionApproved || last.InvoiceID == nil {
			t.Errorf("INVOICED event lacks pricing/credit/invoice: %+v", last)
		}
		if cmd.ERPCustomerID != "100042" || cmd.CreditReservationID == nil || cmd.Metadata.CorrelationID != "corr-Q-HAPPY" {
			t.Errorf("command %+v", cmd)
		}
	})

	t.Run("credit hold then release", func(t *testing.T) {
		e.t = t
		e.produce(contracts.TopicCRMQuoteV1, "Q-HOLD", newQuote("Q-HOLD", "A-HOLD", "SKU-1"))
		e.waitState("Q-HOLD", contracts.OrderStateCreditHold, long)
		x := e.exceptionsOf("Q-HOLD")
		if len(x) != 1 || x[0].Queue != contracts.ExceptionQueueFinanceOps || x[0].Category != contracts.ExceptionCategoryCreditHold {
			t.Fatalf("exceptions %+v", x)
		}
		e.produce(contracts.TopicOpsDecisionsV1, x[0].ExceptionID, &contracts.Decision{Metadata: meta("d1"), DecisionID: "d1", ExceptionID: x[0].ExceptionID,
			OwnerService: quotetoorder.Name, Action: contracts.DecisionActionReleaseHold, Actor: "finance@example.com", Parameters: map[string]string{}})
		got := e.waitState("Q-HOLD", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,CREDIT_HOLD,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
	})

	t.Run("export control rejection to TRADE_COMPLIANCE", func(t *testing.T) {
		e.t = t
		e.produce(contracts.TopicCRMQuoteV1, "Q-EXP", newQuote("Q-EXP", "A-1", "SKU-1", "EXP-1"))
		e.waitState("Q-EXP", contracts.OrderStatePartiallyRejected, long)
		x := e.exceptionsOf("Q-EXP")
		if len(x) != 1 {
			t.Fatalf("exceptions %+v", x)
		}
		c := x[0]
		if c.Queue != contracts.ExceptionQueueTradeCompliance || c.Context["lines"] != "2" || c.Context["skus"] != "EXP-1" ||
			!strings.Contains(c.Context["erp_message"], "ECCN 5A002") || c.Context["correlation_id"] != "corr-Q-EXP" ||
			c.EntityIds["erp_customer_id"] != "100042" || c.SuggestedAction == nil || c.Context["quote_lines"] == "" {
			t.Fatalf("exception lacks context: %+v", c)
		}
	})

	t.Run("tax configuration rejection to FINANCE_OPS", func(t *testing.T) {
		e.t = t
		e.produce(contracts.TopicCRMQuoteV1, "Q-TAX", newQuote("Q-TAX", "A-1", "TAX-1"))
		e.waitState("Q-TAX", contracts.OrderStateRejected, long)
		x := e.exceptionsOf("Q-TAX")
		if len(x) != 1 || x[0].Queue != contracts.ExceptionQueueFinanceOps || x[0].Category != contracts.ExceptionCategoryTaxConfiguration {
			t.Fatalf("exceptions %+v", x)
		}
	})

	t.Run("awaiting customer until the xref arrives", func(t *testing.T) {
		e.t = t
		e.produce(contracts.TopicCRMQuoteV1, "Q-NEW", newQuote("Q-NEW", "A-NEW", "SKU-1"))
		e.waitState("Q-NEW", contracts.OrderStateAwaitingCustomer, long)
		e.xref("A-NEW", "100077")
		got := e.waitState("Q-NEW", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,AWAITING_CUSTOMER,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
	})

	t.Run("duplicate quote event", func(t *testing.T) {
		e.t = t
		q := newQuote("Q-DUP", "A-1", "SKU-1")
		e.produce(contracts.TopicCRMQuoteV1, "Q-DUP", q)
		e.produce(contracts.TopicCRMQuoteV1, "Q-DUP", q)
		e.waitState("Q-DUP", contracts.OrderStateInvoiced, long)
		time.Sleep(2 * time.Second)
		e.mu.Lock()
		n := len(e.commands["Q-DUP"])
		e.mu.Unlock()
		if got := e.states("Q-DUP"); n != 1 || join(got) != "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED" {
			t.Fatalf("%d commands, states %v", n, got)
		}
	})

	t.Run("bad quotes", func(t *testing.T) {
		e.t = t
		cases := map[string]struct {
			q      *contracts.Quote
			reason string
			queue  string
		}{
			"Q-BAD-NOLINES": {newQuote("Q-BAD-NOLINES", "A-1"), "no_lines", contracts.ExceptionQueueSalesOps},
			"Q-BAD-NEGQTY": {func() *contracts.Quote {
				q := newQuote("Q-BAD-NEGQTY", "A-1", "SKU-1")
				q.Lines[0].Quantity, q.Lines[0].LineTotal, q.Total = -2, usd(-900), usd(-900)
				return q
			}(), "bad_quantity", contracts.ExceptionQueueSalesOps},
			"Q-BAD-SKU":  {newQuote("Q-BAD-SKU", "A-1", "NOPE-1"), "unknown_sku", contracts.ExceptionQueueMasterData},
			"Q-BAD-CUR":  {func() *contracts.Quote { q := newQuote("Q-BAD-CUR", "A-1", "SKU-1"); q.Currency = "ZZZ"; return q }(), "unknown_currency", contracts.ExceptionQueueSalesOps},
			"Q-BAD-ACCT": {newQuote("Q-BAD-ACCT", "", "SKU-1"), "missing_account", contracts.ExceptionQueueSalesOps},
		}
		for id, c := range cases {
			e.produce(contracts.TopicCRMQuoteV1, id, c.q)
		}
		e.produceRaw(contracts.TopicCRMQuoteV1, "Q-BAD-BYTES", []byte("not avro"))
		for id, c := range cases {
			e.waitState(id, contracts.OrderStateRejected, long)
			x := e.exceptionsOf(id)
			if len(x) != 1 || x[0].Context["reason"] != c.reason || x[0].Queue != c.queue {
				t.Errorf("%s: exceptions %+v, want reason %s queue %s", id, x, c.reason, c.queue)
			}
		}
		deadline := time.Now().Add(long)
		for {
			e.mu.Lock()
			n := e.dlq
			e.mu.Unlock()
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d DLQ records, want 1", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestGatewayOutage stops the gateway for ISTHMUS_TEST_OUTAGE (default 30s)
// while quotes keep coming: nothing is lost, nothing is submitted without a
// successful validation, and everything completes after it returns.
func TestGatewayOutage(t *testing.T) {
	e := newEnv(t)
	e.xref("A-1", "100042")
	e.runService()
	outage := 30 * time.Second
	if v := os.Getenv("ISTHMUS_TEST_OUTAGE"); v != "" {
		outage, _ = time.ParseDuration(v)
	}
	const n = 300
	go func() {
		for i := range n {
			id := fmt.Sprintf("Q-OUT-%03d", i)
			e.produce(contracts.TopicCRMQuoteV1, id, newQuote(id, "A-1", "SKU-1"))
			time.Sleep(outage / n * 2)
		}
	}()
	time.Sleep(2 * time.Second)
	e.gw.stop()
	t.Logf("gateway stopped for %s", outage)
	time.Sleep(outage)
	e.gw.start(t)
	t.Logf("gateway back")
	for i := range n {
		e.waitState(fmt.Sprintf("Q-OUT-%03d", i), contracts.OrderStateInvoiced, 3*time.Minute)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, cs := range e.commands {
		if len(cs) != 1 {
			t.Errorf("order %s: %d commands", id, len(cs))
		}
		if !e.gw.approved[id] {
			t.Errorf("order %s submitted without an approved credit check", id)
		}
	}
	if len(e.commands) != n {
		t.Errorf("%d orders submitted, want %d", len(e.commands), n)
	}
}

// TestSIGKILLOneCommandPerQuote runs the service binary, SIGKILLs it while
// quotes flow, restarts it, and checks one order command per quote version
// and no duplicated lifecycle events.
func TestSIGKILLOneCommandPerQuote(t *testing.T) {
	e := newEnv(t)
	e.xref("A-1", "100042")
	bin := filepath.Join(t.TempDir(), "quote-to-order")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = os.Environ()
		for k, v := range e.envVars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const n = 400
	go func() {
		for i := range n {
			id := fmt.Sprintf("Q-K-%03d", i)
			e.produce(contracts.TopicCRMQuoteV1, id, newQuote(id, "A-1", "SKU-1", "SKU-2"))
			time.Sleep(15 * time.Millisecond)
		}
	}()
	for k := 0; k < 4; k++ {
		cmd := start()
		time.Sleep(time.Duration(2500+700*k) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("kill %d", k+1)
	}
	cmd := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for i := range n {
		e.waitState(fmt.Sprintf("Q-K-%03d", i), contracts.OrderStateInvoiced, 3*time.Minute)
	}
	time.Sleep(3 * time.Second)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range n {
		id := fmt.Sprintf("Q-K-%03d", i)
		if c := len(e.commands[id]); c != 1 {
			t.Errorf("%s: %d order commands", id, c)
		}
		var states []string
		for _, l := range e.life[id] {
			states = append(states, l.State)
		}
		if want := "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(states) != want {
			t.Errorf("%s: lifecycle %s, want %s", id, join(states), want)
		}
	}
}
