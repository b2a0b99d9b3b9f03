// Package saga is the order saga of one CRM quote as a pure state machine:
// each method takes the saga's state and one fact (a quote version, the
// customer lookup, a validation result, an ERP status, an operator decision,
// the clock of a tick) and returns the outputs to publish. It does no I/O and
// reads no clock, so replaying the same facts yields the same state and the
// same outputs; the service shell (package quotetoorder) stores the state in
// the processor's changelog-backed store and emits the outputs in the same
// Kafka transaction.
//
//	RECEIVED → AWAITING_CUSTOMER → VALIDATING → CREDIT_HOLD | PRICE_REVIEW → SUBMITTED
//	  → ACCEPTED | PARTIALLY_REJECTED | REJECTED → SHIPPED → INVOICED;  CANCELLED, SUPERSEDED
package saga

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/ops"
)

// Owner is quote-to-order as the owner of its exceptions: owner_service,
// the "qto" exception ids, sales-ops for categories the shared queue table
// (ops.Owner.QueueOf) does not route elsewhere, and the source system of
// its events.
var Owner = ops.Owner{
	Service: Service, Code: "qto", Queue: contracts.ExceptionQueueSalesOps,
	Source: contracts.SourceSystemQuoteToOrder,
}

// Service is the owner_service of the exceptions the saga raises.
const Service = "quote-to-order"

// Policy holds the saga's timing rules (service settings).
type Policy struct {
	// ERPAckSLA is how long ERP has to acknowledge an order command before
	// it is resubmitted.
	ERPAckSLA time.Duration
	// MaxSubmitAttempts bounds submissions without acknowledgment; after the
	// last one an ERP_TIMEOUT exception is raised.
	MaxSubmitAttempts int
	// CreditRecheck is how often an order on credit hold asks the gateway
	// again (a later credit update releases it); 0 disables.
	CreditRecheck time.Duration
	// ReleaseApprovalAbove is the order total (minor units) above which a
	// RELEASE_HOLD must name an approver other than the actor; 0: every
	// release needs one.
	ReleaseApprovalAbove int64
}

// Saga is the persisted state of one quote's order. The order id is the
// quote id, so every input about the order (quote versions, ERP statuses,
// internal commands) is keyed, and therefore partitioned, alike.
type Saga struct {
	QuoteID       string                      `json:"quote_id"`
	Version       int                         `json:"version"`
	LatestVersion int                         `json:"latest_version"` // newest version seen, even when not acted on
	State         string                      `json:"state"`
	Quote         contracts.Quote             `json:"quote"`
	Correlation   string                      `json:"correlation_id"`
	ERPCustomerID string                      `json:"erp_customer_id,omitempty"`
	GoldenID      string                      `json:"golden_id,omitempty"`
	Round         int                         `json:"round"` // validation round: part of the credit idempotency key
	PriceApproved bool                        `json:"price_approved,omitempty"`
	CreditRelease string                      `json:"credit_release,omitempty"` // actor who released a credit hold
	Pricing       *contracts.PricingOutcome   `json:"pricing,omitempty"`
	Credit        *contracts.CreditOutcome    `json:"credit,omitempty"`
	Submitted     bool                        `json:"submitted,omitempty"`
	Attempt       int                         `json:"attempt,omitempty"`
	Acked         bool                        `json:"acked,omitempty"`
	Deadline      time.Time                   `json:"deadline,omitzero"`
	ERPOrderID    string                      `json:"erp_order_id,omitempty"`
	InvoiceID     string                      `json:"invoice_id,omitempty"`
	LineStatuses  []contracts.OrderLineStatus `json:"line_statuses,omitempty"`
	ExceptionSeq  int                         `json:"exception_seq"`
	Open          map[string]string           `json:"open,omitempty"` // open exception id → category
	// Allowed holds the decision actions each open exception accepts.
	Allowed map[string][]string `json:"allowed,omitempty"`
	// Rejections holds the ERP rejection (reason, lines) of each open
	// line-rejection exception.
	Rejections map[string]Rejection `json:"rejections,omitempty"`
	// Retrying maps an exception in RETRYING to the decision that put it
	// there; the next answer settles it (RESOLVED, or OPEN again).
	Retrying map[string]string `json:"retrying,omitempty"`
	// Decided lists the ids of the decisions applied (newest last, bounded):
	// a repeated decision is a no-op.
	Decided []string `json:"decided,omitempty"`
	// Revision is the order's version in ERP (0 and 1: the first); an
	// operator's RETRY, OVERRIDE or line CANCEL resubmits the next.
	Revision int `json:"revision,omitempty"`
	// Overrides are the rejection reasons an approved OVERRIDE waives.
	Overrides []string `json:"overrides,omitempty"`
	// CancelledLines are quote lines an operator cancelled after ERP
	// rejected them; they are left out of later revisions.
	CancelledLines []int `json:"cancelled_lines,omitempty"`
	// ReturnSteps are the return steps reported on the lifecycle
	// ("<return id>/<state>", newest last, bounded).
	ReturnSteps []string `json:"return_steps,omitempty"`
}

// Rejection is what ERP rejected, for one exception.
type Rejection struct {
	Reason string `json:"reason"`
	Lines  []int  `json:"lines,omitempty"`
}

