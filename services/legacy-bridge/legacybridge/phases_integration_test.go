//go:build integration

package legacybridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// phases is the whole modernization path on the real broker: the legacy
// bridge, the ERP simulator as both ERPs (its new path on the topics, its
// legacy ERP mode at the drop folder) and the reconciler's parity check,
// each a child process.
type phases struct {
	*env
	col *testinfra.Collector
}

// The legacy ERP refuses exports to Brazil, the new one does not: the
// seeded difference a shadow run must find.
const legacyRestricted = "CU,IR,KP,SY,RU,BY,BR"

func newPhases(t *testing.T) *phases {
	e := newEnv(t)
	p := &phases{env: e}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range e.common {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	testinfra.NewProgram(t, "erp-simulator", testinfra.Build(t, "../../erp-simulator"), with(map[string]string{
		"ISTHMUS_SIM_TRAFFIC": "false", "ISTHMUS_SIM_LATENCY": "50ms-200ms", "ISTHMUS_SIM_SHIP_DELAY": "1h-2h", "ISTHMUS_SIM_SEED": "7",
		"ISTHMUS_SIM_EXPORT_RESTRICTED": "CU,IR,KP,SY,RU,BY", "ISTHMUS_SIM_LEGACY_EXPORT_RESTRICTED": legacyRestricted,
		"ISTHMUS_SIM_LEGACY_DIR": e.dir.Root, "ISTHMUS_SIM_LEGACY_BATCH": "200ms-600ms", "ISTHMUS_SIM_LEGACY_POLL": "100ms",
		"ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(t), "ISTHMUS_INSTANCE_ID": "sim"})).Start()
	testinfra.NewProgram(t, "reconciler", testinfra.Build(t, "../../reconciler"), with(map[string]string{
		"ISTHMUS_RECON_PARITY_WINDOW": "20s", "ISTHMUS_RECON_DASHBOARD_ADDR": testinfra.FreeAddr(t),
		"ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(t), "ISTHMUS_INSTANCE_ID": "rec"})).Start()
	e.bridge("a", nil).Start()
	p.col = testinfra.Collect(t, e.brokers, e.topic(contracts.TopicERPOrderStatusV1), e.topic(contracts.TopicERPCustomerV1),
		e.topic(contracts.TopicERPPathResultsV1), e.topic(contracts.TopicReconParityV1))
	return p
}

// order sends an order command whose one line ships to country.
func (p *phases) order(id, country string) {
	usd := contracts.Money{AmountMinor: 12000, Currency: "USD"}
	p.in.Value(contracts.TopicERPOrderCommandsV1, id, &contracts.OrderCommand{Metadata: meta(contracts.SourceSystemQuoteToOrder, "corr-"+id),
		CommandID: "cmd-" + id, Action: contracts.OrderCommandActionCreate, OrderID: id, QuoteID: id, QuoteVersion: 1, Attempt: 1, Revision: 1,
		ERPCustomerID: "C000001", Currency: "USD", Region: "NA", Total: usd, Overrides: []string{},
		Lines: []contracts.OrderLine{{LineNumber: 1, SKU: "SKU-1", Quantity: 1, ListPrice: usd, UnitPrice: usd, LineTotal: usd, ShipToCountry: country}}})
}

func (p *phases) customer(golden string) {
	p.in.Value(contracts.TopicERPCustomerCommandsV1, golden, &contracts.CustomerCommand{Metadata: meta(contracts.SourceSystemCustomerSync, "corr-"+golden),
		CommandID: "cmd-" + golden, Action: contracts.CustomerCommandActionCreate, GoldenID: golden, Name: "Acme " + golden, ChangedFields: []string{},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Austin", Country: "US"}})
}

// decisions are the authoritative order decisions on erp.order-status.v1,
// per order id, with the path that made them (by their ERP numbers'
// metadata source: path results name it).
func (p *phases) decisions() map[string][]contracts.OrderStatus {
	out := map[string][]contracts.OrderStatus{}
	for _, r := range p.col.Records(p.topic(contracts.TopicERPOrderStatusV1)) {
		var s contracts.OrderStatus
		if err := p.sd.Decode(context.Background(), r.Value, &s); err != nil {
			p.t.Fatal(err)
		}
		if flowmode.Decided(s.Status) {
			out[s.OrderID] = append(out[s.OrderID], s)
		}
	}
	return out
}

func (p *phases) results() map[string][]contracts.PathResult {
	out := map[string][]contracts.PathResult{}
	for _, r := range p.col.Records(p.topic(contracts.TopicERPPathResultsV1)) {
		var v contracts.PathResult
		if err := p.sd.Decode(context.Background(), r.Value, &v); err != nil {
			p.t.Fatal(err)
		}
		out[string(r.Key)] = append(out[string(r.Key)], v)
	}
	return out
}

func (p *phases) parity() map[string]contracts.ParityResult {
	out := map[string]contracts.ParityResult{}
	for _, r := range p.col.Records(p.topic(contracts.TopicReconParityV1)) {
		var v contracts.ParityResult
		if err := p.sd.Decode(context.Background(), r.Value, &v); err != nil {
			p.t.Fatal(err)
		}
		out[string(r.Key)] = v // the latest verdict per entity
	}
	return out
}

// The four phases on one stream of commands: everything through the legacy
// ERP; a shadow run whose parity finds exactly the seeded difference and
// matches the rest; the orders flow cut over to the new path while orders
// keep coming, each answered once, none lost.
func TestModernizationPhases(t *testing.T) {
	p := newPhases(t)

	// Phase 1: both flows on the legacy ERP.
	p.setMode(flowmode.Customers, contracts.RoutingModeLegacy)
	p.setMode(flowmode.Orders, contracts.RoutingModeLegacy)
	p.customer("G-1")
	p.order("O-1", "US")
	testinfra.Eventually(t, 2*time.Minute, "legacy answers", func() bool {
		return len(p.decisions()["O-1"]) == 1 && p.col.Count(p.topic(contracts.TopicERPCustomerV1)) == 1
	})
	for key, rs := range p.results() {
		for _, r := range rs {
			if r.Path != contracts.ErpPathLegacy || !r.Authoritative {
				t.Errorf("%s: a result of the %s path under LEGACY: %+v", key, r.Path, r)
			}
		}
	}

	// Phase 2: shadow. The legacy ERP stays authoritative; parity compares.
	p.setMode(flowmode.Customers, contracts.RoutingModeShadow)
	p.setMode(flowmode.Orders, contracts.RoutingModeShadow)
	var clean []string
	for i := range 5 {
		p.customer(fmt.Sprintf("G-S%d", i))
		id := fmt.Sprintf("O-S%d", i)
		p.order(id, "US")
		clean = append(clean, flowmode.ResultKey(flowmode.Orders, id), flowmode.ResultKey(flowmode.Customers, fmt.Sprintf("G-S%d", i)))
	}
	p.order("O-BR", "BR")
	seeded := flowmode.ResultKey(flowmode.Orders, "O-BR")
	testinfra.Eventually(t, 2*time.Minute, "a verdict for every shadowed entity", func() bool {
		par := p.parity()
		for _, k := range append(clean, seeded) {
			if _, ok := par[k]; !ok {
				return false
			}
		}
		return true
	})
	par := p.parity()
	for _, k := range clean {
		if v := par[k]; v.Verdict != contracts.ParityVerdictMatch {
			t.Errorf("%s: %s %+v, want MATCH", k, v.Verdict, v.Differences)
		}
	}
	if v := par[seeded]; v.Verdict != contracts.ParityVerdictDifferent || !hasDifference(v, "status") {
		t.Errorf("seeded difference: %s %+v", v.Verdict, v.Differences)
	}
	dec := p.decisions()
	for _, id := range []string{"O-S0", "O-S1", "O-S2", "O-S3", "O-S4", "O-BR"} {
		if len(dec[id]) != 1 {
			t.Errorf("%s: %d authoritative decisions under SHADOW, want 1 (the legacy ERP's)", id, len(dec[id]))
		}
	}
	if s := dec["O-BR"]; len(s) == 1 && s[0].Status != contracts.ErpOrderStateRejected {
		t.Errorf("O-BR answered %s: the legacy ERP is authoritative under SHADOW", s[0].Status)
	}

	// Phase 3: cut the orders flow over while orders keep coming.
	var sent []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 120 {
			id := fmt.Sprintf("O-C%03d", i)
			p.order(id, "US")
			sent = append(sent, id)
			time.Sleep(25 * time.Millisecond)
		}
	})
	time.Sleep(time.Second)
	p.setMode(flowmode.Orders, contracts.RoutingModeNew)
	wg.Wait()
	testinfra.Eventually(t, 3*time.Minute, "every order decided", func() bool {
		dec := p.decisions()
		for _, id := range sent {
			if len(dec[id]) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second) // a second answer would show by now
	dec, res := p.decisions(), p.results()
	byPath := map[string]int{}
	for _, id := range sent {
		if n := len(dec[id]); n != 1 {
			t.Errorf("%s: %d decisions, want exactly 1", id, n)
		}
		var auth []string
		for _, r := range res[flowmode.ResultKey(flowmode.Orders, id)] {
			if r.Authoritative {
				auth = append(auth, r.Path)
			}
		}
		if len(auth) != 1 {
			t.Errorf("%s: authoritative answers from %v, want one path", id, auth)
			continue
		}
		byPath[auth[0]]++
	}
	if byPath[contracts.ErpPathLegacy] == 0 || byPath[contracts.ErpPathNew] == 0 {
		t.Errorf("orders by path %v: the cutover did not happen mid-stream", byPath)
	}
	t.Logf("cutover mid-stream: %v", byPath)
}

func hasDifference(v contracts.ParityResult, field string) bool {
	for _, d := range v.Differences {
		if strings.Contains(d.Field, field) {
			return true
		}
	}
	return false
}
