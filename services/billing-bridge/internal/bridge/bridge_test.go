package bridge

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

func TestNewContract(t *testing.T) {
	monthly12 := make([]docSummary, 12)
	for i := range monthly12 {
		monthly12[i] = docSummary{schedule.Invoice, contract.NewDate(2025, time.Month(1+i), 1).String(), 10000}
	}
	tests := []struct {
		name      string
		deal      contract.Deal
		wantDocs  []docSummary
		wantFirst RevenueEntryWant // first revenue month
		wantLast  RevenueEntryWant
		months    int
		value     int64
	}{
		{
			name:      "12-month term billed monthly",
			deal:      newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)),
			wantDocs:  monthly12,
			wantFirst: RevenueEntryWant{"2025-01", 10000, 10000, 0},
			wantLast:  RevenueEntryWant{"2025-12", 10000, 10000, 0},
			months:    12,
			value:     120000,
		},
		{
			// Anchored on the 15th: January earns 17 of the 31 days of the
			// first period, floor(10000 × 17 / 31) = 5483.
			name: "mid-month start billed monthly",
			deal: newDeal("C-2", contract.Monthly, "2025-01-15", "2026-01-15", seat(10, 1000)),
			wantDocs: func() []docSummary {
				var d []docSummary
				for i := range 12 {
					d = append(d, docSummary{schedule.Invoice, contract.NewDate(2025, time.Month(1+i), 15).String(), 10000})
				}
				return d
			}(),
			wantFirst: RevenueEntryWant{"2025-01", 5483, 10000, 4517},
			wantLast:  RevenueEntryWant{"2026-01", 4517, 0, 0},
			months:    13,
			value:     120000,
		},
		{
			// One invoice in advance; January earns floor(120000 × 31 / 365).
			name:      "12-month term billed annually",
			deal:      newDeal("C-3", contract.Annual, "2025-01-01", "2026-01-01", seat(10, 12000)),
			wantDocs:  []docSummary{{schedule.Invoice, "2025-01-01", 120000}},
			wantFirst: RevenueEntryWant{"2025-01", 10191, 120000, 109809},
			wantLast:  RevenueEntryWant{"2025-12", 10192, 0, 0},
			months:    12,
			value:     120000,
		},
		{
			// The term ends mid-quarter: the last quarter is prorated by day
			// (92 days from 2025-10-01, 61 of them in the term).
			name: "short last period billed quarterly",
			deal: newDeal("C-4", contract.Quarterly, "2025-01-01", "2025-12-01", seat(1, 9200)),
			wantDocs: []docSummary{
				{schedule.Invoice, "2025-01-01", 9200}, {schedule.Invoice, "2025-04-01", 9200},
				{schedule.Invoice, "2025-07-01", 9200}, {schedule.Invoice, "2025-10-01", 6100},
			},
			wantFirst: RevenueEntryWant{"2025-01", 3168, 9200, 6032},
			wantLast:  RevenueEntryWant{"2025-11", 3000, 0, 0},
			months:    11,
			value:     33700,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, s := New(), NewState(tt.deal.ContractID)
			out := mustApply(t, b, s, tt.deal)
			if out.Status != StatusApplied || !cmp.Equal(out.Applied, []int64{1}) {
				t.Fatalf("status %s applied %v", out.Status, out.Applied)
			}
			if len(out.Commands) != 2 || out.Commands[0].Kind != ProvisionSubscription || out.Commands[1].Kind != InvoiceSchedule {
				t.Fatalf("commands %+v", out.Commands)
			}
			if diff := cmp.Diff(tt.wantDocs, summarize(out.Commands[1].Schedule)); diff != "" {
				t.Errorf("schedule (-want +got):\n%s", diff)
			}
			if len(out.Revenue) != tt.months {
				t.Fatalf("%d revenue months, want %d", len(out.Revenue), tt.months)
			}
			if diff := cmp.Diff(tt.wantFirst, want(out.Revenue[0])); diff != "" {
				t.Errorf("first month (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLast, want(out.Revenue[len(out.Revenue)-1])); diff != "" {
				t.Errorf("last month (-want +got):\n%s", diff)
			}
			if got := docTotal(s.Docs); got != tt.value || recognised(s) != tt.value {
				t.Errorf("billed %d, recognised %d, want %d", got, recognised(s), tt.value)
			}
			totals := journalTotals(out.Journals)
			a := journal.DefaultAccounts
			if diff := cmp.Diff(map[string]int64{a.Receivable: tt.value, a.Deferred: 0, a.Revenue: -tt.value}, totals); diff != "" {
				t.Errorf("ledger (-want +got):\n%s", diff)
			}
			if n := len(tt.wantDocs) + tt.months; len(out.Journals) != n {
				t.Errorf("%d journals, want %d (one per invoice, one per month)", len(out.Journals), n)
			}
		})
	}
}

