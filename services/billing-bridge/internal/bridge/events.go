package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

// Sentinels for acknowledgments and held amendments.
var (
	// ErrAmendmentGap: a deal was held past its SLA waiting for its predecessor.
	ErrAmendmentGap = errors.New("amendment gap held past SLA")
	// ErrUnknownDocument: billing acknowledged a document not in the schedule.
	ErrUnknownDocument = errors.New("unknown schedule document")
	// ErrUnknownJournal: the ERP answered for a journal never sent.
	ErrUnknownJournal = errors.New("unknown journal")
	// ErrSubscriptionConflict: billing provisioned a second subscription id.
	ErrSubscriptionConflict = errors.New("subscription already provisioned with another id")
	// ErrUnknownEvent: an acknowledgment of an unknown kind.
	ErrUnknownEvent = errors.New("unknown event kind")
)

// BillingEventKind is the kind of a billing system acknowledgment.
type BillingEventKind string

// Billing acknowledgments.
const (
	Provisioned   BillingEventKind = "PROVISIONED"
	InvoiceIssued BillingEventKind = "INVOICE_ISSUED"
)

// BillingEvent is one record of billing.events.v1.
type BillingEvent struct {
	ContractID     string           `json:"contract_id"`
	Kind           BillingEventKind `json:"kind"`
	SubscriptionID string           `json:"subscription_id,omitempty"`
	// DocumentID is the schedule document the invoice was issued for.
	DocumentID    string `json:"document_id,omitempty"`
	InvoiceNumber string `json:"invoice_number,omitempty"`
	// Seq is the amendment sequence of the command the event answers (0:
	// not given).
	Seq        int64     `json:"seq,omitempty"`
	Amount     int64     `json:"amount,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// ApplyBilling applies a billing acknowledgment. An issued document is frozen:
// later amendments adjust or credit it instead of replacing it. An issued
// amount or currency that differs from the schedule raises an
// invoice_mismatch exception (the document is still marked issued).
//
// An invoice answering the command of an earlier amendment than the last
// applied one (billing issued it before it received the later command) is
// SUPERSEDED when the current schedule has no such document or schedules
// another amount: billing re-issues the period under the later amendment,
// and that invoice settles the document. Nothing is raised for it.
func (b *Bridge) ApplyBilling(s *State, ev BillingEvent) (Outputs, error) {
	if ev.ContractID != s.ContractID {
		return Outputs{}, errs.Poison(errs.ReasonWrongContract, fmt.Errorf("%w: billing event for %s applied to %s", ErrWrongContract, ev.ContractID, s.ContractID))
	}
	if s.Terms == nil {
		return Outputs{}, errs.Business(errs.ReasonUnknownContract, fmt.Errorf("billing %s for %s: %w", ev.Kind, ev.ContractID, contract.ErrUnknownContract))
	}
	switch ev.Kind {
	case Provisioned:
		if s.Subscription.Provisioned {
			if s.Subscription.ID == ev.SubscriptionID {
				return Outputs{Status: StatusDuplicate}, nil
			}
			return Outputs{}, errs.Business(errs.ReasonSubscriptionConflict, fmt.Errorf("contract %s: %w: %q, now %q", ev.ContractID, ErrSubscriptionConflict, s.Subscription.ID, ev.SubscriptionID))
		}
		s.Subscription = Subscription{ID: ev.SubscriptionID, Provisioned: true}
		return Outputs{Status: StatusNoChange}, nil
	case InvoiceIssued:
		i := -1
		for j := range s.Docs {
			if s.Docs[j].ID == ev.DocumentID {
				i = j
				break
			}
		}
		stale := ev.Seq > 0 && ev.Seq < s.LastSeq()
		if i < 0 && stale {
			return Outputs{Status: StatusSuperseded}, nil
		}
		if i < 0 {
			return Outputs{}, errs.Business(errs.ReasonUnknownDocument, fmt.Errorf("contract %s: %w %q (invoice %s)", ev.ContractID, ErrUnknownDocument, ev.DocumentID, ev.InvoiceNumber))
		}
		d := &s.Docs[i]
		if d.Issued {
			return Outputs{Status: StatusDuplicate}, nil
		}
		mismatch := ev.Amount != d.Amount || (ev.Currency != "" && ev.Currency != s.Terms.Currency)
		if mismatch && stale {
			return Outputs{Status: StatusSuperseded}, nil
		}
		d.Issued, d.InvoiceNumber = true, ev.InvoiceNumber
		out := Outputs{Status: StatusNoChange}
		if mismatch {
			out.Exceptions = []Exception{{
				ID:         d.ID + "/" + CategoryInvoiceMismatch,
				Category:   CategoryInvoiceMismatch,
				Queue:      QueueFinanceOps,
				Severity:   "high",
				ContractID: s.ContractID,
				Seq:        d.Seq,
				Reason:     "invoice_mismatch",
				Message:    fmt.Sprintf("invoice %s for %s issued %d %s, scheduled %d %s", ev.InvoiceNumber, d.ID, ev.Amount, ev.Currency, d.Amount, s.Terms.Currency),
				Context: []Field{
					{"document_id", d.ID},
					{"invoice_number", ev.InvoiceNumber},
					{"issued_amount", strconv.FormatInt(ev.Amount, 10)},
					{"issued_currency", ev.Currency},
					{"scheduled_amount", strconv.FormatInt(d.Amount, 10)},
					{"scheduled_currency", s.Terms.Currency},
				},
			}}
		}
		s.track(out.Exceptions)
		return out, nil
	}
	return Outputs{}, errs.Poison(errs.ReasonUnknownEvent, fmt.Errorf("billing event for %s: %w %q", ev.ContractID, ErrUnknownEvent, ev.Kind))
}

// JournalEventKind is the ERP's answer to a journal command.
type JournalEventKind string

// ERP answers.
const (
	JournalPostedEvent   JournalEventKind = "POSTED"
	JournalRejectedEvent JournalEventKind = "REJECTED"
)

// JournalEvent is one record of erp.journal.v1.
type JournalEvent struct {
	ContractID string           `json:"contract_id"`
	JournalID  string           `json:"journal_id"`
	Kind       JournalEventKind `json:"kind"`
	// Document is the ERP's own document number when posted.
	Document   string    `json:"document,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// ApplyJournal records the ERP's answer.
//
//   - POSTED settles the journal; when an operator's REPOST was waiting on
//     it, its exception is RESOLVED.
//   - A rejection answering an operator's REPOST puts the exception back
//     OPEN with the new reason.
//   - A PERIOD_CLOSED rejection is reposted on its own into the next open
//     period (after the rejected posting date, not before the period of
//     the answer), up to MaxAutoReposts times per journal: recorded in
//     Outputs.Reposts, not raised.
//   - Any other rejection raises a journal_rejected exception (REPOST,
//     ROUTE_TO_FINANCE, RESOLVE, DISMISS).
func (b *Bridge) ApplyJournal(s *State, ev JournalEvent) (Outputs, error) {
	if ev.ContractID != s.ContractID {
		return Outputs{}, errs.Poison(errs.ReasonWrongContract, fmt.Errorf("%w: journal event for %s applied to %s", ErrWrongContract, ev.ContractID, s.ContractID))
	}
	j, ok := s.Journals[ev.JournalID]
	if !ok {
		return Outputs{}, errs.Business(errs.ReasonUnknownJournal, fmt.Errorf("contract %s: %w %q", ev.ContractID, ErrUnknownJournal, ev.JournalID))
	}
	root := ev.JournalID
	if j.Root != "" {
		root = j.Root
	}
	exID := s.trackedID(journalExceptionID(root))
	ex, raised := s.Exceptions[exID]
	switch ev.Kind {
	case JournalPostedEvent:
		if j.Status == JournalPosted {
			return Outputs{Status: StatusDuplicate}, nil
		}
		j.Status, j.Reason, j.Document = JournalPosted, "", ev.Document
		s.Journals[ev.JournalID] = j
		out := Outputs{Status: StatusNoChange}
		if raised && ex.Status == ExceptionRetrying && ex.Journal == ev.JournalID {
			out.Exceptions = append(out.Exceptions, s.update(exID, ExceptionResolved, ex.Decision,
				fmt.Sprintf("journal %s posted by ERP (document %s)", ev.JournalID, ev.Document)))
		}
		return out, nil
	case JournalRejectedEvent:
		if j.Status == JournalReposted || j.Status == JournalRejected && j.Reason == ev.Reason {
			return Outputs{Status: StatusDuplicate}, nil
		}
		j.Status, j.Reason = JournalRejected, ev.Reason
		s.Journals[ev.JournalID] = j
		out := Outputs{Status: StatusNoChange}
		now := contract.DateOf(ev.OccurredAt)
		switch {
		case raised && ex.Status == ExceptionRetrying && ex.Journal == ev.JournalID:
			out.Exceptions = append(out.Exceptions, s.update(exID, ExceptionOpen, ex.Decision, "ERP rejected the reposted journal "+ev.JournalID+": "+ev.Reason))
		case PeriodClosed(ev.Reason) && s.Journals[root].Reposts < MaxAutoReposts && !(raised && ex.Status == ExceptionOpen):
			nj, r := b.repost(s, ev.JournalID, now, ev.Reason, "")
			out.Reposts = append(out.Reposts, r)
			if !r.Scheduled {
				out.Journals = append(out.Journals, nj)
			}
		default:
			currency := ""
			if s.Terms != nil {
				currency = s.Terms.Currency
			}
			out.Exceptions = []Exception{{
				ID:         exID,
				Category:   CategoryJournalRejected,
				Queue:      QueueFinanceOps,
				Severity:   "high",
				ContractID: s.ContractID,
				Seq:        j.Seq,
				Reason:     "journal_rejected",
				Message:    fmt.Sprintf("ERP rejected journal %s: %s", ev.JournalID, ev.Reason),
				Context: []Field{
					{"journal_id", ev.JournalID},
					{"kind", string(j.Kind)},
					{"period", j.Period},
					{"posting_date", j.Date.String()},
					{"amount", strconv.FormatInt(j.Amount, 10)},
					{"currency", currency},
					{"erp_reason", ev.Reason},
				},
			}}
			s.track(out.Exceptions)
			ex := s.Exceptions[exID]
			ex.Journal = ev.JournalID
			s.Exceptions[exID] = ex
		}
		return out, nil
	}
	return Outputs{}, errs.Poison(errs.ReasonUnknownEvent, fmt.Errorf("journal event for %s: %w %q", ev.ContractID, ErrUnknownEvent, ev.Kind))
}

// Tick raises an amendment_gap exception, once, for every deal held for sla
// or longer at now. A deal held before NEW arrived names
// contract.ErrUnknownContract as its reason.
func (b *Bridge) Tick(s *State, now time.Time, sla time.Duration) Outputs {
	out := Outputs{Status: StatusNoChange}
	for i := range s.Held {
		h := &s.Held[i]
		if h.Raised || now.Sub(h.Since) < sla {
			continue
		}
		h.Raised = true
		reason, code, missing := ErrAmendmentGap, "amendment_gap", strconv.FormatInt(s.LastSeq()+1, 10)
		if s.Terms == nil {
			reason, code = contract.ErrUnknownContract, string(contract.Reason(contract.ErrUnknownContract))
		}
		out.Exceptions = append(out.Exceptions, Exception{
			ID:         commandID(s.ContractID, h.Deal.Seq, CategoryAmendmentGap),
			Category:   CategoryAmendmentGap,
			Queue:      QueueFinanceOps,
			Severity:   "medium",
			ContractID: s.ContractID,
			Seq:        h.Deal.Seq,
			Reason:     code,
			Message:    fmt.Sprintf("%s seq %d held since %s: %v (waiting for seq %s)", h.Deal.Kind, h.Deal.Seq, h.Since.Format(time.RFC3339), reason, missing),
			Context: []Field{
				{"held_kind", string(h.Deal.Kind)},
				{"held_since", h.Since.Format(time.RFC3339)},
				{"last_applied_seq", strconv.FormatInt(s.LastSeq(), 10)},
				{"waiting_for_seq", missing},
			},
		})
	}
	s.track(out.Exceptions)
	return out
}

// NextDeadline is the earliest time a held deal not yet raised passes sla,
// and false when nothing is held.
func (s *State) NextDeadline(sla time.Duration) (time.Time, bool) {
	var at time.Time
	found := false
	for _, h := range s.Held {
		if h.Raised {
			continue
		}
		if t := h.Since.Add(sla); !found || t.Before(at) {
			at, found = t, true
		}
	}
	return at, found
}

func rejected(d contract.Deal, err error) Exception {
	return Exception{
		ID:         commandID(d.ContractID, d.Seq, CategoryAmendmentRejected),
		Category:   CategoryAmendmentRejected,
		Queue:      QueueFinanceOps,
		Severity:   "high",
		ContractID: d.ContractID,
		Seq:        d.Seq,
		Reason:     errs.ReasonOf(err),
		Message:    err.Error(),
		Context: []Field{
			{"class", string(errs.ClassOf(err))},
			{"effective", d.Effective.String()},
			{"kind", string(d.Kind)},
		},
	}
}

// JournalOf rebuilds the journal id as it was sent (accounts, lines, date,
// amount, source) from the state, for context in exceptions and ERP
// answers, and to send a scheduled journal or a repost. It reports false
// for a journal never sent.
func (b *Bridge) JournalOf(s *State, id string) (journal.Journal, bool) {
	j, ok := s.Journals[id]
	if !ok {
		return journal.Journal{}, false
	}
	currency := ""
	if s.Terms != nil {
		currency = s.Terms.Currency
	}
	out := journal.New(b.accounts, s.ContractID, j.Seq, j.Period, j.Kind, j.Date, currency, j.Source, j.Amount)
	out.ID = id
	return out, true
}