// Outputs is what one step asks the shell to publish.
type Outputs struct {
	Lifecycle []contracts.OrderLifecycle
	// Exceptions are raised or updated exceptions; the shell builds their
	// ops.exceptions.v1 events (Owner.Event) with the step's metadata.
	Exceptions []ops.Exception
	Commands   []contracts.OrderCommand
	// Lookup asks the partition of the sold-to account whether it is in ERP.
	Lookup bool
	// Validate asks the shell to validate round Round of version Version
	// with the gateway (after this step's state is committed).
	Validate bool
	// Release names a credit reservation to give back.
	Release string
	// Ignored explains why a fact changed nothing (for the log).
	Ignored string
}

// OrderID is the order id of a quote: the quote id itself. ERP is
// idempotent by order id, so one quote becomes at most one ERP order.
func OrderID(quoteID string) string { return quoteID }

// CreditIdempotencyKey is the idempotency key of the reserving credit check
// of one validation round: order id, quote version and round.
func (s *Saga) CreditIdempotencyKey() string {
	return fmt.Sprintf("%s:v%d:r%d", OrderID(s.QuoteID), s.Version, s.Round)
}

// ExceptionID builds the id of the seq-th exception of a quote version. It
// is deterministic (a replay raises the same id) and names the quote, so a
// decision keyed by it can be routed back to the saga.
// The form is Owner's id scheme: "qto:<version>:<seq>:<quote id>".
func ExceptionID(quoteID string, version, seq int) string {
	return Owner.ExceptionID(strconv.Itoa(version), strconv.Itoa(seq), quoteID)
}

// QuoteOfException returns the quote id named by an exception id of this
// service.
func QuoteOfException(id string) (string, bool) {
	_, _, quote, ok := ExceptionParts(id)
	return quote, ok
}

// ExceptionParts splits an exception id of this service into the quote
// version (0 for an order unknown to the service), the sequence number and
// the quote id.
func ExceptionParts(id string) (version, seq int, quote string, ok bool) {
	parts, ok := Owner.Parts(id, 3)
	if !ok {
		return 0, 0, "", false
	}
	version, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, "", false
	}
	if seq, err = strconv.Atoi(parts[1]); err != nil {
		return 0, 0, "", false
	}
	return version, seq, parts[2], true
}

// preSubmission reports whether the saga has not reached ERP yet.
func (s *Saga) preSubmission() bool {
	switch s.State {
	case contracts.OrderStateReceived, contracts.OrderStateAwaitingCustomer, contracts.OrderStateValidating,
		contracts.OrderStateCreditHold, contracts.OrderStatePriceReview:
		return true
	}
	return false
}

// PendingValidation reports whether the order waits for the gateway.
func (s *Saga) PendingValidation() bool { return s.State == contracts.OrderStateValidating }

// OnQuote applies a quote version. A nil s starts a new saga.
func OnQuote(s *Saga, q contracts.Quote, at time.Time, pol Policy) (*Saga, Outputs) {
	var out Outputs
	if s != nil && q.Version <= s.LatestVersion {
		out.Ignored = fmt.Sprintf("quote %s version %d already seen (latest %d)", q.QuoteID, q.Version, s.LatestVersion)
		return s, out
	}
	if q.Status != contracts.QuoteStatusAccepted {
		if s == nil {
			out.Ignored = fmt.Sprintf("quote %s version %d is %s, not ACCEPTED", q.QuoteID, q.Version, q.Status)
			return nil, out
		}
		s.LatestVersion = q.Version
		if (q.Status == contracts.QuoteStatusCancelled || q.Status == contracts.QuoteStatusExpired || q.Status == contracts.QuoteStatusRejected) && s.preSubmission() {
			s.closeAll(&out, contracts.ExceptionStatusClosed, at)
			out.Release = s.reservation()
			s.transition(&out, contracts.OrderStateCancelled, fmt.Sprintf("quote version %d is %s", q.Version, q.Status), "")
			s.Deadline = time.Time{}
			return s, out
		}
		out.Ignored = fmt.Sprintf("quote %s version %d is %s; order is %s", q.QuoteID, q.Version, q.Status, s.State)
		return s, out
	}
	if s != nil {
		s.LatestVersion = q.Version
		switch {
		case s.preSubmission():
			// A newer version before submission supersedes the older.
			s.closeAll(&out, contracts.ExceptionStatusClosed, at)
			out.Release = s.reservation()
			s.transition(&out, contracts.OrderStateSuperseded, fmt.Sprintf("superseded by quote version %d", q.Version), "")
		case s.Submitted:
			// After submission a new version is an amendment: out of scope, a person decides.
			s.raise(&out, at, exceptionSpec{
				category: contracts.ExceptionCategoryAmendmentGap, severity: contracts.SeverityMedium,
				summary: fmt.Sprintf("quote %s version %d accepted after version %d was submitted to ERP as order %s", q.QuoteID, q.Version, s.Version, OrderID(s.QuoteID)),
				context: map[string]string{"new_version": strconv.Itoa(q.Version), "new_total": money(q.Total), "order_state": s.State},
				action:  "Amend the ERP order by hand or cancel it and create a new quote; Isthmus does not amend submitted orders.",
				allowed: []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss},
			}, false)
			return s, out
		default:
			// Finished without reaching ERP (rejected as invalid, cancelled): start over.
		}
	}
	ns := &Saga{QuoteID: q.QuoteID, Version: q.Version, LatestVersion: q.Version, Quote: q, Correlation: q.Metadata.CorrelationID}
	if s != nil {
		ns.ExceptionSeq = s.ExceptionSeq
	}
	ns.Quote.Metadata = contracts.EventMetadata{}
	ns.transition(&out, contracts.OrderStateReceived, "", "")
	if problem := CheckQuote(q); problem != nil {
		ns.reject(&out, at, problem)
		return ns, out
	}
	out.Lookup = true
	return ns, out
}

