package saga

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pol = Policy{ERPAckSLA: time.Minute, MaxSubmitAttempts: 2, CreditRecheck: 10 * time.Minute}
)

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

func quote(version int, mut ...func(*contracts.Quote)) contracts.Quote {
	q := contracts.Quote{
		Metadata: contracts.EventMetadata{CorrelationID: "corr-1"},
		QuoteID:  "Q-1", Version: version, Status: contracts.QuoteStatusAccepted, SoldToAccountID: "A-1",
		Currency: "USD", Region: "NA",
		Lines: []contracts.QuoteLine{
			{LineNumber: 1, SKU: "SKU-1", Quantity: 2, ListPrice: usd(500), UnitPrice: usd(450), LineTotal: usd(900), ShipToCountry: "US"},
			{LineNumber: 2, SKU: "SKU-2", Quantity: 1, ListPrice: usd(100), UnitPrice: usd(100), LineTotal: usd(100), ShipToCountry: "CN"},
		},
		Total: usd(1000),
	}
	for _, m := range mut {
		m(&q)
	}
	return q
}

func ptr[T any](v T) *T { return &v }

// step is one fact applied to the saga.
type step struct {
	quote    *contracts.Quote
	customer *Customer
	valid    *Validation // Version/Round filled from the saga when zero
	status   *contracts.OrderStatus
	decision string // action on the last open exception
	// params, approvedBy and decisionID complete the decision (decision id
	// default: one per step).
	params     map[string]string
	approvedBy []string
	decisionID string
	tick       time.Duration
}

func approved() *Validation {
	return &Validation{Pricing: &contracts.PricingOutcome{Valid: true, NetTotal: usd(1000), TaxTotal: usd(80)},
		Credit: &contracts.CreditOutcome{Decision: contracts.CreditDecisionApproved, ReservationID: ptr("R-1")}}
}

func credit(d string) *Validation {
	v := approved()
	v.Credit = &contracts.CreditOutcome{Decision: d, Reasons: []string{"OVER_LIMIT: exceeds"}}
	return v
}

func erp(status string, lines ...contracts.OrderLineStatus) *contracts.OrderStatus {
	return &contracts.OrderStatus{OrderID: "Q-1", Status: status, ERPOrderID: ptr("SO-9"), Lines: lines}
}

func rejectedLine(n int, reason, msg string) contracts.OrderLineStatus {
	return contracts.OrderLineStatus{LineNumber: n, SKU: fmt.Sprintf("SKU-%d", n), Status: contracts.LineStatusRejected, RejectionReason: &reason, ERPMessage: &msg}
}

type result struct {
	States     []string // lifecycle states in order
	Exceptions []string // category/queue/status
	Commands   []int    // attempts of order commands
	Validates  int
	Lookups    int
	Releases   []string
	Final      string
	// Revisions lists the ERP revisions of resubmitted orders (revision > 1)
	// with the rejection reasons they override.
	Revisions []string
}

func run(t *testing.T, steps []step) (result, *Saga) {
	t.Helper()
	var s *Saga
	var r result
	now := t0
	lastOpen := ""
	collect := func(out Outputs) {
		for _, l := range out.Lifecycle {
			r.States = append(r.States, l.State)
		}
		for _, e := range out.Exceptions {
			r.Exceptions = append(r.Exceptions, e.Category+"/"+e.Queue+"/"+e.Status)
			if e.Status == contracts.ExceptionStatusOpen {
				lastOpen = e.ID
			}
		}
		for _, c := range out.Commands {
			r.Commands = append(r.Commands, c.Attempt)
			if c.Revision > 1 {
				r.Revisions = append(r.Revisions, fmt.Sprintf("r%d%v lines %d", c.Revision, c.Overrides, len(c.Lines)))
			}
		}
		if out.Validate {
			r.Validates++
		}
		if out.Lookup {
			r.Lookups++
		}
		if out.Release != "" {
			r.Releases = append(r.Releases, out.Release)
		}
	}
	for i, st := range steps {
		now = now.Add(time.Second)
		var out Outputs
		switch {
		case st.quote != nil:
			s, out = OnQuote(s, *st.quote, now, pol)
		case st.customer != nil:
			c := *st.customer
			if c.Version == 0 {
				c.Version = s.Version
			}
			out = s.OnCustomer(c)
		case st.valid != nil:
			v := *st.valid
			if v.Version == 0 {
				v.Version, v.Round = s.Version, s.Round
			}
			out = s.OnValidated(v, now, pol)
		case st.status != nil:
			out = s.OnERPStatus(*st.status, now)
		case st.decision != "":
			id := st.decisionID
			if id == "" {
				id = fmt.Sprintf("d%d", i)
			}
			out = s.OnDecision(contracts.Decision{DecisionID: id, ExceptionID: lastOpen, Action: st.decision, Actor: "ops@example.com", Parameters: st.params, ApprovedBy: st.approvedBy}, now, pol)
		case st.tick > 0:
			now = now.Add(st.tick)
			out = s.OnTick(now, pol)
		default:
			t.Fatalf("step %d is empty", i)
		}
		collect(out)
	}
	if s != nil {
		r.Final = s.State
	}
	return r, s
}

