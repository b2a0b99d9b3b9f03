//go:build integration

package reconciler

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestReplicaReplacedMidStream runs the reconciler (router and matcher) as
// two instances while clean and broken traffic keeps coming, stops one
// mid-stream and starts a replacement with a new id; then late events close
// half of the breaks. A single uninterrupted instance gets the same traffic
// under another prefix. Read_committed consumers must see every break event
// (OPEN, and CLOSED for the closed half) exactly once, OPEN before CLOSED,
// none for the clean traffic, and the same breaks as the single run.
func TestReplicaReplacedMidStream(t *testing.T) {
	const sla = 4 * time.Second
	slaEnv := map[string]string{}
	for _, k := range []string{"ORDER_SUBMIT", "ERP_ACK", "INVOICE", "PROVISION", "INVOICE_SCHEDULE", "JOURNAL", "LEDGER_SETTLE", "CUSTOMER_XREF"} {
		slaEnv["ISTHMUS_RECON_SLA_"+k] = sla.String()
	}
	single := replicaRun(t, slaEnv, false)
	replaced := replicaRun(t, slaEnv, true)
	if d := cmp.Diff(single, replaced); d != "" {
		t.Errorf("two instances with one replaced differ from one uninterrupted instance (-single +replaced):\n%s", d)
	}
}

// brokenEntity is one injected break: the opening events alone, and the
// late events that close it.
type brokenEntity struct {
	kind, id      string
	opening, late func(e *itEnv) []*kgo.Record
}

// broken is the i-th injected break, cycling through four kinds.
func broken(i int) brokenEntity {
	n := fmt.Sprintf("%03d", i)
	c := "rp-corr-" + n
	switch i % 4 {
	case 0:
		return brokenEntity{contracts.BreakKindOrderNotSubmitted, "rp-q" + n,
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.quote("rp-q"+n, c, 100)} },
			func(e *itEnv) []*kgo.Record {
				return []*kgo.Record{e.lifecycle("rp-o"+n, "rp-q"+n, c, contracts.OrderStateSubmitted, 100)}
			}}
	case 1:
		return brokenEntity{contracts.BreakKindERPAckMissing, "rp-o" + n,
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.orderCmd("rp-o"+n, "rp-q"+n, c, 200)} },
			func(e *itEnv) []*kgo.Record {
				return []*kgo.Record{e.orderStatus("rp-o"+n, c, contracts.ErpOrderStateAccepted, 200)}
			}}
	case 2:
		return brokenEntity{contracts.BreakKindJournalNotPosted, "rp-j" + n,
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.journalCmd("rp-j"+n, "rp-k"+n, c, 600)} },
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.journal("rp-j"+n, "rp-k"+n, c, 600)} }}
	default:
		return brokenEntity{contracts.BreakKindCustomerNotInERP, "rp-a" + n,
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.account("rp-a"+n, c, nil)} },
			func(e *itEnv) []*kgo.Record { return []*kgo.Record{e.xref("rp-a"+n, "2"+n, c)} }}
	}
}

// idNames is the entity id each injected kind is checked by.
var idNames = map[string]string{
	contracts.BreakKindOrderNotSubmitted: "quote_id", contracts.BreakKindERPAckMissing: "order_id",
	contracts.BreakKindJournalNotPosted: "journal_command_id", contracts.BreakKindCustomerNotInERP: "account_id",
}

// entityOf is the entity id a break names for its kind.
func entityOf(b contracts.ReconBreak) string {
	if id, ok := b.EntityIds[idNames[b.Kind]]; ok {
		return id
	}
	return fmt.Sprint(b.EntityIds)
}

