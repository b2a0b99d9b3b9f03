package sim

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// The simulator as the new ERP path of the routed flows (route.go): its
// role for a command by the flow's mode (flowmode.Fixed here; the
// service's flowmode.Watcher in production and in the integration test).

// pumpOrder is an order of two lines, one export-controlled: decided
// PARTIALLY_REJECTED with 2000 accepted.
func pumpOrder(cmdID, action string, rev int) *contracts.OrderCommand {
	return &contracts.OrderCommand{
		Metadata: meta(cmdID), CommandID: cmdID, Action: action, OrderID: "O-1", QuoteID: "Q-1", QuoteVersion: 1, Attempt: 1, Revision: rev,
		ERPCustomerID: "1000001", Currency: "USD", Region: "NA",
		Lines: []contracts.OrderLine{
			{LineNumber: 10, SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000), LineTotal: usd(2000), ShipToCountry: "US"},
			{LineNumber: 20, SKU: "CTRL-PLC", Quantity: 1, ListPrice: usd(500), UnitPrice: usd(500), LineTotal: usd(500), ShipToCountry: "IR"},
		},
		Total: usd(2500),
	}
}

// topicCounts counts the outputs of results by topic.
func topicCounts(rs ...processortest.Result) map[string]int {
	n := map[string]int{}
	for _, r := range rs {
		for _, o := range r.Outputs {
			n[o.Topic]++
		}
	}
	return n
}

func checkCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for k, v := range want {
		if v == 0 {
			delete(want, k)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: outputs by topic %v, want %v", what, got, want)
	}
}

// pathResults decodes the path results of res and checks their keys.
func pathResults(t *testing.T, k *processortest.Kit, res processortest.Result) []*contracts.PathResult {
	t.Helper()
	outs := res.On(contracts.TopicERPPathResultsV1)
	rs := values[contracts.PathResult](t, k, outs)
	for i, r := range rs {
		if want := flowmode.ResultKey(r.Flow, r.EntityID); outs[i].Key != want {
			t.Errorf("path result key %q, want %q", outs[i].Key, want)
		}
	}
	return rs
}