func TestSaga(t *testing.T) {
	known := &Customer{Known: true, ERPCustomerID: "100042", GoldenID: "G-7"}
	q1, q2 := quote(1), quote(2)
	tests := []struct {
		name  string
		steps []step
		want  result
	}{
		{
			name: "happy path to INVOICED",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()},
				{status: erp(contracts.ErpOrderStateReceived)}, {status: erp(contracts.ErpOrderStateAccepted)},
				{status: erp(contracts.ErpOrderStateShipped)}, {status: erp(contracts.ErpOrderStateInvoiced)}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "ACCEPTED", "SHIPPED", "INVOICED"},
				Commands: []int{1}, Validates: 1, Lookups: 1, Final: "INVOICED"},
		},
		{
			name:  "awaiting customer until the xref arrives",
			steps: []step{{quote: &q1}, {customer: &Customer{}}, {customer: &Customer{}}, {customer: known}, {valid: approved()}},
			want: result{States: []string{"RECEIVED", "AWAITING_CUSTOMER", "VALIDATING", "SUBMITTED"},
				Commands: []int{1}, Validates: 1, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "credit hold released by finance with a second person's approval",
			steps: []step{{quote: &q1}, {customer: known}, {valid: credit(contracts.CreditDecisionHold)}, {decision: contracts.DecisionActionReleaseHold, approvedBy: []string{"cfo@example.com"}}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD", "SUBMITTED"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name: "credit hold released by a later credit update (recheck)",
			steps: []step{{quote: &q1}, {customer: known}, {valid: credit(contracts.CreditDecisionRejected)},
				{tick: 5 * time.Minute}, {tick: 10 * time.Minute}, {valid: credit(contracts.CreditDecisionHold)}, {tick: 10 * time.Minute}, {valid: approved()}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD", "SUBMITTED"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 3, Lookups: 1, Releases: nil, Final: "SUBMITTED"},
		},
		{
			name:  "price review approved then credit checked again",
			steps: []step{{quote: &q1}, {customer: known}, {valid: &Validation{Pricing: &contracts.PricingOutcome{Valid: false, Violations: []string{"line 1"}}}}, {decision: contracts.DecisionActionApprovePrice}, {valid: approved()}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "PRICE_REVIEW", "VALIDATING", "SUBMITTED"},
				Exceptions: []string{"PRICE_REVIEW/SALES_OPS/OPEN", "PRICE_REVIEW/SALES_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 2, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "cancel decision on a credit hold",
			steps: []step{{quote: &q1}, {customer: known}, {valid: credit(contracts.CreditDecisionHold)}, {decision: contracts.DecisionActionCancel}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD", "CANCELLED"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/CLOSED"},
				Validates:  1, Lookups: 1, Final: "CANCELLED"},
		},
		{
			name: "export control and tax rejections routed by reason",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()},
				{status: erp(contracts.ErpOrderStatePartiallyRejected,
					contracts.OrderLineStatus{LineNumber: 1, SKU: "SKU-1", Status: contracts.LineStatusAccepted},
					rejectedLine(2, contracts.RejectionReasonExportControl, "ECCN 5A002 requires licence for CN"))}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "PARTIALLY_REJECTED"},
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Final: "PARTIALLY_REJECTED"},
		},
		{
			name: "whole order rejected for tax configuration releases the reservation",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()},
				{status: erp(contracts.ErpOrderStateRejected,
					rejectedLine(1, contracts.RejectionReasonTaxConfiguration, "no tax code for US-TX"),
					rejectedLine(2, contracts.RejectionReasonMasterData, "material blocked"))}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "REJECTED"},
				Exceptions: []string{"INVALID_MASTER_DATA/MASTER_DATA/OPEN", "TAX_CONFIGURATION/FINANCE_OPS/OPEN"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Releases: []string{"R-1"}, Final: "REJECTED"},
		},
		{
			name:  "newer version before submission supersedes",
			steps: []step{{quote: &q1}, {customer: known}, {quote: &q2}, {customer: known}, {valid: approved()}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUPERSEDED", "RECEIVED", "VALIDATING", "SUBMITTED"},
				Commands: []int{1}, Validates: 2, Lookups: 2, Final: "SUBMITTED"},
		},
		{
			name:  "newer version after submission is an amendment exception",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()}, {quote: &q2}, {quote: &q2}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED"},
				Exceptions: []string{"AMENDMENT_GAP/SALES_OPS/OPEN"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "duplicate quote and duplicate ERP status change nothing",
			steps: []step{{quote: &q1}, {quote: &q1}, {customer: known}, {valid: approved()}, {valid: approved()}, {status: erp(contracts.ErpOrderStateAccepted)}, {status: erp(contracts.ErpOrderStateAccepted)}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "ACCEPTED"},
				Commands: []int{1}, Validates: 1, Lookups: 1, Final: "ACCEPTED"},
		},
		{
			name:  "no ERP acknowledgment: resubmit, then exception, then retry",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()}, {tick: 30 * time.Second}, {tick: time.Minute}, {tick: 2 * time.Minute}, {tick: 2 * time.Minute}, {decision: contracts.DecisionActionRetry}, {status: erp(contracts.ErpOrderStateAccepted)}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "ACCEPTED"},
				Exceptions: []string{"ERP_TIMEOUT/SALES_OPS/OPEN", "ERP_TIMEOUT/SALES_OPS/RETRYING", "ERP_TIMEOUT/SALES_OPS/RESOLVED"},
				Commands:   []int{1, 2, 3}, Validates: 1, Lookups: 1, Final: "ACCEPTED"},
		},
		{
			name:  "late ERP status never moves an order backwards",
			steps: []step{{quote: &q1}, {customer: known}, {valid: approved()}, {status: erp(contracts.ErpOrderStateShipped)}, {status: erp(contracts.ErpOrderStateAccepted)}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "SHIPPED"},
				Commands: []int{1}, Validates: 1, Lookups: 1, Final: "SHIPPED"},
		},
		{
			name:  "gateway refuses an unknown sku",
			steps: []step{{quote: &q1}, {customer: known}, {valid: &Validation{Invalid: &Problem{Category: contracts.ExceptionCategoryInvalidMasterData, Reason: "unknown_sku", Message: "no price"}}}},
			want: result{States: []string{"RECEIVED", "VALIDATING", "REJECTED"},
				Exceptions: []string{"INVALID_MASTER_DATA/MASTER_DATA/OPEN"}, Validates: 1, Lookups: 1, Final: "REJECTED"},
		},
		{
			name:  "quote cancelled before submission",
			steps: []step{{quote: &q1}, {customer: &Customer{}}, {quote: ptr(quote(2, func(q *contracts.Quote) { q.Status = contracts.QuoteStatusCancelled }))}},
			want:  result{States: []string{"RECEIVED", "AWAITING_CUSTOMER", "CANCELLED"}, Lookups: 1, Final: "CANCELLED"},
		},
		{
			name:  "a draft quote starts nothing",
			steps: []step{{quote: ptr(quote(1, func(q *contracts.Quote) { q.Status = contracts.QuoteStatusDraft }))}},
			want:  result{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, tc.steps)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestBadQuotes(t *testing.T) {
	tests := []struct {
		name   string
		mut    func(*contracts.Quote)
		reason string
		queue  string
	}{
		{"no lines", func(q *contracts.Quote) { q.Lines = nil; q.Total = usd(0) }, "no_lines", contracts.ExceptionQueueSalesOps},
		{"negative quantity", func(q *contracts.Quote) {
			q.Lines[0].Quantity = -2
			q.Lines[0].LineTotal = usd(-900)
			q.Total = usd(-800)
		}, "bad_quantity", contracts.ExceptionQueueSalesOps},
		{"unknown currency", func(q *contracts.Quote) { q.Currency = "XXY" }, "unknown_currency", contracts.ExceptionQueueSalesOps},
		{"missing account", func(q *contracts.Quote) { q.SoldToAccountID = "" }, "missing_account", contracts.ExceptionQueueSalesOps},
		{"empty sku", func(q *contracts.Quote) { q.Lines[1].SKU = "" }, "unknown_sku", contracts.ExceptionQueueMasterData},
		{"line total wrong", func(q *contracts.Quote) { q.Lines[0].LineTotal = usd(901); q.Total = usd(1001) }, "line_total_mismatch", contracts.ExceptionQueueSalesOps},
		{"total wrong", func(q *contracts.Quote) { q.Total = usd(999) }, "total_mismatch", contracts.ExceptionQueueSalesOps},
		{"mixed currency", func(q *contracts.Quote) { q.Lines[1].UnitPrice.Currency = "EUR" }, "currency_mismatch", contracts.ExceptionQueueSalesOps},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, out := OnQuote(nil, quote(1, tc.mut), t0, pol)
			if s.State != contracts.OrderStateRejected || out.Lookup {
				t.Fatalf("state %s lookup %v, want REJECTED without lookup", s.State, out.Lookup)
			}
			if len(out.Exceptions) != 1 {
				t.Fatalf("%d exceptions, want 1", len(out.Exceptions))
			}
			e := out.Exceptions[0]
			if e.Context["reason"] != tc.reason || e.Queue != tc.queue {
				t.Errorf("reason %q queue %s, want %q %s", e.Context["reason"], e.Queue, tc.reason, tc.queue)
			}
			last := out.Lifecycle[len(out.Lifecycle)-1]
			if last.ExceptionID == nil || *last.ExceptionID != e.ID || last.Reason == nil {
				t.Errorf("REJECTED event does not name the exception and reason: %+v", last)
			}
			// A corrected version starts over: the order never reached ERP.
			s2, out2 := OnQuote(s, quote(2), t0, pol)
			if s2.State != contracts.OrderStateReceived || !out2.Lookup {
				t.Errorf("corrected version: state %s lookup %v", s2.State, out2.Lookup)
			}
		})
	}
	if p := CheckQuote(quote(1)); p != nil {
		t.Fatalf("good quote rejected: %+v", p)
	}
}

