//go:build integration

package billingbridge_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

const wait = 60 * time.Second

// TestScenarios runs billing-bridge on the real broker and registry and
// checks the scenarios end to end, each on its own contract.
func TestScenarios(t *testing.T) {
	h := newHarness(t)
	h.startService(map[string]string{"ISTHMUS_BILLING_GAP_SLA": "3s"})
	at := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

	t.Run("new provisions, schedules and journals", func(t *testing.T) {
		h.t = t
		d := newDeal("C-NEW", "2025-01-01", 10, 1000, at)
		h.in().Value(contracts.TopicCRMDealV1, d.ContractID, d)
		recs := h.waitFor("provision of C-NEW", wait, func(r []got) bool {
			cmds, rev, js, _ := forContract(r, "C-NEW")
			return len(cmds) == 1 && len(rev) == 12 && len(js) == 24
		})
		cmds, rev, js, _ := forContract(recs, "C-NEW")
		c := cmds[0]
		if c.Action != contracts.BillingActionProvision || c.AmendmentSequence != 0 || len(c.InvoiceSchedule) != 12 || scheduleTotal(c) != 120000 {
			t.Errorf("command %s %s seq %d: %d invoices totalling %d", c.CommandID, c.Action, c.AmendmentSequence, len(c.InvoiceSchedule), scheduleTotal(c))
		}
		if c.Metadata.CorrelationID != d.Metadata.CorrelationID || c.Metadata.CausationID == nil || *c.Metadata.CausationID != d.Metadata.EventID ||
			!c.Metadata.OccurredAt.Equal(d.Metadata.OccurredAt) || c.Metadata.SourceSystem != contracts.SourceSystemBillingBridge {
			t.Errorf("metadata %+v, input %+v", c.Metadata, d.Metadata)
		}
		var invoiced, recognised int64
		for _, j := range js {
			dr, cr := journalAmount(j)
			if dr != cr || dr <= 0 {
				t.Errorf("journal %s unbalanced: %d/%d", j.JournalCommandID, dr, cr)
			}
			switch j.Kind {
			case contracts.JournalKindInvoice:
				invoiced += dr
			case contracts.JournalKindRecognition:
				recognised += dr
			}
		}
		if invoiced != 120000 || recognised != 120000 {
			t.Errorf("invoiced %d, recognised %d, want 120000 each", invoiced, recognised)
		}
		last := rev[len(rev)-1]
		if last.DeferredBalance.AmountMinor != 0 || last.CumulativeRecognised.AmountMinor != 120000 || last.ContractValue.AmountMinor != 120000 {
			t.Errorf("last revenue month %+v", last)
		}
	})

	t.Run("amend upsell mid-term", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-UP", newDeal("C-UP", "2025-01-01", 10, 1000, at))
		h.in().Value(contracts.TopicCRMDealV1, "C-UP", amendDeal("C-UP", 1, contract.ChangeUpsell, "2025-03-16", 15, 1000, at.Add(time.Hour)))
		// The upsell's invoice journal is emitted in its own transaction,
		// possibly after the update: wait for both.
		upsellJournal := func(js []*contracts.JournalCommand) bool {
			for _, j := range js {
				if dr, _ := journalAmount(j); j.AmendmentSequence == 1 && j.Kind == contracts.JournalKindInvoice && dr == 2580 {
					return true
				}
			}
			return false
		}
		recs := h.waitFor("update of C-UP and its invoice journal", wait, func(r []got) bool {
			cmds, _, js, _ := forContract(r, "C-UP")
			return len(cmds) == 2 && upsellJournal(js)
		})
		cmds, _, js, _ := forContract(recs, "C-UP")
		u := cmds[1]
		if u.Action != contracts.BillingActionUpdate || u.AmendmentSequence != 1 || !u.EffectiveDate.Equal(day("2025-03-16").Time()) {
			t.Fatalf("update %+v", u)
		}
		// March 16–31 prorated: (15000 − ⌊15000·15/31⌋) − (10000 − ⌊10000·15/31⌋) = 2580, then April–December at 15000.
		if u.InvoiceSchedule[0].Amount.AmountMinor != 2580 || scheduleTotal(u) != 2580+9*15000 {
			t.Errorf("schedule from 2025-03-16: first %d, total %d", u.InvoiceSchedule[0].Amount.AmountMinor, scheduleTotal(u))
		}
		if !upsellJournal(js) {
			t.Error("no invoice journal of 2580 for the upsell")
		}
	})

	t.Run("cancel with credit", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-CX", newDeal("C-CX", "2025-01-01", 10, 1000, at))
		h.in().Value(contracts.TopicCRMDealV1, "C-CX", cancelDeal("C-CX", 1, "2025-06-11", at.Add(time.Hour)))
		recs := h.waitFor("cancel of C-CX", wait, func(r []got) bool {
			cmds, _, _, _ := forContract(r, "C-CX")
			return len(cmds) == 2
		})
		cmds, rev, js, _ := forContract(recs, "C-CX")
		c := cmds[1]
		if c.Action != contracts.BillingActionCancel || scheduleTotal(c) != -6667 || !c.EndDate.Equal(day("2025-06-10").Time()) {
			t.Errorf("cancel %s: schedule total %d (want -6667), end %s", c.Action, scheduleTotal(c), c.EndDate)
		}
		var ar int64 // receivables: invoices − credits
		for _, j := range js {
			dr, _ := journalAmount(j)
			switch j.Kind {
			case contracts.JournalKindInvoice:
				ar += dr
			case contracts.JournalKindCredit, contracts.JournalKindCancellation:
				ar -= dr
			}
		}
		// Billed: Jan–May 50000 + June 10 days 3333; July–December withdrawn.
		if ar != 53333 {
			t.Errorf("receivables after cancel %d, want 53333", ar)
		}
		var final int64
		for _, r := range rev {
			if r.AmendmentSequence == 1 {
				final = r.ContractValue.AmountMinor
			}
		}
		if final != 53333 {
			t.Errorf("contract value after cancel %d, want 53333", final)
		}
	})

	t.Run("amendment 2 before 1 is held, raised past the SLA, then applied", func(t *testing.T) {
		h.t = t
		now := time.Now()
		h.in().Value(contracts.TopicCRMDealV1, "C-GAP", newDeal("C-GAP", "2025-01-01", 10, 1000, now))
		late := amendDeal("C-GAP", 2, contract.ChangeUpsell, "2025-05-01", 20, 1000, now)
		h.in().Value(contracts.TopicCRMDealV1, "C-GAP", late)
		recs := h.waitFor("gap exception of C-GAP", wait, func(r []got) bool {
			_, _, _, xs := forContract(r, "C-GAP")
			return len(xs) == 1
		})
		cmds, _, _, xs := forContract(recs, "C-GAP")
		x := xs[0]
		if x.Category != contracts.ExceptionCategoryAmendmentGap || x.Queue != contracts.ExceptionQueueFinanceOps ||
			x.Context["amendment_sequence"] != "2" || x.Context["waiting_for_seq"] != "1" || x.Metadata.CorrelationID != late.Metadata.CorrelationID {
			t.Errorf("gap exception %+v", x)
		}
		if len(cmds) != 1 {
			t.Fatalf("%d commands while amendment 2 is held, want the provision only", len(cmds))
		}
		h.in().Value(contracts.TopicCRMDealV1, "C-GAP", amendDeal("C-GAP", 1, contract.ChangeUpsell, "2025-03-01", 15, 1000, now))
		recs = h.waitFor("amendments 1 and 2 of C-GAP", wait, func(r []got) bool {
			cmds, _, _, _ := forContract(r, "C-GAP")
			return len(cmds) == 3
		})
		cmds, _, _, xs = forContract(recs, "C-GAP")
		if cmds[1].AmendmentSequence != 1 || cmds[2].AmendmentSequence != 2 || len(xs) != 1 {
			t.Errorf("sequences %d, %d; %d exceptions", cmds[1].AmendmentSequence, cmds[2].AmendmentSequence, len(xs))
		}
		if cmds[2].Lines[0].Quantity != 20 {
			t.Errorf("amendment 2 lines %+v", cmds[2].Lines)
		}
	})

	t.Run("erp rejection raises an exception with context", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-REJ", newDeal("C-REJ", "2025-01-01", 10, 1000, at))
		recs := h.waitFor("journals of C-REJ", wait, func(r []got) bool {
			_, _, js, _ := forContract(r, "C-REJ")
			return len(js) == 24
		})
		_, _, js, _ := forContract(recs, "C-REJ")
		j := js[0]
		code, msg := "INVALID_ACCOUNT", "GL account 2400 is blocked for posting"
		ans := &contracts.Journal{Metadata: meta("erp/"+j.JournalCommandID, at.Add(2*time.Hour)), JournalCommandID: j.JournalCommandID,
			Status: contracts.JournalStatusRejected, RejectionCode: &code, ERPMessage: &msg, Lines: []contracts.JournalLine{}}
		ans.Metadata.SourceSystem = contracts.SourceSystemERP
		h.in().Value(contracts.TopicERPJournalV1, j.JournalCommandID, ans)
		recs = h.waitFor("journal_rejected exception", wait, func(r []got) bool {
			_, _, _, xs := forContract(r, "C-REJ")
			return len(xs) == 1
		})
		_, _, _, xs := forContract(recs, "C-REJ")
		x := xs[0]
		var lines []map[string]any
		if err := json.Unmarshal([]byte(x.Context["lines"]), &lines); err != nil || len(lines) != 2 {
			t.Errorf("lines context %q: %v", x.Context["lines"], err)
		}
		if x.Category != contracts.ExceptionCategoryJournalRejected || x.Queue != contracts.ExceptionQueueFinanceOps ||
			x.Context["erp_message"] != msg || x.Context["rejection_code"] != code || x.Context["journal_id"] != j.JournalCommandID ||
			x.Metadata.CorrelationID != ans.Metadata.CorrelationID || *x.Metadata.CausationID != ans.Metadata.EventID {
			t.Errorf("exception %+v", x)
		}
	})

	t.Run("bad deals get their documented outcome", func(t *testing.T) {
		h.t = t
		type bad struct {
			id     string
			mutate func(*contracts.Deal)
			reason string
		}
		cases := []bad{
			{"C-BAD-END", func(d *contracts.Deal) { d.EndDate = d.StartDate.AddDate(0, 0, -5) }, "end_before_start"},
			{"C-BAD-ZERO", func(d *contracts.Deal) { d.EndDate = d.StartDate.AddDate(0, 0, -1) }, "zero_length_term"},
			{"C-BAD-FREQ", func(d *contracts.Deal) { d.BillingFrequency = contracts.BillingFrequencyUnknown }, "unknown_frequency"},
			{"C-BAD-CUR", func(d *contracts.Deal) {
				d.Lines = append(d.Lines, contracts.DealLine{LineNumber: 2, SKU: "api", Quantity: 1, UnitPrice: contracts.Money{AmountMinor: 10, Currency: "USD"}})
			}, "mixed_currencies"},
			{"C-BAD-PRICE", func(d *contracts.Deal) { d.Lines[0].UnitPrice.AmountMinor = -100 }, "negative_price"},
		}
		for _, c := range cases {
			d := newDeal(c.id, "2025-01-01", 10, 1000, at)
			c.mutate(d)
			h.in().Value(contracts.TopicCRMDealV1, c.id, d)
		}
		// A Business case: an amendment in another currency.
		h.in().Value(contracts.TopicCRMDealV1, "C-BAD-CHG", newDeal("C-BAD-CHG", "2025-01-01", 10, 1000, at))
		chg := amendDeal("C-BAD-CHG", 1, contract.ChangeUpsell, "2025-03-01", 20, 1000, at)
		chg.Currency = "USD"
		chg.Lines[0].UnitPrice.Currency = "USD"
		h.in().Value(contracts.TopicCRMDealV1, "C-BAD-CHG", chg)
		recs := h.waitFor("bad deals dead-lettered or raised", wait, func(r []got) bool {
			for _, c := range cases {
				if len(dlqFor(r, c.id)) == 0 {
					return false
				}
			}
			_, _, _, xs := forContract(r, "C-BAD-CHG")
			return len(xs) == 1
		})
		for _, c := range cases {
			dl := dlqFor(recs, c.id)
			hd := dl[0].Headers
			if len(dl) != 1 || hd[catalog.DLQHeaderErrorReason] != c.reason || hd[catalog.DLQHeaderErrorClass] != string(errs.ClassPoison) ||
				hd[catalog.DLQHeaderTopic] != contracts.TopicCRMDealV1 || hd[catalog.DLQHeaderService] != "billing-bridge" {
				t.Errorf("%s: %d DLQ records, headers %v, want reason %s", c.id, len(dl), hd, c.reason)
			}
			if cmds, _, js, _ := forContract(recs, c.id); len(cmds)+len(js) != 0 {
				t.Errorf("%s: outputs for a dead-lettered deal", c.id)
			}
		}
		cmds, _, _, xs := forContract(recs, "C-BAD-CHG")
		if len(cmds) != 1 || xs[0].Category != contracts.ExceptionCategoryInvalidInput || xs[0].Context["reason"] != "currency_changed" {
			t.Errorf("currency change: %d commands, exception %+v", len(cmds), xs[0])
		}
	})
}
