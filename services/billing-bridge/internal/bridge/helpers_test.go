package bridge

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

func day(s string) contract.Date {
	d, err := contract.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

var t0 = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

// allOpen is a day by which every period of the tests' contracts has
// opened: releasing at it sends every scheduled journal, as the tests of
// the ledger's content want (period timing has its own tests).
var allOpen = day("2040-01-01")

func newDeal(id string, freq contract.Frequency, start, end string, lines ...contract.Line) contract.Deal {
	return contract.Deal{ContractID: id, Seq: 1, Kind: contract.KindNew, CustomerID: "CUST-" + id, Currency: "EUR",
		Frequency: freq, Start: day(start), End: day(end), Lines: lines, OccurredAt: t0}
}

func amendDeal(id string, seq int64, change contract.Change, eff string, lines ...contract.Line) contract.Deal {
	return contract.Deal{ContractID: id, Seq: seq, Kind: contract.KindAmend, Change: change, Effective: day(eff), Lines: lines,
		OccurredAt: t0.Add(time.Duration(seq) * time.Hour)}
}

func seat(q, price int64) contract.Line {
	return contract.Line{SKU: "seat", Quantity: q, UnitPrice: price}
}

func mustApply(t *testing.T, b *Bridge, s *State, d contract.Deal) Outputs {
	t.Helper()
	out, err := b.ApplyDeal(s, d)
	if err != nil {
		t.Fatalf("apply %s seq %d: %v", d.Kind, d.Seq, err)
	}
	out.Journals = append(out.Journals, b.Release(s, allOpen).Journals...)
	// In amendment, then posting-date order, as if sent at once.
	slices.SortStableFunc(out.Journals, func(a, b journal.Journal) int {
		if a.Seq != b.Seq {
			return int(a.Seq - b.Seq)
		}
		if a.Date != b.Date {
			return int(a.Date - b.Date)
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, j := range out.Journals {
		if err := j.Check(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func docTotal(docs []schedule.Doc) int64 {
	var v int64
	for _, d := range docs {
		v += d.Amount
	}
	return v
}

// journalTotals sums the signed journal effect on each account.
func journalTotals(js []journal.Journal) map[string]int64 {
	m := map[string]int64{}
	for _, j := range js {
		for _, l := range j.Lines {
			m[l.Account] += l.Debit - l.Credit
		}
	}
	return m
}

func recognised(s *State) int64 {
	var v int64
	for _, e := range s.Revenue {
		v += e.Recognised
	}
	return v
}

type docSummary struct {
	Kind   schedule.DocKind
	Date   string
	Amount int64
}

func summarize(docs []schedule.Doc) []docSummary {
	var out []docSummary
	for _, d := range docs {
		out = append(out, docSummary{d.Kind, d.Date.String(), d.Amount})
	}
	return out
}

type journalSummary struct {
	Kind   journal.Kind
	Period string
	Amount int64
}

func summarizeJournals(js []journal.Journal) []journalSummary {
	var out []journalSummary
	for _, j := range js {
		out = append(out, journalSummary{j.Kind, j.Period, j.Amount()})
	}
	return out
}
