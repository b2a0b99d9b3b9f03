// Package schedule derives the invoice schedule of a contract: billing
// periods anchored on the start date, invoices billed in advance, and the
// prorated adjustments and credits that amendments, renewals and
// cancellations add.
//
// Proration is by day with one rule everywhere: within a billing period P of
// nominal length L days, a line of period amount A has earned
//
//	Cum(A, P, x) = floor(A × (x − P.Start) / L)
//
// by day x, and the amount for [a, b) is Cum(b) − Cum(a). The cut points
// telescope, so pieces of a period always add up to exactly A and the
// rounding remainder lands in the last piece of the period.
package schedule

import (
	"net/url"
	"slices"
	"strconv"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// Period is one nominal billing period [Start, End), anchored on the contract
// start (End is the nominal end even when the term ends earlier).
type Period struct {
	Start contract.Date
	End   contract.Date
}

// Periods returns the billing periods that intersect [start, end).
func Periods(start, end contract.Date, f contract.Frequency) []Period {
	k, ok := f.Months()
	if !ok || end <= start {
		return nil
	}
	var ps []Period
	for i := 0; ; i++ {
		p := Period{Start: start.AddMonths(i * k), End: start.AddMonths((i + 1) * k)}
		if p.Start >= end {
			return ps
		}
		ps = append(ps, p)
	}
}

// Cum is the part of period amount A earned in p by day x (p.Start ≤ x ≤ p.End).
func Cum(amount int64, p Period, x contract.Date) int64 {
	return amount * int64(x-p.Start) / int64(p.End-p.Start)
}

// Piece is the amount of period amount A for [a, b) within p.
func Piece(amount int64, p Period, a, b contract.Date) int64 {
	return Cum(amount, p, b) - Cum(amount, p, a)
}

// Charges adds sign × the charge of t's lines over [a, b) ∩ p ∩ term to
// into, per SKU.
func Charges(t contract.Terms, p Period, a, b contract.Date, sign int64, into map[string]int64) {
	a, b = max(a, p.Start, t.Start), min(b, p.End, t.End)
	for i, s := range t.Segments {
		to := t.End
		if i+1 < len(t.Segments) {
			to = min(to, t.Segments[i+1].From)
		}
		lo, hi := max(a, s.From), min(b, to)
		if lo >= hi {
			continue
		}
		for _, l := range s.Lines {
			into[l.SKU] += sign * Piece(l.PeriodAmount(), p, lo, hi)
		}
	}
}

// DocKind is the kind of a billing document.
type DocKind string

// Document kinds.
const (
	// Invoice bills a period in advance, dated the period start.
	Invoice DocKind = "INVOICE"
	// Adjustment invoices the prorated increase for the rest of a period.
	Adjustment DocKind = "ADJUSTMENT"
	// Credit credits the prorated decrease (or cancellation) for the rest of
	// a period.
	Credit DocKind = "CREDIT"
)

// DocLine is one SKU's amount on a document.
type DocLine struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Amount    int64  `json:"amount"`
}

// Doc is one entry of the invoice schedule.
type Doc struct {
	ID   string  `json:"id"`
	Kind DocKind `json:"kind"`
	// Seq is the amendment sequence that created or last revised the document.
	Seq int64 `json:"seq"`
	// Date is the invoice date (billed in advance).
	Date contract.Date `json:"date"`
	// PeriodStart names the billing period the document belongs to.
	PeriodStart contract.Date `json:"period_start"`
	// ServiceFrom and ServiceTo are the service days [from, to) it bills.
	ServiceFrom contract.Date `json:"service_from"`
	ServiceTo   contract.Date `json:"service_to"`
	// Amount is the total in minor units: positive for Invoice and
	// Adjustment, negative for Credit.
	Amount int64     `json:"amount"`
	Lines  []DocLine `json:"lines"`
	// Issued is set when the billing system acknowledges the invoice; an
	// issued document is never changed again, only adjusted or credited.
	Issued        bool   `json:"issued,omitempty"`
	InvoiceNumber string `json:"invoice_number,omitempty"`
}

// DocID is the deterministic id of a document.
func DocID(contractID string, periodStart contract.Date, kind DocKind, seq int64) string {
	id := url.PathEscape(contractID) + "/" + periodStart.String() + "/"
	if kind == Invoice {
		return id + "INV"
	}
	return id + "ADJ-" + strconv.FormatInt(seq, 10)
}