func orderStateOf(t *testing.T, k *processortest.Kit, id string) orderState {
	t.Helper()
	b, ok := k.State(StoreOrders, id)
	if !ok {
		t.Fatalf("no state for order %s", id)
	}
	var st orderState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// An order under each mode: LEGACY, the simulator leaves it to the legacy
// path (nothing emitted, the route kept); SHADOW, it reports its decision
// and nothing else (no status, shipment, asset or invoice); NEW (or no mode
// recorded), it answers as before and reports its decision with it.
func TestOrderRoutedByMode(t *testing.T) {
	for _, c := range []struct {
		name  string
		modes flowmode.Fixed
		mode  string
		role  flowmode.Role
	}{
		{"legacy", flowmode.Fixed{flowmode.Orders: contracts.RoutingModeLegacy}, contracts.RoutingModeLegacy, flowmode.Off},
		{"shadow", flowmode.Fixed{flowmode.Orders: contracts.RoutingModeShadow}, contracts.RoutingModeShadow, flowmode.Shadow},
		{"new", flowmode.Fixed{flowmode.Orders: contracts.RoutingModeNew}, contracts.RoutingModeNew, flowmode.Authoritative},
		{"no mode recorded", flowmode.Fixed{}, contracts.RoutingModeNew, flowmode.Authoritative},
		{"customers legacy, orders default", flowmode.Fixed{flowmode.Customers: contracts.RoutingModeLegacy}, contracts.RoutingModeNew, flowmode.Authoritative},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := simKit(t, Settings{Modes: c.modes})
			if res := k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0)); res.Err != nil || len(res.Outputs) != 0 {
				t.Fatalf("command: %v %+v", res.Err, res.Outputs)
			}
			if st := orderStateOf(t, k, "O-1"); st.Mode != c.mode || st.role() != c.role {
				t.Fatalf("route kept: mode %q role %s, want %s %s", st.Mode, st.role(), c.mode, c.role)
			}
			decide := k.Tick(t0.Add(time.Second))
			later := []processortest.Result{k.Tick(t0.Add(2 * time.Second)), k.Tick(t0.Add(3 * time.Second)), k.Tick(t0.Add(time.Hour))}
			answered := c.role == flowmode.Authoritative
			reported := c.role != flowmode.Off
			checkCounts(t, "decision", topicCounts(decide), map[string]int{contracts.TopicERPOrderStatusV1: b2i(answered), contracts.TopicERPPathResultsV1: b2i(reported)})
			checkCounts(t, "shipment and invoice", topicCounts(later...), map[string]int{contracts.TopicERPOrderStatusV1: 2 * b2i(answered),
				contracts.TopicERPAssetV1: 2 * b2i(answered), TopicAssets: 2 * b2i(answered), contracts.TopicERPInvoiceV1: b2i(answered)})
			st := orderStateOf(t, k, "O-1")
			if c.role == flowmode.Off {
				if st.Step != stepElsewhere || st.Timer != "" {
					t.Errorf("order left to the legacy path: state %+v", st)
				}
				return
			}
			// A shadowed order goes through the same steps in state.
			if st.Step != stepDone || st.Last != contracts.ErpOrderStateInvoiced {
				t.Errorf("state after the last step: %s, last %s", st.Step, st.Last)
			}
			rs := pathResults(t, k, decide)
			r := rs[0]
			if r.Flow != flowmode.Orders || r.EntityID != "O-1" || r.Path != contracts.ErpPathNew || r.Mode != c.mode || r.Authoritative != answered ||
				r.Status != contracts.ErpOrderStatePartiallyRejected || r.Total == nil || r.Total.AmountMinor != 2000 || r.CommandID == nil || *r.CommandID != "CMD-1" ||
				r.ERPID == nil || *r.ERPID != erpOrderID("O-1") || len(r.Lines) != 2 || r.Lines[1].Status != contracts.LineStatusRejected || r.Lines[1].ERPMessage != nil ||
				r.Metadata.CorrelationID != "corr-CMD-1" || !r.Metadata.OccurredAt.Equal(t0.Add(time.Second)) {
				t.Errorf("path result %+v", r)
			}
			if answered {
				s := values[contracts.OrderStatus](t, k, decide.On(contracts.TopicERPOrderStatusV1))[0]
				want := flowmode.OrderResult(contracts.ErpPathNew, c.mode, true, s, r.Metadata)
				if !reflect.DeepEqual(*r, want) {
					t.Errorf("path result\n%+v\nis not the status answered\n%+v", *r, want)
				}
				if r.Metadata.EventID == s.Metadata.EventID {
					t.Error("path result has the status's event id")
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A customer command under each mode, created then updated: LEGACY,
// nothing emitted and nothing learnt (no ERP number drawn); SHADOW, only
// the path results (CREATED, then UPDATED); NEW, credit and customer as
// before with the path result of what was answered.
func TestCustomerRoutedByMode(t *testing.T) {
	for _, c := range []struct {
		mode string
		role flowmode.Role
	}{
		{contracts.RoutingModeLegacy, flowmode.Off},
		{contracts.RoutingModeShadow, flowmode.Shadow},
		{contracts.RoutingModeNew, flowmode.Authoritative},
	} {
		t.Run(c.mode, func(t *testing.T) {
			k := simKit(t, Settings{Modes: flowmode.Fixed{flowmode.Customers: c.mode, flowmode.Orders: contracts.RoutingModeNew}})
			k.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate,
				GoldenID: "G-1", Name: "Acme", BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}})
			created := k.Tick(t0.Add(time.Second))
			k.Advance(2 * time.Second)
			k.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc2"), CommandID: "CC-2", Action: contracts.CustomerCommandActionUpdate,
				GoldenID: "G-1", Name: "Acme Robotics"})
			updated := k.Tick(t0.Add(3 * time.Second))
			answered, reported := b2i(c.role == flowmode.Authoritative), b2i(c.role != flowmode.Off)
			checkCounts(t, "create", topicCounts(created), map[string]int{contracts.TopicERPCreditV1: answered, contracts.TopicERPCustomerV1: answered, contracts.TopicERPPathResultsV1: reported})
			checkCounts(t, "update", topicCounts(updated), map[string]int{contracts.TopicERPCustomerV1: answered, contracts.TopicERPPathResultsV1: reported})
			if c.role == flowmode.Off {
				if _, ok := k.State(StoreCustomers, "G-1"); ok {
					t.Error("customer left to the legacy path kept in state")
				}
				if _, ok := k.State(StoreSeq, "customer"); ok {
					t.Error("an ERP customer number drawn for a customer left to the legacy path")
				}
				return
			}
			for i, step := range []struct {
				res    processortest.Result
				status string
				name   string
			}{{created, flowmode.StatusCreated, "Acme"}, {updated, flowmode.StatusUpdated, "Acme Robotics"}} {
				r := pathResults(t, k, step.res)[0]
				if r.Flow != flowmode.Customers || r.EntityID != "G-1" || r.Path != contracts.ErpPathNew || r.Mode != c.mode || r.Authoritative != (answered == 1) ||
					r.Status != step.status || r.Fields["name"] != step.name || r.Fields["country"] != "DE" || r.Fields["currency"] != "EUR" || r.ERPID == nil || *r.ERPID == "" {
					t.Errorf("answer %d: path result %+v", i, r)
				}
				if answered == 1 {
					cust := values[contracts.Customer](t, k, step.res.On(contracts.TopicERPCustomerV1))[0]
					want := flowmode.CustomerResult(contracts.ErpPathNew, c.mode, true, cust, i == 0, r.Metadata)
					if !reflect.DeepEqual(*r, want) {
						t.Errorf("answer %d: path result\n%+v\nis not the customer answered\n%+v", i, *r, want)
					}
				}
			}
		})
	}
}