// RevenueEntryWant is the comparable part of a revenue entry.
type RevenueEntryWant struct {
	Month                        string
	Recognised, Billed, Deferred int64
}

func want(e RevenueEntry) RevenueEntryWant {
	return RevenueEntryWant{e.Month.String(), e.Recognised, e.Billed, e.Deferred}
}

func TestAmendUpsellMidTerm(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	out := mustApply(t, b, s, amendDeal("C-1", 2, contract.ChangeUpsell, "2025-03-16", seat(15, 1000)))

	// March (31 days) was billed 10000 in advance; from the 16th the seat
	// count is 15: (15000 − floor(15000×15/31)) − (10000 − floor(10000×15/31))
	// = 7742 − 5162 = 2580 for the rest of March. Later months are replanned.
	wantDocs := []docSummary{
		{schedule.Invoice, "2025-01-01", 10000}, {schedule.Invoice, "2025-02-01", 10000},
		{schedule.Invoice, "2025-03-01", 10000}, {schedule.Adjustment, "2025-03-16", 2580},
	}
	for m := 4; m <= 12; m++ {
		wantDocs = append(wantDocs, docSummary{schedule.Invoice, contract.NewDate(2025, time.Month(m), 1).String(), 15000})
	}
	if diff := cmp.Diff(wantDocs, summarize(s.Docs)); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}
	wantJournals := []journalSummary{{journal.Invoice, "2025-03-01", 2580}, {journal.Recognition, "2025-03", 2580}}
	for m := 4; m <= 12; m++ {
		month := contract.NewMonth(2025, time.Month(m))
		wantJournals = append(wantJournals,
			journalSummary{journal.Invoice, month.First().String(), 5000},
			journalSummary{journal.Recognition, month.String(), 5000})
	}
	if diff := cmp.Diff(wantJournals, summarizeJournals(out.Journals)); diff != "" {
		t.Errorf("journals (-want +got):\n%s", diff)
	}
	if j := out.Journals[0]; j.ID != "JE/C-1/2/2025-03-01/INVOICE" || j.Date != day("2025-03-16") {
		t.Errorf("adjustment journal %s dated %s", j.ID, j.Date)
	}
	upd := out.Commands[0]
	if upd.Kind != UpdateSubscription || upd.Effective != day("2025-03-16") || upd.Change != contract.ChangeUpsell ||
		!cmp.Equal(upd.Lines, []contract.Line{seat(15, 1000)}) {
		t.Errorf("update command %+v", upd)
	}
	if got := recognised(s); got != 167580 || docTotal(s.Docs) != 167580 {
		t.Errorf("value recognised %d billed %d, want 167580", got, docTotal(s.Docs))
	}
	if diff := cmp.Diff(RevenueEntryWant{"2025-03", 12580, 12580, 0}, want(out.Revenue[0])); diff != "" {
		t.Errorf("March (-want +got):\n%s", diff)
	}
}