// Problem is why a quote cannot become an order.
type Problem struct {
	Category string // contracts.ExceptionCategory*; its queue is Owner.QueueOf's
	Reason   string // machine-readable: no_lines, bad_quantity, unknown_currency, ...
	Message  string
	Lines    []int
	Action   string
}

// CheckQuote validates a quote version on its own (no gateway): lines,
// quantities, currency, amounts and the sold-to account.
func CheckQuote(q contracts.Quote) *Problem {
	bad := func(reason, action, format string, args ...any) *Problem {
		return &Problem{Category: contracts.ExceptionCategoryInvalidInput, Reason: reason, Message: fmt.Sprintf(format, args...), Action: action}
	}
	if strings.TrimSpace(q.SoldToAccountID) == "" {
		p := bad("missing_account", "Set the sold-to account on the quote in CRM and accept a new version.", "quote %s has no sold-to account", q.QuoteID)
		return p
	}
	if !KnownCurrency(q.Currency) {
		return bad("unknown_currency", "Correct the quote currency to an ISO-4217 code and accept a new version.", "quote currency %q is not an ISO-4217 code", q.Currency)
	}
	if len(q.Lines) == 0 {
		return bad("no_lines", "Add lines to the quote in CRM and accept a new version.", "quote %s version %d has no lines", q.QuoteID, q.Version)
	}
	seen := map[int]bool{}
	var sum int64
	for _, l := range q.Lines {
		if seen[l.LineNumber] {
			p := bad("duplicate_line", "Renumber the quote lines.", "line number %d appears twice", l.LineNumber)
			p.Lines = []int{l.LineNumber}
			return p
		}
		seen[l.LineNumber] = true
		if l.Quantity <= 0 {
			p := bad("bad_quantity", "Correct the line quantity (must be at least 1) and accept a new version.", "line %d has quantity %d", l.LineNumber, l.Quantity)
			p.Lines = []int{l.LineNumber}
			return p
		}
		if strings.TrimSpace(l.SKU) == "" {
			p := &Problem{Category: contracts.ExceptionCategoryInvalidMasterData, Reason: "unknown_sku", Message: fmt.Sprintf("line %d has no SKU", l.LineNumber), Lines: []int{l.LineNumber}, Action: "Pick a product from the ERP catalogue for the line."}
			return p
		}
		for _, m := range []contracts.Money{l.UnitPrice, l.LineTotal, l.ListPrice} {
			if m.Currency != q.Currency {
				p := bad("currency_mismatch", "Use one currency for every amount of the quote.", "line %d has an amount in %s, quote is in %s", l.LineNumber, m.Currency, q.Currency)
				p.Lines = []int{l.LineNumber}
				return p
			}
		}
		if l.UnitPrice.AmountMinor < 0 {
			p := bad("negative_price", "Correct the unit price.", "line %d has a negative unit price", l.LineNumber)
			p.Lines = []int{l.LineNumber}
			return p
		}
		want, ok := mul(l.UnitPrice.AmountMinor, l.Quantity)
		if !ok || want != l.LineTotal.AmountMinor {
			p := bad("line_total_mismatch", "Recalculate the quote in CRM.", "line %d total %d is not quantity %d x unit price %d", l.LineNumber, l.LineTotal.AmountMinor, l.Quantity, l.UnitPrice.AmountMinor)
			p.Lines = []int{l.LineNumber}
			return p
		}
		var ok2 bool
		if sum, ok2 = add(sum, want); !ok2 {
			return bad("amount_overflow", "Split the quote.", "quote total overflows")
		}
	}
	if q.Total.Currency != q.Currency || q.Total.AmountMinor != sum {
		return bad("total_mismatch", "Recalculate the quote in CRM.", "quote total %s is not the sum of its lines %d", money(q.Total), sum)
	}
	return nil
}

func mul(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	return c, c/b == a
}

func add(a, b int64) (int64, bool) {
	c := a + b
	return c, (c > a) == (b > 0)
}

// Customer is the answer of the sold-to account's partition.
type Customer struct {
	Version       int    `json:"version"`
	Known         bool   `json:"known"`
	ERPCustomerID string `json:"erp_customer_id,omitempty"`
	GoldenID      string `json:"golden_id,omitempty"`
}

// OnCustomer applies the customer lookup (or the later xref arrival).
func (s *Saga) OnCustomer(c Customer) Outputs {
	var out Outputs
	if c.Version != s.Version || (s.State != contracts.OrderStateReceived && s.State != contracts.OrderStateAwaitingCustomer) {
		out.Ignored = fmt.Sprintf("customer answer for version %d while order is %s at version %d", c.Version, s.State, s.Version)
		return out
	}
	if !c.Known {
		if s.State == contracts.OrderStateReceived {
			s.transition(&out, contracts.OrderStateAwaitingCustomer, fmt.Sprintf("sold-to account %s is not in ERP yet", s.Quote.SoldToAccountID), "")
		} else {
			out.Ignored = "still awaiting the customer"
		}
		return out
	}
	s.ERPCustomerID, s.GoldenID = c.ERPCustomerID, c.GoldenID
	s.startValidation(&out, "")
	return out
}