// An order first seen while the simulator was off for orders stays with
// the legacy path: its cancel and its next revision, sent after the flow
// moved to NEW, are not answered.
func TestOrderOfLegacyPathStaysThere(t *testing.T) {
	modes := flowmode.Fixed{flowmode.Orders: contracts.RoutingModeLegacy}
	k := simKit(t, Settings{Modes: modes})
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0))
	modes[flowmode.Orders] = contracts.RoutingModeNew
	k.Advance(10 * time.Second)
	var rs []processortest.Result
	rs = append(rs, k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-2", contracts.OrderCommandActionCreate, 2)))
	rs = append(rs, k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-3", contracts.OrderCommandActionCancel, 2)))
	rs = append(rs, k.Tick(t0.Add(time.Minute)), k.Tick(t0.Add(time.Hour)))
	checkCounts(t, "revision and cancel under NEW", topicCounts(rs...), map[string]int{})
	for _, r := range rs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if st := orderStateOf(t, k, "O-1"); st.Step != stepElsewhere || st.Mode != contracts.RoutingModeLegacy {
		t.Errorf("state %+v", st)
	}
	// A new order now is the simulator's.
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-2", func() *contracts.OrderCommand {
		c := pumpOrder("CMD-4", contracts.OrderCommandActionCreate, 0)
		c.OrderID = "O-2"
		return c
	}())
	if n := topicCounts(k.Tick(t0.Add(2 * time.Hour))); n[contracts.TopicERPOrderStatusV1] != 1 || n[contracts.TopicERPPathResultsV1] != 1 {
		t.Errorf("order created under NEW: outputs %v", n)
	}
}