func TestCancelWithCredit(t *testing.T) {
	cancel := contract.Deal{ContractID: "C-1", Seq: 2, Kind: contract.KindCancel, Effective: day("2025-06-11"), OccurredAt: t0}
	tests := []struct {
		name       string
		issued     []string // documents the billing system issued before the cancellation
		credit     int64
		wantDocs   []docSummary
		wantCredit []journalSummary
	}{
		{
			// June (30 days) was billed 10000; 20 days are unused:
			// 10000 − floor(10000×10/30) = 6667. July–December were not
			// issued: they are withdrawn from the schedule.
			name:   "future invoices not issued",
			issued: []string{"C-1/2025-06-01/INV"},
			credit: 6667,
			wantDocs: []docSummary{
				{schedule.Invoice, "2025-01-01", 10000}, {schedule.Invoice, "2025-02-01", 10000},
				{schedule.Invoice, "2025-03-01", 10000}, {schedule.Invoice, "2025-04-01", 10000},
				{schedule.Invoice, "2025-05-01", 10000}, {schedule.Invoice, "2025-06-01", 10000},
				{schedule.Credit, "2025-06-11", -6667},
			},
			wantCredit: []journalSummary{
				{journal.CreditNote, "2025-06-01", 6667}, {journal.CreditNote, "2025-07-01", 10000},
				{journal.CreditNote, "2025-08-01", 10000}, {journal.CreditNote, "2025-09-01", 10000},
				{journal.CreditNote, "2025-10-01", 10000}, {journal.CreditNote, "2025-11-01", 10000},
				{journal.CreditNote, "2025-12-01", 10000},
			},
		},
		{
			// July was issued already: it stays and is credited in full.
			name:   "next invoice already issued",
			issued: []string{"C-1/2025-06-01/INV", "C-1/2025-07-01/INV"},
			credit: 16667,
			wantDocs: []docSummary{
				{schedule.Invoice, "2025-01-01", 10000}, {schedule.Invoice, "2025-02-01", 10000},
				{schedule.Invoice, "2025-03-01", 10000}, {schedule.Invoice, "2025-04-01", 10000},
				{schedule.Invoice, "2025-05-01", 10000}, {schedule.Invoice, "2025-06-01", 10000},
				{schedule.Credit, "2025-06-11", -6667}, {schedule.Invoice, "2025-07-01", 10000},
				{schedule.Credit, "2025-07-01", -10000},
			},
			wantCredit: []journalSummary{
				{journal.CreditNote, "2025-06-01", 6667}, {journal.CreditNote, "2025-07-01", 10000},
				{journal.CreditNote, "2025-08-01", 10000}, {journal.CreditNote, "2025-09-01", 10000},
				{journal.CreditNote, "2025-10-01", 10000}, {journal.CreditNote, "2025-11-01", 10000},
				{journal.CreditNote, "2025-12-01", 10000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, s := New(), NewState("C-1")
			mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
			for _, id := range tt.issued {
				if _, err := b.ApplyBilling(s, BillingEvent{ContractID: "C-1", Kind: InvoiceIssued, DocumentID: id, InvoiceNumber: "I-" + id, Amount: 10000, Currency: "EUR"}); err != nil {
					t.Fatal(err)
				}
			}
			out := mustApply(t, b, s, cancel)
			if c := out.Commands[0]; c.Kind != CancelSubscription || c.Effective != day("2025-06-11") || c.CreditAmount != tt.credit {
				t.Errorf("cancel command %+v, want credit %d", c, tt.credit)
			}
			if diff := cmp.Diff(tt.wantDocs, summarize(s.Docs)); diff != "" {
				t.Errorf("schedule (-want +got):\n%s", diff)
			}
			var credits []journalSummary
			for _, j := range summarizeJournals(out.Journals) {
				if j.Kind == journal.CreditNote {
					credits = append(credits, j)
				}
			}
			if diff := cmp.Diff(tt.wantCredit, credits); diff != "" {
				t.Errorf("credit notes (-want +got):\n%s", diff)
			}
			// 5 full months and 10 days of June: 50000 + floor(10000×10/30).
			if got := recognised(s); got != 53333 || docTotal(s.Docs) != 53333 {
				t.Errorf("recognised %d billed %d, want 53333", got, docTotal(s.Docs))
			}
			last := out.Revenue[len(out.Revenue)-1]
			if diff := cmp.Diff(RevenueEntryWant{"2025-12", 0, 0, 0}, want(last)); diff != "" {
				t.Errorf("December after cancel (-want +got):\n%s", diff)
			}
			a := journal.DefaultAccounts
			if rev := journalTotals(out.Journals)[a.Revenue]; rev != 120000-53333 {
				t.Errorf("revenue reversed %d, want %d", rev, 120000-53333)
			}
			if _, err := b.ApplyDeal(s, amendDeal("C-1", 3, contract.ChangeUpsell, "2025-06-01", seat(11, 1000))); !errors.Is(err, contract.ErrContractCanceled) {
				t.Errorf("amend after cancel: %v", err)
			}
		})
	}
}

func TestAmendmentHeldUntilPredecessor(t *testing.T) {
	b := New()
	nw := newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000))
	a2 := amendDeal("C-1", 2, contract.ChangeUpsell, "2025-04-01", seat(12, 1000))
	a3 := amendDeal("C-1", 3, contract.ChangeDownsell, "2025-09-10", seat(11, 1000))

	inOrder := NewState("C-1")
	mustApply(t, b, inOrder, nw)
	want := mustApply(t, b, inOrder, a2)
	want.add(mustApply(t, b, inOrder, a3))

	s := NewState("C-1")
	mustApply(t, b, s, nw)
	held := mustApply(t, b, s, a3)
	if diff := cmp.Diff(Outputs{Status: StatusHeld}, held); diff != "" {
		t.Fatalf("seq 3 before 2 (-want +got):\n%s", diff)
	}
	if len(s.Held) != 1 || s.Held[0].Deal.Seq != 3 || !s.Held[0].Since.Equal(a3.OccurredAt) {
		t.Fatalf("held %+v", s.Held)
	}
	if dl, ok := s.NextDeadline(4 * time.Hour); !ok || !dl.Equal(a3.OccurredAt.Add(4*time.Hour)) {
		t.Errorf("deadline %s %v", dl, ok)
	}
	if out := b.Tick(s, a3.OccurredAt.Add(time.Hour), 4*time.Hour); len(out.Exceptions) != 0 {
		t.Fatalf("exception before the SLA: %+v", out.Exceptions)
	}
	out := b.Tick(s, a3.OccurredAt.Add(5*time.Hour), 4*time.Hour)
	if len(out.Exceptions) != 1 {
		t.Fatalf("want one gap exception, got %+v", out.Exceptions)
	}
	ex := out.Exceptions[0]
	if ex.Category != CategoryAmendmentGap || ex.Reason != "amendment_gap" || ex.Seq != 3 || ex.Queue != QueueFinanceOps ||
		!cmp.Equal(ex.Context[3], Field{"waiting_for_seq", "2"}) {
		t.Errorf("gap exception %+v", ex)
	}
	if again := b.Tick(s, a3.OccurredAt.Add(9*time.Hour), 4*time.Hour); len(again.Exceptions) != 0 {
		t.Errorf("gap raised twice: %+v", again.Exceptions)
	}

	got := mustApply(t, b, s, a2)
	if got.Status != StatusApplied || !cmp.Equal(got.Applied, []int64{2, 3}) || len(s.Held) != 0 {
		t.Fatalf("status %s applied %v held %d", got.Status, got.Applied, len(s.Held))
	}
	want.Status = StatusApplied
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("held-then-released differs from in-order (-in order +released):\n%s", diff)
	}
}

