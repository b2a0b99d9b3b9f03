package pricing

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

var (
	day  = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	asOf = time.Date(2025, 5, 31, 12, 0, 0, 0, time.UTC)
)

func std(sku, cur string, list int64, taxBps int32, tiers ...Tier) *Entry {
	return &Entry{PriceBookID: "NA-2025", Version: 7, SKU: sku, Region: "NA", Currency: cur, ListPrice: list, Tiers: tiers, TaxRateBps: taxBps, Active: true, AsOf: asOf}
}

func cust(sku, cur, id string, bps int32) *Entry {
	return &Entry{PriceBookID: "NA-2025", Version: 9, SKU: sku, Region: "NA", Currency: cur, CustomerID: id, DiscountBps: bps, Active: true, AsOf: asOf.Add(time.Hour)}
}

func TestPrice(t *testing.T) {
	widget := std("W", "USD", 1000, 825, Tier{10, 900}, Tier{100, 800})
	tests := []struct {
		name    string
		req     Request
		want    []PricedLine
		sub     int64
		tax     int64
		version int64
		wantErr error
	}{
		{
			name: "list price below first tier",
			req:  Request{Currency: "USD", Lines: []Line{{"W", 9}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 9, PriceBookID: "NA-2025", ListPrice: 1000, NetUnitPrice: 1000, LineTotal: 9000, TaxRateBps: 825, Tax: 742}}, // 742.5 -> even 742
			sub:  9000, tax: 742, version: 7,
		},
		{
			name: "first tier at its boundary",
			req:  Request{Currency: "USD", Lines: []Line{{"W", 10}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 10, PriceBookID: "NA-2025", ListPrice: 1000, Tier: &Tier{10, 900}, NetUnitPrice: 900, LineTotal: 9000, TaxRateBps: 825, Tax: 742}},
			sub:  9000, tax: 742, version: 7,
		},
		{
			name: "highest matching tier",
			req:  Request{Currency: "USD", Lines: []Line{{"W", 250}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 250, PriceBookID: "NA-2025", ListPrice: 1000, Tier: &Tier{100, 800}, NetUnitPrice: 800, LineTotal: 200000, TaxRateBps: 825, Tax: 16500}},
			sub:  200000, tax: 16500, version: 7,
		},
		{
			name: "customer discount after tier, half-even rounding",
			// 900 * (1 - 0.1250) = 787.5 -> 788 (787 is odd, round to even 788)
			req:  Request{CustomerID: "C1", Currency: "USD", Lines: []Line{{"W", 10}}, Entries: map[string]Entries{"W": {Standard: widget, Customer: cust("W", "USD", "C1", 1250)}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 10, PriceBookID: "NA-2025", ListPrice: 1000, Tier: &Tier{10, 900}, DiscountBps: 1250, NetUnitPrice: 788, LineTotal: 7880, TaxRateBps: 825, Tax: 650}}, // 650.1 -> 650
			sub:  7880, tax: 650, version: 9,
		},
		{
			name: "half-even rounds down to even",
			// 1000 * (1 - 0.0005) = 999.5 -> 1000 ; 1010*(1-0.0005)=1009.495 -> 1009
			req:  Request{CustomerID: "C1", Currency: "USD", Lines: []Line{{"X", 1}, {"Y", 1}}, Entries: map[string]Entries{"X": {Standard: std("X", "USD", 1000, 0), Customer: cust("X", "USD", "C1", 5)}, "Y": {Standard: std("Y", "USD", 1010, 0), Customer: cust("Y", "USD", "C1", 5)}}},
			want: []PricedLine{{Line: 1, SKU: "X", Quantity: 1, PriceBookID: "NA-2025", ListPrice: 1000, DiscountBps: 5, NetUnitPrice: 1000, LineTotal: 1000}, {Line: 2, SKU: "Y", Quantity: 1, PriceBookID: "NA-2025", ListPrice: 1010, DiscountBps: 5, NetUnitPrice: 1009, LineTotal: 1009}},
			sub:  2009, version: 9,
		},
		{
			name: "another customer's discount is ignored",
			req:  Request{CustomerID: "C2", Currency: "USD", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: widget, Customer: cust("W", "USD", "C1", 1250)}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 1, PriceBookID: "NA-2025", ListPrice: 1000, NetUnitPrice: 1000, LineTotal: 1000, TaxRateBps: 825, Tax: 82}}, // 82.5 -> 82
			sub:  1000, tax: 82, version: 7,
		},
		{
			name: "tax exempt customer",
			req:  Request{Currency: "USD", TaxExempt: true, Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			want: []PricedLine{{Line: 1, SKU: "W", Quantity: 1, PriceBookID: "NA-2025", ListPrice: 1000, NetUnitPrice: 1000, LineTotal: 1000}},
			sub:  1000, version: 7,
		},
		{
			name: "JPY has no minor unit",
			req:  Request{Currency: "JPY", Lines: []Line{{"J", 3}}, Entries: map[string]Entries{"J": {Standard: std("J", "JPY", 1999, 1000), Customer: nil}}},
			want: []PricedLine{{Line: 1, SKU: "J", Quantity: 3, PriceBookID: "NA-2025", ListPrice: 1999, NetUnitPrice: 1999, LineTotal: 5997, TaxRateBps: 1000, Tax: 600}}, // 599.7 -> 600
			sub:  5997, tax: 600, version: 7,
		},
		{
			name: "BHD has three decimals",
			req:  Request{Currency: "BHD", CustomerID: "C1", Lines: []Line{{"B", 2}}, Entries: map[string]Entries{"B": {Standard: std("B", "BHD", 12345, 1000), Customer: cust("B", "BHD", "C1", 333)}}},
			// 12345 * 0.9667 = 11933.9115 -> 11934 fils
			want: []PricedLine{{Line: 1, SKU: "B", Quantity: 2, PriceBookID: "NA-2025", ListPrice: 12345, DiscountBps: 333, NetUnitPrice: 11934, LineTotal: 23868, TaxRateBps: 1000, Tax: 2387}}, // 2386.8 -> 2387
			sub:  23868, tax: 2387, version: 9,
		},
		{
			name:    "currency mismatch",
			req:     Request{Currency: "EUR", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			wantErr: money.ErrCurrencyMismatch,
		},
		{
			name:    "customer entry in another currency",
			req:     Request{CustomerID: "C1", Currency: "USD", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: widget, Customer: cust("W", "EUR", "C1", 100)}}},
			wantErr: money.ErrCurrencyMismatch,
		},
		{
			name:    "unknown currency",
			req:     Request{Currency: "ABC", Lines: []Line{{"W", 1}}},
			wantErr: money.ErrUnknownCurrency,
		},
		{
			name:    "unknown sku",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 1}, {"NOPE", 1}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			wantErr: ErrNoPrice,
		},
		{
			name:    "inactive entry",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: &Entry{Currency: "USD", Active: false}}}},
			wantErr: ErrNoPrice,
		},
		{
			name:    "entry not yet valid",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: &Entry{Currency: "USD", Active: true, ValidFrom: day.AddDate(0, 0, 1)}}}},
			wantErr: ErrNoPrice,
		},
		{
			name:    "entry expired",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 1}}, Entries: map[string]Entries{"W": {Standard: &Entry{Currency: "USD", Active: true, ValidTo: day.AddDate(0, 0, -1)}}}},
			wantErr: ErrNoPrice,
		},
		{
			name:    "zero quantity",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 0}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			wantErr: ErrInvalidQuantity,
		},
		{
			name:    "line total overflow",
			req:     Request{Currency: "USD", Lines: []Line{{"W", 1 << 60}}, Entries: map[string]Entries{"W": {Standard: widget}}},
			wantErr: money.ErrOverflow,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Region, tt.req.Day = "NA", day
			q, err := Price(tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if d := cmp.Diff(tt.want, q.Lines); d != "" {
				t.Errorf("lines (-want +got):\n%s", d)
			}
			if q.Subtotal != tt.sub || q.TaxTotal != tt.tax || q.GrandTotal != tt.sub+tt.tax || q.PriceBookVersion != tt.version {
				t.Errorf("totals = %d + %d = %d, version %d; want %d + %d, version %d", q.Subtotal, q.TaxTotal, q.GrandTotal, q.PriceBookVersion, tt.sub, tt.tax, tt.version)
			}
		})
	}
}