// An order created under NEW stays the simulator's after the flow moved
// to LEGACY: its revision is decided and answered, reported with the mode
// of its first command, and so is its cancellation.
func TestOrderOfNewPathStaysThere(t *testing.T) {
	modes := flowmode.Fixed{flowmode.Orders: contracts.RoutingModeNew}
	k := simKit(t, Settings{Modes: modes})
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0))
	first := k.Tick(t0.Add(time.Second)) // decided; shipment due at 2 s
	modes[flowmode.Orders] = contracts.RoutingModeLegacy
	k.Advance(1500 * time.Millisecond)
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-2", contracts.OrderCommandActionCreate, 2))
	second := k.Tick(t0.Add(2500 * time.Millisecond)) // revision 2 decided
	k.Advance(1500 * time.Millisecond)
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-3", contracts.OrderCommandActionCancel, 2))
	cancelled := k.Tick(t0.Add(4 * time.Second))
	for i, c := range []struct {
		res     processortest.Result
		status  string
		command string
	}{
		{first, contracts.ErpOrderStatePartiallyRejected, "CMD-1"},
		{second, contracts.ErpOrderStatePartiallyRejected, "CMD-2"},
		{cancelled, contracts.ErpOrderStateCancelled, "CMD-2"},
	} {
		sts := values[contracts.OrderStatus](t, k, c.res.On(contracts.TopicERPOrderStatusV1))
		rs := pathResults(t, k, c.res)
		if len(sts) != 1 || sts[0].Status != c.status || len(rs) != 1 || rs[0].Status != c.status || rs[0].Mode != contracts.RoutingModeNew ||
			!rs[0].Authoritative || *rs[0].CommandID != c.command {
			t.Fatalf("answer %d: statuses %+v, path results %+v", i, sts, rs)
		}
	}
	if res := k.Tick(t0.Add(time.Hour)); len(res.Outputs) != 0 {
		t.Errorf("after the cancellation: %+v", res.Outputs)
	}
}

// Customers are routed command by command. A customer the simulator made
// only in shadow gets, once the flow is NEW, the ERP number the command
// names (the authoritative path's), so it is not published under a second
// number; back under LEGACY it is left alone again.
func TestCustomerRoutedPerCommand(t *testing.T) {
	modes := flowmode.Fixed{flowmode.Customers: contracts.RoutingModeShadow}
	k := simKit(t, Settings{Modes: modes})
	send := func(id string, erpID *string, name string) processortest.Result {
		k.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta(id), CommandID: id, Action: contracts.CustomerCommandActionUpdate,
			GoldenID: "G-1", ERPCustomerID: erpID, Name: name, BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}})
		k.Advance(2 * time.Second)
		return k.Tick(k.Now())
	}
	shadow := send("CC-1", nil, "Acme")
	sr := pathResults(t, k, shadow)
	if len(shadow.Outputs) != 1 || sr[0].Authoritative || sr[0].Status != flowmode.StatusCreated {
		t.Fatalf("shadow answer %+v", shadow.Outputs)
	}
	modes[flowmode.Customers] = contracts.RoutingModeNew
	legacyNumber := "L-0042"
	answered := send("CC-2", &legacyNumber, "Acme Robotics")
	custs := values[contracts.Customer](t, k, answered.On(contracts.TopicERPCustomerV1))
	ar := pathResults(t, k, answered)
	if len(custs) != 1 || custs[0].ERPCustomerID != legacyNumber || custs[0].Name != "Acme Robotics" || len(answered.On(contracts.TopicERPCreditV1)) != 0 ||
		len(ar) != 1 || !ar[0].Authoritative || ar[0].Status != flowmode.StatusUpdated || *ar[0].ERPID != legacyNumber || *sr[0].ERPID == legacyNumber {
		t.Fatalf("first answer under NEW: customers %+v, path results %+v", custs, ar)
	}
	// Published now: its number stays.
	other := "L-0099"
	if again := values[contracts.Customer](t, k, send("CC-3", &other, "Acme Robotics AG").On(contracts.TopicERPCustomerV1)); len(again) != 1 || again[0].ERPCustomerID != legacyNumber {
		t.Fatalf("second answer under NEW: %+v", again)
	}
	modes[flowmode.Customers] = contracts.RoutingModeLegacy
	if res := send("CC-4", &legacyNumber, "Acme Legacy"); len(res.Outputs) != 0 {
		t.Fatalf("under LEGACY: %+v", res.Outputs)
	}
}

