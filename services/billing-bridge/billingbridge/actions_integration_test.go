//go:build integration

package billingbridge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// answer publishes ERP's answer to a journal command.
func (h *harness) answer(j *contracts.JournalCommand, status, code string, at time.Time) {
	h.t.Helper()
	a := &contracts.Journal{Metadata: meta("erp/"+j.JournalCommandID+"/"+status+"/"+code, at), JournalCommandID: j.JournalCommandID, Status: status,
		ContractID: &j.ContractID, PostingDate: &j.PostingDate, Lines: j.Lines}
	a.Metadata.SourceSystem = contracts.SourceSystemERP
	if status == contracts.JournalStatusRejected {
		msg := "ERP says " + code
		a.RejectionCode, a.ERPMessage = &code, &msg
	} else {
		doc := "JE-" + code
		a.ERPJournalID = &doc
	}
	h.in().Value(contracts.TopicERPJournalV1, j.JournalCommandID, a)
}

// decide publishes an operator's decision on ops.decisions.v1 (what the
// operations API does once it has checked the person's role).
func (h *harness) decide(exceptionID, decisionID, action string, at time.Time) {
	h.t.Helper()
	h.in().Value(contracts.TopicOpsDecisionsV1, exceptionID, &contracts.Decision{Metadata: meta("decision/"+decisionID, at), DecisionID: decisionID,
		ExceptionID: exceptionID, OwnerService: billingbridge.Name, Action: action, Actor: "finance@example.com", Parameters: map[string]string{}, ApprovedBy: []string{}})
}

func journalIDs(js []*contracts.JournalCommand) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.JournalCommandID)
	}
	return out
}

func journalByID(js []*contracts.JournalCommand, id string) *contracts.JournalCommand {
	for _, j := range js {
		if j.JournalCommandID == id {
			return j
		}
	}
	return nil
}

// quiet fails if the contract's outputs change within a few seconds (a
// repeated decision must be a no-op).
func (h *harness) quiet(t *testing.T, id string) {
	t.Helper()
	count := func() string {
		cmds, rev, js, xs := forContract(h.snapshot(), id)
		return fmt.Sprintf("%d commands, %d revenue rows, %d journals, %d exception updates", len(cmds), len(rev), len(js), len(xs))
	}
	before := count()
	time.Sleep(4 * time.Second)
	if after := count(); after != before {
		t.Errorf("contract %s changed after a repeated decision: %s, then %s", id, before, after)
	}
}