func TestAmendmentBeforeNewIsHeldAsUnknownContract(t *testing.T) {
	b, s := New(), NewState("C-9")
	a2 := amendDeal("C-9", 2, contract.ChangeUpsell, "2025-04-01", seat(12, 1000))
	if out := mustApply(t, b, s, a2); out.Status != StatusHeld {
		t.Fatalf("status %s", out.Status)
	}
	ex := b.Tick(s, a2.OccurredAt.Add(time.Hour), time.Minute).Exceptions
	if len(ex) != 1 || ex[0].Reason != string(contract.Reason(contract.ErrUnknownContract)) {
		t.Fatalf("exceptions %+v", ex)
	}
	out := mustApply(t, b, s, newDeal("C-9", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	if !cmp.Equal(out.Applied, []int64{1, 2}) {
		t.Fatalf("applied %v", out.Applied)
	}
	if _, err := b.ApplyBilling(NewState("C-8"), BillingEvent{ContractID: "C-8", Kind: Provisioned, SubscriptionID: "S"}); !errors.Is(err, contract.ErrUnknownContract) || errs.ClassOf(err) != errs.ClassBusiness {
		t.Errorf("billing ack for unknown contract: %v", err)
	}
}

func TestHeldAmendmentRejectedWhenReleased(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	bad := amendDeal("C-1", 3, contract.ChangeUpsell, "2025-02-01", seat(20, 1000)) // before seq 2's date
	mustApply(t, b, s, bad)
	out := mustApply(t, b, s, amendDeal("C-1", 2, contract.ChangeUpsell, "2025-05-01", seat(12, 1000)))
	if !cmp.Equal(out.Applied, []int64{2}) || len(out.Exceptions) != 1 {
		t.Fatalf("applied %v exceptions %+v", out.Applied, out.Exceptions)
	}
	if ex := out.Exceptions[0]; ex.Category != CategoryAmendmentRejected || ex.Reason != "effective_before_last_change" || ex.Seq != 3 {
		t.Errorf("exception %+v", ex)
	}
	// The sequence is not consumed: a corrected re-send of 3 applies.
	fixed := amendDeal("C-1", 3, contract.ChangeUpsell, "2025-06-01", seat(20, 1000))
	if out := mustApply(t, b, s, fixed); !cmp.Equal(out.Applied, []int64{3}) {
		t.Errorf("corrected seq 3: %+v", out)
	}
}

func TestDuplicates(t *testing.T) {
	b, s := New(), NewState("C-1")
	nw := newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000), contract.Line{SKU: "sso", Quantity: 1, UnitPrice: 500})
	mustApply(t, b, s, nw)
	before, _ := s.Marshal()

	resend := nw
	resend.OccurredAt = nw.OccurredAt.Add(time.Hour)
	resend.Lines = []contract.Line{nw.Lines[1], nw.Lines[0]}
	if out := mustApply(t, b, s, resend); !cmp.Equal(out, Outputs{Status: StatusDuplicate}) {
		t.Errorf("re-send: %+v", out)
	}
	changed := nw
	changed.Lines = []contract.Line{seat(11, 1000)}
	_, err := b.ApplyDeal(s, changed)
	if !errors.Is(err, contract.ErrConflictingDuplicate) || errs.ClassOf(err) != errs.ClassBusiness {
		t.Errorf("conflicting re-send: %v", err)
	}
	a3 := amendDeal("C-1", 3, contract.ChangeUpsell, "2025-06-01", seat(12, 1000), contract.Line{SKU: "sso", Quantity: 1, UnitPrice: 500})
	mustApply(t, b, s, a3)
	if out := mustApply(t, b, s, a3); out.Status != StatusDuplicate {
		t.Errorf("held re-send: %+v", out)
	}
	if len(s.Held) != 1 {
		t.Errorf("held %d", len(s.Held))
	}
	s.Held = nil
	after, _ := s.Marshal()
	if diff := cmp.Diff(string(before), string(after)); diff != "" {
		t.Errorf("state changed by duplicates (-before +after):\n%s", diff)
	}
}