func TestRejectionContext(t *testing.T) {
	_, s := run(t, []step{{quote: ptr(quote(1))}, {customer: &Customer{Known: true, ERPCustomerID: "100042", GoldenID: "G-7"}}, {valid: approved()}})
	out := s.OnERPStatus(*erp(contracts.ErpOrderStatePartiallyRejected, rejectedLine(2, contracts.RejectionReasonExportControl, "ECCN 5A002 requires licence for CN")), t0)
	if len(out.Exceptions) != 1 {
		t.Fatalf("%d exceptions", len(out.Exceptions))
	}
	e := out.Exceptions[0]
	want := map[string]string{"lines": "2", "skus": "SKU-2", "erp_message": "line 2: ECCN 5A002 requires licence for CN", "correlation_id": "corr-1", "quote_id": "Q-1", "rejection_reason": "EXPORT_CONTROL"}
	for k, v := range want {
		if e.Context[k] != v {
			t.Errorf("context[%s] = %q, want %q", k, e.Context[k], v)
		}
	}
	if diff := cmp.Diff(map[string]string{"quote_id": "Q-1", "order_id": "Q-1", "crm_account_id": "A-1", "erp_customer_id": "100042", "golden_id": "G-7", "erp_order_id": "SO-9"}, e.Entities); diff != "" {
		t.Errorf("entity ids (-want +got)\n%s", diff)
	}
	if e.Suggested == "" || e.Queue != contracts.ExceptionQueueTradeCompliance {
		t.Errorf("suggested action %q queue %s", e.Suggested, e.Queue)
	}
	if q, ok := QuoteOfException(e.ID); !ok || q != "Q-1" {
		t.Errorf("QuoteOfException(%s) = %q %v", e.ID, q, ok)
	}
}

