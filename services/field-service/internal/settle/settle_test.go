package settle

import (
	"errors"
	"testing"
)

func TestSettlementByCoverage(t *testing.T) {
	a := DefaultAccounts
	w := Work{ServiceOrderID: "CASE-1", Currency: "USD", Parts: 26400, Labour: 14250}
	total := w.Total()
	charge := ChargeAmount(w, 2500)
	if charge != 50813 { // 40,650 + 25 % = 50,812.5 → half up
		t.Fatalf("charge = %d, want 50813", charge)
	}
	cost := func(centre string) Journal {
		j, err := CostJournal(a, w, centre)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	chargeJ, err := ChargeJournal(a, w, charge)
	if err != nil {
		t.Fatal(err)
	}
	recovery, err := RecoveryJournal(a, w, total)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		journals []Journal
		want     map[string]int64 // net debit per account
	}{
		{"billable: cost, then the customer charged with the markup", []Journal{cost(CentreBillable), chargeJ},
			map[string]int64{a.CostOfService: total, a.PartsInventory: -w.Parts, a.AccruedLabour: -w.Labour, a.Receivable: charge, a.ServiceRevenue: -charge, a.WarrantyReceivable: 0}},
		{"warranty accepted: the manufacturer refunds the whole cost", []Journal{cost(CentreWarranty), recovery},
			map[string]int64{a.CostOfService: 0, a.WarrantyReceivable: total, a.PartsInventory: -w.Parts, a.AccruedLabour: -w.Labour, a.Receivable: 0, a.ServiceRevenue: 0}},
		{"service contract: the cost stays with the contract", []Journal{cost("SUB-42")},
			map[string]int64{a.CostOfService: total, a.PartsInventory: -w.Parts, a.AccruedLabour: -w.Labour, a.Receivable: 0, a.WarrantyReceivable: 0}},
		{"warranty rejected and absorbed: goodwill", []Journal{cost(CentreGoodwill)},
			map[string]int64{a.CostOfService: total, a.WarrantyReceivable: 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var all int64
			for _, j := range tt.journals {
				if err := j.Check(); err != nil {
					t.Fatal(err)
				}
				for _, l := range j.Lines {
					all += l.Debit - l.Credit
				}
			}
			if all != 0 {
				t.Fatalf("journals do not balance: %d", all)
			}
			for acct, want := range tt.want {
				if got := Effect(acct, tt.journals...); got != want {
					t.Errorf("%s: net debit %d, want %d", acct, got, want)
				}
			}
		})
	}
	if j := cost("SUB-42"); j.Lines[0].CostCentre != "SUB-42" {
		t.Errorf("contract cost centre = %q", j.Lines[0].CostCentre)
	}
}

func TestCostJournalShapes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		w     Work
		lines int
		err   error
	}{
		{"parts and labour", Work{"SO", "USD", 100, 50}, 3, nil},
		{"labour only (inspection)", Work{"SO", "USD", 0, 50}, 2, nil},
		{"parts only", Work{"SO", "EUR", 100, 0}, 2, nil},
		{"nothing", Work{"SO", "USD", 0, 0}, 0, ErrNoCost},
	} {
		j, err := CostJournal(DefaultAccounts, tt.w, CentreBillable)
		if !errors.Is(err, tt.err) || err == nil && len(j.Lines) != tt.lines {
			t.Errorf("%s: %d lines, %v; want %d, %v", tt.name, len(j.Lines), err, tt.lines, tt.err)
		}
	}
	for _, bad := range []Work{{"", "USD", 1, 1}, {"SO", "US", 1, 1}, {"SO", "USD", -1, 5}} {
		if _, err := CostJournal(DefaultAccounts, bad, CentreBillable); err == nil || errors.Is(err, ErrNoCost) {
			t.Errorf("%+v: err %v, want a validation error", bad, err)
		}
	}
	if _, err := ChargeJournal(DefaultAccounts, Work{ServiceOrderID: "SO", Currency: "USD"}, 0); !errors.Is(err, ErrNoCost) {
		t.Errorf("zero charge: %v", err)
	}
}

func TestIDs(t *testing.T) {
	for _, tt := range []struct {
		so      string
		kind    Kind
		attempt int
		want    string
	}{
		{"CASE-1", Cost, 0, "FS/CASE-1/SERVICE_COST"},
		{"CASE-1", Charge, 2, "FS/CASE-1/SERVICE_CHARGE/r2"},
		{"A/B", Recovery, 0, "FS/A%2FB/WARRANTY_RECOVERY"},
	} {
		if got := ID(tt.so, tt.kind, tt.attempt); got != tt.want {
			t.Errorf("ID(%q,%s,%d) = %q, want %q", tt.so, tt.kind, tt.attempt, got, tt.want)
		}
	}
	j, _ := CostJournal(DefaultAccounts, Work{"CASE-1", "USD", 1, 1}, CentreBillable)
	r := Repost(j, "CASE-1", 1)
	r.Lines[0].Debit = 99
	if j.Lines[0].Debit == 99 || r.ID != "FS/CASE-1/SERVICE_COST/r1" {
		t.Errorf("repost shares lines or has id %q", r.ID)
	}
}

func TestCreditJournal(t *testing.T) {
	a := DefaultAccounts
	for _, tt := range []struct {
		name                 string
		goods, subscriptions int64
		want                 map[string]int64 // net debit per account
		err                  error
	}{
		{"goods: sales returns against receivables", 25503, 0, map[string]int64{a.SalesReturns: 25503, a.DeferredRevenue: 0, a.Receivable: -25503}, nil},
		{"subscription: deferred revenue taken back", 0, 10200, map[string]int64{a.SalesReturns: 0, a.DeferredRevenue: 10200, a.Receivable: -10200}, nil},
		{"both on one memo", 1000, 10200, map[string]int64{a.SalesReturns: 1000, a.DeferredRevenue: 10200, a.Receivable: -11200}, nil},
		{"nothing to credit", 0, 0, nil, ErrNoCost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j, err := CreditJournal(a, "CASE-9", "EUR", tt.goods, tt.subscriptions)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if j.ID != "FS/CASE-9/CREDIT" || j.Kind != Credit || j.Check() != nil {
				t.Errorf("journal %s kind %s: %v", j.ID, j.Kind, j.Check())
			}
			for acct, want := range tt.want {
				if got := Effect(acct, j); got != want {
					t.Errorf("%s: net debit %d, want %d", acct, got, want)
				}
			}
		})
	}
	if _, err := CreditJournal(a, "CASE-9", "EUR", -1, 5); err == nil {
		t.Error("a negative credit must be refused")
	}
	if _, err := CreditJournal(a, "", "EUR", 1, 0); err == nil {
		t.Error("a credit without a return id must be refused")
	}
}
