// Package bridge applies deal events, billing acknowledgments and ERP journal
// answers to one contract's State and returns the commands, revenue schedule
// entries, journals and exceptions they produce. It is pure: no I/O, no
// clock; time comes in with the events. The Kafka adapter decodes a record,
// loads the contract's State from the store, calls Bridge, emits Outputs and
// stores the State, all in one transaction.
package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/revenue"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

// Bridge holds the configuration of the domain; it is safe for concurrent
// use (all state is in the State passed to each call).
type Bridge struct {
	accounts journal.Accounts
}

// New returns a Bridge posting to journal.DefaultAccounts.
func New() *Bridge { return &Bridge{accounts: journal.DefaultAccounts} }

// ErrWrongContract is returned when an event is applied to another
// contract's state (an adapter bug: the store key is the contract id).
var ErrWrongContract = errors.New("event for another contract")

// ApplyDeal applies one deal event to s.
//
//   - An invalid deal returns a Poison error; a deal that contradicts the
//     contract a Business error (see contract's sentinels). s is unchanged.
//   - A deal whose sequence was already applied or held, with the same
//     content, is a duplicate: no output. With other content it is a
//     Business error (ErrConflictingDuplicate).
//   - A deal ahead of the next sequence (or any amendment before NEW) is
//     held in s until its predecessor arrives.
//   - The next deal in sequence is applied, then every held successor in
//     order; a held successor that fails is dropped and raised as an
//     exception (the deal that released it is not at fault).
func (b *Bridge) ApplyDeal(s *State, d contract.Deal) (Outputs, error) {
	if err := contract.Validate(d); err != nil {
		return Outputs{}, err
	}
	if d.ContractID != s.ContractID {
		return Outputs{}, errs.Poison(errs.ReasonWrongContract, fmt.Errorf("%w: deal %s applied to %s", ErrWrongContract, d.ContractID, s.ContractID))
	}
	fp := fingerprint(d)
	if d.Seq <= s.LastSeq() {
		return duplicate(d, fp, s.Applied[d.Seq-1])
	}
	if i, ok := s.heldIndex(d.Seq); ok {
		return duplicate(d, fp, s.Held[i].Fingerprint)
	}
	if d.Seq > s.LastSeq()+1 {
		i, _ := s.heldIndex(d.Seq)
		s.Held = slices.Insert(s.Held, i, Held{Deal: d, Fingerprint: fp, Since: d.OccurredAt.UTC()})
		return Outputs{Status: StatusHeld}, nil
	}
	out, err := b.apply(s, d, fp)
	if err != nil {
		return Outputs{}, err
	}
	out.Status = StatusApplied
	for len(s.Held) > 0 && s.Held[0].Deal.Seq == s.LastSeq()+1 {
		h := s.Held[0]
		s.Held = s.Held[1:]
		next, err := b.apply(s, h.Deal, h.Fingerprint)
		if err != nil {
			out.Exceptions = append(out.Exceptions, rejected(h.Deal, err))
			break
		}
		out.add(next)
	}
	if len(s.Held) == 0 {
		s.Held = nil
	}
	out.Journals = s.schedule(out.Journals, contract.DateOf(d.OccurredAt))
	s.track(out.Exceptions)
	return out, nil
}

func duplicate(d contract.Deal, fp, seen string) (Outputs, error) {
	if fp == seen {
		return Outputs{Status: StatusDuplicate}, nil
	}
	return Outputs{}, contract.Business(d, contract.ErrConflictingDuplicate, "")
}

func (s *State) heldIndex(seq int64) (int, bool) {
	return slices.BinarySearchFunc(s.Held, seq, func(h Held, seq int64) int {
		return int(h.Deal.Seq - seq)
	})
}

// apply applies the next deal in sequence; on error s is unchanged.
func (b *Bridge) apply(s *State, d contract.Deal, fp string) (Outputs, error) {
	var (
		old, cur contract.Terms
		e        contract.Date
	)
	if d.Kind == contract.KindNew {
		cur = contract.FromNew(d)
		old = contract.Terms{ContractID: cur.ContractID, Currency: cur.Currency, Frequency: cur.Frequency, Start: cur.Start, End: cur.Start}
		e = cur.Start
	} else {
		if s.Terms == nil {
			// Unreachable through ApplyDeal: amendments wait for NEW.
			return Outputs{}, contract.Business(d, contract.ErrUnknownContract, "")
		}
		old = *s.Terms
		var err error
		if cur, err = old.Apply(d); err != nil {
			return Outputs{}, err
		}
		e = d.Effective
		if d.Kind == contract.KindRenew {
			e = old.End
		}
	}
	docs := schedule.Reconcile(old, cur, s.Docs, e, d.Seq)
	rev := revenue.Schedule(cur, docs)

	out := Outputs{Applied: []int64{d.Seq}}
	out.Commands = b.commands(s, d, old, cur, docs)
	out.Revenue = revenueChanges(cur, d.Seq, s.Revenue, rev)
	out.Journals = b.journals(cur, d.Seq, s.Docs, docs, s.Revenue, rev)

	s.Terms = &cur
	s.Applied = append(s.Applied, fp)
	s.Docs = docs
	s.Revenue = rev
	if len(out.Journals) > 0 && s.Journals == nil {
		s.Journals = make(map[string]JournalStatus, len(out.Journals))
	}
	for _, j := range out.Journals {
		s.Journals[j.ID] = JournalStatus{Kind: j.Kind, Seq: j.Seq, Period: j.Period, Date: j.Date, Amount: j.Amount(), Status: JournalPending, Source: j.Source}
	}
	return out, nil
}