// Rejection reasons route to their category and queue; every category the
// saga raises keeps the queue it had before the shared table of pkg/ops
// (AMENDMENT_GAP stays with sales-ops).
func TestRoute(t *testing.T) {
	for _, tc := range []struct{ reason, category, queue string }{
		{contracts.RejectionReasonExportControl, contracts.ExceptionCategoryExportControl, contracts.ExceptionQueueTradeCompliance},
		{contracts.RejectionReasonTaxConfiguration, contracts.ExceptionCategoryTaxConfiguration, contracts.ExceptionQueueFinanceOps},
		{contracts.RejectionReasonPricing, contracts.ExceptionCategoryERPRejection, contracts.ExceptionQueueSalesOps},
		{contracts.RejectionReasonCredit, contracts.ExceptionCategoryCreditHold, contracts.ExceptionQueueFinanceOps},
		{contracts.RejectionReasonMasterData, contracts.ExceptionCategoryInvalidMasterData, contracts.ExceptionQueueMasterData},
		{contracts.RejectionReasonOther, contracts.ExceptionCategoryERPRejection, contracts.ExceptionQueueSalesOps},
		{"", contracts.ExceptionCategoryAmendmentGap, contracts.ExceptionQueueSalesOps},
		{"", contracts.ExceptionCategoryPriceReview, contracts.ExceptionQueueSalesOps},
		{"", contracts.ExceptionCategoryERPTimeout, contracts.ExceptionQueueSalesOps},
		{"", contracts.ExceptionCategoryInvalidInput, contracts.ExceptionQueueSalesOps},
		{"", contracts.ExceptionCategoryOther, contracts.ExceptionQueueSalesOps},
	} {
		if tc.reason != "" {
			if c, _ := Route(tc.reason); c != tc.category {
				t.Errorf("Route(%s) category %s, want %s", tc.reason, c, tc.category)
			}
		}
		if q := Owner.QueueOf(tc.category); q != tc.queue {
			t.Errorf("Owner.QueueOf(%s) = %s, want %s", tc.category, q, tc.queue)
		}
	}
}