func (s *Saga) startValidation(out *Outputs, reason string) {
	s.Round++
	s.Pricing, s.Credit = nil, nil
	s.transition(out, contracts.OrderStateValidating, reason, "")
	out.Validate = true
}

// Validation is what the gateway said about one validation round.
type Validation struct {
	Version int
	Round   int
	// Invalid is set when the gateway refused the quote's content
	// (unknown SKU, tax configuration, currency): the order is rejected.
	Invalid *Problem
	Pricing *contracts.PricingOutcome
	// Credit is nil when pricing blocked the order before the credit check.
	Credit *contracts.CreditOutcome
	// Shortfalls lists lines not available to promise (informational: ERP
	// confirms or backorders them).
	Shortfalls []string
}

// OnValidated applies a validation result.
func (s *Saga) OnValidated(v Validation, at time.Time, pol Policy) Outputs {
	var out Outputs
	if v.Version != s.Version || v.Round != s.Round || (s.State != contracts.OrderStateValidating && s.State != contracts.OrderStateCreditHold) {
		out.Ignored = fmt.Sprintf("stale validation v%d/r%d for order %s at v%d/r%d", v.Version, v.Round, s.State, s.Version, s.Round)
		return out
	}
	recheck := s.State == contracts.OrderStateCreditHold
	if v.Invalid != nil {
		s.Pricing = v.Pricing
		out.Release = s.reservation()
		s.reject(&out, at, v.Invalid)
		return out
	}
	s.Pricing, s.Credit = v.Pricing, v.Credit
	if v.Pricing != nil && !v.Pricing.Valid && !s.PriceApproved {
		s.raise(&out, at, exceptionSpec{
			category: contracts.ExceptionCategoryPriceReview, severity: contracts.SeverityMedium,
			summary: fmt.Sprintf("quote %s version %d: %d quoted price(s) differ from the ERP price book", s.QuoteID, s.Version, len(v.Pricing.Violations)),
			context: map[string]string{"violations": strings.Join(v.Pricing.Violations, "; ")},
			action:  "Accept the ERP price (APPROVE_PRICE), send the quote back to sales (REQUOTE), fix the price book and RETRY, or CANCEL.",
			allowed: []string{contracts.DecisionActionApprovePrice, contracts.DecisionActionRequote, contracts.DecisionActionRetry, contracts.DecisionActionCancel},
		}, true)
		s.transitionLast(&out, contracts.OrderStatePriceReview, "quoted prices differ from the price book")
		return out
	}
	if v.Credit == nil {
		out.Ignored = "validation without a credit decision"
		return out
	}
	if v.Credit.Decision != contracts.CreditDecisionApproved && s.CreditRelease == "" {
		if recheck {
			s.Deadline = next(at, pol.CreditRecheck)
			out.Ignored = "credit still " + v.Credit.Decision
			return out
		}
		s.raise(&out, at, exceptionSpec{
			category: contracts.ExceptionCategoryCreditHold, severity: contracts.SeverityHigh,
			summary: fmt.Sprintf("quote %s version %d: credit %s for %s", s.QuoteID, s.Version, v.Credit.Decision, money(s.Quote.Total)),
			context: map[string]string{"credit_decision": v.Credit.Decision, "credit_reasons": strings.Join(v.Credit.Reasons, "; "), "available_credit": moneyPtr(v.Credit.AvailableCredit)},
			action:  "Release the hold (RELEASE_HOLD, approved by a second person) if finance accepts the exposure, REJECT the order, RETRY after a credit change, or CANCEL.",
			allowed: []string{contracts.DecisionActionReleaseHold, contracts.DecisionActionReject, contracts.DecisionActionRetry, contracts.DecisionActionCancel},
		}, true)
		s.transitionLast(&out, contracts.OrderStateCreditHold, "credit "+strings.ToLower(v.Credit.Decision))
		s.Deadline = next(at, pol.CreditRecheck)
		return out
	}
	reason := ""
	if len(v.Shortfalls) > 0 {
		reason = "not available to promise: " + strings.Join(v.Shortfalls, ", ")
	}
	if recheck {
		s.closeAll(&out, contracts.ExceptionStatusResolved, at)
		reason = strings.TrimPrefix(reason+"; credit released by a credit update", "; ")
	}
	for _, id := range slices.Sorted(maps.Keys(s.Retrying)) {
		s.close(&out, id, contracts.ExceptionStatusResolved, at)
	}
	s.submit(&out, at, pol, reason)
	return out
}

func next(at time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return at.Add(d)
}

// submit moves to SUBMITTED and emits the order command.
func (s *Saga) submit(out *Outputs, at time.Time, pol Policy, reason string) {
	s.Submitted, s.Acked, s.Attempt = true, false, 1
	s.Deadline = next(at, pol.ERPAckSLA)
	s.transition(out, contracts.OrderStateSubmitted, reason, "")
	out.Commands = append(out.Commands, s.command())
}

func (s *Saga) reservation() string {
	if s.Credit != nil && s.Credit.ReservationID != nil {
		return *s.Credit.ReservationID
	}
	return ""
}

