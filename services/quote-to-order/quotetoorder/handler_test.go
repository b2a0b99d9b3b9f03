package quotetoorder

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// The handler run without a broker (processortest): every input topic's
// happy path and bad input, the decisions, the ticks. The integration tests
// run the same handler on the real broker with the real gateway.

// memGateway is an in-memory Validator: it approves every order with a
// reservation, except the quotes it is told to hold on credit or to refuse,
// and records the reservations released.
type memGateway struct {
	mu       sync.Mutex
	hold     map[string]bool
	refuse   map[string]*saga.Problem
	released []string
}

func newMemGateway() *memGateway {
	return &memGateway{hold: map[string]bool{}, refuse: map[string]*saga.Problem{}}
}

func (g *memGateway) Validate(_ context.Context, s *saga.Saga) (saga.Validation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := saga.Validation{Version: s.Version, Round: s.Round}
	if p := g.refuse[s.QuoteID]; p != nil {
		v.Invalid = p
		return v, nil
	}
	v.Pricing = &contracts.PricingOutcome{Valid: true, NetTotal: s.Quote.Total, TaxTotal: contracts.Money{Currency: s.Quote.Currency}}
	if g.hold[s.QuoteID] {
		v.Credit = &contracts.CreditOutcome{Decision: contracts.CreditDecisionHold, Reasons: []string{"OVER_LIMIT: exceeds the limit"}}
		return v, nil
	}
	res := "R-" + s.QuoteID
	v.Credit = &contracts.CreditOutcome{Decision: contracts.CreditDecisionApproved, ReservationID: &res}
	return v, nil
}

func (g *memGateway) Release(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.released = append(g.released, id)
	return nil
}

func testConfig() *Config {
	return &Config{ERPAckSLA: time.Minute, MaxSubmitAttempts: 2, UnknownStatusGrace: 5 * time.Minute, Tick: time.Second, GatewayConcurrency: 2}
}

// newKit runs the service's processor over three partitions, so the
// re-keying through the internal topic crosses partitions.
func newKit(t *testing.T, cfg *Config, gw Validator) *processortest.Kit {
	t.Helper()
	return processortest.New(t, ProcessorConfig(cfg, gw), processortest.Partitions(3))
}