func TestQuoteOfException(t *testing.T) {
	for id, want := range map[string]string{
		ExceptionID("Q:with:colons", 3, 12): "Q:with:colons",
		"qto:1:2:Q-1":                       "Q-1",
		"qto:x:2:Q-1":                       "",
		"cs:1:2:Q-1":                        "",
		"qto:1:2:":                          "",
	} {
		got, ok := QuoteOfException(id)
		if got != want || ok != (want != "") {
			t.Errorf("QuoteOfException(%q) = %q %v, want %q", id, got, ok, want)
		}
	}
}

func TestCreditKeyChangesPerRound(t *testing.T) {
	_, s := run(t, []step{{quote: ptr(quote(3))}, {customer: &Customer{Known: true, ERPCustomerID: "1"}}})
	k1 := s.CreditIdempotencyKey()
	s.OnValidated(Validation{Version: 3, Round: s.Round, Pricing: &contracts.PricingOutcome{Valid: true}, Credit: &contracts.CreditOutcome{Decision: contracts.CreditDecisionHold}}, t0, pol)
	s.OnTick(t0.Add(time.Hour), pol)
	if k2 := s.CreditIdempotencyKey(); k1 == k2 || k1 != "Q-1:v3:r1" {
		t.Errorf("keys %q then %q", k1, k2)
	}
}