func TestBadDealsLeaveStateUntouched(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	before, _ := s.Marshal()
	bad := []struct {
		name  string
		deal  contract.Deal
		want  error
		class errs.Class
	}{
		{"end before start", newDeal("C-2", contract.Monthly, "2025-01-01", "2024-01-01", seat(1, 1)), contract.ErrEndBeforeStart, errs.ClassPoison},
		{"zero-length term", newDeal("C-2", contract.Monthly, "2025-01-01", "2025-01-01", seat(1, 1)), contract.ErrZeroLengthTerm, errs.ClassPoison},
		{"unknown frequency", newDeal("C-2", "BIWEEKLY", "2025-01-01", "2026-01-01", seat(1, 1)), contract.ErrUnknownFrequency, errs.ClassPoison},
		{"mixed currencies", newDeal("C-2", contract.Monthly, "2025-01-01", "2026-01-01", seat(1, 1), contract.Line{SKU: "x", Quantity: 1, UnitPrice: 1, Currency: "GBP"}), contract.ErrMixedCurrencies, errs.ClassPoison},
		{"negative price", newDeal("C-2", contract.Monthly, "2025-01-01", "2026-01-01", seat(1, -1)), contract.ErrNegativePrice, errs.ClassPoison},
		{"negative quantity", newDeal("C-2", contract.Monthly, "2025-01-01", "2026-01-01", seat(-1, 1)), contract.ErrNegativeQuantity, errs.ClassPoison},
		{"missing lines", newDeal("C-2", contract.Monthly, "2025-01-01", "2026-01-01"), contract.ErrMissingLines, errs.ClassPoison},
		{"currency change", func() contract.Deal {
			d := amendDeal("C-1", 2, contract.ChangeUpsell, "2025-03-01", seat(12, 1000))
			d.Currency = "USD"
			return d
		}(), contract.ErrCurrencyChanged, errs.ClassBusiness},
		{"effective outside term", amendDeal("C-1", 2, contract.ChangeUpsell, "2026-03-01", seat(12, 1000)), contract.ErrEffectiveOutsideTerm, errs.ClassBusiness},
		{"upsell that is a downsell", amendDeal("C-1", 2, contract.ChangeUpsell, "2025-03-01", seat(8, 1000)), contract.ErrChangeMismatch, errs.ClassBusiness},
		{"wrong state", newDeal("C-7", contract.Monthly, "2025-01-01", "2026-01-01", seat(1, 1)), ErrWrongContract, errs.ClassPoison},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tgt := s
			if tt.deal.ContractID == "C-2" {
				tgt = NewState("C-2")
			}
			out, err := b.ApplyDeal(tgt, tt.deal)
			if !errors.Is(err, tt.want) || errs.ClassOf(err) != tt.class {
				t.Fatalf("err %v (%s), want %v (%s)", err, errs.ClassOf(err), tt.want, tt.class)
			}
			if !cmp.Equal(out, Outputs{}) {
				t.Errorf("outputs on error: %+v", out)
			}
			if after, _ := s.Marshal(); string(after) != string(before) {
				t.Errorf("state changed")
			}
			if tgt != s && (tgt.Terms != nil || len(tgt.Applied) != 0) {
				t.Errorf("new contract state changed: %+v", tgt)
			}
		})
	}
}

