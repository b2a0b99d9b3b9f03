// Package revenue recognises a contract's value ratably by day, per calendar
// month, with the same cumulative rounding as the invoice schedule (see
// package schedule): within each billing period the amount recognised by a
// day is floor(A × days elapsed / period length), so every month's share is
// an exact integer, the months of a period add up to exactly what the period
// billed, and the rounding remainder lands in the period's last month.
package revenue

import (
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

// Entry is one month of a contract's revenue schedule.
type Entry struct {
	Month contract.Month `json:"month"`
	// Recognised is the revenue earned in the month.
	Recognised int64 `json:"recognised"`
	// Billed is the total of the schedule's documents dated in the month
	// (credits negative).
	Billed int64 `json:"billed"`
	// Deferred is the deferred revenue balance at the end of the month:
	// everything billed so far minus everything recognised so far.
	Deferred int64 `json:"deferred"`
}

// Schedule returns one entry per calendar month of the term of t, and of
// any month a document of docs is dated in. docs must be sorted by date.
func Schedule(t contract.Terms, docs []schedule.Doc) []Entry {
	if t.End <= t.Start && len(docs) == 0 {
		return nil
	}
	first, last := t.Start.Month(), (t.End - 1).Month()
	if t.End <= t.Start {
		first, last = docs[0].Date.Month(), docs[0].Date.Month()
	}
	if len(docs) > 0 {
		first = min(first, docs[0].Date.Month())
		last = max(last, docs[len(docs)-1].Date.Month())
	}
	out := make([]Entry, last-first+1)
	for i := range out {
		out[i].Month = first + contract.Month(i)
	}
	for _, p := range schedule.Periods(t.Start, t.End, t.Frequency) {
		for i, s := range t.Segments {
			to := t.End
			if i+1 < len(t.Segments) {
				to = min(to, t.Segments[i+1].From)
			}
			lo, hi := max(p.Start, s.From), min(p.End, to)
			for lo < hi {
				m := lo.Month()
				cut := min(hi, m.End())
				var v int64
				for _, l := range s.Lines {
					v += schedule.Piece(l.PeriodAmount(), p, lo, cut)
				}
				out[m-first].Recognised += v
				lo = cut
			}
		}
	}
	for _, d := range docs {
		out[d.Date.Month()-first].Billed += d.Amount
	}
	var deferred int64
	for i := range out {
		deferred += out[i].Billed - out[i].Recognised
		out[i].Deferred = deferred
	}
	return out
}
