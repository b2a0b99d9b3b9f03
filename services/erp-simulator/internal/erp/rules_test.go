package erp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func rules() Rules {
	return Rules{Seed: 1, ExportRestricted: ParseSet("CU, ir ,KP"), TaxMissing: ParseSet("LATAM-X,AR"), GLAccounts: ParseSet("1200,2400,4000"), JournalRejectBps: 0}
}

func line(n int, ship string, total int64) contracts.OrderLine {
	return contracts.OrderLine{LineNumber: n, SKU: "SKU", Quantity: 1, LineTotal: contracts.Money{AmountMinor: total, Currency: "USD"}, ShipToCountry: ship}
}

func TestDecideOrder(t *testing.T) {
	tests := []struct {
		name     string
		region   string
		lines    []contracts.OrderLine
		status   string
		reasons  []string
		accepted int64
	}{
		{"all accepted", "NA", []contracts.OrderLine{line(10, "US", 100), line(20, "CA", 50)}, contracts.ErpOrderStateAccepted, []string{"", ""}, 150},
		{"one export-controlled line", "EMEA", []contracts.OrderLine{line(10, "DE", 100), line(20, "ir", 70)}, contracts.ErpOrderStatePartiallyRejected, []string{"", contracts.RejectionReasonExportControl}, 100},
		{"tax missing for ship-to", "LATAM", []contracts.OrderLine{line(10, "AR", 100)}, contracts.ErpOrderStateRejected, []string{contracts.RejectionReasonTaxConfiguration}, 0},
		{"tax missing for region", "LATAM-X", []contracts.OrderLine{line(10, "BR", 100), line(20, "CU", 5)}, contracts.ErpOrderStateRejected, []string{contracts.RejectionReasonTaxConfiguration, contracts.RejectionReasonExportControl}[0:1], 0},
		{"no lines", "NA", nil, contracts.ErpOrderStateRejected, nil, 0},
	}
	tests[3].reasons = []string{contracts.RejectionReasonTaxConfiguration, contracts.RejectionReasonExportControl}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rules().DecideOrder(&contracts.OrderCommand{Region: tt.region, Lines: tt.lines})
			var got []string
			for _, l := range d.Lines {
				got = append(got, l.Reason)
			}
			if d.Status != tt.status || d.AcceptedTotal != tt.accepted {
				t.Fatalf("status %s total %d, want %s %d", d.Status, d.AcceptedTotal, tt.status, tt.accepted)
			}
			if diff := cmp.Diff(tt.reasons, got); diff != "" {
				t.Fatalf("reasons (-want +got):\n%s", diff)
			}
			rejected := 0
			for _, r := range got {
				if r != "" {
					rejected++
				}
			}
			if len(tt.lines) > 0 && len(d.Messages) != rejected {
				t.Fatalf("%d messages for %d rejected lines", len(d.Messages), rejected)
			}
		})
	}
}

func jl(acct string, dr, cr int64) contracts.JournalLine {
	return contracts.JournalLine{Account: acct, Debit: contracts.Money{AmountMinor: dr, Currency: "EUR"}, Credit: contracts.Money{AmountMinor: cr, Currency: "EUR"}}
}

func TestDecideJournal(t *testing.T) {
	tests := []struct {
		name  string
		lines []contracts.JournalLine
		want  string
		code  string
	}{
		{"balanced", []contracts.JournalLine{jl("1200-accounts-receivable", 500, 0), jl("2400-deferred-revenue", 0, 500)}, contracts.JournalStatusPosted, ""},
		{"unbalanced", []contracts.JournalLine{jl("1200", 500, 0), jl("2400", 0, 400)}, contracts.JournalStatusRejected, "UNBALANCED"},
		{"unknown account", []contracts.JournalLine{jl("9999-suspense", 500, 0), jl("2400", 0, 500)}, contracts.JournalStatusRejected, "INVALID_ACCOUNT"},
		{"empty", nil, contracts.JournalStatusRejected, "EMPTY"},
	}
	for _, tt := range tests {
		d := rules().DecideJournal(&contracts.JournalCommand{JournalCommandID: "J1", Currency: "EUR", Lines: tt.lines})
		if d.Status != tt.want || d.Code != tt.code {
			t.Errorf("%s: %+v, want %s %s", tt.name, d, tt.want, tt.code)
		}
	}
	// The configured share of valid journals is rejected, deterministically.
	r := rules()
	r.JournalRejectBps = 2000
	rejected := 0
	for i := 0; i < 2000; i++ {
		cmd := &contracts.JournalCommand{JournalCommandID: time.Duration(i).String(), Currency: "EUR", Lines: tests[0].lines}
		a, b := r.DecideJournal(cmd), r.DecideJournal(cmd)
		if a != b {
			t.Fatalf("journal %d decided %v then %v", i, a, b)
		}
		if a.Code == "PERIOD_CLOSED" {
			rejected++
		}
	}
	if rejected < 300 || rejected > 500 {
		t.Fatalf("%d of 2000 rejected with 20%% configured", rejected)
	}
}

func TestDowntime(t *testing.T) {
	d, err := ParseDowntime("every 5m for 30s")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(0, 0).Add(1000 * 5 * time.Minute)
	for _, tt := range []struct {
		at   time.Duration
		down bool
	}{{0, false}, {4*time.Minute + 29*time.Second, false}, {4*time.Minute + 30*time.Second, true}, {4*time.Minute + 59*time.Second, true}, {5 * time.Minute, false}} {
		if got := d.Down(base.Add(tt.at)); got != tt.down {
			t.Errorf("Down(+%s) = %v", tt.at, got)
		}
	}
	for _, bad := range []string{"every 5m", "every 30s for 5m", "sometimes", "every x for 1s"} {
		if _, err := ParseDowntime(bad); err == nil {
			t.Errorf("ParseDowntime(%q) accepted", bad)
		}
	}
	if d, err := ParseDowntime("none"); err != nil || d.Down(time.Now()) {
		t.Errorf("none: %v %v", d, err)
	}
}

func TestLatency(t *testing.T) {
	l, err := ParseLatency("200ms-2s")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		id := time.Duration(i).String()
		d := l.For(rules(), "order", id)
		if d < 200*time.Millisecond || d > 2*time.Second || d != l.For(rules(), "order", id) {
			t.Fatalf("latency %s for %s", d, id)
		}
	}
	for _, bad := range []string{"2s-200ms", "fast", "-1s"} {
		if _, err := ParseLatency(bad); err == nil {
			t.Errorf("ParseLatency(%q) accepted", bad)
		}
	}
}

func TestNewCustomerTerms(t *testing.T) {
	r := rules()
	r.CreditHoldBps = 10000
	a := r.NewCustomerTerms("G-1", "EMEA", "EUR")
	if a != r.NewCustomerTerms("G-1", "EMEA", "EUR") {
		t.Fatal("terms not deterministic")
	}
	if a.CreditStatus != contracts.CreditStatusHold || a.Currency != "EUR" || a.CreditLimit <= 0 {
		t.Fatalf("terms %+v", a)
	}
	switch a.PaymentTerms {
	case "NET30", "NET45", "NET60":
	default:
		t.Fatalf("payment terms %q", a.PaymentTerms)
	}
}