func TestPriceLineErrorNamesTheLine(t *testing.T) {
	_, err := Price(Request{Currency: "USD", Region: "NA", Day: day, Lines: []Line{{"W", 1}, {"Q", 1}}, Entries: map[string]Entries{"W": {Standard: std("W", "USD", 1, 0)}}})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || le.Field != "sku" {
		t.Fatalf("err = %#v, want line 2 sku", err)
	}
}

func TestValidate(t *testing.T) {
	r := Request{CustomerID: "C1", Currency: "USD", Region: "NA", Day: day, Entries: map[string]Entries{
		"W": {Standard: std("W", "USD", 1000, 0, Tier{10, 900}), Customer: cust("W", "USD", "C1", 1000)},
	}}
	quoted := []Quoted{
		{"W", 10, money.Amount{Currency: "USD", Minor: 810}}, // exact: 900 * 0.9
		{"W", 1, money.Amount{Currency: "USD", Minor: 899}},  // computed 900, off by 1 (within 1)
		{"W", 1, money.Amount{Currency: "USD", Minor: 850}},  // off by 50
	}
	vs, _, err := Validate(r, quoted, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Violation{{Line: 3, SKU: "W", Quoted: 850, Computed: 900, Difference: -50}}
	if d := cmp.Diff(want, vs); d != "" {
		t.Errorf("violations (-want +got):\n%s", d)
	}
	vs, _, _ = Validate(r, quoted, 0)
	if len(vs) != 2 {
		t.Errorf("tolerance 0: %d violations, want 2", len(vs))
	}
	if _, _, err := Validate(r, []Quoted{{"W", 1, money.Amount{Currency: "EUR", Minor: 900}}}, 0); !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Errorf("quoted currency mismatch: %v", err)
	}
	if _, _, err := Validate(r, quoted, -1); err == nil {
		t.Error("negative tolerance accepted")
	}
}