// command builds the ERP order command of the current attempt.
func (s *Saga) command() contracts.OrderCommand {
	q := s.Quote
	id := fmt.Sprintf("%s:v%d:a%d", OrderID(s.QuoteID), s.Version, s.Attempt)
	if s.revision() > 1 {
		id = fmt.Sprintf("%s:v%d:r%d:a%d", OrderID(s.QuoteID), s.Version, s.revision(), s.Attempt)
	}
	lines := s.orderLines()
	total := contracts.Money{Currency: q.Total.Currency, AmountMinor: q.Total.AmountMinor}
	if len(s.CancelledLines) > 0 {
		total.AmountMinor = 0
		for _, l := range lines {
			total.AmountMinor += l.LineTotal.AmountMinor
		}
	}
	c := contracts.OrderCommand{
		CommandID:             id,
		Revision:              s.revision(),
		Overrides:             append([]string{}, s.Overrides...),
		Action:                contracts.OrderCommandActionCreate,
		OrderID:               OrderID(s.QuoteID),
		QuoteID:               s.QuoteID,
		QuoteVersion:          s.Version,
		Attempt:               s.Attempt,
		ERPCustomerID:         s.ERPCustomerID,
		Currency:              q.Currency,
		Region:                q.Region,
		PaymentTerms:          q.PaymentTerms,
		CustomerPo:            q.CustomerPo,
		RequestedDeliveryDate: q.RequestedDeliveryDate,
		Lines:                 lines,
		Total:                 total,
	}
	if r := s.reservation(); r != "" {
		c.CreditReservationID = &r
	}
	return c
}

// OrderLines converts quote lines to order lines.
func OrderLines(q contracts.Quote) []contracts.OrderLine {
	out := make([]contracts.OrderLine, len(q.Lines))
	for i, l := range q.Lines {
		out[i] = contracts.OrderLine{LineNumber: l.LineNumber, SKU: l.SKU, Quantity: l.Quantity, ListPrice: l.ListPrice,
			UnitPrice: l.UnitPrice, DiscountBps: l.DiscountBps, LineTotal: l.LineTotal, ShipToCountry: l.ShipToCountry}
	}
	return out
}

// erpRank orders the ERP-driven states so a late or repeated status never
// moves an order backwards.
var erpRank = map[string]int{
	contracts.OrderStateSubmitted:         1,
	contracts.OrderStateAccepted:          2,
	contracts.OrderStatePartiallyRejected: 2,
	contracts.OrderStateRejected:          5,
	contracts.OrderStateShipped:           3,
	contracts.OrderStateInvoiced:          4,
	contracts.OrderStateCancelled:         5,
}

// OnERPStatus applies ERP's answer about the order.
func (s *Saga) OnERPStatus(st contracts.OrderStatus, at time.Time) Outputs {
	var out Outputs
	if !s.Submitted {
		out.Ignored = fmt.Sprintf("ERP status %s for an order never submitted (state %s)", st.Status, s.State)
		return out
	}
	if st.CommandID != nil && CommandRevision(*st.CommandID) < s.revision() {
		out.Ignored = fmt.Sprintf("ERP status %s answers revision %d; the order is at revision %d", st.Status, CommandRevision(*st.CommandID), s.revision())
		return out
	}
	s.Acked = true
	if s.State == contracts.OrderStateSubmitted {
		s.Deadline = time.Time{}
		if id, ok := s.openOf(contracts.ExceptionCategoryERPTimeout); ok {
			s.close(&out, id, contracts.ExceptionStatusResolved, at)
		}
	}
	if st.ERPOrderID != nil {
		s.ERPOrderID = *st.ERPOrderID
	}
	if st.InvoiceID != nil {
		s.InvoiceID = *st.InvoiceID
	}
	if len(st.Lines) > 0 {
		s.LineStatuses = st.Lines
	}
	var to string
	switch st.Status {
	case contracts.ErpOrderStateAccepted:
		to = contracts.OrderStateAccepted
	case contracts.ErpOrderStatePartiallyRejected:
		to = contracts.OrderStatePartiallyRejected
	case contracts.ErpOrderStateRejected:
		to = contracts.OrderStateRejected
	case contracts.ErpOrderStateShipped:
		to = contracts.OrderStateShipped
	case contracts.ErpOrderStateInvoiced:
		to = contracts.OrderStateInvoiced
	case contracts.ErpOrderStateCancelled:
		to = contracts.OrderStateCancelled
	default: // RECEIVED, PARTIALLY_SHIPPED: an acknowledgment, no saga transition
		out.Ignored = "ERP status " + st.Status + " acknowledged"
		return out
	}
	if to == s.State || erpRank[to] < erpRank[s.State] || s.State == contracts.OrderStateRejected || s.State == contracts.OrderStateCancelled {
		out.Ignored = fmt.Sprintf("ERP status %s does not move order in state %s", st.Status, s.State)
		return out
	}
	if to == contracts.OrderStateRejected || to == contracts.OrderStatePartiallyRejected || to == contracts.OrderStateAccepted {
		s.raiseRejections(&out, st, at)
	}
	if to == contracts.OrderStateRejected || to == contracts.OrderStateCancelled {
		out.Release = s.reservation()
	}
	reason := erpText(st.Messages)
	exc := ""
	if n := len(out.Exceptions); n > 0 {
		exc = out.Exceptions[n-1].ID
	}
	s.transition(&out, to, reason, exc)
	return out
}

func erpText(ms []contracts.ERPMessage) string {
	var parts []string
	for _, m := range ms {
		if m.LineNumber == nil {
			parts = append(parts, m.Code+": "+m.Text)
		}
	}
	return strings.Join(parts, "; ")
}