func usdMoney(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

func testQuote(id string, version int, mut ...func(*contracts.Quote)) *contracts.Quote {
	q := &contracts.Quote{
		Metadata: event.Metadata(event.ID("quote", id, strconv.Itoa(version)), "corr-"+id, "", contracts.SourceSystemCRM, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		QuoteID:  id, Version: version, Status: contracts.QuoteStatusAccepted, SoldToAccountID: "A-1", Currency: "USD", Region: "NA",
		Lines: []contracts.QuoteLine{
			{LineNumber: 1, SKU: "SKU-1", Quantity: 2, ListPrice: usdMoney(500), UnitPrice: usdMoney(450), LineTotal: usdMoney(900), ShipToCountry: "US"},
			{LineNumber: 2, SKU: "SKU-2", Quantity: 1, ListPrice: usdMoney(100), UnitPrice: usdMoney(100), LineTotal: usdMoney(100), ShipToCountry: "CN"},
		},
		Total: usdMoney(1000),
	}
	for _, m := range mut {
		m(q)
	}
	return q
}

func testXref(account, erpID string) *contracts.CrossReference {
	return &contracts.CrossReference{
		Metadata: event.Metadata(event.ID("xref", account), "corr-xref", "", contracts.SourceSystemMDM, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		System:   contracts.SourceSystemCRM, SystemID: account, GoldenID: "G-" + account, Status: contracts.XrefStatusActive,
		OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: erpID}},
	}
}

func testStatus(order, status string) *contracts.OrderStatus {
	erpID := "SO-" + order
	return &contracts.OrderStatus{
		Metadata: event.Metadata(event.ID("status", order, status), "corr-erp", "", contracts.SourceSystemERP, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		OrderID:  order, ERPOrderID: &erpID, Status: status, Lines: []contracts.OrderLineStatus{}, Messages: []contracts.ERPMessage{},
	}
}

func testDecision(exceptionID, action, actor string, approvedBy ...string) *contracts.Decision {
	return &contracts.Decision{
		Metadata:   event.Metadata(event.ID("decision", exceptionID, action), "corr-ops", "", contracts.SourceSystemOperator, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		DecisionID: "D-" + action + "-" + exceptionID, ExceptionID: exceptionID, OwnerService: Name, Action: action,
		Parameters: map[string]string{}, Actor: actor, ApprovedBy: append([]string{}, approvedBy...),
	}
}

func testReturn(caseID, order, ev string) *contracts.CaseUpdate {
	u := &contracts.CaseUpdate{
		Metadata: event.Metadata(event.ID("case", caseID, ev), "corr-case", "", contracts.SourceSystemFieldService, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		CaseID:   caseID, Event: ev, Coverage: contracts.CoverageUnknown, Parts: []contracts.PartUsed{},
		ReturnLines: []contracts.ReturnLineUpdate{{LineNumber: 1, SKU: "SKU-1", Requested: 2, Received: 2, Accepted: 2}},
	}
	if order != "" {
		u.OrderID = &order
	}
	return u
}

// outputs decodes what a result emitted to topic, in order.
func outputs[T any, P interface {
	*T
	serde.Record
}](k *processortest.Kit, r processortest.Result, topic string) []T {
	var out []T
	for _, o := range r.On(topic) {
		var v T
		k.Decode(o, P(&v))
		out = append(out, v)
	}
	return out
}

// states lists the lifecycle states a result emitted, in order.
func states(k *processortest.Kit, r processortest.Result) []string {
	var out []string
	for _, ev := range outputs[contracts.OrderLifecycle](k, r, contracts.TopicOrdersLifecycleV1) {
		out = append(out, ev.State)
	}
	return out
}

// exceptions decodes the exceptions a result emitted, each keyed by its id.
func exceptions(t *testing.T, k *processortest.Kit, r processortest.Result) []contracts.OperationalException {
	t.Helper()
	xs := outputs[contracts.OperationalException](k, r, contracts.TopicOpsExceptionsV1)
	for i, o := range r.On(contracts.TopicOpsExceptionsV1) {
		if o.Key != xs[i].ExceptionID {
			t.Errorf("exception %s keyed %q", xs[i].ExceptionID, o.Key)
		}
	}
	return xs
}

func commands(k *processortest.Kit, r processortest.Result) []contracts.OrderCommand {
	return outputs[contracts.OrderCommand](k, r, contracts.TopicERPOrderCommandsV1)
}

// storedSaga is the committed saga of a quote.
func storedSaga(t *testing.T, k *processortest.Kit, quote string) *saga.Saga {
	t.Helper()
	b, ok := k.State(storeOrders, quote)
	if !ok {
		return nil
	}
	var s saga.Saga
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("saga %s: %v", quote, err)
	}
	return &s
}

func noErr(t *testing.T, r processortest.Result) processortest.Result {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("handling failed: %v", r.Err)
	}
	return r
}

// A quote whose account ERP does not know yet waits for the xref, is then
// validated and submitted, and follows ERP's answers to INVOICED and a
// return of its goods. With the gateway calls started ahead or in turn.
func TestHandlerHappyPath(t *testing.T) {
	for _, prefetch := range []int{0, 16} {
		t.Run("prefetch="+strconv.Itoa(prefetch), func(t *testing.T) {
			cfg := testConfig()
			cfg.GatewayPrefetch = prefetch
			gw := newMemGateway()
			k := newKit(t, cfg, gw)

			q := testQuote("Q-1", 1)
			r := noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-1", q))
			if diff := cmp.Diff([]string{contracts.OrderStateReceived, contracts.OrderStateAwaitingCustomer}, states(k, r)); diff != "" {
				t.Fatalf("states after the quote (-want +got)\n%s", diff)
			}
			// The quote waits on the account's partition.
			waitPart, b, ok := findState(k, storeWaiting, "CRM:A-1\x00Q-1")
			if !ok || string(b) != "1" {
				t.Fatalf("waiting entry %q %v, want version 1", b, ok)
			}
			lc := r.On(contracts.TopicOrdersLifecycleV1)
			var first contracts.OrderLifecycle
			k.Decode(lc[0], &first)
			if first.Metadata.CorrelationID != "corr-Q-1" || first.Metadata.SourceSystem != contracts.SourceSystemQuoteToOrder ||
				!first.Metadata.OccurredAt.Equal(k.Now()) || first.Metadata.CausationID == nil || first.Metadata.EventID != event.Output(*first.Metadata.CausationID, 1, "corr-Q-1", contracts.SourceSystemQuoteToOrder, k.Now()).EventID {
				t.Errorf("lifecycle metadata %+v", first.Metadata)
			}

			r = noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
			if diff := cmp.Diff([]string{contracts.OrderStateValidating, contracts.OrderStateSubmitted}, states(k, r)); diff != "" {
				t.Fatalf("states after the xref (-want +got)\n%s", diff)
			}
			cs := commands(k, r)
			if len(cs) != 1 || cs[0].OrderID != "Q-1" || cs[0].Attempt != 1 || cs[0].ERPCustomerID != "100042" || cs[0].Action != contracts.OrderCommandActionCreate ||
				len(cs[0].Lines) != 2 || cs[0].Metadata.CorrelationID != "corr-Q-1" {
				t.Fatalf("commands %+v", cs)
			}
			if _, _, ok := findState(k, storeWaiting, "CRM:A-1\x00Q-1"); ok {
				t.Error("the waiting entry outlived the xref")
			}
			if b, ok := k.StateOn(storeAccounts, waitPart, "CRM:A-1"); !ok || !strings.Contains(string(b), `"erp_customer_id":"100042"`) {
				t.Errorf("account %s %v on partition %d", b, ok, waitPart)
			}
			if s := storedSaga(t, k, "Q-1"); s == nil || s.State != contracts.OrderStateSubmitted || s.ERPCustomerID != "100042" || s.Deadline.IsZero() {
				t.Fatalf("saga %+v", s)
			}
			if _, ok := k.State(storeValidating, "Q-1"); ok {
				t.Error("still counted as validating once submitted")
			}

			for _, st := range []string{contracts.ErpOrderStateAccepted, contracts.ErpOrderStateShipped, contracts.ErpOrderStateInvoiced} {
				r = noErr(t, k.SendValue(contracts.TopicERPOrderStatusV1, "Q-1", testStatus("Q-1", st)))
				if got := states(k, r); len(got) != 1 || got[0] != st {
					t.Fatalf("ERP %s: states %v", st, got)
				}
			}
			if s := storedSaga(t, k, "Q-1"); s.State != contracts.OrderStateInvoiced || !s.Deadline.IsZero() {
				t.Errorf("saga %s deadline %v", s.State, s.Deadline)
			}

			// A second quote of the known account needs no xref.
			r = noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-2", testQuote("Q-2", 1)))
			if diff := cmp.Diff([]string{contracts.OrderStateReceived, contracts.OrderStateValidating, contracts.OrderStateSubmitted}, states(k, r)); diff != "" {
				t.Errorf("known account (-want +got)\n%s", diff)
			}

			// A return of the invoiced order's goods, reported once.
			r = noErr(t, k.SendValue(contracts.TopicCRMCaseUpdatesV1, "CASE-1", testReturn("CASE-1", "Q-1", contracts.CaseEventReturnAuthorized)))
			if got := states(k, r); len(got) != 1 || got[0] != contracts.OrderStateReturnAuthorized {
				t.Errorf("return step: states %v", got)
			}
			r = noErr(t, k.SendValue(contracts.TopicCRMCaseUpdatesV1, "CASE-1", testReturn("CASE-1", "Q-1", contracts.CaseEventReturnAuthorized)))
			if got := states(k, r); len(got) != 0 {
				t.Errorf("repeated return step: states %v", got)
			}
			if len(gw.released) != 0 {
				t.Errorf("released %v", gw.released)
			}
		})
	}
}

// findState finds key in store on any of the kit's partitions.
func findState(k *processortest.Kit, store, key string) (int32, []byte, bool) {
	for p := range int32(3) {
		if b, ok := k.StateOn(store, p, key); ok {
			return p, b, true
		}
	}
	return -1, nil, false
}

// Records that cannot be read go to the service's DLQ with their reason,
// on every input topic, and nothing else comes out.
func TestHandlerBadBytes(t *testing.T) {
	unknownSchema := []byte{0, 0x7f, 0xff, 0xff, 0xf0, 2, 4}
	for _, tc := range []struct{ topic, key string }{
		{contracts.TopicCRMQuoteV1, "Q-1"},
		{contracts.TopicERPOrderStatusV1, "Q-1"},
		{contracts.TopicMDMXrefV1, "CRM:A-1"},
		{contracts.TopicOpsDecisionsV1, "qto:1:1:Q-1"},
		{contracts.TopicCRMCaseUpdatesV1, "CASE-1"},
	} {
		for _, bad := range []struct {
			name, reason string
			value        []byte
		}{
			{"not avro", "bad-magic", []byte("{\"quote_id\":\"Q-1\"}")},
			{"unknown schema id", "unknown-schema-id", unknownSchema},
		} {
			t.Run(tc.topic+"/"+bad.name, func(t *testing.T) {
				k := newKit(t, testConfig(), newMemGateway())
				r := noErr(t, k.Send(tc.topic, tc.key, bad.value))
				dl := r.DeadLetters(Name)
				if len(dl) != 1 || len(r.Outputs) != 1 {
					t.Fatalf("outputs %+v", r.Outputs)
				}
				if got := dl[0].Header(catalog.DLQHeaderErrorReason); got != bad.reason {
					t.Errorf("reason %q, want %q", got, bad.reason)
				}
				if dl[0].Header(catalog.DLQHeaderTopic) != tc.topic || string(dl[0].Value) != string(bad.value) || dl[0].Key != tc.key {
					t.Errorf("dead letter %s %q %q", dl[0].Header(catalog.DLQHeaderTopic), dl[0].Key, dl[0].Value)
				}
				if len(r.Writes) != 0 {
					t.Errorf("state written: %+v", r.Writes)
				}
			})
		}
	}
	t.Run("internal", func(t *testing.T) {
		k := newKit(t, testConfig(), newMemGateway())
		for value, reason := range map[string]string{
			"not json":                                                  "bad_internal_message",
			`{"kind":"teleport","quote_id":"Q-1"}`:                      "key_mismatch",
			`{"kind":"customer","quote_id":"Q-9"}`:                      "key_mismatch",
			`{"kind":"lookup","quote_id":"Q-1","crm_account_id":"A-1"}`: "key_mismatch",
		} {
			r := noErr(t, k.Send(InternalTopic, "Q-2", []byte(value)))
			if dl := r.DeadLetters(Name); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != reason {
				t.Errorf("%s: outputs %+v", value, r.Outputs)
			}
		}
		noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-3", testQuote("Q-3", 1)))
		r := noErr(t, k.Send(InternalTopic, "Q-3", []byte(`{"kind":"teleport","quote_id":"Q-3"}`)))
		if dl := r.DeadLetters(Name); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != "bad_internal_message" {
			t.Errorf("unknown kind: outputs %+v", r.Outputs)
		}
	})
}

// Readable records that break the topics' rules: mis-keyed records are
// dead-lettered, a quote that cannot become an order is REJECTED with an
// exception in the queue that can fix it, and records about nothing this
// service keeps are skipped.
func TestHandlerInvalidInput(t *testing.T) {
	gw := newMemGateway()
	gw.refuse["Q-NOPRICE"] = &saga.Problem{Category: contracts.ExceptionCategoryInvalidMasterData, Reason: "unknown_sku", Message: "gateway: SKU-2 has no active price", Action: "Create the price."}
	k := newKit(t, testConfig(), gw)
	dead := func(r processortest.Result, reason string) {
		t.Helper()
		noErr(t, r)
		if dl := r.DeadLetters(Name); len(dl) != 1 || len(r.Outputs) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != reason {
			t.Errorf("want one dead letter %s, got %+v", reason, r.Outputs)
		}
	}
	dead(k.SendValue(contracts.TopicCRMQuoteV1, "Q-OTHER", testQuote("Q-1", 1)), "key_mismatch")
	dead(k.SendValue(contracts.TopicERPOrderStatusV1, "Q-OTHER", testStatus("Q-1", contracts.ErpOrderStateAccepted)), "key_mismatch")

	// A quote without lines: REJECTED, INVALID_INPUT to sales-ops.
	r := noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-EMPTY", testQuote("Q-EMPTY", 1, func(q *contracts.Quote) { q.Lines = []contracts.QuoteLine{}; q.Total = usdMoney(0) })))
	if diff := cmp.Diff([]string{contracts.OrderStateReceived, contracts.OrderStateRejected}, states(k, r)); diff != "" {
		t.Errorf("states (-want +got)\n%s", diff)
	}
	xs := exceptions(t, k, r)
	if len(xs) != 1 {
		t.Fatalf("exceptions %+v", xs)
	}
	x := xs[0]
	if x.ExceptionID != "qto:1:1:Q-EMPTY" || x.Category != contracts.ExceptionCategoryInvalidInput || x.Queue != contracts.ExceptionQueueSalesOps ||
		x.Status != contracts.ExceptionStatusOpen || x.OwnerService != Name || x.Severity != contracts.SeverityMedium || x.Context["reason"] != "no_lines" ||
		x.SuggestedAction == nil || x.Metadata.CorrelationID != "corr-Q-EMPTY" || x.Metadata.SourceSystem != contracts.SourceSystemQuoteToOrder ||
		x.EntityIds["quote_id"] != "Q-EMPTY" {
		t.Errorf("exception %+v", x)
	}

	// The gateway refuses a SKU: REJECTED, INVALID_MASTER_DATA to master-data.
	noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
	r = noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-NOPRICE", testQuote("Q-NOPRICE", 1)))
	if diff := cmp.Diff([]string{contracts.OrderStateReceived, contracts.OrderStateValidating, contracts.OrderStateRejected}, states(k, r)); diff != "" {
		t.Errorf("states (-want +got)\n%s", diff)
	}
	if xs := exceptions(t, k, r); len(xs) != 1 || xs[0].Queue != contracts.ExceptionQueueMasterData || xs[0].Category != contracts.ExceptionCategoryInvalidMasterData || xs[0].Context["reason"] != "unknown_sku" {
		t.Errorf("exceptions %+v", xs)
	}
	if len(commands(k, r)) != 0 {
		t.Error("a refused quote was submitted")
	}

	// A quote version not ACCEPTED starts nothing.
	r = noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-DRAFT", testQuote("Q-DRAFT", 1, func(q *contracts.Quote) { q.Status = contracts.QuoteStatusDraft })))
	if len(r.Outputs) != 0 || storedSaga(t, k, "Q-DRAFT") != nil {
		t.Errorf("draft quote: %+v", r.Outputs)
	}

	// Xrefs of other systems, and retired ones, teach nothing.
	if r := noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "ERP:100042", testXref("A-1", "100042"))); len(r.Outputs)+len(r.Writes) != 0 {
		t.Errorf("ERP xref: %+v %+v", r.Outputs, r.Writes)
	}
	retired := testXref("A-1", "100042")
	retired.Status = contracts.XrefStatusRetired
	noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", retired))
	if b, ok := k.State(storeAccounts, "CRM:A-1"); ok {
		t.Errorf("retired account still known: %s", b)
	}

	// Decisions: another service's is skipped; ours must be complete and
	// name one of our exception ids.
	other := testDecision("csx:1:x", contracts.DecisionActionResolve, "ann")
	other.OwnerService = "customer-sync"
	if r := noErr(t, k.SendValue(contracts.TopicOpsDecisionsV1, "csx:1:x", other)); len(r.Outputs) != 0 {
		t.Errorf("another service's decision: %+v", r.Outputs)
	}
	dead(k.SendValue(contracts.TopicOpsDecisionsV1, "csx:1:x", testDecision("csx:1:x", contracts.DecisionActionResolve, "ann")), "unknown_exception")
	dead(k.SendValue(contracts.TopicOpsDecisionsV1, "qto:x:1:Q-1", testDecision("qto:x:1:Q-1", contracts.DecisionActionResolve, "ann")), "unknown_exception")
	dead(k.SendValue(contracts.TopicOpsDecisionsV1, "qto:1:1:Q-EMPTY", testDecision("qto:1:1:Q-EMPTY", contracts.DecisionActionResolve, "")), "invalid_decision")

	// Case updates that are no return step of an order are skipped; a
	// return of an order this service never had is dropped on the order's
	// partition.
	settled := testReturn("CASE-SVC", "", contracts.CaseEventSettled)
	settled.ReturnLines = []contracts.ReturnLineUpdate{}
	if r := noErr(t, k.SendValue(contracts.TopicCRMCaseUpdatesV1, "CASE-SVC", settled)); len(r.Outputs) != 0 {
		t.Errorf("service case update: %+v", r.Outputs)
	}
	r = noErr(t, k.SendValue(contracts.TopicCRMCaseUpdatesV1, "CASE-GHOST", testReturn("CASE-GHOST", "Q-NEVER", contracts.CaseEventReturnAuthorized)))
	if len(r.Outputs) != 1 || r.Outputs[0].Topic != InternalTopic || r.Outputs[0].Key != "Q-NEVER" || len(r.Writes) != 0 {
		t.Errorf("return of an unknown order: %+v %+v", r.Outputs, r.Writes)
	}
}

