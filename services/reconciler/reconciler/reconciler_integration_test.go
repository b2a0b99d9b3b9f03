//go:build integration

package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
)

const (
	shortSLA   = 3 * time.Second
	restartSLA = 20 * time.Second // the restart scenario's timers outlive a restart
)

// TestReconcilerEndToEnd runs the reconciler on the real broker with short
// SLAs: every break kind is injected and detected within SLA + 5 s, late
// events close them, a clean run of 1,000 orders and 200 contracts raises
// nothing, pending timers survive a restart and fire exactly once, and the
// dashboard (API and headless Chromium) shows it all.
func TestReconcilerEndToEnd(t *testing.T) {
	s := shortSLA.String()
	e := newEnv(t, map[string]string{
		"ISTHMUS_RECON_SLA_ORDER_SUBMIT": s, "ISTHMUS_RECON_SLA_ERP_ACK": s, "ISTHMUS_RECON_SLA_INVOICE": s,
		"ISTHMUS_RECON_SLA_PROVISION": s, "ISTHMUS_RECON_SLA_INVOICE_SCHEDULE": s, "ISTHMUS_RECON_SLA_JOURNAL": s,
		"ISTHMUS_RECON_SLA_LEDGER_SETTLE": s, "ISTHMUS_RECON_SLA_CUSTOMER_XREF": restartSLA.String(),
	})
	stop := e.start()
	defer func() { stop() }()

	// 1. Clean traffic: 1,000 orders and 200 contracts end to end.
	// Produced at a steady pace (as source systems do), in 20 slices.
	var clean []*kgo.Record
	var slices [20][]*kgo.Record
	for i := range 1000 {
		q, o, c := fmt.Sprintf("clean-q%04d", i), fmt.Sprintf("clean-o%04d", i), fmt.Sprintf("clean-corr-o%04d", i)
		total := int64(1000 + i)
		slices[i%20] = append(slices[i%20], e.quote(q, c, total), e.lifecycle(o, q, c, contracts.OrderStateSubmitted, total), e.orderCmd(o, q, c, total),
			e.orderStatus(o, c, contracts.ErpOrderStateAccepted, total), e.orderStatus(o, c, contracts.ErpOrderStateShipped, total),
			e.invoice("clean-inv"+o, o, c, total))
	}
	for i := range 200 {
		k, c := fmt.Sprintf("clean-k%03d", i), fmt.Sprintf("clean-corr-k%03d", i)
		slices[i%20] = append(slices[i%20], e.deal(k, c), e.billingCmd(k, c, 5000), e.billingEvt(k, c), e.journalCmd("clean-j"+k, k, c, 5000), e.journal("clean-j"+k, k, c, 5000))
	}
	cleanStart := time.Now()
	for _, sl := range slices {
		e.produce(sl...)
		clean = append(clean, sl...)
		time.Sleep(400 * time.Millisecond)
	}
	t.Logf("clean run: %d events produced in %s", len(clean), time.Since(cleanStart).Round(time.Millisecond))

	// 2. One injection per break kind (SLA kinds: the opening event only).
	type injected struct {
		kind, idName, id string
		at               time.Time
		sla              time.Duration
		late             func() []*kgo.Record
	}
	var inj []injected
	add := func(kind, idName, id string, sla time.Duration, opening []*kgo.Record, late func() []*kgo.Record) {
		e.produce(opening...)
		inj = append(inj, injected{kind: kind, idName: idName, id: id, at: time.Now(), sla: sla, late: late})
	}
	add(contracts.BreakKindOrderNotSubmitted, "quote_id", "b-q1", shortSLA, []*kgo.Record{e.quote("b-q1", "corr-b1", 100)},
		func() []*kgo.Record {
			return []*kgo.Record{e.lifecycle("b-o1", "b-q1", "corr-b1", contracts.OrderStateSubmitted, 100)}
		})
	add(contracts.BreakKindERPAckMissing, "order_id", "b-o2", shortSLA, []*kgo.Record{e.orderCmd("b-o2", "b-q2", "corr-b2", 200)},
		func() []*kgo.Record {
			return []*kgo.Record{e.orderStatus("b-o2", "corr-b2", contracts.ErpOrderStateAccepted, 200)}
		})
	add(contracts.BreakKindInvoiceNotPosted, "order_id", "b-o3", shortSLA, []*kgo.Record{e.orderCmd("b-o3", "b-q3", "corr-b3", 300),
		e.orderStatus("b-o3", "corr-b3", contracts.ErpOrderStateAccepted, 300), e.orderStatus("b-o3", "corr-b3", contracts.ErpOrderStateShipped, 300)},
		func() []*kgo.Record { return []*kgo.Record{e.invoice("b-inv3", "b-o3", "corr-b3", 300)} })
	add(contracts.BreakKindSubscriptionNotProvisioned, "contract_id", "b-k4", shortSLA, []*kgo.Record{e.deal("b-k4", "corr-b4"), e.billingCmd("b-k4", "corr-b4", 500),
		e.journalCmd("b-j4", "b-k4", "corr-b4", 500), e.journal("b-j4", "b-k4", "corr-b4", 500)},
		func() []*kgo.Record { return []*kgo.Record{e.billingEvt("b-k4", "corr-b4")} })
	add(contracts.BreakKindInvoiceScheduleMissing, "contract_id", "b-k5", shortSLA, []*kgo.Record{e.deal("b-k5", "corr-b5"), e.billingEvt("b-k5", "corr-b5")},
		func() []*kgo.Record {
			return []*kgo.Record{e.billingCmd("b-k5", "corr-b5", 500), e.journalCmd("b-j5", "b-k5", "corr-b5", 500), e.journal("b-j5", "b-k5", "corr-b5", 500)}
		})
	add(contracts.BreakKindJournalNotPosted, "journal_command_id", "b-j6", shortSLA, []*kgo.Record{e.journalCmd("b-j6", "b-k6", "corr-b6", 600)},
		func() []*kgo.Record { return []*kgo.Record{e.journal("b-j6", "b-k6", "corr-b6", 600)} })
	add(contracts.BreakKindOrderAmountMismatch, "quote_id", "b-q7", 0, []*kgo.Record{e.quote("b-q7", "corr-b7", 700), e.orderCmd("b-o7", "b-q7", "corr-b7", 690)},
		func() []*kgo.Record { return []*kgo.Record{e.orderCmd("b-o7", "b-q7", "corr-b7", 700)} })
	add(contracts.BreakKindInvoiceAmountMismatch, "order_id", "b-o8", 0, []*kgo.Record{e.orderCmd("b-o8", "b-q8", "corr-b8", 800),
		e.orderStatus("b-o8", "corr-b8", contracts.ErpOrderStateAccepted, 800), e.orderStatus("b-o8", "corr-b8", contracts.ErpOrderStateShipped, 800),
		e.invoice("b-inv8a", "b-o8", "corr-b8", 900)},
		func() []*kgo.Record { return []*kgo.Record{e.invoice("b-inv8b", "b-o8", "corr-b8", -100)} })
	add(contracts.BreakKindBillingJournalMismatch, "contract_id", "b-k9", shortSLA, []*kgo.Record{e.deal("b-k9", "corr-b9"), e.billingCmd("b-k9", "corr-b9", 1000),
		e.billingEvt("b-k9", "corr-b9"), e.journalCmd("b-j9a", "b-k9", "corr-b9", 900), e.journal("b-j9a", "b-k9", "corr-b9", 900)},
		func() []*kgo.Record {
			return []*kgo.Record{e.journalCmd("b-j9b", "b-k9", "corr-b9", 100), e.journal("b-j9b", "b-k9", "corr-b9", 100)}
		})
	add(contracts.BreakKindCustomerNotInERP, "account_id", "b-a10", restartSLA, []*kgo.Record{e.account("b-a10", "corr-b10", nil)},
		func() []*kgo.Record { return []*kgo.Record{e.xref("b-a10", "100010", "corr-b10")} })
	// the ORDER_AMOUNT quote and the ERP_ACK order need their other halves so they raise only the injected break
	e.produce(e.lifecycle("b-o7", "b-q7", "corr-b7", contracts.OrderStateSubmitted, 700), e.orderStatus("b-o7", "corr-b7", contracts.ErpOrderStateReceived, 0))

	// Restart scenario: accounts whose timers are pending when the service stops.
	const restartN = 20
	var restartRecs []*kgo.Record
	for i := range restartN {
		restartRecs = append(restartRecs, e.account(fmt.Sprintf("r-a%02d", i), fmt.Sprintf("corr-r%02d", i), nil))
	}
	e.produce(restartRecs...)
	restartAt := time.Now()

	// 3. Every short-SLA break is detected within SLA + 5 s.
	for _, in := range inj {
		if in.sla == restartSLA {
			continue
		}
		sb, ok := e.waitBreak(in.kind, contracts.BreakStatusOpen, in.idName, in.id, time.Until(in.at.Add(in.sla+5*time.Second)))
		if !ok {
			for _, sb := range e.seen() {
				lat := time.Duration(0)
				if sb.b.ClosedAt != nil {
					lat = sb.at.Sub(*sb.b.ClosedAt)
				}
				t.Logf("seen %s %s %v at %s detected %s latency %s", sb.b.Kind, sb.b.Status, sb.b.EntityIds["match_key"], sb.at.Format("15:04:05.000"), sb.b.DetectedAt.Format("15:04:05.000"), lat)
			}
			t.Fatalf("%s for %s=%s not detected within SLA %s + 5s", in.kind, in.idName, in.id, in.sla)
		}
		t.Logf("%-30s detected %s after injection (SLA %s)", in.kind, sb.at.Sub(in.at).Round(10*time.Millisecond), in.sla)
	}

	// 4. Restart while the account timers are pending.
	if time.Since(restartAt) > restartSLA-5*time.Second {
		t.Fatalf("too slow to test a restart before the %s timers fire", restartSLA)
	}
	stop()
	t.Logf("stopped the reconciler %s after the restart accounts; timers due in %s", time.Since(restartAt).Round(time.Millisecond), time.Until(restartAt.Add(restartSLA)).Round(time.Millisecond))
	stop = e.start()

	// 5. Late events close the breaks (the account one after its detection).
	for _, in := range inj {
		if in.sla == restartSLA {
			if _, ok := e.waitBreak(in.kind, contracts.BreakStatusOpen, in.idName, in.id, time.Until(in.at.Add(in.sla+5*time.Second))); !ok {
				t.Fatalf("%s for %s not detected within SLA %s + 5s across the restart", in.kind, in.id, in.sla)
			}
		}
		e.produce(in.late()...)
	}
	for _, in := range inj {
		if _, ok := e.waitBreak(in.kind, contracts.BreakStatusClosed, in.idName, in.id, 15*time.Second); !ok {
			t.Errorf("%s for %s=%s not closed by the late event", in.kind, in.idName, in.id)
		}
	}

	// 6. Every pending timer fired once, after the restart, and nothing else.
	deadline := restartAt.Add(restartSLA + 5*time.Second)
	time.Sleep(time.Until(deadline) + 2*time.Second)
	counts := map[string]int{}
	for _, sb := range e.seen() {
		id := sb.b.EntityIds["account_id"]
		if len(id) > 2 && id[:2] == "r-" && sb.b.Status == contracts.BreakStatusOpen {
			counts[id]++
		}
	}
	for i := range restartN {
		id := fmt.Sprintf("r-a%02d", i)
		if counts[id] != 1 {
			t.Errorf("restart account %s: %d OPEN breaks, want exactly 1", id, counts[id])
		}
	}

	// 7. The clean run raised nothing; each injection raised exactly its kind.
	perBreak := map[string]int{}
	for _, sb := range e.seen() {
		b := sb.b
		for _, v := range b.EntityIds {
			if len(v) >= 6 && v[:6] == "clean-" {
				t.Errorf("clean run raised %s %s for %v", b.Status, b.Kind, b.EntityIds)
				break
			}
		}
		perBreak[b.BreakID+"/"+b.Status]++
		if id := b.EntityIds["quote_id"] + b.EntityIds["order_id"] + b.EntityIds["contract_id"] + b.EntityIds["journal_command_id"] + b.EntityIds["account_id"]; id != "" && id[:2] == "b-" {
			ok := false
			for _, in := range inj {
				if in.kind == b.Kind && b.EntityIds[in.idName] == in.id {
					ok = true
				}
			}
			if !ok {
				t.Errorf("unexpected break %s %s for %v: %s", b.Status, b.Kind, b.EntityIds, b.Description)
			}
		}
	}
	for k, n := range perBreak {
		if n != 1 {
			t.Errorf("break event %s seen %d times, want once", k, n)
		}
	}
	t.Logf("%d break events in total; clean run of %d events raised none", len(e.seen()), len(clean))

	testDashboard(t, e)
}