// Route maps a line rejection reason to its exception category (whose
// queue is Owner.QueueOf's) and suggested action.
func Route(reason string) (category, action string) {
	switch reason {
	case contracts.RejectionReasonExportControl:
		return contracts.ExceptionCategoryExportControl,
			"Review the export classification and licence for the destination: RETRY once ERP holds the licence, CANCEL the line (line_id), or OVERRIDE with a second person's approval."
	case contracts.RejectionReasonTaxConfiguration:
		return contracts.ExceptionCategoryTaxConfiguration,
			"Fix the tax configuration (tax code, jurisdiction, exemption) of the customer or product in ERP, then RETRY; or CANCEL the line (line_id), or OVERRIDE with a second person's approval."
	case contracts.RejectionReasonPricing:
		return contracts.ExceptionCategoryERPRejection,
			"Align the quoted price with the ERP pricing conditions and re-order the lines."
	case contracts.RejectionReasonCredit:
		return contracts.ExceptionCategoryCreditHold,
			"Review the customer's credit in ERP and release or cancel the lines."
	case contracts.RejectionReasonMasterData:
		return contracts.ExceptionCategoryInvalidMasterData,
			"Complete the customer or material master data in ERP, then re-order the lines."
	}
	return contracts.ExceptionCategoryERPRejection,
		"Read ERP's message, correct the order in ERP or create a new quote."
}

// raiseRejections raises one exception per rejection reason with its lines.
func (s *Saga) raiseRejections(out *Outputs, st contracts.OrderStatus, at time.Time) {
	byReason := map[string][]contracts.OrderLineStatus{}
	for _, l := range st.Lines {
		if l.Status != contracts.LineStatusRejected {
			continue
		}
		r := contracts.RejectionReasonOther
		if l.RejectionReason != nil {
			r = *l.RejectionReason
		}
		byReason[r] = append(byReason[r], l)
	}
	if len(byReason) == 0 && st.Status == contracts.ErpOrderStateRejected {
		byReason[contracts.RejectionReasonOther] = nil
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	quoteLines := map[int]contracts.QuoteLine{}
	for _, l := range s.Quote.Lines {
		quoteLines[l.LineNumber] = l
	}
	// An open exception of a reason ERP no longer gives is settled; one it
	// gives again stays (back to OPEN when a decision had it RETRYING).
	open := make([]string, 0, len(s.Rejections))
	for id := range s.Rejections {
		open = append(open, id)
	}
	sort.Strings(open)
	covered := map[string]bool{}
	for _, id := range open {
		r := s.Rejections[id]
		lines, again := byReason[r.Reason]
		if !again {
			s.settle(out, id, contracts.ExceptionStatusResolved, at, s.Retrying[id], fmt.Sprintf("ERP %s order revision %d without a %s rejection", strings.ToLower(st.Status), s.revision(), r.Reason))
			continue
		}
		covered[r.Reason] = true
		r.Lines = r.Lines[:0]
		for _, l := range lines {
			r.Lines = append(r.Lines, l.LineNumber)
		}
		s.Rejections[id] = r
		if d, retrying := s.Retrying[id]; retrying {
			s.settle(out, id, contracts.ExceptionStatusOpen, at, d, fmt.Sprintf("ERP rejected order revision %d again (%s): %s", s.revision(), r.Reason, lineMessages(lines)))
		}
	}
	for _, r := range reasons {
		if covered[r] {
			continue
		}
		lines := byReason[r]
		category, action := Route(r)
		var nums, skus, msgs []string
		var detail []string
		for _, l := range lines {
			nums = append(nums, strconv.Itoa(l.LineNumber))
			skus = append(skus, l.SKU)
			msg := ""
			if l.ERPMessage != nil {
				msg = *l.ERPMessage
				msgs = append(msgs, fmt.Sprintf("line %d: %s", l.LineNumber, msg))
			}
			ql := quoteLines[l.LineNumber]
			detail = append(detail, fmt.Sprintf("line %d: %s x%d to %s, %s", l.LineNumber, l.SKU, ql.Quantity, ql.ShipToCountry, money(ql.LineTotal)))
		}
		for _, m := range st.Messages {
			if m.LineNumber == nil {
				msgs = append(msgs, m.Code+": "+m.Text)
			}
		}
		summary := fmt.Sprintf("ERP rejected %d line(s) of order %s (%s)", len(lines), OrderID(s.QuoteID), r)
		if len(lines) == 0 {
			summary = fmt.Sprintf("ERP rejected order %s", OrderID(s.QuoteID))
		}
		s.raise(out, at, exceptionSpec{
			category: category, severity: contracts.SeverityHigh, summary: summary,
			context: map[string]string{
				"rejection_reason": r, "lines": strings.Join(nums, ","), "skus": strings.Join(skus, ","),
				"line_details": strings.Join(detail, "; "), "erp_message": strings.Join(msgs, "; "), "erp_status": st.Status,
			},
			action:  action,
			allowed: rejectionActions(r, len(lines) > 0),
		}, false)
		if s.Rejections == nil {
			s.Rejections = map[string]Rejection{}
		}
		rej := Rejection{Reason: r}
		for _, l := range lines {
			rej.Lines = append(rej.Lines, l.LineNumber)
		}
		s.Rejections[out.Exceptions[len(out.Exceptions)-1].ID] = rej
	}
}

// Overridable reports whether an approved OVERRIDE may waive an ERP
// rejection reason (a licence exception, a tax ruling); credit, pricing and
// master-data rejections need a fix instead.
func Overridable(reason string) bool {
	return reason == contracts.RejectionReasonExportControl || reason == contracts.RejectionReasonTaxConfiguration
}

// rejectionActions are the decisions an ERP rejection exception accepts.
func rejectionActions(reason string, hasLines bool) []string {
	a := []string{contracts.DecisionActionRetry}
	if hasLines {
		a = append(a, contracts.DecisionActionCancel)
	}
	if Overridable(reason) {
		a = append(a, contracts.DecisionActionOverride)
	}
	return append(a, contracts.DecisionActionResolve, contracts.DecisionActionDismiss)
}

func lineMessages(lines []contracts.OrderLineStatus) string {
	var msgs []string
	for _, l := range lines {
		if l.ERPMessage != nil {
			msgs = append(msgs, fmt.Sprintf("line %d: %s", l.LineNumber, *l.ERPMessage))
		}
	}
	return strings.Join(msgs, "; ")
}

// OnTick fires the saga's timer when due: resubmit an unacknowledged order
// (the command is idempotent by order id), raise ERP_TIMEOUT after the last
// attempt, or recheck a credit hold.
func (s *Saga) OnTick(now time.Time, pol Policy) Outputs {
	var out Outputs
	if s.Deadline.IsZero() || now.Before(s.Deadline) {
		return out
	}
	switch {
	case s.State == contracts.OrderStateSubmitted && !s.Acked:
		if s.Attempt < pol.MaxSubmitAttempts {
			s.Attempt++
			s.Deadline = next(now, pol.ERPAckSLA)
			out.Commands = append(out.Commands, s.command())
			return out
		}
		s.Deadline = time.Time{}
		if _, ok := s.openOf(contracts.ExceptionCategoryERPTimeout); ok {
			return out
		}
		s.raise(&out, now, exceptionSpec{
			category: contracts.ExceptionCategoryERPTimeout, severity: contracts.SeverityHigh,
			summary: fmt.Sprintf("ERP did not acknowledge order %s after %d submissions", OrderID(s.QuoteID), s.Attempt),
			context: map[string]string{"attempts": strconv.Itoa(s.Attempt), "ack_sla": pol.ERPAckSLA.String()},
			action:  "Check the ERP order interface; RETRY resubmits (ERP deduplicates by order id).",
			allowed: []string{contracts.DecisionActionRetry, contracts.DecisionActionDismiss},
		}, false)
	case s.State == contracts.OrderStateCreditHold:
		s.Round++
		s.Deadline = next(now, pol.CreditRecheck)
		out.Validate = true
	default:
		s.Deadline = time.Time{}
	}
	return out
}

// reject ends the saga as REJECTED with an exception.
func (s *Saga) reject(out *Outputs, at time.Time, p *Problem) {
	ctx := map[string]string{"reason": p.Reason, "problem": p.Message}
	if len(p.Lines) > 0 {
		var ls []string
		for _, n := range p.Lines {
			ls = append(ls, strconv.Itoa(n))
		}
		ctx["lines"] = strings.Join(ls, ",")
	}
	s.raise(out, at, exceptionSpec{
		category: p.Category, severity: contracts.SeverityMedium,
		summary: fmt.Sprintf("quote %s version %d cannot become an order: %s", s.QuoteID, s.Version, p.Message),
		context: ctx, action: p.Action,
		allowed: []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss},
	}, false)
	s.Deadline = time.Time{}
	s.transitionLast(out, contracts.OrderStateRejected, p.Reason+": "+p.Message)
}