// TestPeriodsAndJournalActions: recognition and invoice journals go to ERP
// when their posting period opens (stream time), not at signing; a
// PERIOD_CLOSED rejection is reposted into the next open period without an
// exception; other rejections are raised with REPOST and ROUTE_TO_FINANCE,
// each of which moves the exception once; a repeated decision is a no-op.
func TestPeriodsAndJournalActions(t *testing.T) {
	h := newHarness(t)
	h.startService(nil)
	now := time.Now().UTC()
	thisMonth := contract.DateOf(now).Month()
	start := thisMonth.First().String()
	next := thisMonth.Next() // not open yet

	t.Run("journals wait for their period", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-PER", newDeal("C-PER", start, 10, 1000, now))
		// The 12 invoice journals follow the billing documents at once;
		// recognition only for the month that has opened.
		h.waitFor("this month's journals of C-PER", wait, func(r []got) bool {
			_, rev, js, _ := forContract(r, "C-PER")
			return len(rev) == 12 && len(js) == 13
		})
		// Idle partitions tick at the wall clock: still this month.
		time.Sleep(6 * time.Second)
		_, _, js, _ := forContract(h.snapshot(), "C-PER")
		recognitions := 0
		for _, j := range js {
			if j.Kind != contracts.JournalKindRecognition {
				continue
			}
			recognitions++
			if contract.DateOf(j.PostingDate).Month() != thisMonth {
				t.Errorf("recognition %s posted on %s before its period opened", j.JournalCommandID, j.PostingDate.Format(time.DateOnly))
			}
		}
		if len(js) != 13 || recognitions != 1 {
			t.Fatalf("%d journals (%d recognitions) sent in the signing month, want 12 invoices and this month's recognition: %v", len(js), recognitions, journalIDs(js))
		}
		// Stream time, not the clock: a contract of 2025 whose records carry
		// 2025 event times. The NEW (5 January) sends January; the
		// amendment (10 February) moves the partition's stream time into
		// February: February goes, March waits.
		jan5 := time.Date(2025, 1, 5, 9, 0, 0, 0, time.UTC)
		feb10 := time.Date(2025, 2, 10, 9, 0, 0, 0, time.UTC)
		in := h.in()
		in.Records(&kgo.Record{Topic: contracts.TopicCRMDealV1, Key: []byte("C-PAST"), Timestamp: jan5,
			Value: in.Encode(contracts.TopicCRMDealV1, newDeal("C-PAST", "2025-01-01", 10, 1000, jan5))})
		in.Records(&kgo.Record{Topic: contracts.TopicCRMDealV1, Key: []byte("C-PAST"), Timestamp: feb10,
			Value: in.Encode(contracts.TopicCRMDealV1, amendDeal("C-PAST", 1, contract.ChangeUpsell, "2025-03-01", 12, 1000, feb10))})
		recs := h.waitFor("February's recognition of C-PAST", wait, func(r []got) bool {
			_, _, js, _ := forContract(r, "C-PAST")
			return journalByID(js, "JE/C-PAST/1/2025-02/RECOGNITION") != nil
		})
		_, _, js, _ = forContract(recs, "C-PAST")
		if j := journalByID(js, "JE/C-PAST/1/2025-03/RECOGNITION"); j != nil {
			t.Errorf("March recognition sent with February's (stream time 10 February): %v", journalIDs(js))
		}
		// Idle, the partition's timers run at the wall clock: every period
		// of 2025 has opened; each journal goes once, balanced.
		h.waitFor("December's recognition of C-PAST", wait, func(r []got) bool {
			_, _, js, _ := forContract(r, "C-PAST")
			return journalByID(js, "JE/C-PAST/1/2025-12/RECOGNITION") != nil
		})
		time.Sleep(2 * time.Second)
		_, _, js, _ = forContract(h.snapshot(), "C-PAST")
		seen := map[string]int{}
		var recognised int64
		for _, j := range js {
			seen[j.JournalCommandID]++
			dr, cr := journalAmount(j)
			if dr != cr || dr <= 0 {
				t.Errorf("journal %s unbalanced %d/%d", j.JournalCommandID, dr, cr)
			}
			switch j.Kind {
			case contracts.JournalKindRecognition:
				recognised += dr
			case contracts.JournalKindReversal:
				recognised -= dr
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("journal %s sent %d times", id, n)
			}
		}
		// 2 months at 10 seats, 10 months at 12 seats of 10.00.
		if recognised != 2*10000+10*12000 {
			t.Errorf("recognised %d, want %d", recognised, 2*10000+10*12000)
		}
	})

	t.Run("PERIOD_CLOSED reposts into the next open period, no exception", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-PC", newDeal("C-PC", start, 5, 2000, now))
		recs := h.waitFor("journals of C-PC", wait, func(r []got) bool { _, _, js, _ := forContract(r, "C-PC"); return len(js) == 13 })
		_, _, js, _ := forContract(recs, "C-PC")
		rec := js[slices.IndexFunc(js, func(j *contracts.JournalCommand) bool { return j.Kind == contracts.JournalKindRecognition })]
		// ERP answers after the next period opened: the repost goes at once,
		// dated in that period.
		h.answer(rec, contracts.JournalStatusRejected, "PERIOD_CLOSED", next.First().Time().Add(2*time.Hour))
		recs = h.waitFor("repost of "+rec.JournalCommandID, wait, func(r []got) bool {
			_, _, js, _ := forContract(r, "C-PC")
			return journalByID(js, rec.JournalCommandID+"/R1") != nil
		})
		_, _, js, _ = forContract(recs, "C-PC")
		r1 := journalByID(js, rec.JournalCommandID+"/R1")
		if dr, cr := journalAmount(r1); dr != cr || dr != 10000 || r1.Kind != rec.Kind || !r1.PostingDate.Equal(next.First().Time()) {
			t.Errorf("repost %+v: debit %d credit %d, posting %s (want %s)", r1, dr, cr, r1.PostingDate.Format(time.DateOnly), next.First())
		}
		time.Sleep(2 * time.Second)
		if _, _, _, xs := forContract(h.snapshot(), "C-PC"); len(xs) != 0 {
			t.Errorf("PERIOD_CLOSED raised %d exceptions: %+v", len(xs), xs[0])
		}
	})

	t.Run("REPOST after a rejection: RETRYING, then RESOLVED when ERP posts it", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-RP", newDeal("C-RP", start, 3, 1000, now))
		recs := h.waitFor("journals of C-RP", wait, func(r []got) bool { _, _, js, _ := forContract(r, "C-RP"); return len(js) == 13 })
		_, _, js, _ := forContract(recs, "C-RP")
		inv := journalByID(js, "JE/C-RP/1/"+start+"/INVOICE")
		h.answer(inv, contracts.JournalStatusRejected, "INVALID_ACCOUNT", now)
		recs = h.waitFor("journal_rejected exception of C-RP", wait, func(r []got) bool { _, _, _, xs := forContract(r, "C-RP"); return len(xs) == 1 })
		_, _, _, xs := forContract(recs, "C-RP")
		x := xs[0]
		if x.Category != contracts.ExceptionCategoryJournalRejected || x.Queue != contracts.ExceptionQueueFinanceOps ||
			strings.Join(x.AllowedActions, ",") != "REPOST,ROUTE_TO_FINANCE,RESOLVE,DISMISS" {
			t.Fatalf("exception %+v", x)
		}
		h.decide(x.ExceptionID, "rp-1", contracts.DecisionActionRepost, now)
		recs = h.waitFor("repost of the invoice journal", wait, func(r []got) bool {
			_, _, js, _ := forContract(r, "C-RP")
			return journalByID(js, inv.JournalCommandID+"/R1") != nil
		})
		_, _, js, _ = forContract(recs, "C-RP")
		r1 := journalByID(js, inv.JournalCommandID+"/R1")
		h.answer(r1, contracts.JournalStatusPosted, "9001", now)
		h.waitFor("RESOLVED answering rp-1", wait, func(r []got) bool {
			_, _, _, xs := forContract(r, "C-RP")
			return slices.Contains(testinfra.ExceptionUpdates(xs, x.ExceptionID), "RESOLVED/rp-1")
		})
		h.decide(x.ExceptionID, "rp-1", contracts.DecisionActionRepost, now) // the same decision again
		h.decide(x.ExceptionID, "rp-2", contracts.DecisionActionRepost, now) // the same action on a settled exception
		h.quiet(t, "C-RP")
		_, _, js, xs = forContract(h.snapshot(), "C-RP")
		if u := strings.Join(testinfra.ExceptionUpdates(xs, x.ExceptionID), ","); u != "OPEN/,RETRYING/rp-1,RESOLVED/rp-1" {
			t.Errorf("exception updates %s", u)
		}
		if n := len(js); n != 14 {
			t.Errorf("%d journals, want the 13 of the signing month and one repost: %v", n, journalIDs(js))
		}
	})

	t.Run("a refused action comes back OPEN; ROUTE_TO_FINANCE resolves once", func(t *testing.T) {
		h.t = t
		h.in().Value(contracts.TopicCRMDealV1, "C-RF", newDeal("C-RF", start, 4, 1000, now))
		recs := h.waitFor("journals of C-RF", wait, func(r []got) bool { _, _, js, _ := forContract(r, "C-RF"); return len(js) == 13 })
		_, _, js, _ := forContract(recs, "C-RF")
		h.answer(js[0], contracts.JournalStatusRejected, "CURRENCY_MISMATCH", now)
		recs = h.waitFor("exception of C-RF", wait, func(r []got) bool { _, _, _, xs := forContract(r, "C-RF"); return len(xs) == 1 })
		_, _, _, xs := forContract(recs, "C-RF")
		id := xs[0].ExceptionID
		h.decide(id, "rf-1", contracts.DecisionActionMerge, now)
		recs = h.waitFor("refusal of rf-1", wait, func(r []got) bool {
			_, _, _, xs := forContract(r, "C-RF")
			return slices.Contains(testinfra.ExceptionUpdates(xs, id), "OPEN/rf-1")
		})
		_, _, _, xs = forContract(recs, "C-RF")
		if refusal := xs[len(xs)-1]; !strings.Contains(refusal.Context["outcome"], "MERGE is not an allowed action") {
			t.Errorf("refusal context %v", refusal.Context)
		}
		h.decide(id, "rf-2", contracts.DecisionActionRouteToFinance, now)
		h.waitFor("RESOLVED answering rf-2", wait, func(r []got) bool {
			_, _, _, xs := forContract(r, "C-RF")
			return slices.Contains(testinfra.ExceptionUpdates(xs, id), "RESOLVED/rf-2")
		})
		h.decide(id, "rf-2", contracts.DecisionActionRouteToFinance, now)
		h.quiet(t, "C-RF")
		if _, _, js, _ := forContract(h.snapshot(), "C-RF"); len(js) != 13 {
			t.Errorf("ROUTE_TO_FINANCE sent journals: %v", journalIDs(js))
		}
	})
}
