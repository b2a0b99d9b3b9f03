package returns

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

var (
	day    = time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC)
	policy = Policy{WindowDays: 30, RestockingFeeBps: 1500}
)

func daysAgo(n int) time.Time { return day.Add(-time.Duration(n) * 24 * time.Hour) }

func TestDecide(t *testing.T) {
	assets := map[string]Asset{
		"S-NEW":   {Serial: "S-NEW", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(10), WarrantyEnd: daysAgo(-355)},
		"S-OLD":   {Serial: "S-OLD", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(200), WarrantyEnd: daysAgo(-165)},
		"S-AGED":  {Serial: "S-AGED", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(800), WarrantyEnd: daysAgo(435)},
		"S-EDGE":  {Serial: "S-EDGE", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(30)},
		"S-LATE":  {Serial: "S-LATE", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(31)},
		"S-OTHER": {Serial: "S-OTHER", SKU: "PUMP", ERPCustomerID: "E2", Status: "INSTALLED", Installed: daysAgo(5)},
		"S-BACK":  {Serial: "S-BACK", SKU: "PUMP", ERPCustomerID: "E1", Status: "RETURNED", Installed: daysAgo(5)},
		"S-DEAD":  {Serial: "S-DEAD", SKU: "PUMP", ERPCustomerID: "E1", Status: "DECOMMISSIONED", Installed: daysAgo(5)},
		"S-VALVE": {Serial: "S-VALVE", SKU: "VALVE", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(5)},
	}
	serial := func(reason string, serials ...string) Line {
		return Line{Number: 1, SKU: "PUMP", Quantity: int64(len(serials)), Serials: serials, UnitPrice: 10000, Reason: reason}
	}
	bulk := func(reason string, qty int64, bought time.Time) Line {
		return Line{Number: 1, SKU: "SEAL", Quantity: qty, UnitPrice: 500, Reason: reason, PurchasedAt: bought}
	}
	tests := []struct {
		name string
		line Line
		want Decision
	}{
		{"defective within the window", serial(contracts.ReturnReasonDefective, "S-NEW"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-NEW"}}},
		{"defective outside the window, under warranty", serial(contracts.ReturnReasonDefective, "S-OLD"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-OLD"}}},
		{"defective outside the window and the warranty", serial(contracts.ReturnReasonDefective, "S-AGED"), Decision{Number: 1, Refused: 1, Reason: OutsideReturnWindow}},
		{"not needed within the window: restocking fee", serial(contracts.ReturnReasonNotNeeded, "S-NEW"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-NEW"}, FeeBps: 1500}},
		{"not needed on the window's last day", serial(contracts.ReturnReasonNotNeeded, "S-EDGE"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-EDGE"}, FeeBps: 1500}},
		{"not needed a day after the window, warranty does not help", serial(contracts.ReturnReasonNotNeeded, "S-LATE"), Decision{Number: 1, Refused: 1, Reason: OutsideReturnWindow}},
		{"not needed outside the window under warranty", serial(contracts.ReturnReasonNotNeeded, "S-OLD"), Decision{Number: 1, Refused: 1, Reason: OutsideReturnWindow}},
		{"unknown reason is the customer's choice", serial(contracts.ReturnReasonUnknown, "S-NEW"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-NEW"}, FeeBps: 1500}},
		{"another customer's asset", serial(contracts.ReturnReasonDefective, "S-OTHER"), Decision{Number: 1, Refused: 1, Reason: AssetNotOwned}},
		{"returned before", serial(contracts.ReturnReasonDefective, "S-BACK"), Decision{Number: 1, Refused: 1, Reason: AlreadyReturned}},
		{"decommissioned", serial(contracts.ReturnReasonDefective, "S-DEAD"), Decision{Number: 1, Refused: 1, Reason: AssetDecommissioned}},
		{"serial of another product", serial(contracts.ReturnReasonDefective, "S-VALVE"), Decision{Number: 1, Refused: 1, Reason: SKUMismatch}},
		{"serial not in the installed base", serial(contracts.ReturnReasonDefective, "S-NONE"), Decision{Number: 1, Refused: 1, Reason: AssetUnknown}},
		{"partial: one unit of three refused", serial(contracts.ReturnReasonDefective, "S-NEW", "S-OTHER", "S-OLD"),
			Decision{Number: 1, Authorised: 2, Serials: []string{"S-NEW", "S-OLD"}, Refused: 1, Reason: AssetNotOwned}},
		{"same serial twice", serial(contracts.ReturnReasonDefective, "S-NEW", "S-NEW"), Decision{Number: 1, Authorised: 1, Serials: []string{"S-NEW"}, Refused: 1, Reason: DuplicateSerial}},
		{"purchase date on the request wins over the install date", func() Line {
			l := serial(contracts.ReturnReasonNotNeeded, "S-OLD")
			l.PurchasedAt = daysAgo(3)
			return l
		}(), Decision{Number: 1, Authorised: 1, Serials: []string{"S-OLD"}, FeeBps: 1500}},
		{"bulk goods within the window", bulk(contracts.ReturnReasonNotNeeded, 4, daysAgo(12)), Decision{Number: 1, Authorised: 4, FeeBps: 1500}},
		{"bulk goods outside the window", bulk(contracts.ReturnReasonDamaged, 4, daysAgo(45)), Decision{Number: 1, Refused: 4, Reason: OutsideReturnWindow}},
		{"bulk goods, unknown purchase date, seller's fault: inspection decides", bulk(contracts.ReturnReasonWrongItem, 2, time.Time{}), Decision{Number: 1, Authorised: 2}},
		{"bulk goods, unknown purchase date, customer's choice", bulk(contracts.ReturnReasonNotNeeded, 2, time.Time{}), Decision{Number: 1, Refused: 2, Reason: PurchaseDateUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(policy, "E1", day, []Line{tt.line}, assets)
			if len(got) != 1 {
				t.Fatalf("%d decisions, want 1", len(got))
			}
			g := got[0]
			if g.Reason != "" && g.Message == "" {
				t.Errorf("refusal %s without a message", g.Reason)
			}
			g.Message = ""
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got %+v\nwant %+v", g, tt.want)
			}
			if g.Authorised+g.Refused != tt.line.Quantity {
				t.Errorf("authorised %d + refused %d != requested %d", g.Authorised, g.Refused, tt.line.Quantity)
			}
		})
	}
}

func TestDecideAcrossLines(t *testing.T) {
	assets := map[string]Asset{"S1": {Serial: "S1", SKU: "PUMP", ERPCustomerID: "E1", Status: "INSTALLED", Installed: daysAgo(1)}}
	lines := []Line{
		{Number: 1, SKU: "PUMP", Quantity: 1, Serials: []string{"S1"}, UnitPrice: 100, Reason: contracts.ReturnReasonDefective},
		{Number: 2, SKU: "PUMP", Quantity: 1, Serials: []string{"S1"}, UnitPrice: 100, Reason: contracts.ReturnReasonDefective},
	}
	got := Decide(policy, "E1", day, lines, assets)
	if got[0].Authorised != 1 || got[1].Refused != 1 || got[1].Reason != DuplicateSerial {
		t.Errorf("a serial on two lines comes back once: %+v", got)
	}
	if Authorised(got) != 1 {
		t.Errorf("Authorised = %d, want 1", Authorised(got))
	}
}

func TestCreditFor(t *testing.T) {
	lines := []Line{
		{Number: 1, SKU: "PUMP", Quantity: 3, UnitPrice: 10_001, Reason: contracts.ReturnReasonNotNeeded},
		{Number: 2, SKU: "SEAL", Quantity: 5, UnitPrice: 250, Reason: contracts.ReturnReasonDefective},
		{Number: 3, SKU: "MONITOR-SUB", Quantity: 1, UnitPrice: 12_000, Reason: contracts.ReturnReasonNotNeeded, Subscription: true},
	}
	ds := []Decision{{Number: 1, Authorised: 3, FeeBps: 1500}, {Number: 2, Authorised: 4, Refused: 1}, {Number: 3, Authorised: 1, FeeBps: 1500}}
	tests := []struct {
		name     string
		accepted map[int]int64
		want     Credit
	}{
		{"everything accepted", map[int]int64{1: 3, 2: 4, 3: 1}, Credit{Goods: 25_503 + 1_000, Subscriptions: 10_200}}, // 30003 × 0.85 = 25502.55 → 25503
		{"partial inspection", map[int]int64{1: 1, 2: 2}, Credit{Goods: 8_501 + 500}},                                  // 10001 × 0.85 = 8500.85 → 8501
		{"nothing accepted", map[int]int64{}, Credit{}},
		{"more accepted than authorised counts the authorised", map[int]int64{2: 9}, Credit{Goods: 1_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CreditFor(lines, ds, tt.accepted); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := contracts.ReturnRequestLine{SKU: "PUMP", Quantity: 2, Serials: []string{"A", "B"}, UnitPrice: contracts.Money{AmountMinor: 100, Currency: "EUR"}}
	with := func(f func(*contracts.ReturnRequestLine)) []contracts.ReturnRequestLine {
		l := ok
		f(&l)
		return []contracts.ReturnRequestLine{l}
	}
	tests := []struct {
		name     string
		currency string
		lines    []contracts.ReturnRequestLine
		want     string
	}{
		{"valid", "EUR", []contracts.ReturnRequestLine{ok}, ""},
		{"no currency", "", []contracts.ReturnRequestLine{ok}, "currency is empty"},
		{"no lines", "EUR", nil, "no lines"},
		{"no sku", "EUR", with(func(l *contracts.ReturnRequestLine) { l.SKU = "" }), "line 1: sku is empty"},
		{"zero units", "EUR", with(func(l *contracts.ReturnRequestLine) { l.Quantity, l.Serials = 0, nil }), "quantity 0"},
		{"serials do not match units", "EUR", with(func(l *contracts.ReturnRequestLine) { l.Quantity = 3 }), "2 serials for 3 units"},
		{"negative price", "EUR", with(func(l *contracts.ReturnRequestLine) { l.UnitPrice.AmountMinor = -1 }), "negative unit price"},
		{"another currency", "EUR", with(func(l *contracts.ReturnRequestLine) { l.UnitPrice.Currency = "USD" }), `price in "USD"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Validate(tt.currency, tt.lines)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Validate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLinesAndSerials(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	n := 7
	ls := Lines([]contracts.ReturnRequestLine{
		{SKU: "A", Quantity: 2, Serials: []string{"S1", "S2"}, UnitPrice: contracts.Money{AmountMinor: 5, Currency: "EUR"}, PurchasedAt: &at, OrderLineNumber: &n},
		{SKU: "B", Quantity: 1, Serials: []string{"S2"}, UnitPrice: contracts.Money{AmountMinor: 6, Currency: "EUR"}, Subscription: true},
	})
	if ls[0].Number != 1 || ls[1].Number != 2 || ls[0].Reason != contracts.ReturnReasonUnknown || !ls[0].PurchasedAt.Equal(at) || ls[0].PurchasedAt.Location() != time.UTC || *ls[0].OrderLine != 7 || !ls[1].Subscription {
		t.Errorf("Lines = %+v", ls)
	}
	if got := Serials(ls); !reflect.DeepEqual(got, []string{"S1", "S2"}) {
		t.Errorf("Serials = %v", got)
	}
}
