//go:build integration

package quotetoorder_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
)

const partitions = 4

// prices is the NA/USD price book the test publishes to erp.price-book.v1:
// SKU → list (= net) unit price in USD cents.
var prices = map[string]int64{"SKU-1": 450, "SKU-2": 100, "EXP-1": 1000, "TAX-1": 200}

// ---- environment -----------------------------------------------------------

type env struct {
	t       testing.TB
	brokers []string
	prefix  string
	sd      *serde.Serde
	cl      *kgo.Client
	gw      *gatewayProc
	envVars map[string]string
	// out is what the service published on its lifecycle, exception and
	// DLQ topics (see outputs).
	out      *outputs
	mu       sync.Mutex
	commands map[string][]contracts.OrderCommand
	// fixed lists orders whose rejections ERP no longer gives (the
	// licence granted, the tax configured): the fix before a RETRY.
	fixed map[string]bool
}

// newEnv creates the test's topics, publishes the ERP reference data of
// customers, starts the real gateway on it and waits until it is ready.
func newEnv(t testing.TB, customers ...erpCustomer) *env {
	e := &env{t: t, brokers: testinfra.Brokers(t), commands: map[string][]contracts.OrderCommand{}, fixed: map[string]bool{}}
	e.prefix = fmt.Sprintf("qto%d.", time.Now().UnixNano())
	rc := testinfra.RegistryClient(t)
	e.sd = serde.New(rc, serde.AutoRegister(true))
	records := map[string]serde.Record{
		contracts.TopicCRMQuoteV1: &contracts.Quote{}, contracts.TopicERPOrderStatusV1: &contracts.OrderStatus{}, contracts.TopicMDMXrefV1: &contracts.CrossReference{},
		contracts.TopicERPOrderCommandsV1: &contracts.OrderCommand{}, contracts.TopicOrdersLifecycleV1: &contracts.OrderLifecycle{},
		contracts.TopicOpsExceptionsV1: &contracts.OperationalException{}, contracts.TopicOpsDecisionsV1: &contracts.Decision{},
	}
	// The service's other inputs and the gateway's read models: every topic
	// the catalog says they consume.
	for _, tp := range catalog.MustEmbedded().Topics() {
		if slices.Contains(tp.Consumers, "gateway") || slices.Contains(tp.Consumers, "quote-to-order") {
			v, err := contracts.NewValue(tp.Name)
			if err != nil {
				t.Fatal(err)
			}
			records[tp.Name] = v
		}
	}
	phys := []string{e.prefix + contracts.TopicDlqQuoteToOrderV1}
	for tp := range records {
		phys = append(phys, e.prefix+tp)
	}
	testinfra.CreateTopics(t, e.brokers, partitions, phys...)
	// Register every schema the service, the gateway and the test encode or decode.
	ctx := context.Background()
	for tp, v := range records {
		text, err := serde.SchemaText(v.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.CreateSchema(ctx, serde.Subject(e.prefix+tp), sr.Schema{Schema: text, Type: sr.TypeAvro}); err != nil {
			t.Fatalf("register %s: %v", tp, err)
		}
	}
	e.cl = testinfra.NewClient(t, e.brokers, kgo.DefaultProduceTopic(e.prefix+contracts.TopicCRMQuoteV1))
	e.reference(customers...)
	gw, token := newGateway(t, e.prefix)
	e.gw = gw
	gw.start()
	e.envVars = map[string]string{
		"ISTHMUS_KAFKA_BROKERS": strings.Join(e.brokers, ","), "ISTHMUS_TOPIC_PREFIX": e.prefix,
		"ISTHMUS_SCHEMA_REGISTRY_URL": testinfra.RegistryURL(t), "ISTHMUS_GATEWAY_ADDR": gw.grpcAddr, "ISTHMUS_GATEWAY_TOKEN": token,
		"ISTHMUS_ADMIN_ADDR": "127.0.0.1:0", "ISTHMUS_INSTANCE_ID": "it", "ISTHMUS_LOG_LEVEL": "warn",
		"ISTHMUS_QUOTE_TO_ORDER_ERP_ACK_SLA": "10m", "ISTHMUS_QUOTE_TO_ORDER_RETRY_MAX_ELAPSED": "3s",
		"ISTHMUS_QUOTE_TO_ORDER_CREDIT_RECHECK": "2s",
	}
	e.out = &outputs{col: testinfra.Collect(t, e.brokers, e.prefix+contracts.TopicOrdersLifecycleV1, e.prefix+contracts.TopicOpsExceptionsV1, e.prefix+contracts.TopicDlqQuoteToOrderV1),
		sd: e.sd, prefix: e.prefix, life: map[string][]contracts.OrderLifecycle{}, producers: map[int64]int{}}
	e.erp()
	return e
}

// runService runs the service in-process until the test ends.
func (e *env) runService() {
	e.t.Cleanup(e.startInstance(e.envVars["ISTHMUS_INSTANCE_ID"]))
}

// startInstance runs one in-process instance of the service with the given
// ISTHMUS_INSTANCE_ID and returns the function that stops it (cancels its
// context: the member leaves the group) and waits for it to end.
func (e *env) startInstance(id string) (stop func()) {
	t := e.t
	var cfg quotetoorder.Config
	if err := config.ParseMaps(quotetoorder.Name, &cfg, e.envVars, map[string]string{"ISTHMUS_INSTANCE_ID": id}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", id)
	return testinfra.Go(t, "service "+id, func(ctx context.Context) error { return quotetoorder.Run(ctx, &cfg, log) })
}

// in writes the test's input under the prefix, failing the (sub)test
// running now.
func (e *env) in() *testinfra.Producer { return testinfra.NewProducer(e.t, e.cl, e.sd, e.prefix) }

func meta(id string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: "00000000-0000-4000-8000-" + fmt.Sprintf("%012x", len(id)), CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemCRM, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func (e *env) xref(account, erpID string) {
	e.in().Value(contracts.TopicMDMXrefV1, "CRM:"+account, &contracts.CrossReference{Metadata: meta(account), System: contracts.SourceSystemCRM, SystemID: account,
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

// outputs is what the service published, as the test reads it: a
// collector (read_committed) of its lifecycle events, exceptions and DLQ
// records, decoded by the accessors below, each record once, when they are
// called. A record that cannot be decoded is skipped.
type outputs struct {
	col    *testinfra.Collector
	sd     *serde.Serde
	prefix string
	mu     sync.Mutex
	// nlife and nexc count the records decoded so far.
	nlife, nexc int
	life        map[string][]contracts.OrderLifecycle
	excs        []contracts.OperationalException
	// producers counts lifecycle events per producer id (one per
	// instance of the service: its transactional id).
	producers map[int64]int
}

// decode decodes the records collected since its last call (o.mu held).
func (o *outputs) decode() {
	ctx := context.Background()
	life := o.col.Records(o.prefix + contracts.TopicOrdersLifecycleV1)
	for _, r := range life[o.nlife:] {
		var l contracts.OrderLifecycle
		if err := o.sd.Decode(ctx, r.Value, &l); err == nil {
			o.life[l.OrderID] = append(o.life[l.OrderID], l)
			o.producers[r.ProducerID]++
		}
	}
	o.nlife = len(life)
	excs := o.col.Records(o.prefix + contracts.TopicOpsExceptionsV1)
	for _, r := range excs[o.nexc:] {
		var x contracts.OperationalException
		if err := o.sd.Decode(ctx, r.Value, &x); err == nil {
			o.excs = append(o.excs, x)
		}
	}
	o.nexc = len(excs)
}

// lifecycle lists the lifecycle events of order read so far, in order.
func (e *env) lifecycle(order string) []contracts.OrderLifecycle {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.decode()
	return slices.Clone(e.out.life[order])
}

// exceptions lists every exception event read so far, in order.
func (e *env) exceptions() []contracts.OperationalException {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.decode()
	return slices.Clone(e.out.excs)
}

// producers is how many producer ids (instances) wrote lifecycle events.
func (e *env) producers() int {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.decode()
	return len(e.out.producers)
}

// dlq is how many records the service dead-lettered so far.
func (e *env) dlq() int { return e.out.col.Count(e.prefix + contracts.TopicDlqQuoteToOrderV1) }

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
				fixed := e.fixed[c.OrderID]
				e.mu.Unlock()
				waived := func(reason string) bool { return fixed || slices.Contains(c.Overrides, reason) }
				st := contracts.OrderStatus{Metadata: meta(c.OrderID), OrderID: c.OrderID, CommandID: &c.CommandID, ERPOrderID: ptr("SO-" + c.OrderID)}
				st.Metadata.SourceSystem = contracts.SourceSystemERP
				rejected := 0
				for _, l := range c.Lines {
					ls := contracts.OrderLineStatus{LineNumber: l.LineNumber, SKU: l.SKU, Status: contracts.LineStatusAccepted, QuantityConfirmed: l.Quantity}
					switch {
					case strings.HasPrefix(l.SKU, "EXP-") && !waived(contracts.RejectionReasonExportControl):
						ls.Status, ls.RejectionReason, ls.ERPMessage = contracts.LineStatusRejected, ptr(contracts.RejectionReasonExportControl), ptr("ECCN 5A002 requires a licence for "+l.ShipToCountry)
						rejected++
					case strings.HasPrefix(l.SKU, "TAX-") && !waived(contracts.RejectionReasonTaxConfiguration):
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
	var out []string
	for _, l := range e.lifecycle(order) {
		out = append(out, l.State)
	}
	return out
}

func (e *env) waitState(order, state string, within time.Duration) []string {
	e.t.Helper()
	var got []string
	if !testinfra.Within(within, func() bool {
		got = e.states(order)
		return len(got) > 0 && got[len(got)-1] == state
	}) {
		e.t.Fatalf("order %s: states %v, want last %s", order, got, state)
	}
	return got
}

func (e *env) exceptionsOf(quote string) []contracts.OperationalException {
	var out []contracts.OperationalException
	for _, x := range e.exceptions() {
		if x.EntityIds["quote_id"] == quote {
			out = append(out, x)
		}
	}
	return out
}

func join(s []string) string { return strings.Join(s, ",") }

// ---- scenarios -------------------------------------------------------------

// checkReserved fails unless every order command carries a credit
// reservation the real gateway holds for that order (an APPROVED, reserving
// CheckCredit), and the gateway holds no other reservation of the customer
// (a replayed or retried check reused its idempotency record).
func (e *env) checkReserved(t *testing.T, customer string, orders []string) {
	t.Helper()
	held := e.gw.reservations(customer)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range orders {
		for _, c := range e.commands[id] {
			if c.CreditReservationID == nil {
				t.Errorf("order %s submitted without a credit reservation", id)
			} else if got, ok := held[*c.CreditReservationID]; !ok || got != id {
				t.Errorf("order %s: reservation %s not held by the gateway for it (held for %q)", id, *c.CreditReservationID, got)
			}
		}
	}
	if len(held) != len(orders) {
		t.Errorf("gateway holds %d reservations of %s, want %d (one per order)", len(held), customer, len(orders))
	}
}

func TestQuoteToOrder(t *testing.T) {
	e := newEnv(t,
		erpCustomer{id: "100042", account: "A-1", xref: true},
		erpCustomer{id: "100050", account: "A-HOLD", hold: true, xref: true},
		erpCustomer{id: "100051", account: "A-HOLD2", hold: true, xref: true},
		erpCustomer{id: "100077", account: "A-NEW"}, // in ERP, not yet cross-referenced
		erpCustomer{id: "100052", account: "A-HOLD3", hold: true, xref: true},
	)
	e.runService()
	const long = 60 * time.Second

	t.Run("happy path to INVOICED", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-HAPPY", newQuote("Q-HAPPY", "A-1", "SKU-1", "SKU-2"))
		got := e.waitState("Q-HAPPY", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		life := e.lifecycle("Q-HAPPY")
		last := life[len(life)-1]
		e.mu.Lock()
		cmd := e.commands["Q-HAPPY"][0]
		e.mu.Unlock()
		// 2 × 4.50 + 2 × 1.00 net, 10 % tax: the gateway's price book.
		if last.Pricing == nil || !last.Pricing.Valid || last.Pricing.NetTotal != usd(1100) || last.Pricing.TaxTotal != usd(110) ||
			last.Credit == nil || last.Credit.Decision != contracts.CreditDecisionApproved || last.InvoiceID == nil {
			t.Errorf("INVOICED event lacks pricing/credit/invoice: %+v pricing %+v credit %+v", last, last.Pricing, last.Credit)
		}
		if last.Pricing != nil && (last.Pricing.PriceBookVersion == nil || *last.Pricing.PriceBookVersion != "7") {
			t.Errorf("price book version %v, want 7", last.Pricing.PriceBookVersion)
		}
		if cmd.ERPCustomerID != "100042" || cmd.CreditReservationID == nil || cmd.Metadata.CorrelationID != "corr-Q-HAPPY" {
			t.Errorf("command %+v", cmd)
		}
		if r := e.gw.reservations("100042"); cmd.CreditReservationID != nil && r[*cmd.CreditReservationID] != "Q-HAPPY" {
			t.Errorf("gateway reservations of 100042: %v, want %s for Q-HAPPY", r, *cmd.CreditReservationID)
		}
	})

	t.Run("returns of an order's goods on its lifecycle", func(t *testing.T) {
		e.t = t
		// field-service's case updates (keyed by case id) for a return of
		// Q-HAPPY's goods; one repeated, one about a service case and one
		// naming an order the service never had, both ignored.
		n := 0
		upd := func(caseID, order, event string) *contracts.CaseUpdate {
			n++
			md := meta("cu-" + caseID)
			md.EventID, md.SourceSystem = fmt.Sprintf("00000000-0000-4000-9000-%012d", n), contracts.SourceSystemFieldService
			u := &contracts.CaseUpdate{Metadata: md, CaseID: caseID, Event: event, Coverage: contracts.CoverageUnknown, Parts: []contracts.PartUsed{},
				RmaNumber: ptr("RMA1"), ReturnLines: []contracts.ReturnLineUpdate{{LineNumber: 1, SKU: "SKU-1", Requested: 2, Received: 2, Accepted: 1, Refused: 1}}}
			if order != "" {
				u.OrderID = &order
			}
			if event == contracts.CaseEventReturnCredited {
				u.Credit, u.CreditMemoID = &contracts.Money{AmountMinor: 450, Currency: "USD"}, ptr("CM1")
			}
			return u
		}
		e.in().Value(contracts.TopicCRMCaseUpdatesV1, "CASE-SVC", &contracts.CaseUpdate{Metadata: meta("cu-svc"), CaseID: "CASE-SVC", Event: contracts.CaseEventSettled,
			Coverage: contracts.CoverageBillable, Parts: []contracts.PartUsed{}, ReturnLines: []contracts.ReturnLineUpdate{}})
		e.in().Value(contracts.TopicCRMCaseUpdatesV1, "CASE-GHOST", upd("CASE-GHOST", "Q-NEVER", contracts.CaseEventReturnAuthorized))
		for _, ev := range []string{contracts.CaseEventReturnAuthorized, contracts.CaseEventReturnAuthorized, contracts.CaseEventReturnReceived, contracts.CaseEventReturnCredited} {
			e.in().Value(contracts.TopicCRMCaseUpdatesV1, "CASE-RET", upd("CASE-RET", "Q-HAPPY", ev))
		}
		got := e.waitState("Q-HAPPY", contracts.OrderStateReturnCredited, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED,RETURN_AUTHORIZED,RETURN_RECEIVED,RETURN_CREDITED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		life := e.lifecycle("Q-HAPPY")
		last := life[len(life)-1]
		ghost := len(e.lifecycle("Q-NEVER"))
		r := last.ReturnStep
		if r == nil || r.ReturnID != "CASE-RET" || r.UnitsAccepted != 1 || r.Credit == nil || r.Credit.AmountMinor != 450 || contracts.Deref(last.PreviousState) != contracts.OrderStateInvoiced || last.QuoteID != "Q-HAPPY" {
			t.Errorf("RETURN_CREDITED event %+v, return %+v", last, r)
		}
		if ghost != 0 {
			t.Errorf("%d lifecycle events for an order the service never had", ghost)
		}
	})

	t.Run("credit hold then release by decision", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-HOLD", newQuote("Q-HOLD", "A-HOLD", "SKU-1"))
		e.waitState("Q-HOLD", contracts.OrderStateCreditHold, long)
		x := e.exceptionsOf("Q-HOLD")
		if len(x) != 1 || x[0].Queue != contracts.ExceptionQueueFinanceOps || x[0].Category != contracts.ExceptionCategoryCreditHold ||
			x[0].Context["credit_decision"] != contracts.CreditDecisionHold || !strings.Contains(x[0].Context["credit_reasons"], "CREDIT_HOLD") {
			t.Fatalf("exceptions %+v", x)
		}
		// A release without a second person's approval is refused: the
		// exception comes back OPEN naming the decision, the order stays.
		e.decide(x[0].ExceptionID, "d0", contracts.DecisionActionReleaseHold, nil)
		refused := e.waitException(x[0].ExceptionID, "d0", contracts.ExceptionStatusOpen, long)
		if !strings.Contains(refused.Context["outcome"], "approval") {
			t.Errorf("refusal %+v does not say an approval is missing", refused.Context)
		}
		e.decide(x[0].ExceptionID, "d1", contracts.DecisionActionReleaseHold, nil, "cfo@example.com")
		got := e.waitState("Q-HOLD", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,CREDIT_HOLD,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
	})

	t.Run("credit hold released by a credit update", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-HOLD2", newQuote("Q-HOLD2", "A-HOLD2", "SKU-2"))
		e.waitState("Q-HOLD2", contracts.OrderStateCreditHold, long)
		time.Sleep(3 * time.Second) // at least one recheck still answered HOLD
		if got := e.states("Q-HOLD2"); got[len(got)-1] != contracts.OrderStateCreditHold {
			t.Fatalf("left CREDIT_HOLD while ERP still holds the customer: %v", got)
		}
		e.credit("100051", false) // ERP lifts the hold
		got := e.waitState("Q-HOLD2", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,CREDIT_HOLD,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		x := e.exceptionsOf("Q-HOLD2")
		if len(x) == 0 || x[0].Category != contracts.ExceptionCategoryCreditHold || x[len(x)-1].Status != contracts.ExceptionStatusResolved {
			t.Errorf("exceptions %+v, want the CREDIT_HOLD exception resolved", x)
		}
		e.checkReserved(t, "100051", []string{"Q-HOLD2"})
	})

	t.Run("export control rejection to TRADE_COMPLIANCE", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-EXP", newQuote("Q-EXP", "A-1", "SKU-1", "EXP-1"))
		e.waitState("Q-EXP", contracts.OrderStatePartiallyRejected, long)
		x := e.exceptionsOf("Q-EXP")
		if len(x) != 1 {
			t.Fatalf("exceptions %+v", x)
		}
		c := x[0]
		if c.Queue != contracts.ExceptionQueueTradeCompliance || c.Category != contracts.ExceptionCategoryExportControl || c.Context["lines"] != "2" || c.Context["skus"] != "EXP-1" ||
			!strings.Contains(c.Context["erp_message"], "ECCN 5A002") || c.Context["correlation_id"] != "corr-Q-EXP" ||
			c.EntityIds["erp_customer_id"] != "100042" || c.SuggestedAction == nil || c.Context["quote_lines"] == "" {
			t.Fatalf("exception lacks context: %+v", c)
		}
	})

	t.Run("tax configuration rejection to FINANCE_OPS", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-TAX", newQuote("Q-TAX", "A-1", "TAX-1"))
		e.waitState("Q-TAX", contracts.OrderStateRejected, long)
		x := e.exceptionsOf("Q-TAX")
		if len(x) != 1 || x[0].Queue != contracts.ExceptionQueueFinanceOps || x[0].Category != contracts.ExceptionCategoryTaxConfiguration {
			t.Fatalf("exceptions %+v", x)
		}
	})

	t.Run("awaiting customer until the xref arrives", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-NEW", newQuote("Q-NEW", "A-NEW", "SKU-1"))
		e.waitState("Q-NEW", contracts.OrderStateAwaitingCustomer, long)
		e.xref("A-NEW", "100077")
		got := e.waitState("Q-NEW", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,AWAITING_CUSTOMER,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.mu.Lock()
		cmd := e.commands["Q-NEW"][0]
		e.mu.Unlock()
		if cmd.ERPCustomerID != "100077" {
			t.Errorf("command for ERP customer %s, want 100077 (from the xref)", cmd.ERPCustomerID)
		}
		e.checkReserved(t, "100077", []string{"Q-NEW"})
	})

	t.Run("duplicate quote event", func(t *testing.T) {
		e.t = t
		q := newQuote("Q-DUP", "A-1", "SKU-1")
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-DUP", q)
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-DUP", q)
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
			// a well-formed SKU the price book does not know: the gateway answers NOT_FOUND
			"Q-BAD-SKU":   {newQuote("Q-BAD-SKU", "A-1", "NOPE-1"), "unknown_sku", contracts.ExceptionQueueMasterData},
			"Q-BAD-NOSKU": {newQuote("Q-BAD-NOSKU", "A-1", ""), "unknown_sku", contracts.ExceptionQueueMasterData},
			"Q-BAD-CUR":   {func() *contracts.Quote { q := newQuote("Q-BAD-CUR", "A-1", "SKU-1"); q.Currency = "ZZZ"; return q }(), "unknown_currency", contracts.ExceptionQueueSalesOps},
			"Q-BAD-ACCT":  {newQuote("Q-BAD-ACCT", "", "SKU-1"), "missing_account", contracts.ExceptionQueueSalesOps},
		}
		for id, c := range cases {
			e.in().Value(contracts.TopicCRMQuoteV1, id, c.q)
		}
		e.in().Raw(contracts.TopicCRMQuoteV1, "Q-BAD-BYTES", []byte("not avro"))
		for id, c := range cases {
			e.waitState(id, contracts.OrderStateRejected, long)
			x := e.exceptionsOf(id)
			if len(x) != 1 || x[0].Context["reason"] != c.reason || x[0].Queue != c.queue {
				t.Errorf("%s: exceptions %+v, want reason %s queue %s", id, x, c.reason, c.queue)
			}
			e.mu.Lock()
			n := len(e.commands[id])
			e.mu.Unlock()
			if n != 0 {
				t.Errorf("%s: %d order commands for a bad quote", id, n)
			}
		}
		var n int
		if !testinfra.Within(long, func() bool {
			n = e.dlq()
			return n == 1
		}) {
			t.Fatalf("%d DLQ records, want 1", n)
		}
	})
}

// TestGatewayOutage stops the real gateway (SIGTERM) for ISTHMUS_TEST_OUTAGE
// (default 30s) while quotes keep coming, then starts the same binary again:
// nothing is lost, nothing is submitted without a successful validation,
// and everything completes after it returns.
func TestGatewayOutage(t *testing.T) {
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
	e.runService()
	outage := 30 * time.Second
	if v := os.Getenv("ISTHMUS_TEST_OUTAGE"); v != "" {
		var err error
		if outage, err = time.ParseDuration(v); err != nil {
			t.Fatalf("ISTHMUS_TEST_OUTAGE: %v", err)
		}
	}
	const n = 300
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("Q-OUT-%03d", i))
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for _, id := range ids {
			e.in().Value(contracts.TopicCRMQuoteV1, id, newQuote(id, "A-1", "SKU-1"))
			time.Sleep(outage / n * 2)
		}
	}()
	ncommands := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.commands)
	}
	time.Sleep(2 * time.Second)
	e.gw.stop()
	// Orders validated just before the stop may still commit their command.
	time.Sleep(3 * time.Second)
	before := ncommands()
	t.Logf("gateway stopped for %s after %d orders were submitted", outage, before)
	time.Sleep(outage - 3*time.Second)
	during := ncommands()
	// Orders whose validation failed sit in VALIDATING; the ones behind
	// them on the same partitions have not got that far (RECEIVED, or not
	// consumed yet).
	pending, unsubmitted := 0, 0
	for _, id := range ids {
		s := e.states(id)
		if len(s) > 0 && s[len(s)-1] == contracts.OrderStateValidating {
			pending++
		}
		if !slices.Contains(s, contracts.OrderStateSubmitted) {
			unsubmitted++
		}
	}
	if during != before {
		t.Errorf("%d orders submitted while the gateway was down", during-before)
	}
	if pending == 0 {
		t.Errorf("no order was waiting in VALIDATING during the outage: the load did not meet it")
	}
	t.Logf("end of the outage: %d orders VALIDATING, %d of %d not submitted", pending, unsubmitted, n)
	e.gw.start()
	t.Logf("gateway back")
	for _, id := range ids {
		e.waitState(id, contracts.OrderStateInvoiced, 3*time.Minute)
	}
	<-produced
	time.Sleep(time.Second)
	e.mu.Lock()
	for id, cs := range e.commands {
		if len(cs) != 1 {
			t.Errorf("order %s: %d commands", id, len(cs))
		}
	}
	if len(e.commands) != n {
		t.Errorf("%d orders submitted, want %d", len(e.commands), n)
	}
	for _, id := range ids {
		if got := e.lifecycle(id); len(got) != 6 {
			t.Errorf("order %s: %d lifecycle events, want 6", id, len(got))
		}
	}
	e.mu.Unlock()
	e.checkReserved(t, "100042", ids)
}

// TestSIGKILLOneCommandPerQuote runs the service binary against the real
// gateway, SIGKILLs it while quotes flow and it processes them, restarts it
// (a static member, as a StatefulSet replica is), and checks one order
// command per quote version, no duplicated lifecycle events, and one credit
// reservation per order at the gateway (replayed checks reuse their
// idempotency key).
func TestSIGKILLOneCommandPerQuote(t *testing.T) {
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
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
		// A static member (a StatefulSet replica): the restarted process
		// takes the killed one's place at once, so every kill lands while
		// the instance is processing (a dynamic member would wait out the
		// dead member's session, and the first four would never be given
		// partitions).
		cmd.Env = append(cmd.Env, "ISTHMUS_INSTANCE_STABLE=true")
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const n = 400
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("Q-K-%03d", i))
	}
	go func() {
		for _, id := range ids {
			e.in().Value(contracts.TopicCRMQuoteV1, id, newQuote(id, "A-1", "SKU-1", "SKU-2"))
			time.Sleep(30 * time.Millisecond) // 12 s: every incarnation has quotes to process when killed
		}
	}()
	submitted := func() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.commands) }
	midway := 0
	for k := 0; k < 4; k++ {
		before := submitted()
		cmd := start()
		time.Sleep(time.Duration(2500+700*k) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		after := submitted()
		if after > before {
			midway++
		}
		t.Logf("kill %d after %d orders submitted (%d by this incarnation)", k+1, after, after-before)
	}
	if midway < 2 {
		t.Errorf("only %d of 4 kills hit an instance that had submitted orders: the test did not kill a processing instance", midway)
	}
	cmd := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for _, id := range ids {
		e.waitState(id, contracts.OrderStateInvoiced, 3*time.Minute)
	}
	time.Sleep(3 * time.Second)
	e.mu.Lock()
	for _, id := range ids {
		if c := len(e.commands[id]); c != 1 {
			t.Errorf("%s: %d order commands", id, c)
		}
		var states []string
		for _, l := range e.lifecycle(id) {
			states = append(states, l.State)
		}
		if want := "RECEIVED,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(states) != want {
			t.Errorf("%s: lifecycle %s, want %s", id, join(states), want)
		}
	}
	e.mu.Unlock()
	e.checkReserved(t, "100042", ids)
}