type exceptionSpec struct {
	category, severity, summary, action string
	context                             map[string]string
	allowed                             []string
}

// raise appends an OPEN exception with the saga's full context. When
// replaceOpen is set, open exceptions of the same category are closed first.
//
// An open exception of the category that an operator's decision put in
// RETRYING is not replaced: it goes back to OPEN, same id, with the new
// reason and the decision that caused it.
func (s *Saga) raise(out *Outputs, at time.Time, e exceptionSpec, replaceOpen bool) {
	decision := ""
	id := ""
	if replaceOpen {
		if old, ok := s.openOf(e.category); ok {
			if d, retrying := s.Retrying[old]; retrying {
				id, decision = old, d
				delete(s.Retrying, old)
			} else {
				s.close(out, old, contracts.ExceptionStatusClosed, at)
			}
		}
	}
	if id == "" {
		s.ExceptionSeq++
		id = ExceptionID(s.QuoteID, s.Version, s.ExceptionSeq)
	}
	ctx := map[string]string{
		"quote_id": s.QuoteID, "quote_version": strconv.Itoa(s.Version), "order_id": OrderID(s.QuoteID),
		"correlation_id": s.Correlation, "currency": s.Quote.Currency, "region": s.Quote.Region,
		"total": money(s.Quote.Total), "quote_lines": quoteLines(s.Quote), "order_state": s.State,
	}
	for k, v := range e.context {
		ctx[k] = v
	}
	ids := map[string]string{"quote_id": s.QuoteID, "order_id": OrderID(s.QuoteID), "crm_account_id": s.Quote.SoldToAccountID}
	if s.ERPCustomerID != "" {
		ids["erp_customer_id"] = s.ERPCustomerID
	}
	if s.GoldenID != "" {
		ids["golden_id"] = s.GoldenID
	}
	if s.ERPOrderID != "" {
		ids["erp_order_id"] = s.ERPOrderID
	}
	out.Exceptions = append(out.Exceptions, ops.Exception{
		ID: id, Category: e.category, Queue: Owner.QueueOf(e.category), Severity: e.severity,
		Status: contracts.ExceptionStatusOpen, Summary: e.summary,
		Entities: ids, Context: ctx, Suggested: e.action, Allowed: e.allowed, Decision: decision,
	})
	if s.Open == nil {
		s.Open = map[string]string{}
	}
	if s.Allowed == nil {
		s.Allowed = map[string][]string{}
	}
	s.Open[id] = e.category
	s.Allowed[id] = e.allowed
}

