package contract

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/errs"
)

func date(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDateArithmetic(t *testing.T) {
	tests := []struct {
		from   string
		months int
		want   string
	}{
		{"2025-01-31", 1, "2025-02-28"},
		{"2025-01-31", 2, "2025-03-31"},
		{"2024-01-31", 1, "2024-02-29"},
		{"2025-11-15", 3, "2026-02-15"},
		{"2025-03-31", -1, "2025-02-28"},
		{"2025-01-01", 12, "2026-01-01"},
	}
	for _, tt := range tests {
		if got := date(t, tt.from).AddMonths(tt.months).String(); got != tt.want {
			t.Errorf("%s + %d months = %s, want %s", tt.from, tt.months, got, tt.want)
		}
	}
	m := date(t, "2024-02-10").Month()
	if m.String() != "2024-02" || m.First().String() != "2024-02-01" || m.Last().String() != "2024-02-29" || m.End().String() != "2024-03-01" {
		t.Errorf("month %s: first %s last %s end %s", m, m.First(), m.Last(), m.End())
	}
	b, _ := date(t, "2025-07-04").MarshalText()
	var back Date
	if err := back.UnmarshalText(b); err != nil || back != date(t, "2025-07-04") {
		t.Errorf("round trip %s: %v %v", b, back, err)
	}
}

func validNew(t *testing.T) Deal {
	return Deal{
		ContractID: "C-1", Seq: 1, Kind: KindNew, CustomerID: "CUST-1", Currency: "EUR",
		Frequency: Monthly, Start: date(t, "2025-01-01"), End: date(t, "2026-01-01"),
		Lines:      []Line{{SKU: "seat", Quantity: 10, UnitPrice: 1000}},
		OccurredAt: time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC),
	}
}

