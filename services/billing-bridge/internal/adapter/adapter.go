// Package adapter maps between the Avro records of the topic contracts
// (pkg/contracts) and billing-bridge's domain (contract, bridge); exceptions
// and metadata are built by pkg/ops and pkg/event. It does no I/O:
// no Kafka, no clock. The mapping rules that are not one-to-one:
//
//   - Sequences: crm.deal.v1 numbers the NEW deal 0 and amendments 1, 2, …;
//     the domain numbers NEW 1. Domain Seq = amendment_sequence + 1, and
//     every output carries amendment_sequence = Seq − 1.
//   - Dates: Avro end dates are inclusive ("last day of the term"); domain
//     terms are half-open [start, end). Domain End = end_date + 1 day, so a
//     NEW deal whose end_date is the day before its start_date is a
//     zero-length term, and one ending earlier ends before it starts.
//   - Prices: Avro unit prices are per unit per month; the domain prices per
//     billing period. Domain UnitPrice = unit_price × months per period
//     (exact), and outputs divide it back.
package adapter

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/ledger"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

// Owner is billing-bridge as the owner of its exceptions: owner_service
// billing-bridge, exception ids "bbx:<id>" where <id> is the domain's
// exception id (bridge.Exception.ID), queue FINANCE_OPS for every category
// it raises, source system BILLING_BRIDGE. Exceptions raised before
// pkg/ops kept their ids "EX/<id>" (bridge.LegacyExceptionPrefix), and
// decisions on them still reach billing-bridge.
var Owner = ops.Owner{
	Service: "billing-bridge",
	Code:    "bbx",
	Queue:   contracts.ExceptionQueueFinanceOps,
	Source:  contracts.SourceSystemBillingBridge,
	Legacy:  []string{bridge.LegacyExceptionPrefix},
}

// DomainSeq is the domain sequence of an Avro amendment_sequence.
func DomainSeq(amendmentSequence int) int64 { return int64(amendmentSequence) + 1 }

// AvroSeq is the Avro amendment_sequence of a domain sequence.
func AvroSeq(seq int64) int { return int(seq - 1) }

// Date is the calendar day of an Avro date (the Unix epoch is "not set").
func Date(t time.Time) contract.Date { return contract.DateOf(t) }

// Time is the Avro date of a calendar day.
func Time(d contract.Date) time.Time { return d.Time() }

// periodMonths is the number of months per billing period, and false for an
// unknown frequency.
func periodMonths(f string) (int64, bool) {
	k, ok := contract.Frequency(f).Months()
	return int64(k), ok
}

// Deal maps a crm.deal.v1 record onto the domain. It fails (Poison, with
// the domain's reasons) only where the mapping itself cannot be done: an
// unknown billing frequency (prices cannot be converted) and a monthly
// price that overflows per period. Everything else is validated by the
// domain.
func Deal(v *contracts.Deal) (contract.Deal, error) {
	d := contract.Deal{
		ContractID: v.ContractID,
		Seq:        DomainSeq(v.AmendmentSequence),
		Kind:       contract.Kind(v.DealType),
		CustomerID: v.AccountID,
		Currency:   v.Currency,
		Frequency:  contract.Frequency(v.BillingFrequency),
		OccurredAt: v.Metadata.OccurredAt.UTC(),
	}
	if v.AmendmentKind != nil {
		d.Change = contract.Change(*v.AmendmentKind)
	}
	switch d.Kind {
	case contract.KindNew:
		d.Start, d.End = Date(v.StartDate), Date(v.EndDate)+1
	case contract.KindRenew:
		d.End = Date(v.EndDate) + 1
	case contract.KindAmend, contract.KindCancel:
		if v.EffectiveDate != nil {
			d.Effective = Date(*v.EffectiveDate)
		}
	}
	k, ok := periodMonths(v.BillingFrequency)
	if !ok {
		return contract.Deal{}, contract.Poison(d, contract.ErrUnknownFrequency, "%q", v.BillingFrequency)
	}
	d.Lines = make([]contract.Line, 0, len(v.Lines))
	for _, l := range v.Lines {
		p := l.UnitPrice.AmountMinor
		if p > math.MaxInt64/k || p < math.MinInt64/k {
			return contract.Deal{}, contract.Poison(d, contract.ErrAmountTooLarge, "sku %s unit price %d per month", l.SKU, p)
		}
		d.Lines = append(d.Lines, contract.Line{SKU: l.SKU, Quantity: l.Quantity, UnitPrice: p * k, Currency: l.UnitPrice.Currency})
	}
	return d, nil
}