// Reconcile returns the schedule after the contract changed from old to cur
// by the event with sequence seq, effective from day e. old is the zero Terms
// for a NEW contract (then e is the start). docs is not modified.
//
// For each billing period from e on:
//   - a period whose only document is an unissued invoice (or that has none)
//     and that starts on or after e is (re)planned from cur: its invoice is
//     replaced, created, or removed when the period is no longer in the term;
//   - otherwise the period was billed already: an Adjustment (or a Credit,
//     when negative) dated max(e, period start) bills cur − old for the rest
//     of the period, per SKU.
func Reconcile(old, cur contract.Terms, docs []Doc, e contract.Date, seq int64) []Doc {
	end := max(old.End, cur.End)
	byPeriod := make(map[contract.Date][]int, len(docs))
	for i, d := range docs {
		byPeriod[d.PeriodStart] = append(byPeriod[d.PeriodStart], i)
	}
	out := make([]Doc, 0, len(docs)+2)
	keep := make([]bool, len(docs))
	for i := range keep {
		keep[i] = true
	}
	amounts := make(map[string]int64, 8)
	for _, p := range Periods(cur.Start, end, cur.Frequency) {
		if p.End <= e {
			continue
		}
		idx := byPeriod[p.Start]
		replan := p.Start >= e && (len(idx) == 0 ||
			(len(idx) == 1 && docs[idx[0]].Kind == Invoice && !docs[idx[0]].Issued))
		clear(amounts)
		if replan {
			var prev *Doc
			if len(idx) == 1 {
				prev = &docs[idx[0]]
				keep[idx[0]] = false
			}
			if p.Start >= cur.End {
				continue // out of the term: the invoice is removed
			}
			Charges(cur, p, p.Start, p.End, 1, amounts)
			d := newDoc(cur, old, p, Invoice, p.Start, min(p.End, cur.End), amounts, seq)
			if prev != nil && prev.Amount == d.Amount && slices.Equal(prev.Lines, d.Lines) &&
				prev.ServiceTo == d.ServiceTo {
				d = *prev
			}
			out = append(out, d)
			continue
		}
		a := max(e, p.Start)
		Charges(cur, p, a, p.End, 1, amounts)
		Charges(old, p, a, p.End, -1, amounts)
		nonzero := false
		for _, v := range amounts {
			nonzero = nonzero || v != 0
		}
		if !nonzero {
			continue
		}
		d := newDoc(cur, old, p, Adjustment, a, min(p.End, end), amounts, seq)
		if d.Amount < 0 {
			d.Kind = Credit
		}
		out = append(out, d)
	}
	for i, d := range docs {
		if keep[i] {
			out = append(out, d)
		}
	}
	SortDocs(out)
	return out
}

// SortDocs orders documents by date, then sequence, then id.
func SortDocs(docs []Doc) {
	slices.SortFunc(docs, func(a, b Doc) int {
		if a.Date != b.Date {
			return int(a.Date - b.Date)
		}
		if a.Seq != b.Seq {
			return int(a.Seq - b.Seq)
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

func newDoc(cur, old contract.Terms, p Period, kind DocKind, from, to contract.Date, amounts map[string]int64, seq int64) Doc {
	d := Doc{
		ID:          DocID(cur.ContractID, p.Start, kind, seq),
		Kind:        kind,
		Seq:         seq,
		Date:        from,
		PeriodStart: p.Start,
		ServiceFrom: from,
		ServiceTo:   to,
	}
	skus := make([]string, 0, len(amounts))
	for sku, v := range amounts {
		if v != 0 || kind == Invoice {
			skus = append(skus, sku)
		}
	}
	slices.Sort(skus)
	d.Lines = make([]DocLine, 0, len(skus))
	for _, sku := range skus {
		l := findLine(cur.LinesAt(from), sku)
		if l == nil {
			l = findLine(old.LinesAt(from), sku)
		}
		dl := DocLine{SKU: sku, Amount: amounts[sku]}
		if l != nil {
			dl.Quantity, dl.UnitPrice = l.Quantity, l.UnitPrice
		}
		d.Lines = append(d.Lines, dl)
		d.Amount += dl.Amount
	}
	return d
}

func findLine(lines []contract.Line, sku string) *contract.Line {
	for i := range lines {
		if lines[i].SKU == sku {
			return &lines[i]
		}
	}
	return nil
}