func TestJournalAnswers(t *testing.T) {
	b, s := New(), NewState("C-1")
	out := mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	id := out.Journals[0].ID
	if id != "JE/C-1/1/2025-01-01/INVOICE" {
		t.Fatalf("first journal %s", id)
	}
	rej := JournalEvent{ContractID: "C-1", JournalID: id, Kind: JournalRejectedEvent, Reason: "period 2025-01 closed"}
	got, err := b.ApplyJournal(s, rej)
	if err != nil {
		t.Fatal(err)
	}
	wantEx := []Exception{{
		ID: id + "/journal_rejected", Category: CategoryJournalRejected, Queue: QueueFinanceOps, Severity: "high",
		ContractID: "C-1", Seq: 1, Reason: "journal_rejected", Message: "ERP rejected journal " + id + ": period 2025-01 closed",
		Context: []Field{{"journal_id", id}, {"kind", "INVOICE"}, {"period", "2025-01-01"}, {"posting_date", "2025-01-01"},
			{"amount", "10000"}, {"currency", "EUR"}, {"erp_reason", "period 2025-01 closed"}},
	}}
	if diff := cmp.Diff(wantEx, got.Exceptions); diff != "" {
		t.Errorf("rejection exception (-want +got):\n%s", diff)
	}
	if again, _ := b.ApplyJournal(s, rej); again.Status != StatusDuplicate || len(again.Exceptions) != 0 {
		t.Errorf("repeated rejection: %+v", again)
	}
	if _, err := b.ApplyJournal(s, JournalEvent{ContractID: "C-1", JournalID: id, Kind: JournalPostedEvent, Document: "ERP-1"}); err != nil {
		t.Fatal(err)
	}
	if st := s.Journals[id]; st.Status != JournalPosted || st.Document != "ERP-1" || st.Reason != "" {
		t.Errorf("status after posting %+v", st)
	}
	_, err = b.ApplyJournal(s, JournalEvent{ContractID: "C-1", JournalID: "JE/C-1/9/2025-01/RECOGNITION", Kind: JournalPostedEvent})
	if !errors.Is(err, ErrUnknownJournal) || errs.ClassOf(err) != errs.ClassBusiness {
		t.Errorf("unknown journal: %v", err)
	}
}