// DealRecord is the crm.deal.v1 record of a domain deal (the inverse of
// Deal, for producers and tests). Start and end dates a deal kind does not
// carry are set from the deal's own fields when known, else left at the
// epoch; line numbers follow the order of d.Lines.
func DealRecord(d contract.Deal, md contracts.EventMetadata, dealID string) *contracts.Deal {
	v := &contracts.Deal{
		Metadata:          md,
		DealID:            dealID,
		ContractID:        d.ContractID,
		AmendmentSequence: AvroSeq(d.Seq),
		DealType:          string(d.Kind),
		AccountID:         d.CustomerID,
		Currency:          d.Currency,
		StartDate:         Time(d.Start),
		EndDate:           Time(d.End - 1),
		BillingFrequency:  string(d.Frequency),
		ClosedAt:          d.OccurredAt,
		Lines:             []contracts.DealLine{},
	}
	if d.End.IsZero() {
		v.EndDate = Time(0)
	}
	if d.Change != "" {
		c := string(d.Change)
		v.AmendmentKind = &c
	}
	if !d.Effective.IsZero() {
		e := Time(d.Effective)
		v.EffectiveDate = &e
	}
	k, ok := periodMonths(string(d.Frequency))
	if !ok {
		k = 1
	}
	for i, l := range d.Lines {
		cur := l.Currency
		if cur == "" {
			cur = d.Currency
		}
		v.Lines = append(v.Lines, contracts.DealLine{LineNumber: i + 1, SKU: l.SKU, Quantity: l.Quantity,
			UnitPrice: contracts.Money{AmountMinor: l.UnitPrice / k, Currency: cur}})
	}
	return v
}

// BillingEvent maps a billing.events.v1 record onto the domain.
// PROVISIONED and INVOICE_ISSUED are the acknowledgments the domain knows;
// any other type is passed through by name (the caller handles
// SUBSCRIPTION_UPDATED, SUBSCRIPTION_CANCELLED and COMMAND_REJECTED
// itself; anything else is the domain's unknown_event).
//
// The billing system names the invoice it issued by its service period
// (period_start, period_end as in the invoice schedule it was sent), not by
// the schedule's document id; DocumentFor resolves it in s.
func BillingEvent(v *contracts.BillingEvent, s *bridge.State) bridge.BillingEvent {
	ev := bridge.BillingEvent{ContractID: v.ContractID, Kind: bridge.BillingEventKind(v.EventType), OccurredAt: v.Metadata.OccurredAt.UTC()}
	if v.SubscriptionID != nil {
		ev.SubscriptionID = *v.SubscriptionID
	}
	if v.AmendmentSequence != nil {
		ev.Seq = DomainSeq(*v.AmendmentSequence)
	}
	switch v.EventType {
	case contracts.BillingEventTypeSubscriptionProvisioned:
		ev.Kind = bridge.Provisioned
	case contracts.BillingEventTypeInvoiceIssued:
		ev.Kind = bridge.InvoiceIssued
		if v.InvoiceID != nil {
			ev.InvoiceNumber = *v.InvoiceID
		}
		if v.InvoiceAmount != nil {
			ev.Amount, ev.Currency = v.InvoiceAmount.AmountMinor, v.InvoiceAmount.Currency
		}
		ev.DocumentID = DocumentFor(s, v)
	}
	return ev
}

// DocumentFor finds the schedule document an INVOICE_ISSUED event is for:
// the document whose service period starts on period_start (and ends on
// period_end when given), preferring one not yet issued with the invoiced
// amount, then any not yet issued, then an issued one (a re-sent
// acknowledgment). Without a match it returns a description of the period,
// which the domain reports as an unknown document.
func DocumentFor(s *bridge.State, v *contracts.BillingEvent) string {
	if v.PeriodStart == nil {
		return "(no period_start)"
	}
	from := Date(*v.PeriodStart)
	var amount int64
	if v.InvoiceAmount != nil {
		amount = v.InvoiceAmount.AmountMinor
	}
	best, rank := "", 0
	for _, d := range s.Docs {
		if d.ServiceFrom != from || (v.PeriodEnd != nil && d.ServiceTo != Date(*v.PeriodEnd)+1) {
			continue
		}
		r := 1
		switch {
		case !d.Issued && d.Amount == amount:
			r = 3
		case !d.Issued:
			r = 2
		}
		if r > rank {
			best, rank = d.ID, r
		}
	}
	if best == "" {
		end := ""
		if v.PeriodEnd != nil {
			end = " to " + Date(*v.PeriodEnd).String()
		}
		return "(service period " + from.String() + end + ")"
	}
	return best
}