// A credit hold goes to finance-ops; a release without the second person's
// approval is refused (the exception back OPEN with the reason), one with
// it resolves the exception and submits the order.
func TestHandlerDecisions(t *testing.T) {
	gw := newMemGateway()
	gw.hold["Q-1"] = true
	k := newKit(t, testConfig(), gw)
	noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
	r := noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-1", testQuote("Q-1", 1)))
	xs := exceptions(t, k, r)
	if len(xs) != 1 || xs[0].Category != contracts.ExceptionCategoryCreditHold || xs[0].Queue != contracts.ExceptionQueueFinanceOps || xs[0].Severity != contracts.SeverityHigh {
		t.Fatalf("exceptions %+v", xs)
	}
	hold := xs[0].ExceptionID

	r = noErr(t, k.SendValue(contracts.TopicOpsDecisionsV1, hold, testDecision(hold, contracts.DecisionActionReleaseHold, "ann")))
	xs = exceptions(t, k, r)
	if len(xs) != 1 || xs[0].ExceptionID != hold || xs[0].Status != contracts.ExceptionStatusOpen || !strings.HasPrefix(xs[0].Context["outcome"], "decision refused: ") ||
		xs[0].DecisionID == nil || *xs[0].DecisionID != "D-RELEASE_HOLD-"+hold {
		t.Fatalf("refused release: %+v", xs)
	}
	if len(commands(k, r)) != 0 {
		t.Fatal("submitted without approval")
	}

	d := testDecision(hold, contracts.DecisionActionReleaseHold, "ann", "bob")
	d.DecisionID = "D-2"
	r = noErr(t, k.SendValue(contracts.TopicOpsDecisionsV1, hold, d))
	xs = exceptions(t, k, r)
	if len(xs) != 1 || xs[0].Status != contracts.ExceptionStatusResolved || len(xs[0].AllowedActions) != 0 || xs[0].SuggestedAction != nil || *xs[0].DecisionID != "D-2" {
		t.Fatalf("release: %+v", xs)
	}
	if got := states(k, r); len(got) != 1 || got[0] != contracts.OrderStateSubmitted {
		t.Errorf("states %v", got)
	}
	if cs := commands(k, r); len(cs) != 1 || cs[0].Attempt != 1 {
		t.Errorf("commands %+v", cs)
	}
	// The same decision again is a no-op.
	if r := noErr(t, k.SendValue(contracts.TopicOpsDecisionsV1, hold, d)); len(r.On(contracts.TopicOpsExceptionsV1))+len(r.On(contracts.TopicERPOrderCommandsV1)) != 0 {
		t.Errorf("repeated decision: %+v", r.Outputs)
	}
}

