//go:build integration

package quotetoorder_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// TestReplicaReplacedMidStream runs quote-to-order as two instances (one
// consumer group, distinct instance ids) while quotes keep coming, stops one
// of them mid-stream and starts a replacement with a new id. Against a
// single uninterrupted instance over the same quotes (actually run, on its
// own prefix, gateway and ERP stand-in), read_committed consumers must see
// the same outcome: every order's lifecycle exactly once and in order, one
// ERP order command per order, the same exceptions, and one credit
// reservation per order at the gateway.
func TestReplicaReplacedMidStream(t *testing.T) {
	const n = 240
	quotes := make([]*contracts.Quote, n)
	final := map[string]string{}
	for i := range quotes {
		id := fmt.Sprintf("Q-R-%03d", i)
		switch i % 10 {
		case 3: // export control rejects one line of two
			quotes[i], final[id] = newQuote(id, "A-1", "SKU-1", "EXP-1"), contracts.OrderStatePartiallyRejected
		case 7: // no tax code: every line rejected
			quotes[i], final[id] = newQuote(id, "A-1", "TAX-1"), contracts.OrderStateRejected
		default:
			quotes[i], final[id] = newQuote(id, "A-1", "SKU-1", "SKU-2"), contracts.OrderStateInvoiced
		}
	}
	single := replicaRun(t, quotes, final, false)
	replaced := replicaRun(t, quotes, final, true)
	if d := cmp.Diff(single, replaced); d != "" {
		t.Errorf("two instances with one replaced differ from one uninterrupted instance (-single +replaced):\n%s", d)
	}
}

// runOutcome is what read_committed consumers saw of every order, and the
// orders the gateway holds a credit reservation for at the end (one each;
// rejected orders gave theirs back).
type runOutcome struct {
	Orders map[string]orderOutcome
	Held   []string
}

// orderOutcome is what read_committed consumers saw of one order.
type orderOutcome struct {
	States     string // lifecycle states in the order read
	Commands   int    // ERP order commands
	Exceptions string // exception categories in the order read
}

// replicaRun feeds quotes (about 15 s) to a fresh environment and returns
// each order's outcome once every order reached its final state. With
// replace it runs two instances and replaces one after a third of the
// quotes and both have committed outputs; without, one instance
// throughout.
func replicaRun(t *testing.T, quotes []*contracts.Quote, final map[string]string, replace bool) runOutcome {
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
	stops := map[string]func(){}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		e.gw.stop() // the next run's gateway shares the Redis database
	}()
	stops["r1"] = e.startInstance("r1")
	if replace {
		stops["r2"] = e.startInstance("r2")
	}
	replaced := !replace
	for i, q := range quotes {
		e.in().Value(contracts.TopicCRMQuoteV1, q.QuoteID, q)
		time.Sleep(60 * time.Millisecond)
		// Replace r1 once a third of the quotes are in and both instances
		// have committed lifecycle events (two producer ids).
		if !replaced && i >= len(quotes)/3 && e.producers() == 2 {
			stops["r1"]()
			delete(stops, "r1")
			t.Logf("r1 stopped after %d quotes; starting r3", i+1)
			stops["r3"] = e.startInstance("r3")
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("the two instances never both committed outputs while quotes streamed (%d producers)", e.producers())
	}
	for _, q := range quotes {
		e.waitState(q.QuoteID, final[q.QuoteID], 2*time.Minute)
	}
	time.Sleep(3 * time.Second) // anything duplicated would arrive now
	out := map[string]orderOutcome{}
	e.mu.Lock()
	for _, q := range quotes {
		id := q.QuoteID
		var states, cats []string
		seen := map[string]bool{}
		for _, l := range e.lifecycle(id) {
			states = append(states, l.State)
			if seen[l.State] {
				t.Errorf("order %s: lifecycle state %s read twice: %v", id, l.State, states)
			}
			seen[l.State] = true
		}
		for _, x := range e.exceptions() {
			if x.EntityIds["quote_id"] == id {
				cats = append(cats, x.Category)
			}
		}
		out[id] = orderOutcome{States: strings.Join(states, ","), Commands: len(e.commands[id]), Exceptions: strings.Join(cats, ",")}
		if out[id].Commands != 1 {
			t.Errorf("order %s: %d ERP order commands, want 1", id, out[id].Commands)
		}
	}
	dlq, nprod := e.dlq(), e.producers()
	e.mu.Unlock()
	if replace && nprod != 3 {
		t.Errorf("lifecycle events of %d instances, want 3 (r1 before its replacement, r2 throughout, r3 after)", nprod)
	}
	if dlq != 0 {
		t.Errorf("%d records dead-lettered", dlq)
	}
	var held []string
	for _, order := range e.gw.reservations("100042") {
		held = append(held, order)
	}
	sort.Strings(held)
	return runOutcome{Orders: out, Held: held}
}