// JournalContract is the contract an erp.journal.v1 record belongs to: its
// contract_id, else the contract named in the journal command id
// (JE/<contract>/…). A record naming neither is poison.
func JournalContract(v *contracts.Journal) (string, error) {
	if v.ContractID != nil && *v.ContractID != "" {
		return *v.ContractID, nil
	}
	if rest, ok := strings.CutPrefix(v.JournalCommandID, journal.Prefix); ok {
		esc, _, _ := strings.Cut(rest, "/")
		if id, err := url.PathUnescape(esc); err == nil && id != "" {
			return id, nil
		}
	}
	return "", errs.Poisonf(errs.ReasonMissingContractID, "erp journal answer for %q names no contract", v.JournalCommandID)
}

// JournalEvent maps an erp.journal.v1 record onto the domain; the reason
// of a rejection is "<rejection_code>: <erp_message>".
func JournalEvent(v *contracts.Journal, contractID string) bridge.JournalEvent {
	ev := bridge.JournalEvent{ContractID: contractID, JournalID: v.JournalCommandID, Kind: bridge.JournalEventKind(v.Status), OccurredAt: v.Metadata.OccurredAt.UTC()}
	if v.ERPJournalID != nil {
		ev.Document = *v.ERPJournalID
	}
	var parts []string
	if v.RejectionCode != nil && *v.RejectionCode != "" {
		parts = append(parts, *v.RejectionCode)
	}
	if v.ERPMessage != nil && *v.ERPMessage != "" {
		parts = append(parts, *v.ERPMessage)
	}
	ev.Reason = strings.Join(parts, ": ")
	return ev
}

// Meta is what every output of one input shares; EventID gives the i-th
// output its deterministic event id.
type Meta struct {
	CorrelationID string
	CausationID   string
	OccurredAt    time.Time
	EventID       func(i int) string
}

// Metadata is the metadata of the i-th output (0, 1, …).
func (m Meta) Metadata(i int) contracts.EventMetadata {
	return event.Metadata(m.EventID(i), m.CorrelationID, m.CausationID, Owner.Source, m.OccurredAt)
}

// Record is one output: a logical topic, a key and an Avro value.
type Record struct {
	Topic string
	Key   string
	Value contracts.Value
}

// Records maps a domain result onto output records, in a deterministic
// order: billing commands, revenue schedule, journal commands, exceptions.
// s is the state after the input was applied.
func Records(b *bridge.Bridge, s *bridge.State, out bridge.Outputs, meta Meta) []Record {
	var recs []Record
	add := func(topic, key string, v contracts.Value) { recs = append(recs, Record{topic, key, v}) }
	for _, c := range BillingCommands(out.Commands) {
		c.Metadata = meta.Metadata(len(recs))
		add(contracts.TopicBillingCommandsV1, c.ContractID, c)
	}
	for _, r := range RevenueSchedules(s, out.Revenue) {
		r.Metadata = meta.Metadata(len(recs))
		add(contracts.TopicBillingRevenueScheduleV1, r.ContractID, r)
	}
	cancels := map[int64]bool{}
	for _, c := range out.Commands {
		if c.Kind == bridge.CancelSubscription {
			cancels[c.Seq] = true
		}
	}
	for _, j := range out.Journals {
		v := JournalCommand(s, j, cancels[j.Seq])
		v.Metadata = meta.Metadata(len(recs))
		add(contracts.TopicERPJournalCommandsV1, j.ContractID, v)
	}
	for _, e := range out.Exceptions {
		x := Exception(e, meta.Metadata(len(recs)))
		add(contracts.TopicOpsExceptionsV1, x.ExceptionID, x)
	}
	return recs
}