// TestValidateBadDeals pins the outcome of every bad deal: its sentinel, its
// class and its reason (docs/billing-bridge.md lists the same table).
func TestValidateBadDeals(t *testing.T) {
	type outcome struct {
		Class  errs.Class
		Reason string
	}
	tests := []struct {
		name   string
		mutate func(*Deal)
		want   error
	}{
		{"end before start", func(d *Deal) { d.End = date(t, "2024-12-31") }, ErrEndBeforeStart},
		{"zero-length term", func(d *Deal) { d.End = d.Start }, ErrZeroLengthTerm},
		{"term over 100 years", func(d *Deal) { d.End = d.Start.AddMonths(1201) }, ErrTermTooLong},
		{"unknown frequency", func(d *Deal) { d.Frequency = "WEEKLY" }, ErrUnknownFrequency},
		{"missing frequency", func(d *Deal) { d.Frequency = "" }, ErrUnknownFrequency},
		{"mixed currencies", func(d *Deal) {
			d.Lines = append(d.Lines, Line{SKU: "support", Quantity: 1, UnitPrice: 500, Currency: "USD"})
		}, ErrMixedCurrencies},
		{"bad currency", func(d *Deal) { d.Currency = "euro" }, ErrBadCurrency},
		{"missing currency", func(d *Deal) { d.Currency = "" }, ErrBadCurrency},
		{"negative price", func(d *Deal) { d.Lines[0].UnitPrice = -1 }, ErrNegativePrice},
		{"negative quantity", func(d *Deal) { d.Lines[0].Quantity = -3 }, ErrNegativeQuantity},
		{"missing lines", func(d *Deal) { d.Lines = nil }, ErrMissingLines},
		{"line without sku", func(d *Deal) { d.Lines[0].SKU = "" }, ErrMissingSKU},
		{"duplicate sku", func(d *Deal) { d.Lines = append(d.Lines, d.Lines[0]) }, ErrDuplicateSKU},
		{"amount overflow", func(d *Deal) { d.Lines[0].Quantity, d.Lines[0].UnitPrice = 1<<40, 1<<40 }, ErrAmountTooLarge},
		{"period amount too large", func(d *Deal) { d.Lines[0].Quantity, d.Lines[0].UnitPrice = 1, MaxPeriodAmount+1 }, ErrAmountTooLarge},
		{"missing contract id", func(d *Deal) { d.ContractID = "" }, ErrMissingContractID},
		{"missing customer", func(d *Deal) { d.CustomerID = "" }, ErrMissingCustomer},
		{"missing start", func(d *Deal) { d.Start = 0 }, ErrMissingDate},
		{"NEW not seq 1", func(d *Deal) { d.Seq = 2 }, ErrBadSequence},
		{"seq 0", func(d *Deal) { d.Seq = 0 }, ErrBadSequence},
		{"unknown kind", func(d *Deal) { d.Kind = "UPGRADE" }, ErrUnknownKind},
		{"AMEND as seq 1", func(d *Deal) { d.Kind, d.Change, d.Effective = KindAmend, ChangeUpsell, d.Start }, ErrBadSequence},
		{"AMEND unknown change", func(d *Deal) { d.Seq, d.Kind, d.Change, d.Effective = 2, KindAmend, "SIDEGRADE", d.Start }, ErrUnknownChange},
		{"AMEND without effective date", func(d *Deal) { d.Seq, d.Kind, d.Change = 2, KindAmend, ChangeUpsell }, ErrMissingDate},
		{"AMEND without lines", func(d *Deal) {
			d.Seq, d.Kind, d.Change, d.Effective, d.Lines = 2, KindAmend, ChangeUpsell, d.Start, nil
		}, ErrMissingLines},
		{"RENEW without end", func(d *Deal) { d.Seq, d.Kind, d.End = 2, KindRenew, 0 }, ErrMissingDate},
		{"CANCEL without effective date", func(d *Deal) { d.Seq, d.Kind = 2, KindCancel }, ErrMissingDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validNew(t)
			d.Lines = append([]Line(nil), d.Lines...)
			tt.mutate(&d)
			err := Validate(d)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			got := outcome{errs.ClassOf(err), errs.ReasonOf(err)}
			if diff := cmp.Diff(outcome{errs.ClassPoison, string(Reason(tt.want))}, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
	if err := Validate(validNew(t)); err != nil {
		t.Fatalf("valid deal: %v", err)
	}
}

// TestApplyBusinessRules pins the Business outcomes: well-formed deals that
// contradict the contract.
func TestApplyBusinessRules(t *testing.T) {
	base := FromNew(validNew(t))
	amend := func(eff string, lines ...Line) Deal {
		return Deal{ContractID: "C-1", Seq: 2, Kind: KindAmend, Change: ChangeUpsell, Effective: date(t, eff), Lines: lines}
	}
	canceled, err := base.Apply(Deal{ContractID: "C-1", Seq: 2, Kind: KindCancel, Effective: date(t, "2025-06-01")})
	if err != nil {
		t.Fatal(err)
	}
	amended, err := base.Apply(amend("2025-05-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		terms Terms
		deal  Deal
		want  error
	}{
		{"currency changed", base, func() Deal {
			d := amend("2025-03-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000})
			d.Currency = "USD"
			return d
		}(), ErrCurrencyChanged},
		{"line currency changed", base, amend("2025-03-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000, Currency: "USD"}), ErrCurrencyChanged},
		{"frequency changed", base, func() Deal {
			d := amend("2025-03-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000})
			d.Frequency = Annual
			return d
		}(), ErrFrequencyChanged},
		{"effective before start", base, amend("2024-12-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000}), ErrEffectiveOutsideTerm},
		{"effective at end", base, amend("2026-01-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000}), ErrEffectiveOutsideTerm},
		{"effective before last change", amended, func() Deal {
			d := amend("2025-04-01", Line{SKU: "seat", Quantity: 14, UnitPrice: 1000})
			d.Seq = 3
			return d
		}(), ErrEffectiveBeforeLastChange},
		{"upsell that lowers value", base, amend("2025-03-01", Line{SKU: "seat", Quantity: 9, UnitPrice: 1000}), ErrChangeMismatch},
		{"downsell that raises value", base, func() Deal {
			d := amend("2025-03-01", Line{SKU: "seat", Quantity: 11, UnitPrice: 1000})
			d.Change = ChangeDownsell
			return d
		}(), ErrChangeMismatch},
		{"price change that changes quantity", base, func() Deal {
			d := amend("2025-03-01", Line{SKU: "seat", Quantity: 11, UnitPrice: 900})
			d.Change = ChangePriceChange
			return d
		}(), ErrChangeMismatch},
		{"amend after cancel", canceled, func() Deal {
			d := amend("2025-03-01", Line{SKU: "seat", Quantity: 12, UnitPrice: 1000})
			d.Seq = 3
			return d
		}(), ErrContractCanceled},
		{"renewal not extending", base, Deal{ContractID: "C-1", Seq: 2, Kind: KindRenew, End: date(t, "2025-12-01")}, ErrRenewalNotExtending},
		{"cancel after end", base, Deal{ContractID: "C-1", Seq: 2, Kind: KindCancel, Effective: date(t, "2026-02-01")}, ErrEffectiveOutsideTerm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.deal); err != nil {
				t.Fatalf("deal must be well formed: %v", err)
			}
			got, err := tt.terms.Apply(tt.deal)
			if !errors.Is(err, tt.want) || errs.ClassOf(err) != errs.ClassBusiness || errs.ReasonOf(err) != string(Reason(tt.want)) {
				t.Fatalf("Apply = %v (%s/%s), want %v (business)", err, errs.ClassOf(err), errs.ReasonOf(err), tt.want)
			}
			if diff := cmp.Diff(tt.terms, got); diff != "" {
				t.Errorf("terms changed on error (-before +after):\n%s", diff)
			}
		})
	}
}

// TestCivilMatchesTime checks the fast calendar arithmetic against package
// time over four centuries.
func TestCivilMatchesTime(t *testing.T) {
	for d := NewDate(1900, 1, 1); d < NewDate(2300, 1, 1); d++ {
		tm := d.Time()
		if got, want := d.String(), tm.Format(time.DateOnly); got != want {
			t.Fatalf("%d: String %s, want %s", d, got, want)
		}
		if got := NewDate(tm.Year(), tm.Month(), tm.Day()); got != d {
			t.Fatalf("NewDate(%s) = %d, want %d", tm.Format(time.DateOnly), got, d)
		}
		if got, err := ParseDate(d.String()); err != nil || got != d {
			t.Fatalf("ParseDate(%s) = %d, %v", d, got, err)
		}
		if got, want := d.AddMonths(13), DateOf(tm.AddDate(0, 13, 0)); tm.Day() <= 28 && got != want {
			t.Fatalf("%s + 13 months = %s, want %s", d, got, want)
		}
	}
	for _, bad := range []string{"2025-02-30", "2025-13-01", "2025-00-10", "25-01-01", "2025/01/01"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}