// replicaRun feeds 16 slices of traffic (each: 20 complete orders, 5
// complete contracts, 3 broken entities) every 500 ms to a fresh
// environment, waits for every break to open, closes the even ones with
// their late events, and returns break id → "KIND STATUS,STATUS…" in the
// order read. With replace it runs two instances and replaces one from the
// seventh slice on, once both have committed observations and breaks.
func replicaRun(t *testing.T, sla map[string]string, replace bool) map[string]string {
	const slices, perSlice = 16, 3
	e := newEnv(t, sla)
	instance := func(id string) func() {
		return e.startWith(map[string]string{"ISTHMUS_INSTANCE_ID": id, "ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(t), "ISTHMUS_RECON_DASHBOARD_ADDR": testinfra.FreeAddr(t)})
	}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	if replace {
		stops = append(stops, instance("r1"), instance("r2"))
	} else {
		stops = append(stops, instance("solo"))
	}
	// Instances at work: producer ids (one per instance) of the router's
	// observations and of the matcher's breaks.
	routers := producerIDs(t, e, ObservationsTopic)
	matchers := func() map[int64]bool {
		out := map[int64]bool{}
		for _, sb := range e.seen() {
			out[sb.producer] = true
		}
		return out
	}
	replaced := !replace
	var bs []brokenEntity
	for s := range slices {
		var recs []*kgo.Record
		for i := range 20 {
			n := s*20 + i
			q, o, c := fmt.Sprintf("clean-q%04d", n), fmt.Sprintf("clean-o%04d", n), fmt.Sprintf("clean-corr-o%04d", n)
			total := int64(1000 + n)
			recs = append(recs, e.quote(q, c, total), e.lifecycle(o, q, c, contracts.OrderStateSubmitted, total), e.orderCmd(o, q, c, total),
				e.orderStatus(o, c, contracts.ErpOrderStateAccepted, total), e.orderStatus(o, c, contracts.ErpOrderStateShipped, total),
				e.invoice("clean-inv"+o, o, c, total))
		}
		for i := range 5 {
			k, c := fmt.Sprintf("clean-k%03d", s*5+i), fmt.Sprintf("clean-corr-k%03d", s*5+i)
			recs = append(recs, e.deal(k, c), e.billingCmd(k, c, 5000), e.billingEvt(k, c), e.journalCmd("clean-j"+k, k, c, 5000), e.journal("clean-j"+k, k, c, 5000))
		}
		for i := range perSlice {
			b := broken(s*perSlice + i)
			bs = append(bs, b)
			recs = append(recs, b.opening(e)...)
		}
		e.produce(recs...)
		time.Sleep(500 * time.Millisecond)
		// Replace r1 once both instances' routers and matchers have
		// committed outputs.
		if !replaced && s >= 6 && len(routers()) == 2 && len(matchers()) == 2 {
			stops[0]() // r1 leaves both groups
			t.Logf("r1 stopped after %d slices (%d break events); starting r3", s+1, len(e.seen()))
			stops[0] = instance("r3")
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("the two instances never both committed outputs while traffic flowed (routers %d, matchers %d)", len(routers()), len(matchers()))
	}
	waitAll := func(status string, which func(i int) bool) {
		var have map[string]bool
		missing := func() int {
			have = map[string]bool{}
			for _, sb := range e.seen() {
				if sb.b.Status == status {
					have[sb.b.Kind+" "+entityOf(sb.b)] = true
				}
			}
			n := 0
			for i, b := range bs {
				if which(i) && !have[b.kind+" "+b.id] {
					n++
				}
			}
			return n
		}
		if testinfra.Within(60*time.Second, func() bool { return missing() == 0 }) {
			return
		}
		n := missing()
		for i, b := range bs {
			if which(i) && !have[b.kind+" "+b.id] {
				t.Logf("no %s %s for %s", status, b.kind, b.id)
			}
		}
		for k := range have {
			t.Logf("have %s %s", status, k)
		}
		t.Fatalf("replace=%v: %d of %d breaks not %s within 60s", replace, n, len(bs), status)
	}
	waitAll(contracts.BreakStatusOpen, func(int) bool { return true })
	var late []*kgo.Record
	for i, b := range bs {
		if i%2 == 0 {
			late = append(late, b.late(e)...)
		}
	}
	e.produce(late...)
	waitAll(contracts.BreakStatusClosed, func(i int) bool { return i%2 == 0 })
	time.Sleep(3 * time.Second) // anything duplicated would show up by now

	out := map[string]string{}
	events := map[string]int{}
	for _, sb := range e.seen() {
		b := sb.b
		for _, v := range b.EntityIds {
			if strings.HasPrefix(v, "clean-") {
				t.Errorf("replace=%v: clean traffic raised %s %s for %v", replace, b.Status, b.Kind, b.EntityIds)
				break
			}
		}
		if out[b.BreakID] == "" {
			out[b.BreakID] = b.Kind + " " + entityOf(b) + " " + b.Status
		} else {
			out[b.BreakID] += "," + b.Status
		}
		events[b.BreakID+"/"+b.Status]++
	}
	for k, n := range events {
		if n != 1 {
			t.Errorf("replace=%v: break event %s read %d times, want once", replace, k, n)
		}
	}
	var want, got []string
	for i, b := range bs {
		w := b.kind + " " + b.id + " " + contracts.BreakStatusOpen
		if i%2 == 0 {
			w += "," + contracts.BreakStatusClosed
		}
		want = append(want, w)
	}
	for _, s := range out {
		got = append(got, s)
	}
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("replace=%v: breaks (-want +got):\n%s", replace, d)
	}
	if replace && (len(routers()) != 3 || len(matchers()) != 3) {
		t.Errorf("outputs of %d routers and %d matchers, want 3 each (r1 before its replacement, r2 throughout, r3 after)", len(routers()), len(matchers()))
	}
	t.Logf("replace=%v: %d breaks, %d break events", replace, len(out), len(events))
	return out
}

// producerIDs reads a logical topic (read_committed) in the background and
// returns the producer ids seen so far.
func producerIDs(t *testing.T, e *itEnv, topic string) func() map[int64]bool {
	cl := testinfra.NewClient(t, testinfra.Brokers(t), kgo.ConsumeTopics(e.prefix+topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var mu sync.Mutex
	seen := map[int64]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seen[r.ProducerID] = true
				mu.Unlock()
			})
		}
	}()
	return func() map[int64]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}