var actions = map[bridge.CommandKind]string{
	bridge.ProvisionSubscription: contracts.BillingActionProvision,
	bridge.UpdateSubscription:    contracts.BillingActionUpdate,
	bridge.CancelSubscription:    contracts.BillingActionCancel,
}

// BillingCommands merges the domain's commands of each sequence (the
// subscription command and its INVOICE_SCHEDULE) into the one
// billing.commands.v1 record per (contract, amendment) the contract
// defines. The invoice schedule lists the documents dated on or after the
// effective date: everything the change replanned, adjusted or credited,
// plus issued documents the billing system keeps as they are. Line numbers
// follow the domain's line order (by SKU).
func BillingCommands(cmds []bridge.BillingCommand) []*contracts.BillingCommand {
	sched := map[int64]bridge.BillingCommand{}
	for _, c := range cmds {
		if c.Kind == bridge.InvoiceSchedule {
			sched[c.Seq] = c
		}
	}
	var out []*contracts.BillingCommand
	for _, c := range cmds {
		if c.Kind == bridge.InvoiceSchedule {
			continue
		}
		k, ok := periodMonths(string(c.Frequency))
		if !ok {
			k = 1
		}
		eff := c.Effective
		if eff.IsZero() {
			eff = c.Start
		}
		v := &contracts.BillingCommand{
			CommandID:         c.ID,
			Action:            actions[c.Kind],
			ContractID:        c.ContractID,
			AmendmentSequence: AvroSeq(c.Seq),
			AccountID:         c.CustomerID,
			Currency:          c.Currency,
			StartDate:         Time(c.Start),
			EndDate:           Time(c.End - 1),
			EffectiveDate:     Time(eff),
			BillingFrequency:  string(c.Frequency),
			Lines:             []contracts.SubscriptionLine{},
			InvoiceSchedule:   []contracts.ScheduledInvoice{},
		}
		term := termMonths(eff, c.End)
		for i, l := range c.Lines {
			v.Lines = append(v.Lines, contracts.SubscriptionLine{LineNumber: i + 1, SKU: l.SKU, Quantity: l.Quantity,
				UnitPrice: contracts.Money{AmountMinor: l.UnitPrice / k, Currency: c.Currency}, TermMonths: term})
		}
		for _, d := range sched[c.Seq].Schedule {
			if d.Date < eff {
				continue
			}
			v.InvoiceSchedule = append(v.InvoiceSchedule, contracts.ScheduledInvoice{
				Sequence:    len(v.InvoiceSchedule) + 1,
				InvoiceDate: Time(d.Date),
				PeriodStart: Time(d.ServiceFrom),
				PeriodEnd:   Time(d.ServiceTo - 1),
				Amount:      contracts.Money{AmountMinor: d.Amount, Currency: c.Currency},
			})
		}
		out = append(out, v)
	}
	return out
}

// termMonths is the number of whole months from from to end.
func termMonths(from, end contract.Date) int {
	n := 0
	for n < 100*12 && from.AddMonths(n+1) <= end {
		n++
	}
	return n
}

// RevenueSchedules maps the changed months onto billing.revenue-schedule.v1.
// cumulative_recognised and contract_value are those of s, the state after
// the input: when one input applied several sequences (held amendments
// released), they are as of the last one.
func RevenueSchedules(s *bridge.State, entries []bridge.RevenueEntry) []*contracts.RevenueSchedule {
	cum := map[contract.Month]int64{}
	var total int64
	for _, e := range s.Revenue {
		total += e.Recognised
		cum[e.Month] = total
	}
	out := make([]*contracts.RevenueSchedule, 0, len(entries))
	for _, e := range entries {
		c, ok := cum[e.Month]
		if !ok { // a month no longer in the schedule: everything before it
			for _, r := range s.Revenue {
				if r.Month < e.Month {
					c = cum[r.Month]
				}
			}
		}
		m := func(v int64) contracts.Money { return contracts.Money{AmountMinor: v, Currency: e.Currency} }
		out = append(out, &contracts.RevenueSchedule{
			ContractID:           e.ContractID,
			AmendmentSequence:    AvroSeq(e.Seq),
			PeriodStart:          Time(e.Month.First()),
			PeriodEnd:            Time(e.Month.Last()),
			Recognised:           m(e.Recognised),
			Billed:               m(e.Billed),
			DeferredBalance:      m(e.Deferred),
			CumulativeRecognised: m(c),
			ContractValue:        m(total),
		})
	}
	return out
}