// Ticks resubmit an order ERP has not acknowledged, then raise
// ERP_TIMEOUT; ids and times of what a tick emits derive from the tick.
func TestHandlerTickERPTimeout(t *testing.T) {
	k := newKit(t, testConfig(), newMemGateway())
	noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
	noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-1", testQuote("Q-1", 1)))
	start := k.Now()

	if r := noErr(t, k.Tick(start.Add(30*time.Second))); len(r.Outputs) != 0 {
		t.Fatalf("tick before the SLA: %+v", r.Outputs)
	}
	at := start.Add(time.Minute)
	r := noErr(t, k.Tick(at))
	cs := commands(k, r)
	if len(cs) != 1 || cs[0].Attempt != 2 || !cs[0].Metadata.OccurredAt.Equal(at) {
		t.Fatalf("resubmission %+v", cs)
	}
	s := storedSaga(t, k, "Q-1")
	part, _, _ := findState(k, storeOrders, "Q-1")
	cause := event.ID("tick", strconv.Itoa(int(part)), "Q-1", strconv.FormatInt(at.UnixMilli(), 10))
	if want := event.Output(cause, 1, s.Correlation, contracts.SourceSystemQuoteToOrder, at); cs[0].Metadata.EventID != want.EventID || *cs[0].Metadata.CausationID != cause {
		t.Errorf("tick metadata %+v, want id %s", cs[0].Metadata, want.EventID)
	}
	// The same tick again (a redone transaction) fires nothing: the timer moved.
	if r := noErr(t, k.Tick(at)); len(r.Outputs) != 0 {
		t.Errorf("tick again: %+v", r.Outputs)
	}
	r = noErr(t, k.Tick(at.Add(time.Minute)))
	xs := exceptions(t, k, r)
	if len(xs) != 1 || xs[0].Category != contracts.ExceptionCategoryERPTimeout || xs[0].Queue != contracts.ExceptionQueueSalesOps || xs[0].Context["attempts"] != "2" {
		t.Fatalf("ERP_TIMEOUT %+v", xs)
	}
	if s := storedSaga(t, k, "Q-1"); !s.Deadline.IsZero() {
		t.Errorf("deadline %v after the timeout", s.Deadline)
	}
	// An acknowledgment resolves it.
	r = noErr(t, k.SendValue(contracts.TopicERPOrderStatusV1, "Q-1", testStatus("Q-1", contracts.ErpOrderStateAccepted)))
	if xs := exceptions(t, k, r); len(xs) != 1 || xs[0].Status != contracts.ExceptionStatusResolved {
		t.Errorf("after the acknowledgment: %+v", xs)
	}
}

