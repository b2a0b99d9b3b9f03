package schedule

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

func d(s string) contract.Date {
	v, err := contract.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestPeriodsAnchoredOnStart(t *testing.T) {
	got := Periods(d("2025-01-31"), d("2025-05-15"), contract.Monthly)
	want := []Period{
		{d("2025-01-31"), d("2025-02-28")}, {d("2025-02-28"), d("2025-03-31")},
		{d("2025-03-31"), d("2025-04-30")}, {d("2025-04-30"), d("2025-05-31")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("periods (-want +got):\n%s", diff)
	}
	if got := Periods(d("2025-01-01"), d("2025-01-01"), contract.Annual); got != nil {
		t.Errorf("empty term: %v", got)
	}
	if got := Periods(d("2025-01-01"), d("2026-01-01"), "WEEKLY"); got != nil {
		t.Errorf("unknown frequency: %v", got)
	}
}

// TestPiecesTelescope: however a period is cut, the pieces add up to the
// period amount exactly and each piece is within one unit of the exact share.
func TestPiecesTelescope(t *testing.T) {
	p := Period{d("2024-02-01"), d("2024-03-01")} // 29 days
	for _, amount := range []int64{0, 1, 7, 28, 29, 30, 99_999, 1_000_000_000_000_000} {
		for step := 1; step <= 29; step++ {
			var sum int64
			for a := p.Start; a < p.End; a += contract.Date(step) {
				b := min(a+contract.Date(step), p.End)
				piece := Piece(amount, p, a, b)
				exact := float64(amount) * float64(b-a) / 29
				if float64(piece) < exact-1 || float64(piece) > exact+1 {
					t.Fatalf("amount %d [%s,%s): %d, exact %.2f", amount, a, b, piece, exact)
				}
				sum += piece
			}
			if sum != amount {
				t.Fatalf("amount %d in steps of %d: pieces sum to %d", amount, step, sum)
			}
		}
	}
}

func TestReconcileNewAndReplan(t *testing.T) {
	nw := contract.Deal{ContractID: "C/1", Seq: 1, Kind: contract.KindNew, CustomerID: "X", Currency: "EUR",
		Frequency: contract.Quarterly, Start: d("2025-01-01"), End: d("2025-07-01"),
		Lines: []contract.Line{{SKU: "a", Quantity: 2, UnitPrice: 450}, {SKU: "b", Quantity: 1, UnitPrice: 100}}}
	cur := contract.FromNew(nw)
	empty := contract.Terms{ContractID: cur.ContractID, Start: cur.Start, End: cur.Start, Frequency: cur.Frequency}
	docs := Reconcile(empty, cur, nil, cur.Start, 1)
	want := []Doc{
		{ID: "C%2F1/2025-01-01/INV", Kind: Invoice, Seq: 1, Date: d("2025-01-01"), PeriodStart: d("2025-01-01"),
			ServiceFrom: d("2025-01-01"), ServiceTo: d("2025-04-01"), Amount: 1000,
			Lines: []DocLine{{"a", 2, 450, 900}, {"b", 1, 100, 100}}},
		{ID: "C%2F1/2025-04-01/INV", Kind: Invoice, Seq: 1, Date: d("2025-04-01"), PeriodStart: d("2025-04-01"),
			ServiceFrom: d("2025-04-01"), ServiceTo: d("2025-07-01"), Amount: 1000,
			Lines: []DocLine{{"a", 2, 450, 900}, {"b", 1, 100, 100}}},
	}
	if diff := cmp.Diff(want, docs); diff != "" {
		t.Fatalf("NEW schedule (-want +got):\n%s", diff)
	}
	// Dropping SKU b from the second quarter on re-plans that invoice only.
	next, err := cur.Apply(contract.Deal{ContractID: "C/1", Seq: 2, Kind: contract.KindAmend, Change: contract.ChangeDownsell,
		Effective: d("2025-04-01"), Lines: []contract.Line{{SKU: "a", Quantity: 2, UnitPrice: 450}}})
	if err != nil {
		t.Fatal(err)
	}
	after := Reconcile(cur, next, docs, d("2025-04-01"), 2)
	if diff := cmp.Diff(docs[0], after[0]); diff != "" {
		t.Errorf("first quarter changed (-want +got):\n%s", diff)
	}
	if got := after[1]; got.Seq != 2 || got.Amount != 900 || len(got.Lines) != 1 || len(after) != 2 {
		t.Errorf("re-planned second quarter %+v (of %d docs)", got, len(after))
	}
}