// While the mode at a command's time cannot be known (here a watcher that
// has not read the mode topic), the command fails retriably with
// routing_unknown and nothing of it is applied: the runtime retries it.
// Flows that are not routed go on.
func TestRoutingUnknownWaits(t *testing.T) {
	w := flowmode.NewWatcher(kafka.Config{}, nil, nil)
	w.Wait = 10 * time.Millisecond
	k := simKit(t, Settings{Modes: w})
	for _, c := range []struct {
		topic, key string
		v          contracts.Value
	}{
		{contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0)},
		{contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate, GoldenID: "G-1", Name: "Acme"}},
	} {
		res := k.SendValue(c.topic, c.key, c.v)
		if errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != string(errs.ReasonRoutingUnknown) || len(res.Outputs) != 0 || len(res.Writes) != 0 {
			t.Errorf("%s: err %v, %d outputs, %d writes", c.topic, res.Err, len(res.Outputs), len(res.Writes))
		}
	}
	res := k.SendValue(contracts.TopicERPJournalCommandsV1, "J-1", &contracts.JournalCommand{Metadata: meta("j1"), Kind: contracts.JournalKindInvoice, JournalCommandID: "J-1",
		PostingDate: t0.Truncate(24 * time.Hour), Currency: "USD", Lines: []contracts.JournalLine{}})
	if res.Err != nil || len(values[contracts.Journal](t, k, k.Tick(t0.Add(time.Second)).On(contracts.TopicERPJournalV1))) != 1 {
		t.Errorf("journal command: %v", res.Err)
	}
}

// Every order status that is a decision is reported, as the legacy adapter
// reports its own (flowmode.Decided): a decision repeated to a re-sent
// command too; a re-sent command answered SHIPPED is not.
func TestRepeatedDecisionReported(t *testing.T) {
	k := simKit(t, Settings{Modes: flowmode.Fixed{flowmode.Orders: contracts.RoutingModeNew}})
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0))
	k.Tick(t0.Add(time.Second)) // decided; shipment due at 2 s
	k.Advance(1500 * time.Millisecond)
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0))
	shipped := k.Tick(t0.Add(2 * time.Second))
	repeated := k.Tick(t0.Add(2500 * time.Millisecond))
	if rs := pathResults(t, k, repeated); len(rs) != 1 || rs[0].Status != contracts.ErpOrderStatePartiallyRejected || len(repeated.On(contracts.TopicERPOrderStatusV1)) != 1 {
		t.Errorf("repeated decision: %+v", repeated.Outputs)
	}
	if n := topicCounts(shipped); n[contracts.TopicERPPathResultsV1] != 0 || n[contracts.TopicERPOrderStatusV1] != 1 {
		t.Errorf("shipment: %v", n)
	}
	k.Advance(time.Second) // 2.5 s: shipped, invoice due at 3 s
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", pumpOrder("CMD-1", contracts.OrderCommandActionCreate, 0))
	res := k.Tick(t0.Add(3500 * time.Millisecond))
	var got []string
	for _, st := range values[contracts.OrderStatus](t, k, res.On(contracts.TopicERPOrderStatusV1)) {
		got = append(got, st.Status)
	}
	if len(res.On(contracts.TopicERPPathResultsV1)) != 0 || len(got) != 2 || got[0] != contracts.ErpOrderStateInvoiced || got[1] != contracts.ErpOrderStateShipped {
		t.Errorf("invoice and the answer re-sent after the shipment: statuses %v, %d path results", got, len(res.On(contracts.TopicERPPathResultsV1)))
	}
}
