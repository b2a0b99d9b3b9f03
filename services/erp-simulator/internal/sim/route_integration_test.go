//go:build integration

package sim

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// The simulator routed by a real flowmode.Watcher on the real broker: both
// flows are switched from NEW (no mode recorded) to SHADOW with a short
// lead. Commands sent before the change takes effect are answered; those
// after it are only reported on erp.path-results.v1, except the revision
// of an order created before, which stays the simulator's.
func TestRealRoutedByFlowMode(t *testing.T) {
	c := processortest.RealCluster(t)
	e := newEnv(t, c)
	testinfra.CreateTopics(t, c.Brokers, 1, e.kcfg.Topic(contracts.TopicOpsFlowModeV1))
	w := flowmode.NewWatcher(e.kcfg, e.sd, nil)
	testinfra.Go(t, "flow-modes", w.Run)
	s := fastSettings()
	s.Ship = erp.Latency{Min: time.Hour, Max: time.Hour} // orders stay revisable
	s.Modes = w
	e.start(s)

	order := func(id, cmdID string, rev int) *contracts.OrderCommand {
		v := pumpOrder(cmdID, contracts.OrderCommandActionCreate, rev)
		v.OrderID = id
		return v
	}
	customer := func(golden, cmdID, name string) *contracts.CustomerCommand {
		return &contracts.CustomerCommand{Metadata: meta(cmdID), CommandID: cmdID, Action: contracts.CustomerCommandActionCreate, GoldenID: golden, Name: name,
			BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}}
	}

	// Record the change to SHADOW, effective in 3 s.
	cl := testinfra.NewClient(t, c.Brokers)
	var effective time.Time
	for _, flow := range flowmode.Flows {
		v, err := flowmode.Next(nil, flowmode.Change{Flow: flow, Mode: contracts.RoutingModeShadow, By: "test", Reason: "shadow run", Lead: 3 * time.Second}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := flowmode.Publish(context.Background(), cl, e.kcfg, e.sd, &v); err != nil {
			t.Fatal(err)
		}
		effective = v.EffectiveAt
	}
	// Before it takes effect (the watcher has read it, it is not in force):
	// the simulator is authoritative.
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-1", order("O-1", "CMD-1", 0))
	e.in.Value(contracts.TopicERPCustomerCommandsV1, "G-1", customer("G-1", "CC-1", "Acme"))
	if !time.Now().Before(effective) {
		t.Fatalf("the commands before the change were acknowledged only after it took effect (%s); the test cannot tell the modes apart", effective)
	}
	// Their answers (the order decided before its revision comes).
	if st := e.consume(contracts.TopicERPOrderStatusV1, 1, time.Minute)[0].(*contracts.OrderStatus); *st.CommandID != "CMD-1" {
		t.Fatalf("first status answers %s", *st.CommandID)
	}
	e.consume(contracts.TopicERPCustomerV1, 1, time.Minute)
	// After: only reported, but for the order created before.
	time.Sleep(time.Until(effective) + 200*time.Millisecond)
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-2", order("O-2", "CMD-2", 0))
	e.in.Value(contracts.TopicERPCustomerCommandsV1, "G-2", customer("G-2", "CC-2", "Beta"))
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-1", order("O-1", "CMD-3", 2))
	e.in.Value(contracts.TopicERPCustomerCommandsV1, "G-1", customer("G-1", "CC-4", "Acme Robotics"))

	var got []string
	for _, v := range e.consume(contracts.TopicERPPathResultsV1, 6, time.Minute) {
		r := v.(*contracts.PathResult)
		cmd := ""
		if r.CommandID != nil {
			cmd = *r.CommandID
		}
		got = append(got, fmt.Sprintf("%s %s %s %s authoritative=%t %s", r.Flow, r.EntityID, cmd, r.Mode, r.Authoritative, r.Status))
	}
	sort.Strings(got)
	want := []string{
		"customers G-1 CC-1 NEW authoritative=true CREATED",
		"customers G-1 CC-4 SHADOW authoritative=false UPDATED",
		"customers G-2 CC-2 SHADOW authoritative=false CREATED",
		"orders O-1 CMD-1 NEW authoritative=true PARTIALLY_REJECTED",
		"orders O-1 CMD-3 NEW authoritative=true PARTIALLY_REJECTED",
		"orders O-2 CMD-2 SHADOW authoritative=false PARTIALLY_REJECTED",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("path results\n%s\nwant\n%s", got, want)
	}
	// The answers on the erp.* topics are the authoritative ones only,
	// each once: nothing more arrives after the shadow reports did (they
	// were committed in the same transactions as the answers would have been).
	answers := map[string][]string{}
	for _, v := range e.consume(contracts.TopicERPOrderStatusV1, 2, time.Minute) {
		st := v.(*contracts.OrderStatus)
		answers["status"] = append(answers["status"], st.OrderID+" "+*st.CommandID)
	}
	for _, v := range e.consume(contracts.TopicERPCustomerV1, 1, time.Minute) {
		answers["customer"] = append(answers["customer"], *v.(*contracts.Customer).GoldenID)
	}
	for _, v := range e.consume(contracts.TopicERPCreditV1, 1, time.Minute) {
		answers["credit"] = append(answers["credit"], v.(*contracts.CreditAccount).ERPCustomerID)
	}
	time.Sleep(2 * time.Second)
	for topic, n := range map[string]int{contracts.TopicERPOrderStatusV1: 2, contracts.TopicERPCustomerV1: 1, contracts.TopicERPCreditV1: 1, contracts.TopicERPPathResultsV1: 6} {
		phys := e.kcfg.Topic(topic)
		if got := e.collectors[phys].Count(phys); got != n {
			t.Errorf("%s: %d records, want %d (answers %v)", topic, got, n, answers)
		}
	}
	if fmt.Sprint(answers["status"]) != "[O-1 CMD-1 O-1 CMD-3]" || fmt.Sprint(answers["customer"]) != "[G-1]" {
		t.Errorf("answers %v", answers)
	}
}