func commandID(contractID string, seq int64, kind CommandKind) string {
	return "BC/" + url.PathEscape(contractID) + "/" + strconv.FormatInt(seq, 10) + "/" + string(kind)
}

func (b *Bridge) commands(s *State, d contract.Deal, old, cur contract.Terms, docs []schedule.Doc) []BillingCommand {
	base := BillingCommand{
		ContractID:     cur.ContractID,
		Seq:            d.Seq,
		SubscriptionID: s.Subscription.ID,
		CustomerID:     cur.CustomerID,
		Currency:       cur.Currency,
		Frequency:      cur.Frequency,
		Start:          cur.Start,
		End:            cur.End,
	}
	first := base
	switch d.Kind {
	case contract.KindNew:
		first.Kind = ProvisionSubscription
		first.Lines = cur.LinesAt(cur.Start)
	case contract.KindAmend:
		first.Kind = UpdateSubscription
		first.Effective, first.Change = d.Effective, d.Change
		first.Lines = cur.LinesAt(d.Effective)
	case contract.KindRenew:
		first.Kind = UpdateSubscription
		first.Effective = old.End
		first.Lines = cur.LinesAt(old.End)
	case contract.KindCancel:
		first.Kind = CancelSubscription
		first.Effective = d.Effective
		for _, doc := range docs {
			if doc.Seq == d.Seq && doc.Kind == schedule.Credit {
				first.CreditAmount -= doc.Amount
			}
		}
	}
	first.ID = commandID(cur.ContractID, d.Seq, first.Kind)
	sched := base
	sched.Kind = InvoiceSchedule
	sched.ID = commandID(cur.ContractID, d.Seq, InvoiceSchedule)
	sched.Schedule = slices.Clone(docs)
	return []BillingCommand{first, sched}
}

func revenueChanges(t contract.Terms, seq int64, old, cur []revenue.Entry) []RevenueEntry {
	var out []RevenueEntry
	prev := make(map[contract.Month]revenue.Entry, len(old))
	for _, e := range old {
		prev[e.Month] = e
	}
	for _, e := range cur {
		if p, ok := prev[e.Month]; !ok || p != e {
			out = append(out, RevenueEntry{ContractID: t.ContractID, Currency: t.Currency, Seq: seq, Entry: e})
		}
		delete(prev, e.Month)
	}
	for _, e := range old {
		if _, gone := prev[e.Month]; gone {
			out = append(out, RevenueEntry{ContractID: t.ContractID, Currency: t.Currency, Seq: seq, Entry: revenue.Entry{Month: e.Month}})
		}
	}
	slices.SortFunc(out, func(a, b RevenueEntry) int { return int(a.Month - b.Month) })
	return out
}

// journals returns the journals that move the ledger from the old schedule
// and revenue to the new: one per changed document (invoice or credit note
// for the difference) and one per changed month (recognition or reversal).
func (b *Bridge) journals(t contract.Terms, seq int64, oldDocs, docs []schedule.Doc, oldRev, rev []revenue.Entry) []journal.Journal {
	var out []journal.Journal
	prev := make(map[string]schedule.Doc, len(oldDocs))
	for _, d := range oldDocs {
		prev[d.ID] = d
	}
	docJournal := func(d schedule.Doc, delta int64) {
		kind := journal.Invoice
		if delta < 0 {
			kind, delta = journal.CreditNote, -delta
		}
		out = append(out, journal.New(b.accounts, t.ContractID, seq, d.PeriodStart.String(), kind, d.Date, t.Currency, d.ID, delta))
	}
	for _, d := range docs {
		p, ok := prev[d.ID]
		delete(prev, d.ID)
		if delta := d.Amount - p.Amount; delta != 0 || !ok && d.Amount != 0 {
			docJournal(d, delta)
		}
	}
	for _, d := range oldDocs {
		if _, gone := prev[d.ID]; gone && d.Amount != 0 {
			docJournal(d, -d.Amount)
		}
	}
	recognised := make(map[contract.Month]int64, len(oldRev))
	for _, e := range oldRev {
		recognised[e.Month] = e.Recognised
	}
	monthJournal := func(m contract.Month, delta int64) {
		kind := journal.Recognition
		if delta < 0 {
			kind, delta = journal.RecognitionReversal, -delta
		}
		out = append(out, journal.New(b.accounts, t.ContractID, seq, m.String(), kind, m.Last(), t.Currency, "revenue/"+m.String(), delta))
	}
	for _, e := range rev {
		if delta := e.Recognised - recognised[e.Month]; delta != 0 {
			monthJournal(e.Month, delta)
		}
		delete(recognised, e.Month)
	}
	for _, e := range oldRev {
		if v, gone := recognised[e.Month]; gone && v != 0 {
			monthJournal(e.Month, -v)
		}
	}
	slices.SortFunc(out, func(a, b journal.Journal) int {
		if a.Date != b.Date {
			return int(a.Date - b.Date)
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// fingerprint identifies a deal's content (not its OccurredAt), so that a
// re-send is recognised as a duplicate and a changed re-send is not.
func fingerprint(d contract.Deal) string {
	d.OccurredAt = time.Time{}
	d.Currency = contract.DealCurrency(d)
	d.Lines = contract.NormaliseLines(d.Lines)
	b, _ := json.Marshal(d) // a Deal always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
