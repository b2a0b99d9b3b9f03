package match

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// The ledger check on the records billing-bridge really publishes (see
// docs/billing-bridge.md): an amendment's billing command lists only the
// documents dated on or after its effective date; credits, cancellations and
// recognition reversals are positive journals that take amounts back; a
// cancelled month is restated with zero revenue; schedule, revenue and
// journals travel on three topics and are seen one side at a time.

const ledgerContract = "CT-1"

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

// ledgerEvents builds source records and routes them like the router does.
type ledgerEvents struct {
	n     int
	steps []step
}

func (l *ledgerEvents) emit(topic string, d time.Duration, v contracts.Value, md *contracts.EventMetadata) {
	l.n++
	*md = contracts.EventMetadata{EventID: fmt.Sprintf("ev-%d", l.n), CorrelationID: "corr-" + ledgerContract, OccurredAt: t0.Add(d)}
	for _, o := range Route(topic, v) {
		l.steps = append(l.steps, step{obs: &o})
	}
}

type doc struct {
	period string
	amount int64
}

// command is a billing command of amendment seq effective on eff.
func (l *ledgerEvents) command(d time.Duration, seq int, action, eff string, docs ...doc) {
	v := &contracts.BillingCommand{CommandID: fmt.Sprintf("BC/%d", seq), Action: action, ContractID: ledgerContract,
		AmendmentSequence: seq, Currency: "USD", EffectiveDate: date(eff), InvoiceSchedule: []contracts.ScheduledInvoice{}}
	for i, x := range docs {
		v.InvoiceSchedule = append(v.InvoiceSchedule, contracts.ScheduledInvoice{Sequence: i + 1, InvoiceDate: date(x.period),
			PeriodStart: date(x.period), PeriodEnd: date(x.period).AddDate(0, 1, -1), Amount: usd(x.amount)})
	}
	l.emit(contracts.TopicBillingCommandsV1, d, v, &v.Metadata)
}

// revenue restates one month as of amendment seq.
func (l *ledgerEvents) revenue(d time.Duration, seq int, month string, recognised int64) {
	v := &contracts.RevenueSchedule{ContractID: ledgerContract, AmendmentSequence: seq, PeriodStart: date(month),
		PeriodEnd: date(month).AddDate(0, 1, -1), Recognised: usd(recognised)}
	l.emit(contracts.TopicBillingRevenueScheduleV1, d, v, &v.Metadata)
}

func journalLines(amount int64) []contracts.JournalLine {
	return []contracts.JournalLine{{LineNumber: 1, Account: "1200", Debit: usd(amount), Credit: usd(0)},
		{LineNumber: 2, Account: "2400", Debit: usd(0), Credit: usd(amount)}}
}

func journalID(seq int, period, kind string) string {
	return fmt.Sprintf("JE/%s/%d/%s/%s", ledgerContract, seq+1, period, kind)
}

// journal commands a journal (positive lines, as billing-bridge sends them).
func (l *ledgerEvents) journal(d time.Duration, seq int, kind, period string, amount int64) string {
	p := date(period)
	id := journalID(seq, period, kind)
	v := &contracts.JournalCommand{JournalCommandID: id, Kind: kind, ContractID: ledgerContract, AmendmentSequence: seq,
		PostingDate: p, PeriodStart: &p, Currency: "USD", Lines: journalLines(amount)}
	l.emit(contracts.TopicERPJournalCommandsV1, d, v, &v.Metadata)
	return id
}

// answer is ERP's outcome for a journal, with the lines it posted.
func (l *ledgerEvents) answer(d time.Duration, id, status string, posted int64) {
	c := ledgerContract
	v := &contracts.Journal{JournalCommandID: id, Status: status, ContractID: &c}
	if status == contracts.JournalStatusPosted {
		v.Lines = journalLines(posted)
	} else {
		code, msg := "PERIOD_CLOSED", "period closed"
		v.RejectionCode, v.ERPMessage = &code, &msg
	}
	l.emit(contracts.TopicERPJournalV1, d, v, &v.Metadata)
}

// posted commands a journal and ERP posts it a second later.
func (l *ledgerEvents) posted(d time.Duration, seq int, kind, period string, amount int64) {
	id := l.journal(d, seq, kind, period, amount)
	l.answer(d+time.Second, id, contracts.JournalStatusPosted, amount)
}

func (l *ledgerEvents) tick(d time.Duration) { l.steps = append(l.steps, tick(d)) }

var months2025 = []string{"2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01",
	"2025-07-01", "2025-08-01", "2025-09-01", "2025-10-01", "2025-11-01", "2025-12-01"}