var journalKinds = map[journal.Kind]string{
	journal.Invoice:             contracts.JournalKindInvoice,
	journal.CreditNote:          contracts.JournalKindCredit,
	journal.Recognition:         contracts.JournalKindRecognition,
	journal.RecognitionReversal: contracts.JournalKindReversal,
}

// JournalCommand maps a domain journal onto erp.journal-commands.v1. A
// credit note of a cancellation is a CANCELLATION; a recognition reversal
// names the latest earlier recognition of its month as the journal it
// reverses. The service period is the document's (invoice journals) or the
// month (recognition).
func JournalCommand(s *bridge.State, j journal.Journal, cancel bool) *contracts.JournalCommand {
	kind := journalKinds[j.Kind]
	if j.Kind == journal.CreditNote && cancel {
		kind = contracts.JournalKindCancellation
	}
	v := &contracts.JournalCommand{
		JournalCommandID:  j.ID,
		Kind:              kind,
		ContractID:        j.ContractID,
		AmendmentSequence: AvroSeq(j.Seq),
		PostingDate:       Time(j.Date),
		Currency:          j.Currency,
		Description:       fmt.Sprintf("%s %s %s", kind, j.ContractID, j.Source),
		Lines:             ledger.CommandLines(j.Currency, j.Lines, func(ledger.Line) string { return j.Source }),
	}
	from, to := periodOf(s, j)
	if !from.IsZero() {
		t := Time(from)
		v.PeriodStart = &t
	}
	if !to.IsZero() {
		t := Time(to)
		v.PeriodEnd = &t
	}
	if j.Kind == journal.RecognitionReversal {
		if id := reversed(s, j); id != "" {
			v.ReversesJournalCommandID = &id
		}
	}
	return v
}

// periodOf is the first and last day of the service a journal covers.
func periodOf(s *bridge.State, j journal.Journal) (from, last contract.Date) {
	switch j.Kind {
	case journal.Recognition, journal.RecognitionReversal:
		var m contract.Month
		if err := m.UnmarshalText([]byte(j.Period)); err == nil {
			return m.First(), m.Last()
		}
		return 0, 0
	}
	for _, d := range s.Docs {
		if d.ID == j.Source {
			return d.ServiceFrom, d.ServiceTo - 1
		}
	}
	if d, err := contract.ParseDate(j.Period); err == nil {
		return d, 0
	}
	return 0, 0
}

// reversed is the latest recognition journal of j's month sent before j.
func reversed(s *bridge.State, j journal.Journal) string {
	best, seq := "", int64(0)
	for id, st := range s.Journals {
		if st.Kind == journal.Recognition && st.Period == j.Period && st.Seq < j.Seq &&
			(st.Seq > seq || st.Seq == seq && id > best) {
			best, seq = id, st.Seq
		}
	}
	return best
}

var categories = map[string]string{
	bridge.CategoryAmendmentGap:      contracts.ExceptionCategoryAmendmentGap,
	bridge.CategoryJournalRejected:   contracts.ExceptionCategoryJournalRejected,
	bridge.CategoryAmendmentRejected: contracts.ExceptionCategoryInvalidInput,
	bridge.CategoryInvoiceMismatch:   contracts.ExceptionCategoryOther,
	CategoryRejectedInput:            contracts.ExceptionCategoryInvalidInput,
	CategoryBillingRejected:          contracts.ExceptionCategoryBillingRejected,
}

var suggestions = map[string]string{
	bridge.CategoryAmendmentGap:      "find the missing amendment in CRM and re-send it; the held amendments apply as soon as it arrives",
	bridge.CategoryJournalRejected:   "fix the cause in ERP (account, currency) and REPOST the journal into the next open period, or ROUTE_TO_FINANCE for manual posting",
	bridge.CategoryAmendmentRejected: "correct the amendment in CRM and re-send it with the same sequence",
	bridge.CategoryInvoiceMismatch:   "compare the issued invoice with the invoice schedule and credit or re-issue it in billing",
	CategoryRejectedInput:            "correct the record at its source and re-send it",
	CategoryBillingRejected:          "check the billing system's message, fix the subscription and re-send the command",
}