func TestBillingAcknowledgments(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	prov := BillingEvent{ContractID: "C-1", Kind: Provisioned, SubscriptionID: "SUB-1"}
	if out, err := b.ApplyBilling(s, prov); err != nil || out.Status != StatusNoChange || s.Subscription.ID != "SUB-1" {
		t.Fatalf("provisioned: %+v %v", out, err)
	}
	if out, _ := b.ApplyBilling(s, prov); out.Status != StatusDuplicate {
		t.Errorf("duplicate provisioned: %+v", out)
	}
	prov.SubscriptionID = "SUB-2"
	if _, err := b.ApplyBilling(s, prov); !errors.Is(err, ErrSubscriptionConflict) {
		t.Errorf("second subscription: %v", err)
	}
	out, err := b.ApplyBilling(s, BillingEvent{ContractID: "C-1", Kind: InvoiceIssued, DocumentID: "C-1/2025-02-01/INV", InvoiceNumber: "I-2", Amount: 9999, Currency: "EUR"})
	if err != nil || len(out.Exceptions) != 1 || out.Exceptions[0].Category != CategoryInvoiceMismatch {
		t.Fatalf("mismatched invoice: %+v %v", out, err)
	}
	if d := s.Docs[1]; !d.Issued || d.InvoiceNumber != "I-2" {
		t.Errorf("doc after issue %+v", d)
	}
	if _, err := b.ApplyBilling(s, BillingEvent{ContractID: "C-1", Kind: InvoiceIssued, DocumentID: "nope"}); !errors.Is(err, ErrUnknownDocument) {
		t.Errorf("unknown document: %v", err)
	}
	// Later amendments leave the issued February invoice alone.
	mustApply(t, b, s, amendDeal("C-1", 2, contract.ChangeUpsell, "2025-01-20", seat(12, 1000)))
	if d := s.Docs[2]; d.ID != "C-1/2025-02-01/INV" || d.Amount != 10000 || !d.Issued {
		t.Errorf("issued invoice changed: %+v", d)
	}
	if d := s.Docs[3]; d.Kind != schedule.Adjustment || d.Date != day("2025-02-01") || d.Amount != 2000 {
		t.Errorf("February adjustment %+v", d)
	}
}