// newContract is a NEW monthly contract for 2025 at 10,000 a month, billed
// and recognised, every journal posted.
func (l *ledgerEvents) newContract() {
	var docs []doc
	for _, m := range months2025 {
		docs = append(docs, doc{m, 10000})
	}
	l.command(0, 0, contracts.BillingActionProvision, "2025-01-01", docs...)
	for _, m := range months2025 {
		l.revenue(0, 0, m, 10000)
	}
	for _, m := range months2025 {
		l.posted(time.Second, 0, contracts.JournalKindInvoice, m, 10000)
		l.posted(time.Second, 0, contracts.JournalKindRecognition, m, 10000)
	}
}

func mismatch(status, expected, actual string) got {
	return got{Kind: contracts.BreakKindBillingJournalMismatch, Status: status, Expected: expected, Actual: actual}
}

func TestLedgerCheckOnBillingBridgeRecords(t *testing.T) {
	settle := testSLA.LedgerSettle
	tests := []struct {
		name  string
		build func(l *ledgerEvents)
		want  []got
	}{
		{"NEW: every period billed and recognised", func(l *ledgerEvents) {
			l.newContract()
			l.tick(settle + time.Minute)
		}, nil},
		{"RENEW lists only the renewal's periods; the earlier ones stay expected", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2026-01-01", doc{"2026-01-01", 10000}, doc{"2026-02-01", 10000})
			for _, m := range []string{"2026-01-01", "2026-02-01"} {
				l.revenue(10*time.Second, 1, m, 10000)
				l.posted(11*time.Second, 1, contracts.JournalKindInvoice, m, 10000)
				l.posted(11*time.Second, 1, contracts.JournalKindRecognition, m, 10000)
			}
			l.tick(settle + time.Minute)
		}, nil},
		{"DOWNSELL re-plans unissued invoices down with credits and reverses recognition", func(l *ledgerEvents) {
			l.newContract()
			var docs []doc
			for _, m := range months2025[6:] {
				docs = append(docs, doc{m, 6000})
			}
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-07-01", docs...)
			for _, m := range months2025[6:] {
				l.revenue(10*time.Second, 1, m, 6000)
				l.posted(11*time.Second, 1, contracts.JournalKindCredit, m, 4000)
				l.posted(11*time.Second, 1, contracts.JournalKindReversal, m, 4000)
			}
			l.tick(settle + time.Minute)
		}, nil},
		{"UPSELL mid-period: an adjustment of the billed period, the rest re-planned", func(l *ledgerEvents) {
			l.newContract()
			// 10 → 15 seats from 2025-03-16: March adjusted by 2580, April on re-planned at 15000.
			docs := []doc{{"2025-03-16", 2580}}
			for _, m := range months2025[3:] {
				docs = append(docs, doc{m, 15000})
			}
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-03-16", docs...)
			l.posted(11*time.Second, 1, contracts.JournalKindInvoice, "2025-03-16", 2580)
			l.revenue(10*time.Second, 1, "2025-03-01", 12580)
			l.posted(11*time.Second, 1, contracts.JournalKindRecognition, "2025-03-01", 2580)
			for _, m := range months2025[3:] {
				l.revenue(10*time.Second, 1, m, 15000)
				l.posted(11*time.Second, 1, contracts.JournalKindInvoice, m, 5000)
				l.posted(11*time.Second, 1, contracts.JournalKindRecognition, m, 5000)
			}
			l.tick(settle + time.Minute)
		}, nil},
		{"CANCEL withdraws the unissued invoices and zeroes the months", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionCancel, "2025-07-01") // nothing dated from July on
			for _, m := range months2025[6:] {
				l.revenue(10*time.Second, 1, m, 0)
				l.posted(11*time.Second, 1, contracts.JournalKindCancellation, m, 10000)
				l.posted(11*time.Second, 1, contracts.JournalKindReversal, m, 10000)
			}
			l.tick(settle + time.Minute)
		}, nil},
		{"in flight: the amendment's schedule is seen long before its journals", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-12-01", doc{"2025-12-01", 15000})
			l.revenue(10*time.Second, 1, "2025-12-01", 15000)
			l.tick(20 * time.Second)
			l.posted(10*time.Second+settle-time.Second, 1, contracts.JournalKindInvoice, "2025-12-01", 5000)
			l.posted(10*time.Second+settle-time.Second, 1, contracts.JournalKindRecognition, "2025-12-01", 5000)
			l.tick(settle + time.Minute)
		}, nil},
		{"in flight: journals seen before the schedule that explains them", func(l *ledgerEvents) {
			l.newContract()
			l.posted(10*time.Second, 1, contracts.JournalKindCredit, "2025-12-01", 10000)
			l.tick(20 * time.Second)
			l.command(30*time.Second, 1, contracts.BillingActionCancel, "2025-12-01")
			l.tick(settle + time.Minute)
		}, nil},
		{"a journal ERP rejected is a posting gap (JOURNAL_NOT_POSTED), not an amount mismatch", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-12-01", doc{"2025-12-01", 15000})
			id := l.journal(11*time.Second, 1, contracts.JournalKindInvoice, "2025-12-01", 5000)
			l.answer(12*time.Second, id, contracts.JournalStatusRejected, 0)
			l.tick(settle + time.Minute)
			l.tick(2 * time.Minute) // journal SLA (1m) passed
			l.answer(3*time.Minute, id, contracts.JournalStatusPosted, 5000)
		}, []got{{Kind: contracts.BreakKindJournalNotPosted, Status: "OPEN"}, {Kind: contracts.BreakKindJournalNotPosted, Status: "CLOSED"}}},
		{"journals that do not add up break after the settle deadline, and close when corrected", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-12-01", doc{"2025-12-01", 15000})
			l.posted(11*time.Second, 1, contracts.JournalKindInvoice, "2025-12-01", 4000)
			l.tick(10*time.Second + settle - time.Millisecond)
			l.tick(10*time.Second + settle)
			l.posted(2*time.Minute, 2, contracts.JournalKindInvoice, "2025-12-01", 1000)
		}, []got{mismatch("OPEN", "15000 USD", "14000 USD"), mismatch("CLOSED", "15000 USD", "15000 USD")}},
		{"ERP posted another amount than commanded", func(l *ledgerEvents) {
			l.newContract()
			l.command(10*time.Second, 1, contracts.BillingActionUpdate, "2025-12-01", doc{"2025-12-01", 15000})
			id := l.journal(11*time.Second, 1, contracts.JournalKindInvoice, "2025-12-01", 5000)
			l.answer(12*time.Second, id, contracts.JournalStatusPosted, 500)
			l.tick(settle + time.Minute)
		}, []got{mismatch("OPEN", "15000 USD", "10500 USD")}},
		{"an amendment whose contract history is unknown (NEW not seen) is not compared", func(l *ledgerEvents) {
			l.command(0, 3, contracts.BillingActionUpdate, "2025-12-01", doc{"2025-12-01", 15000})
			l.revenue(0, 3, "2025-12-01", 15000)
			l.posted(time.Second, 3, contracts.JournalKindInvoice, "2025-12-01", 5000)
			l.posted(time.Second, 3, contracts.JournalKindRecognition, "2025-12-01", 5000)
			l.tick(settle + time.Minute)
		}, nil},
		{"revenue restated without its recognition journal", func(l *ledgerEvents) {
			l.newContract()
			l.revenue(10*time.Second, 1, "2025-12-01", 12000)
			// December's recognition is posted when December opens: not
			// expected before (no break in March), missing after.
			l.tick(settle + time.Minute)
			l.tick(date("2025-12-01").Sub(t0) + settle + time.Minute)
		}, []got{mismatch("OPEN", "12000 USD", "10000 USD")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &ledgerEvents{}
			tc.build(l)
			out, st := run(t, l.steps)
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("breaks (-want +got):\n%s", diff)
			}
			en, err := st.entity(ContractKey(ledgerContract))
			if err != nil {
				t.Fatal(err)
			}
			if len(en.Settle) != 0 {
				t.Errorf("settle timers left: %v", en.Settle)
			}
		})
	}
}

// A future month's recognition is not expected in the ledger before the
// month opens (billing-bridge posts it then): no break in March for
// December, a settle timer waiting for December instead.
func TestFutureRecognitionNotExpectedBeforeItsMonth(t *testing.T) {
	settle := testSLA.LedgerSettle
	l := &ledgerEvents{}
	l.newContract()
	l.revenue(10*time.Second, 1, "2025-12-01", 12000)
	l.tick(settle + time.Minute)
	out, st := run(t, l.steps)
	if len(out) != 0 {
		t.Errorf("breaks before December opened: %+v", out)
	}
	en, err := st.entity(ContractKey(ledgerContract))
	if err != nil {
		t.Fatal(err)
	}
	want := date("2025-12-01").Add(settle).UnixMilli()
	if got, ok := en.Settle["RECOGNITION|2025-12-01"]; !ok || got != want {
		t.Errorf("settle timers %v, want RECOGNITION|2025-12-01 at %d", en.Settle, want)
	}
}