// Adapter-level exception categories (the domain's are in bridge).
const (
	// CategoryRejectedInput: a deal or acknowledgment the domain refused
	// with a Business error.
	CategoryRejectedInput = "rejected_input"
	// CategoryBillingRejected: the billing system rejected a command.
	CategoryBillingRejected = "billing_rejected"
)

// seqFields are context fields holding domain sequences; Exception shows
// them as Avro amendment sequences.
var seqFields = map[string]bool{"last_applied_seq": true, "waiting_for_seq": true}

// Exception maps a domain exception onto ops.exceptions.v1 with metadata
// md (Describe built by Owner.Event).
func Exception(e bridge.Exception, md contracts.EventMetadata) *contracts.OperationalException {
	v := Owner.Event(Describe(e), md)
	return &v
}

// Describe is what billing-bridge knows of a domain exception, for pkg/ops
// (Owner.Event, or ops.FailAt for the middleware to raise it): id
// ExceptionID(e), queue FINANCE_OPS (ops.Owner.QueueOf), the allowed
// actions of its category while it is open. Sequences in the context and
// summary are Avro amendment sequences.
func Describe(e bridge.Exception) ops.Exception {
	cat, ok := categories[e.Category]
	if !ok {
		cat = contracts.ExceptionCategoryOther
	}
	x := ops.Exception{
		ID:        ExceptionID(e),
		Category:  cat,
		Severity:  e.Severity,
		Status:    e.Status,
		Summary:   e.Message,
		Entities:  map[string]string{"contract_id": e.ContractID},
		Context:   map[string]string{"category": e.Category, "reason": e.Reason},
		Allowed:   bridge.AllowedActions(e.Category),
		Suggested: suggestions[e.Category],
		Decision:  e.DecisionID,
	}
	if e.Seq > 0 {
		x.Context["amendment_sequence"] = strconv.Itoa(AvroSeq(e.Seq))
	}
	for _, f := range e.Context {
		val := f.Value
		if seqFields[f.Key] {
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				val = strconv.Itoa(AvroSeq(n))
			}
		}
		x.Context[f.Key] = val
		if strings.HasSuffix(f.Key, "_id") && f.Key != "contract_id" {
			x.Entities[f.Key] = val
		}
	}
	if e.Category == bridge.CategoryAmendmentGap {
		x.Summary = fmt.Sprintf("%s amendment %s of contract %s held since %s, waiting for amendment %s (%s)",
			x.Context["held_kind"], x.Context["amendment_sequence"], e.ContractID, x.Context["held_since"], x.Context["waiting_for_seq"], e.Reason)
	}
	return x
}

// ExceptionID is the ops.exceptions.v1 id of a domain exception:
// Owner.ExceptionID(e.ID), except for one raised before pkg/ops, tracked
// under its id of then (EX/<id of today's form> naming e's contract),
// which keeps that id.
func ExceptionID(e bridge.Exception) string {
	if rest, ok := strings.CutPrefix(e.ID, bridge.LegacyExceptionPrefix); ok {
		// A contract whose escaped id is "EX" has ids of today's form
		// starting "EX/" too; those name it, not what follows.
		if c, ok := contractOf(rest); ok && c == e.ContractID {
			return e.ID
		}
	}
	return Owner.ExceptionID(e.ID)
}

// Rejected is the exception for an input the domain refused with a
// Business error. cause names the input deterministically (e.g. "deal/3",
// "billing/<event id>"), so a replay raises the same exception id.
func Rejected(contractID string, seq int64, cause string, err error) bridge.Exception {
	reason := errs.ReasonOf(err)
	return bridge.Exception{
		ID:         url.PathEscape(contractID) + "/" + cause + "/" + reason,
		Category:   CategoryRejectedInput,
		Queue:      bridge.QueueFinanceOps,
		Severity:   "high",
		ContractID: contractID,
		Seq:        seq,
		Reason:     reason,
		Message:    err.Error(),
		Context:    []bridge.Field{{Key: "cause", Value: cause}, {Key: "class", Value: string(errs.ClassOf(err))}},
	}
}