// An ERP status for an order this service does not know is parked, raised
// to sales-ops once the grace period is over, and a DISMISS closes that
// exception; a status whose quote arrives within the grace is applied.
func TestHandlerUnknownOrder(t *testing.T) {
	k := newKit(t, testConfig(), newMemGateway())
	start := k.Now()
	r := noErr(t, k.SendValue(contracts.TopicERPOrderStatusV1, "Q-GHOST", testStatus("Q-GHOST", contracts.ErpOrderStateAccepted)))
	if len(r.Outputs) != 0 {
		t.Fatalf("parking emitted %+v", r.Outputs)
	}
	b, ok := k.State(storeUnknown, "Q-GHOST")
	if !ok {
		t.Fatal("status not parked")
	}
	var p parked
	if err := json.Unmarshal(b, &p); err != nil || len(p.Statuses) != 1 || p.SinceMS != start.UnixMilli() {
		t.Fatalf("parked %+v %v", p, err)
	}
	offset := p.Statuses[0].Offset

	if r := noErr(t, k.Tick(start.Add(time.Minute))); len(r.Outputs) != 0 {
		t.Fatalf("tick within the grace: %+v", r.Outputs)
	}
	at := start.Add(5 * time.Minute)
	r = noErr(t, k.Tick(at))
	xs := exceptions(t, k, r)
	if len(xs) != 1 {
		t.Fatalf("exceptions %+v", r.Outputs)
	}
	x := xs[0]
	if x.ExceptionID != "qto:0:"+strconv.FormatInt(offset, 10)+":Q-GHOST" || x.Category != contracts.ExceptionCategoryOther || x.Queue != contracts.ExceptionQueueSalesOps ||
		x.Status != contracts.ExceptionStatusOpen || x.Severity != contracts.SeverityMedium || x.EntityIds["erp_order_id"] != "SO-Q-GHOST" ||
		x.Context["statuses"] != contracts.ErpOrderStateAccepted || x.Context["grace"] != "5m0s" || !x.Metadata.OccurredAt.Equal(at) ||
		x.Metadata.CorrelationID != event.ID("unknown-order", "Q-GHOST") || *x.Metadata.CausationID != p.Statuses[0].EventID {
		t.Errorf("exception %+v", x)
	}
	if diff := cmp.Diff([]string{contracts.DecisionActionDismiss}, x.AllowedActions); diff != "" {
		t.Errorf("allowed actions (-want +got)\n%s", diff)
	}
	if _, ok := k.State(storeUnknown, "Q-GHOST"); ok {
		t.Error("parked statuses kept after the exception")
	}

	r = noErr(t, k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, testDecision(x.ExceptionID, contracts.DecisionActionDismiss, "ann")))
	xs = exceptions(t, k, r)
	if len(xs) != 1 || xs[0].ExceptionID != x.ExceptionID || xs[0].Status != contracts.ExceptionStatusClosed || xs[0].Severity != contracts.SeverityLow ||
		xs[0].DecisionID == nil || xs[0].Metadata.CorrelationID != x.Metadata.CorrelationID || len(xs[0].AllowedActions) != 0 {
		t.Errorf("dismissed %+v", xs)
	}

	// A status before its quote: applied (here: ignored by the saga, the
	// order not being submitted) when the quote arrives, and forgotten.
	noErr(t, k.SendValue(contracts.TopicERPOrderStatusV1, "Q-LATE", testStatus("Q-LATE", contracts.ErpOrderStateAccepted)))
	noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-LATE", testQuote("Q-LATE", 1)))
	if _, ok := k.State(storeUnknown, "Q-LATE"); ok {
		t.Error("status still parked once its quote arrived")
	}
	if r := noErr(t, k.Tick(k.Now().Add(10*time.Minute))); len(r.On(contracts.TopicOpsExceptionsV1)) != 0 {
		t.Errorf("exception for an order that arrived: %+v", r.Outputs)
	}
}