func TestRenewExtendsTerm(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Quarterly, "2025-01-01", "2025-11-01", seat(1, 9200)))
	out := mustApply(t, b, s, contract.Deal{ContractID: "C-1", Seq: 2, Kind: contract.KindRenew, End: day("2026-07-01"),
		Lines: []contract.Line{seat(1, 9500)}, OccurredAt: t0})
	// The last quarter was billed for October only (31 of 92 days = 3100);
	// the renewal bills November–December at the new price, then whole
	// quarters.
	want := []docSummary{
		{schedule.Invoice, "2025-01-01", 9200}, {schedule.Invoice, "2025-04-01", 9200},
		{schedule.Invoice, "2025-07-01", 9200}, {schedule.Invoice, "2025-10-01", 3100},
		{schedule.Adjustment, "2025-11-01", 9500 - 3201}, {schedule.Invoice, "2026-01-01", 9500},
		{schedule.Invoice, "2026-04-01", 9500},
	}
	if diff := cmp.Diff(want, summarize(s.Docs)); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}
	if c := out.Commands[0]; c.Kind != UpdateSubscription || c.End != day("2026-07-01") || c.Effective != day("2025-11-01") {
		t.Errorf("update %+v", c)
	}
	if recognised(s) != docTotal(s.Docs) {
		t.Errorf("recognised %d billed %d", recognised(s), docTotal(s.Docs))
	}
}

func TestStateRoundTrip(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-31", "2026-01-31", seat(10, 1000)))
	mustApply(t, b, s, amendDeal("C-1", 4, contract.ChangeUpsell, "2025-09-01", seat(30, 1000)))
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	again, _ := back.Marshal()
	if string(again) != string(raw) {
		t.Errorf("re-marshal differs")
	}
	if _, err := Unmarshal([]byte(`{"terms":null}`)); err == nil {
		t.Errorf("state without contract id accepted")
	}
	if _, err := Unmarshal([]byte(`{`)); err == nil {
		t.Errorf("truncated state accepted")
	}
}

// TestSupersededInvoice: billing issued an invoice on the schedule of
// amendment 1 after amendment 2 had replaced that document (it had not yet
// received the later command): the invoice changes nothing and raises
// nothing, and the re-issue under amendment 2 settles the document. An
// invoice answering the current amendment is still checked.
func TestSupersededInvoice(t *testing.T) {
	b, s := New(), NewState("C-1")
	mustApply(t, b, s, newDeal("C-1", contract.Monthly, "2025-01-01", "2026-01-01", seat(10, 1000)))
	mustApply(t, b, s, amendDeal("C-1", 2, contract.ChangeUpsell, "2025-01-01", seat(12, 1000)))
	jan := func(seq, amount int64, doc string) BillingEvent {
		return BillingEvent{ContractID: "C-1", Kind: InvoiceIssued, DocumentID: doc, InvoiceNumber: "I-1", Amount: amount, Currency: "EUR", Seq: seq}
	}
	for name, ev := range map[string]BillingEvent{
		"old amount":       jan(1, 10000, "C-1/2025-01-01/INV"),
		"period not there": jan(1, 10000, "(service period 2025-01-01 to 2025-01-31)"),
	} {
		out, err := b.ApplyBilling(s, ev)
		if err != nil || out.Status != StatusSuperseded || len(out.Exceptions) != 0 {
			t.Errorf("%s: %+v %v", name, out, err)
		}
	}
	if d := s.Docs[0]; d.Issued || d.Amount != 12000 {
		t.Fatalf("document after the superseded invoice %+v", d)
	}
	if _, err := b.ApplyBilling(s, jan(2, 12000, "(service period 2025-01-01 to 2025-01-31)")); !errors.Is(err, ErrUnknownDocument) {
		t.Errorf("unknown document on the current amendment: %v", err)
	}
	out, err := b.ApplyBilling(s, jan(2, 12000, "C-1/2025-01-01/INV"))
	if err != nil || out.Status != StatusNoChange || len(out.Exceptions) != 0 || !s.Docs[0].Issued {
		t.Fatalf("re-issued invoice: %+v %v %+v", out, err, s.Docs[0])
	}
	out, err = b.ApplyBilling(s, jan(2, 999, "C-1/2025-02-01/INV"))
	if err != nil || len(out.Exceptions) != 1 || out.Exceptions[0].Category != CategoryInvoiceMismatch {
		t.Errorf("mismatch on the current amendment: %+v %v", out, err)
	}
}