// BillingRejected is the exception for a COMMAND_REJECTED billing event.
func BillingRejected(v *contracts.BillingEvent) bridge.Exception {
	e := bridge.Exception{
		ID:         url.PathEscape(v.ContractID) + "/billing/" + v.Metadata.EventID + "/" + CategoryBillingRejected,
		Category:   CategoryBillingRejected,
		Queue:      bridge.QueueFinanceOps,
		Severity:   "high",
		ContractID: v.ContractID,
		Reason:     "command_rejected",
	}
	msg := ""
	if v.Message != nil {
		msg = *v.Message
	}
	cmd := ""
	if v.CommandID != nil {
		cmd = *v.CommandID
	}
	e.Message = fmt.Sprintf("billing rejected command %s of contract %s: %s", cmd, v.ContractID, msg)
	e.Context = []bridge.Field{{Key: "command_id", Value: cmd}, {Key: "billing_message", Value: msg}}
	if v.AmendmentSequence != nil {
		e.Seq = DomainSeq(*v.AmendmentSequence)
	}
	if v.SubscriptionID != nil {
		e.Context = append(e.Context, bridge.Field{Key: "subscription_id", Value: *v.SubscriptionID})
	}
	return e
}

// JournalContext adds the rejected journal as sent (its lines as JSON text)
// and the ERP's answer to a journal_rejected exception.
func JournalContext(e *bridge.Exception, j journal.Journal, v *contracts.Journal) {
	lines, _ := json.Marshal(j.Lines) // []journal.Line always marshals
	e.Context = append(e.Context, bridge.Field{Key: "lines", Value: string(lines)})
	if v.RejectionCode != nil {
		e.Context = append(e.Context, bridge.Field{Key: "rejection_code", Value: *v.RejectionCode})
	}
	if v.ERPMessage != nil {
		e.Context = append(e.Context, bridge.Field{Key: "erp_message", Value: *v.ERPMessage})
	}
}

// ContractOfException is the contract an exception id of this service
// (ExceptionID of a domain exception) names: bbx:JE/<contract>/…
// (journal), bbx:BC/<contract>/… (amendment), bbx:<contract>/… (refused
// input, billing rejection, invoice mismatch), and the same after EX/
// instead of bbx: for an exception raised before pkg/ops; the contract id
// is path-escaped.
func ContractOfException(id string) (string, bool) {
	if rest, ok := strings.CutPrefix(id, bridge.LegacyExceptionPrefix); ok {
		return contractOf(rest)
	}
	rest, ok := domainID(id)
	if !ok {
		return "", false
	}
	return contractOf(rest)
}

// contractOf is the contract a domain exception id of today's form names.
func contractOf(rest string) (string, bool) {
	for _, p := range []string{journal.Prefix, "BC/"} {
		if r, ok := strings.CutPrefix(rest, p); ok {
			rest = r
			break
		}
	}
	esc, tail, ok := strings.Cut(rest, "/")
	if !ok || tail == "" {
		return "", false
	}
	c, err := url.PathUnescape(esc)
	if err != nil || c == "" {
		return "", false
	}
	return c, true
}

// domainID is the domain's id of an exception id of Owner: what follows
// "bbx:", or the whole id of an exception raised before pkg/ops (EX/…, the
// id the state tracks it under).
func domainID(id string) (string, bool) {
	if strings.HasPrefix(id, bridge.LegacyExceptionPrefix) {
		return id, true
	}
	parts, ok := Owner.Parts(id, 1)
	if !ok {
		return "", false
	}
	return parts[0], true
}

// DecisionOf maps an ops.decisions.v1 record onto the domain, on the
// exception's domain id (of an exception raised before pkg/ops: its whole
// EX/ id, which the state tracks it under). The category of an exception
// the state does not track (one raised for a refused input) comes from its
// id.
func DecisionOf(v *contracts.Decision) bridge.Decision {
	id, _ := domainID(v.ExceptionID)
	d := bridge.Decision{ID: v.DecisionID, ExceptionID: id, Action: v.Action, Actor: v.Actor}
	for _, c := range []string{bridge.CategoryJournalRejected, bridge.CategoryAmendmentGap, bridge.CategoryAmendmentRejected, bridge.CategoryInvoiceMismatch, CategoryBillingRejected} {
		if strings.HasSuffix(v.ExceptionID, "/"+c) {
			d.Category = c
			return d
		}
	}
	d.Category = CategoryRejectedInput
	return d
}
