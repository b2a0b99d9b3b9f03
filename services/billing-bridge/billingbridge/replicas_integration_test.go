//go:build integration

package billingbridge_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// TestReplicaReplacedMidStream runs billing-bridge as two instances (one
// consumer group, distinct instance ids) while deals keep coming, stops one
// mid-stream and starts a replacement with a new id. A single uninterrupted
// instance processes the same deals under another prefix. Read_committed
// consumers must see every billing and journal command exactly once, and
// per contract the same outputs in the same order as the single run
// (revenue schedules restated by amendment, cancellations after their
// upsells); every journal balances.
func TestReplicaReplacedMidStream(t *testing.T) {
	deals, stream := dealStream("R", 120)
	wantCmds, wantJournals := expected(t, deals)

	run := func(replace bool) map[string][]string {
		h := newHarness(t)
		var stops []func()
		defer func() {
			for _, stop := range stops {
				stop()
			}
		}()
		if !replace {
			stops = append(stops, h.startInstance(map[string]string{"ISTHMUS_INSTANCE_ID": "solo"}))
		} else {
			stops = append(stops, h.startInstance(map[string]string{"ISTHMUS_INSTANCE_ID": "r2"}))
			stops = append(stops, h.startInstance(map[string]string{"ISTHMUS_INSTANCE_ID": "r1"}))
		}
		replaced := !replace
		for i, d := range stream {
			h.in().Value(contracts.TopicCRMDealV1, d.ContractID, d)
			time.Sleep(50 * time.Millisecond)
			// Replace r1 once a third of the deals are in and both
			// instances have committed outputs (two producer ids).
			if !replaced && i >= len(stream)/3 && len(producers(h.snapshot())) == 2 {
				stops[1]() // r1 leaves the group
				t.Logf("r1 stopped after %d deals (%d outputs); starting r3", i+1, len(h.snapshot()))
				stops[1] = h.startInstance(map[string]string{"ISTHMUS_INSTANCE_ID": "r3"})
				replaced = true
			}
		}
		if !replaced {
			t.Fatalf("the two instances never both committed outputs while deals streamed (producers %v)", producers(h.snapshot()))
		}
		count := func(recs []got) (cmds, journals map[string]int) {
			cmds, journals = map[string]int{}, map[string]int{}
			for _, r := range recs {
				switch v := r.Value.(type) {
				case *contracts.BillingCommand:
					cmds[v.CommandID]++
				case *contracts.JournalCommand:
					journals[v.JournalCommandID]++
				}
			}
			return
		}
		h.waitFor("every command and journal", 2*time.Minute, func(recs []got) bool {
			c, j := count(recs)
			return len(c) >= len(wantCmds) && len(j) >= len(wantJournals)
		})
		time.Sleep(3 * time.Second) // anything duplicated would show up by now
		recs := h.snapshot()
		c, j := count(recs)
		for id := range wantCmds {
			if c[id] != 1 {
				t.Errorf("replace=%v: billing command %s written %d times", replace, id, c[id])
			}
		}
		for id := range wantJournals {
			if j[id] != 1 {
				t.Errorf("replace=%v: journal command %s written %d times", replace, id, j[id])
			}
		}
		if len(c) != len(wantCmds) || len(j) != len(wantJournals) {
			t.Errorf("replace=%v: %d/%d billing commands, %d/%d journal commands", replace, len(c), len(wantCmds), len(j), len(wantJournals))
		}
		// Per topic and key, the outputs in the order read, without their
		// metadata (event ids and times are the run's own).
		out := map[string][]string{}
		for _, r := range recs {
			switch v := r.Value.(type) {
			case *contracts.BillingCommand:
				v.Metadata = contracts.EventMetadata{}
			case *contracts.RevenueSchedule:
				v.Metadata = contracts.EventMetadata{}
			case *contracts.JournalCommand:
				if dr, cr := journalAmount(v); dr != cr || dr != wantJournals[v.JournalCommandID] {
					t.Errorf("replace=%v: journal %s debits %d credits %d, want %d", replace, v.JournalCommandID, dr, cr, wantJournals[v.JournalCommandID])
				}
				v.Metadata = contracts.EventMetadata{}
			case *contracts.OperationalException:
				v.Metadata = contracts.EventMetadata{}
			default:
				t.Errorf("replace=%v: unexpected output on %s key %s: %v", replace, r.Topic, r.Key, v)
			}
			b, err := json.Marshal(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			k := r.Topic + " " + r.Key
			out[k] = append(out[k], string(b))
		}
		if ps := producers(recs); replace && len(ps) != 3 {
			t.Errorf("outputs of %d instances, want 3 (r1 before its replacement, r2 throughout, r3 after): producer ids %v", len(ps), ps)
		}
		t.Logf("replace=%v: %d deals, %d outputs, %d billing and %d journal commands", replace, len(stream), len(recs), len(c), len(j))
		return out
	}
	single := run(false)
	replaced := run(true)
	if d := cmp.Diff(single, replaced); d != "" {
		t.Errorf("two instances with one replaced differ from one uninterrupted instance (-single +replaced):\n%s", d)
	}
	if len(single) == 0 {
		t.Error("no outputs")
	}
}

// producers counts outputs per producer id (one per instance).
func producers(recs []got) map[int64]int {
	out := map[int64]int{}
	for _, r := range recs {
		out[r.ProducerID]++
	}
	return out
}
