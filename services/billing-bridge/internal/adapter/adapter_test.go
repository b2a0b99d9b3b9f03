package adapter

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

var t0 = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

func day(s string) contract.Date {
	d, err := contract.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func md(id string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: tracingID(id), CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemCRM, OccurredAt: t0}
}

func tracingID(s string) string { return "00000000-0000-4000-8000-" + pad12(s) }

func pad12(s string) string {
	for len(s) < 12 {
		s = "0" + s
	}
	return s[len(s)-12:]
}

// roundTrip sends v through its Avro binary form, as the broker would.
func roundTrip[T any, P interface {
	*T
	contracts.Value
}](t *testing.T, v P) P {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	out := P(new(T))
	if err := out.Unmarshal(b); err != nil {
		t.Fatalf("unmarshal %T: %v", v, err)
	}
	return out
}

func TestDealRoundTrip(t *testing.T) {
	lines := []contract.Line{{SKU: "api", Quantity: 3, UnitPrice: 2500}, {SKU: "seat", Quantity: 10, UnitPrice: 1000}}
	scale := func(k int64) []contract.Line {
		out := make([]contract.Line, len(lines))
		for i, l := range lines {
			l.UnitPrice *= k
			l.Currency = "EUR"
			out[i] = l
		}
		return out
	}
	tests := []struct {
		name string
		deal contract.Deal
	}{
		{"new monthly", contract.Deal{ContractID: "C-1", Seq: 1, Kind: contract.KindNew, CustomerID: "A-1", Currency: "EUR",
			Frequency: contract.Monthly, Start: day("2025-01-01"), End: day("2026-01-01"), Lines: scale(1)}},
		{"new quarterly", contract.Deal{ContractID: "C/2 x", Seq: 1, Kind: contract.KindNew, CustomerID: "A-2", Currency: "EUR",
			Frequency: contract.Quarterly, Start: day("2025-01-31"), End: day("2025-07-15"), Lines: scale(3)}},
		{"new annual", contract.Deal{ContractID: "C-3", Seq: 1, Kind: contract.KindNew, CustomerID: "A-3", Currency: "EUR",
			Frequency: contract.Annual, Start: day("2025-02-28"), End: day("2028-02-28"), Lines: scale(12)}},
		{"amend upsell", contract.Deal{ContractID: "C-1", Seq: 2, Kind: contract.KindAmend, Change: contract.ChangeUpsell, Currency: "EUR",
			Frequency: contract.Monthly, Effective: day("2025-03-16"), Lines: scale(1)}},
		{"renew", contract.Deal{ContractID: "C-1", Seq: 3, Kind: contract.KindRenew, Currency: "EUR",
			Frequency: contract.Monthly, End: day("2027-01-01"), Lines: scale(1)}},
		{"cancel", contract.Deal{ContractID: "C-1", Seq: 4, Kind: contract.KindCancel, Currency: "EUR",
			Frequency: contract.Monthly, Effective: day("2025-06-11"), Lines: []contract.Line{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.deal.OccurredAt = t0
			v := roundTrip(t, DealRecord(tt.deal, md("1"), "D-1"))
			if got, want := v.AmendmentSequence, int(tt.deal.Seq-1); got != want {
				t.Errorf("amendment_sequence = %d, want %d", got, want)
			}
			got, err := Deal(v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.deal, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadDeals checks the documented outcome of each bad deal as it arrives
// on crm.deal.v1 (inclusive end dates, monthly prices).
func TestBadDeals(t *testing.T) {
	base := func() *contracts.Deal {
		return &contracts.Deal{Metadata: md("1"), DealID: "D", ContractID: "C-bad", AmendmentSequence: 0, DealType: contracts.DealTypeNew,
			AccountID: "A", Currency: "EUR", StartDate: day("2025-01-01").Time(), EndDate: day("2025-12-31").Time(),
			BillingFrequency: contracts.BillingFrequencyMonthly, ClosedAt: t0,
			Lines: []contracts.DealLine{{LineNumber: 1, SKU: "seat", Quantity: 10, UnitPrice: contracts.Money{AmountMinor: 1000, Currency: "EUR"}}}}
	}
	tests := []struct {
		name   string
		mutate func(*contracts.Deal)
		reason string
		class  errs.Class
	}{
		{"valid", func(*contracts.Deal) {}, "", errs.ClassNone},
		{"one-day term", func(d *contracts.Deal) { d.EndDate = d.StartDate }, "", errs.ClassNone},
		{"zero-length term", func(d *contracts.Deal) { d.EndDate = d.StartDate.AddDate(0, 0, -1) }, "zero_length_term", errs.ClassPoison},
		{"end before start", func(d *contracts.Deal) { d.EndDate = d.StartDate.AddDate(0, 0, -2) }, "end_before_start", errs.ClassPoison},
		{"unknown frequency", func(d *contracts.Deal) { d.BillingFrequency = contracts.BillingFrequencyUnknown }, "unknown_frequency", errs.ClassPoison},
		{"mixed currencies", func(d *contracts.Deal) {
			d.Lines = append(d.Lines, contracts.DealLine{LineNumber: 2, SKU: "api", Quantity: 1, UnitPrice: contracts.Money{AmountMinor: 5, Currency: "USD"}})
		}, "mixed_currencies", errs.ClassPoison},
		{"negative price", func(d *contracts.Deal) { d.Lines[0].UnitPrice.AmountMinor = -1 }, "negative_price", errs.ClassPoison},
		{"price overflows per period", func(d *contracts.Deal) {
			d.BillingFrequency = contracts.BillingFrequencyAnnual
			d.Lines[0].UnitPrice.AmountMinor = 1 << 62
		}, "amount_too_large", errs.ClassPoison},
		{"unknown deal type", func(d *contracts.Deal) { d.DealType = contracts.DealTypeUnknown }, "unknown_kind", errs.ClassPoison},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.mutate(v)
			v = roundTrip(t, v)
			d, err := Deal(v)
			if err == nil {
				_, err = bridge.New().ApplyDeal(bridge.NewState(d.ContractID), d)
			}
			if got := errs.ClassOf(err); got != tt.class {
				t.Fatalf("class = %s, want %s (err %v)", got, tt.class, err)
			}
			if err != nil && errs.ReasonOf(err) != tt.reason {
				t.Errorf("reason = %s, want %s (err %v)", errs.ReasonOf(err), tt.reason, err)
			}
		})
	}
}

func newContract(t *testing.T, b *bridge.Bridge, freq string, price int64) (*bridge.State, bridge.Outputs) {
	t.Helper()
	v := &contracts.Deal{Metadata: md("1"), DealID: "D", ContractID: "C-9", DealType: contracts.DealTypeNew,
		AccountID: "A", Currency: "EUR", StartDate: day("2025-01-01").Time(), EndDate: day("2025-12-31").Time(),
		BillingFrequency: freq, ClosedAt: t0,
		Lines: []contracts.DealLine{{LineNumber: 1, SKU: "seat", Quantity: 10, UnitPrice: contracts.Money{AmountMinor: price, Currency: "EUR"}}}}
	d, err := Deal(v)
	if err != nil {
		t.Fatal(err)
	}
	s := bridge.NewState(d.ContractID)
	out, err := b.ApplyDeal(s, d)
	if err != nil {
		t.Fatal(err)
	}
	// Every period opens (the journals of later months are scheduled).
	out.Journals = append(out.Journals, b.Release(s, allOpen).Journals...)
	return s, out
}

// allOpen is a day by which every period of the tests' contracts is open.
var allOpen = day("2040-01-01")

func meta(id string) Meta {
	return Meta{CorrelationID: "corr", CausationID: "cause", OccurredAt: t0,
		EventID: func(i int) string { return tracingID(id + strconv.Itoa(i)) }}
}

func TestRecordsNew(t *testing.T) {
	b := bridge.New()
	for _, freq := range []string{contracts.BillingFrequencyMonthly, contracts.BillingFrequencyQuarterly, contracts.BillingFrequencyAnnual} {
		t.Run(freq, func(t *testing.T) {
			s, out := newContract(t, b, freq, 1000)
			recs := Records(b, s, out, meta("7"))
			var cmds []*contracts.BillingCommand
			var journals, revenue int
			var billed, scheduled, value int64
			ids := map[string]bool{}
			for _, r := range recs {
				if ids[contracts.MetadataOf(r.Value).EventID] {
					t.Errorf("duplicate event id %s", contracts.MetadataOf(r.Value).EventID)
				}
				ids[contracts.MetadataOf(r.Value).EventID] = true
				switch v := roundTripValue(t, r.Value).(type) {
				case *contracts.BillingCommand:
					cmds = append(cmds, v)
					for _, si := range v.InvoiceSchedule {
						scheduled += si.Amount.AmountMinor
					}
				case *contracts.JournalCommand:
					journals++
					var dr, cr int64
					for _, l := range v.Lines {
						dr += l.Debit.AmountMinor
						cr += l.Credit.AmountMinor
					}
					if dr != cr || dr <= 0 {
						t.Errorf("journal %s: debits %d credits %d", v.JournalCommandID, dr, cr)
					}
					if v.Kind == contracts.JournalKindInvoice {
						billed += dr
					}
					if v.Metadata.CorrelationID != "corr" || v.Metadata.CausationID == nil || *v.Metadata.CausationID != "cause" || !v.Metadata.OccurredAt.Equal(t0) {
						t.Errorf("metadata %+v", v.Metadata)
					}
				case *contracts.RevenueSchedule:
					revenue++
					value = v.ContractValue.AmountMinor
				}
			}
			if len(cmds) != 1 || cmds[0].Action != contracts.BillingActionProvision || cmds[0].AmendmentSequence != 0 {
				t.Fatalf("commands %+v", cmds)
			}
			c := cmds[0]
			if c.Lines[0].UnitPrice.AmountMinor != 1000 || !c.EndDate.Equal(day("2025-12-31").Time()) || c.Lines[0].TermMonths != 12 {
				t.Errorf("command lines %+v end %s", c.Lines, c.EndDate)
			}
			const want = 12 * 10 * 1000
			if scheduled != want || billed != want || value != want {
				t.Errorf("scheduled %d billed %d contract value %d, want %d", scheduled, billed, value, want)
			}
			if revenue != 12 || journals == 0 {
				t.Errorf("%d revenue months, %d journals", revenue, journals)
			}
		})
	}
}

func roundTripValue(t *testing.T, v contracts.Value) contracts.Value {
	switch r := v.(type) {
	case *contracts.BillingCommand:
		return roundTrip(t, r)
	case *contracts.RevenueSchedule:
		return roundTrip(t, r)
	case *contracts.JournalCommand:
		return roundTrip(t, r)
	case *contracts.OperationalException:
		return roundTrip(t, r)
	}
	t.Fatalf("unexpected %T", v)
	return nil
}

func TestCancelIsCancellationWithCredit(t *testing.T) {
	b := bridge.New()
	s, _ := newContract(t, b, contracts.BillingFrequencyMonthly, 1000)
	// June is invoiced (issued) before the cancellation on June 11.
	june := &contracts.BillingEvent{Metadata: md("2"), EventType: contracts.BillingEventTypeInvoiceIssued, ContractID: "C-9",
		InvoiceID: ptr("INV-6"), InvoiceAmount: &contracts.Money{AmountMinor: 10000, Currency: "EUR"},
		PeriodStart: ptr(day("2025-06-01").Time()), PeriodEnd: ptr(day("2025-06-30").Time())}
	ev := BillingEvent(june, s)
	if ev.DocumentID != "C-9/2025-06-01/INV" {
		t.Fatalf("document %q", ev.DocumentID)
	}
	if _, err := b.ApplyBilling(s, ev); err != nil {
		t.Fatal(err)
	}
	eff := day("2025-06-11").Time()
	d, err := Deal(&contracts.Deal{Metadata: md("3"), ContractID: "C-9", AmendmentSequence: 1, DealType: contracts.DealTypeCancel,
		Currency: "EUR", BillingFrequency: contracts.BillingFrequencyMonthly, EffectiveDate: &eff})
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.ApplyDeal(s, d)
	if err != nil {
		t.Fatal(err)
	}
	out.Journals = append(out.Journals, b.Release(s, allOpen).Journals...)
	recs := Records(b, s, out, meta("8"))
	var credit int64
	kinds := map[string]int{}
	for _, r := range recs {
		switch v := r.Value.(type) {
		case *contracts.BillingCommand:
			if v.Action != contracts.BillingActionCancel || v.AmendmentSequence != 1 || !v.EndDate.Equal(day("2025-06-10").Time()) {
				t.Errorf("cancel command %+v", v)
			}
			for _, si := range v.InvoiceSchedule {
				credit += si.Amount.AmountMinor
			}
		case *contracts.JournalCommand:
			kinds[v.Kind]++
		}
	}
	if credit != -6667 {
		t.Errorf("credited %d, want -6667 (June 11-30 of 10000)", credit)
	}
	if kinds[contracts.JournalKindCancellation] == 0 || kinds[contracts.JournalKindReversal] == 0 || kinds[contracts.JournalKindCredit] != 0 {
		t.Errorf("journal kinds %v", kinds)
	}
	for _, r := range recs {
		if v, ok := r.Value.(*contracts.JournalCommand); ok && v.Kind == contracts.JournalKindReversal {
			if v.ReversesJournalCommandID == nil || *v.ReversesJournalCommandID == "" {
				t.Errorf("reversal %s names no reversed journal", v.JournalCommandID)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestJournalContract(t *testing.T) {
	tests := []struct {
		name     string
		v        contracts.Journal
		want     string
		poisoned bool
	}{
		{"contract id field", contracts.Journal{JournalCommandID: "JE/X/1/2025-01/RECOGNITION", ContractID: ptr("C-1")}, "C-1", false},
		{"from journal id", contracts.Journal{JournalCommandID: "JE/C-1/2/2025-03-01/INVOICE"}, "C-1", false},
		{"escaped id", contracts.Journal{JournalCommandID: "JE/C%2F2%20x/1/2025-01/RECOGNITION"}, "C/2 x", false},
		{"no contract", contracts.Journal{JournalCommandID: "ERP-77"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JournalContract(&tt.v)
			if (errs.ClassOf(err) == errs.ClassPoison) != tt.poisoned || got != tt.want {
				t.Errorf("got %q, %v; want %q poisoned=%v", got, err, tt.want, tt.poisoned)
			}
		})
	}
}

func TestJournalRejectedException(t *testing.T) {
	b := bridge.New()
	s, out := newContract(t, b, contracts.BillingFrequencyMonthly, 1000)
	j := out.Journals[0]
	v := &contracts.Journal{Metadata: md("4"), JournalCommandID: j.ID, Status: contracts.JournalStatusRejected,
		RejectionCode: ptr("INVALID_ACCOUNT"), ERPMessage: ptr("GL account 2400 is blocked for posting")}
	res, err := b.ApplyJournal(s, JournalEvent(v, "C-9"))
	if err != nil {
		t.Fatal(err)
	}
	sent, ok := b.JournalOf(s, j.ID)
	if !ok {
		t.Fatal("journal not in state")
	}
	JournalContext(&res.Exceptions[0], sent, v)
	recs := Records(b, s, bridge.Outputs{Exceptions: res.Exceptions}, meta("9"))
	x := roundTrip(t, recs[0].Value.(*contracts.OperationalException))
	want := map[string]string{
		"journal_id":     j.ID,
		"rejection_code": "INVALID_ACCOUNT",
		"erp_message":    "GL account 2400 is blocked for posting",
		"erp_reason":     "INVALID_ACCOUNT: GL account 2400 is blocked for posting",
		"amount":         strconv.FormatInt(j.Amount(), 10),
		"currency":       "EUR",
		"lines":          `[{"account":"` + j.Lines[0].Account + `","debit":` + strconv.FormatInt(j.Amount(), 10) + `,"credit":0},{"account":"` + j.Lines[1].Account + `","debit":0,"credit":` + strconv.FormatInt(j.Amount(), 10) + `}]`,
	}
	for k, v := range want {
		if x.Context[k] != v {
			t.Errorf("context[%s] = %q, want %q", k, x.Context[k], v)
		}
	}
	if x.Category != contracts.ExceptionCategoryJournalRejected || x.Queue != contracts.ExceptionQueueFinanceOps || x.EntityIds["journal_id"] != j.ID {
		t.Errorf("exception %+v", x)
	}
	if want := []string{"REPOST", "ROUTE_TO_FINANCE", "RESOLVE", "DISMISS"}; strings.Join(x.AllowedActions, ",") != strings.Join(want, ",") {
		t.Errorf("allowed actions %v, want %v", x.AllowedActions, want)
	}
}

func TestGapExceptionUsesAvroSequences(t *testing.T) {
	b := bridge.New()
	s, _ := newContract(t, b, contracts.BillingFrequencyMonthly, 1000)
	eff := day("2025-05-01").Time()
	// Amendment 2 (Avro) arrives before 1.
	d, err := Deal(&contracts.Deal{Metadata: md("5"), ContractID: "C-9", AmendmentSequence: 2, DealType: contracts.DealTypeAmend,
		AmendmentKind: ptr(contracts.AmendmentKindUpsell), Currency: "EUR", BillingFrequency: contracts.BillingFrequencyMonthly, EffectiveDate: &eff,
		Lines: []contracts.DealLine{{LineNumber: 1, SKU: "seat", Quantity: 20, UnitPrice: contracts.Money{AmountMinor: 1000, Currency: "EUR"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := b.ApplyDeal(s, d); err != nil || out.Status != bridge.StatusHeld {
		t.Fatalf("%v %v", out.Status, err)
	}
	out := b.Tick(s, t0.Add(time.Hour), time.Minute)
	if len(out.Exceptions) != 1 {
		t.Fatalf("%d exceptions", len(out.Exceptions))
	}
	x := Exception(out.Exceptions[0], contracts.EventMetadata{})
	got := map[string]string{"amendment_sequence": x.Context["amendment_sequence"], "waiting_for_seq": x.Context["waiting_for_seq"], "last_applied_seq": x.Context["last_applied_seq"]}
	if diff := cmp.Diff(map[string]string{"amendment_sequence": "2", "waiting_for_seq": "1", "last_applied_seq": "0"}, got); diff != "" {
		t.Errorf("sequences (-want +got):\n%s", diff)
	}
	if x.Category != contracts.ExceptionCategoryAmendmentGap || x.Queue != contracts.ExceptionQueueFinanceOps {
		t.Errorf("%s / %s", x.Category, x.Queue)
	}
}

func TestContractOfException(t *testing.T) {
	for id, want := range map[string]string{
		"bbx:JE/C%2F9/1/2025-01/RECOGNITION/journal_rejected": "C/9",
		"bbx:BC/ACME-42/3/amendment_gap":                      "ACME-42",
		"bbx:ACME-42/deal/3/currency_changed":                 "ACME-42",
		"bbx:ACME-42/2025-01-15/INV/invoice_mismatch":         "ACME-42",
		"bbx:A:B/deal/1/x":                                    "A:B",
		"qto:1:1:Q-1":                                         "", "bbx:": "", "bbx:JE/": "", "bbx:C-1": "",
		// Raised before pkg/ops.
		"EX/BC/ACME-42/3/amendment_gap":                      "ACME-42",
		"EX/JE/C%2F9/1/2025-01/RECOGNITION/journal_rejected": "C/9",
		"EX/ACME-42/deal/3/currency_changed":                 "ACME-42",
		"EX/EX/deal/3/currency_changed":                      "EX",
		"EX/":                                                "", "EX/C-1": "",
		// Today's form for a contract whose id is "EX".
		"bbx:EX/deal/3/currency_changed":         "EX",
		"bbx:EX/2025-01-15/INV/invoice_mismatch": "EX",
	} {
		got, ok := ContractOfException(id)
		if got != want || ok != (want != "") {
			t.Errorf("ContractOfException(%q) = %q %v, want %q", id, got, ok, want)
		}
	}
}

// An exception raised before pkg/ops (EX/<id>) keeps its id: a decision on
// it reaches the exception the state tracks under that id, and its updates
// are sent under it, not under bbx:EX/…. An id of today's form that starts
// with "EX/" (the contract "EX") is not taken for one.
func TestLegacyExceptionIDs(t *testing.T) {
	for _, tc := range []struct {
		name, id, contract, domain, category string
	}{
		{"journal", "EX/JE/C-9/1/2025-01/RECOGNITION/journal_rejected", "C-9", "EX/JE/C-9/1/2025-01/RECOGNITION/journal_rejected", bridge.CategoryJournalRejected},
		{"refused input", "EX/C-9/deal/3/currency_changed", "C-9", "EX/C-9/deal/3/currency_changed", CategoryRejectedInput},
		{"refused input of contract EX", "EX/EX/deal/3/currency_changed", "EX", "EX/EX/deal/3/currency_changed", CategoryRejectedInput},
		{"today's form", "bbx:BC/C-9/3/amendment_gap", "C-9", "BC/C-9/3/amendment_gap", bridge.CategoryAmendmentGap},
		{"today's form of contract EX", "bbx:EX/deal/3/currency_changed", "EX", "EX/deal/3/currency_changed", CategoryRejectedInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &contracts.Decision{DecisionID: "d-1", ExceptionID: tc.id, OwnerService: Owner.Service, Action: contracts.DecisionActionResolve, Actor: "ann"}
			if !Owner.Owns(tc.id) {
				t.Errorf("%q is not billing-bridge's", tc.id)
			}
			if c, ok := ContractOfException(tc.id); !ok || c != tc.contract {
				t.Errorf("contract %q %v, want %q", c, ok, tc.contract)
			}
			d := DecisionOf(v)
			if d.ExceptionID != tc.domain || d.Category != tc.category {
				t.Errorf("domain decision %+v, want exception %q category %q", d, tc.domain, tc.category)
			}
			// The domain's update of that exception goes out under the id
			// the decision named.
			b, s := bridge.New(), bridge.NewState(tc.contract)
			out := b.ApplyDecision(s, d, day("2025-03-01"))
			if len(out.Exceptions) != 1 {
				t.Fatalf("updates %+v", out.Exceptions)
			}
			x := Exception(out.Exceptions[0], contracts.EventMetadata{})
			if x.ExceptionID != tc.id || ExceptionID(out.Exceptions[0]) != tc.id || x.Status != contracts.ExceptionStatusResolved {
				t.Errorf("update %s %s, want %s RESOLVED", x.ExceptionID, x.Status, tc.id)
			}
		})
	}
}