// close publishes a status change of an open exception (same id).
func (s *Saga) close(out *Outputs, id, status string, at time.Time) {
	s.settle(out, id, status, at, s.Retrying[id], "")
}

// settle publishes a status change of an open exception (same id) as the
// outcome of decision (may be ""), with a note in its context. RETRYING and
// OPEN keep the exception open; any other status ends it.
func (s *Saga) settle(out *Outputs, id, status string, at time.Time, decision, note string) {
	category, ok := s.Open[id]
	if !ok {
		return
	}
	allowed := s.Allowed[id]
	switch status {
	case contracts.ExceptionStatusRetrying:
		if s.Retrying == nil {
			s.Retrying = map[string]string{}
		}
		s.Retrying[id] = decision
	case contracts.ExceptionStatusOpen:
		delete(s.Retrying, id)
	default:
		delete(s.Open, id)
		delete(s.Allowed, id)
		delete(s.Rejections, id)
		delete(s.Retrying, id)
		allowed = nil
	}
	ctx := map[string]string{"correlation_id": s.Correlation, "order_state": s.State}
	summary := fmt.Sprintf("%s exception of order %s is %s (order %s)", category, OrderID(s.QuoteID), status, s.State)
	if note != "" {
		ctx["outcome"] = note
		summary += ": " + note
	}
	if r, ok := s.Rejections[id]; ok {
		ctx["rejection_reason"], ctx["lines"] = r.Reason, joinInts(r.Lines)
	}
	x := ops.Exception{
		ID: id, Category: category, Queue: Owner.QueueOf(category), Severity: contracts.SeverityLow,
		Status: status, Summary: summary,
		Entities: map[string]string{"quote_id": s.QuoteID, "order_id": OrderID(s.QuoteID), "crm_account_id": s.Quote.SoldToAccountID},
		Context:  ctx,
		Allowed:  append([]string{}, allowed...),
		Decision: decision,
	}
	if status == contracts.ExceptionStatusOpen {
		x.Severity = contracts.SeverityMedium
	}
	out.Exceptions = append(out.Exceptions, x)
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (s *Saga) closeAll(out *Outputs, status string, at time.Time) {
	ids := make([]string, 0, len(s.Open))
	for id := range s.Open {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s.close(out, id, status, at)
	}
}

func (s *Saga) openOf(category string) (string, bool) {
	ids := make([]string, 0, len(s.Open))
	for id, c := range s.Open {
		if c == category {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", false
	}
	sort.Strings(ids)
	return ids[0], true
}

// transition moves the saga and appends the lifecycle event.
func (s *Saga) transition(out *Outputs, to, reason, exceptionID string) {
	prev := s.State
	s.State = to
	out.Lifecycle = append(out.Lifecycle, s.lifecycle(prev, reason, exceptionID))
}

// transitionLast is transition naming the last exception raised.
func (s *Saga) transitionLast(out *Outputs, to, reason string) {
	exc := ""
	if n := len(out.Exceptions); n > 0 {
		exc = out.Exceptions[n-1].ID
	}
	s.transition(out, to, reason, exc)
}

func (s *Saga) lifecycle(prev, reason, exceptionID string) contracts.OrderLifecycle {
	q := s.Quote
	ev := contracts.OrderLifecycle{
		OrderID: OrderID(s.QuoteID), QuoteID: s.QuoteID, QuoteVersion: s.Version, State: s.State,
		CRMAccountID: q.SoldToAccountID, Currency: q.Currency, Total: q.Total, Lines: OrderLines(q),
		LineStatuses: append([]contracts.OrderLineStatus{}, s.LineStatuses...),
		Pricing:      s.Pricing, Credit: s.Credit,
	}
	if prev != "" {
		ev.PreviousState = &prev
	}
	if reason != "" {
		ev.Reason = &reason
	}
	if s.GoldenID != "" {
		g := s.GoldenID
		ev.GoldenID = &g
	}
	if s.ERPCustomerID != "" {
		c := s.ERPCustomerID
		ev.ERPCustomerID = &c
	}
	if s.ERPOrderID != "" {
		o := s.ERPOrderID
		ev.ERPOrderID = &o
	}
	if exceptionID != "" {
		ev.ExceptionID = &exceptionID
	}
	if s.InvoiceID != "" && s.State == contracts.OrderStateInvoiced {
		i := s.InvoiceID
		ev.InvoiceID = &i
	}
	return ev
}

func money(m contracts.Money) string {
	return fmt.Sprintf("%d %s (minor units)", m.AmountMinor, m.Currency)
}

func moneyPtr(m *contracts.Money) string {
	if m == nil {
		return ""
	}
	return money(*m)
}

func quoteLines(q contracts.Quote) string {
	parts := make([]string, 0, len(q.Lines))
	for _, l := range q.Lines {
		parts = append(parts, fmt.Sprintf("%d:%s x%d @%d %s to %s", l.LineNumber, l.SKU, l.Quantity, l.UnitPrice.AmountMinor, l.UnitPrice.Currency, l.ShipToCountry))
	}
	return strings.Join(parts, "; ")
}
