//go:build integration

package legacybridge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/legacy-bridge/internal/bridge"
)

// env is the legacy bridge on the real broker as a child process, with
// the test playing the legacy ERP at the drop folder.
type env struct {
	t       *testing.T
	prefix  string
	brokers []string
	kcfg    kafka.Config
	sd      *serde.Serde
	cl      *kgo.Client
	in      *testinfra.Producer
	dir     bridge.Folder
	bin     string
	common  map[string]string
	modes   map[string]*contracts.FlowMode
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, brokers: testinfra.Brokers(t), prefix: fmt.Sprintf("lgb%d.", time.Now().UnixNano()), dir: bridge.Folder{Root: t.TempDir()},
		modes: map[string]*contracts.FlowMode{}}
	reg := testinfra.RegistryURL(t)
	testinfra.Provision(t, e.brokers, reg, e.prefix)
	e.kcfg = kafka.Config{Brokers: e.brokers, TopicPrefix: e.prefix}
	e.sd = serde.New(testinfra.RegistryClient(t))
	e.cl = testinfra.NewClient(t, e.brokers)
	e.in = testinfra.NewProducer(t, e.cl, e.sd, e.prefix)
	if err := e.dir.Ensure(); err != nil { // the ERP's side of the folder
		t.Fatal(err)
	}
	e.bin = testinfra.Build(t, "..")
	e.common = map[string]string{"ISTHMUS_KAFKA_BROKERS": strings.Join(e.brokers, ","), "ISTHMUS_TOPIC_PREFIX": e.prefix,
		"ISTHMUS_SCHEMA_REGISTRY_URL": reg, "ISTHMUS_LOG_LEVEL": "info", "ISTHMUS_LEGACY_DIR": e.dir.Root,
		"ISTHMUS_LEGACY_POLL": "200ms", "ISTHMUS_LEGACY_EXPORT_EVERY": "300ms"}
	return e
}

// bridge prepares an instance with a stable id.
func (e *env) bridge(id string, extra map[string]string) *testinfra.Program {
	env := map[string]string{"ISTHMUS_INSTANCE_ID": id, "ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(e.t)}
	for k, v := range e.common {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return testinfra.NewProgram(e.t, "legacy-bridge-"+id, e.bin, env)
}

// setMode routes flow to mode from a short lead on, as the operations API
// does, and waits until it is in force.
func (e *env) setMode(flow, mode string) {
	e.t.Helper()
	v, err := flowmode.Next(e.modes[flow], flowmode.Change{Flow: flow, Mode: mode, By: "test", Lead: 500 * time.Millisecond}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := flowmode.Publish(context.Background(), e.cl, e.kcfg, e.sd, &v); err != nil {
		e.t.Fatal(err)
	}
	e.modes[flow] = &v
	time.Sleep(time.Until(v.EffectiveAt) + 50*time.Millisecond)
}

func (e *env) topic(name string) string { return e.prefix + name }

var n int

func meta(src, corr string) contracts.EventMetadata {
	n++
	return contracts.EventMetadata{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), CorrelationID: corr, SourceSystem: src, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func s(v string) *string { return &v }

func (e *env) customerCommand(id, golden string) {
	e.in.Value(contracts.TopicERPCustomerCommandsV1, golden, &contracts.CustomerCommand{Metadata: meta(contracts.SourceSystemCustomerSync, "corr-"+golden),
		CommandID: id, Action: contracts.CustomerCommandActionCreate, GoldenID: golden, Name: "Acme " + golden, ChangedFields: []string{},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Berlin", Country: "DE"}})
}

func (e *env) orderCommand(id, order, action string) {
	usd := contracts.Money{AmountMinor: 1500, Currency: "USD"}
	e.in.Value(contracts.TopicERPOrderCommandsV1, order, &contracts.OrderCommand{Metadata: meta(contracts.SourceSystemQuoteToOrder, "corr-"+order),
		CommandID: id, Action: action, OrderID: order, QuoteID: "Q", QuoteVersion: 1, Attempt: 1, Revision: 1, ERPCustomerID: "L000001", Currency: "USD", Region: "NA",
		Total: usd, Overrides: []string{}, Lines: []contracts.OrderLine{{LineNumber: 1, SKU: "SKU-1", Quantity: 1, ListPrice: usd, UnitPrice: usd, LineTotal: usd, ShipToCountry: "US"}}})
}

// exported waits for the outbound files and returns the commands they
// hold, by command id.
func (e *env) exported(within time.Duration, want ...string) (map[string]legacyfile.Row, map[string]legacyfile.Order) {
	e.t.Helper()
	var customers map[string]legacyfile.Row
	var orders map[string]legacyfile.Order
	read := func() bool {
		customers, orders = map[string]legacyfile.Row{}, map[string]legacyfile.Order{}
		names, err := legacyfile.List(e.dir.Outbound())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(e.dir.Outbound(), name))
			if err != nil {
				e.t.Fatal(err)
			}
			f, err := legacyfile.Parse(name, b)
			if err != nil {
				e.t.Fatalf("the bridge wrote a file the ERP refuses: %v", err)
			}
			for _, r := range f.Rows {
				if r.Type == "C" {
					if _, dup := customers[r.Field(f.Kind, "command_id")]; dup {
						e.t.Fatalf("customer command %s exported twice", r.Field(f.Kind, "command_id"))
					}
					customers[r.Field(f.Kind, "command_id")] = r
				}
			}
			for _, o := range legacyfile.Orders(f) {
				if _, dup := orders[o.Command.CommandID]; dup {
					e.t.Fatalf("order command %s exported twice", o.Command.CommandID)
				}
				orders[o.Command.CommandID] = o
			}
		}
		for _, id := range want {
			_, c := customers[id]
			_, o := orders[id]
			if !c && !o {
				return false
			}
		}
		return true
	}
	testinfra.Eventually(e.t, within, fmt.Sprintf("commands %v in outbound/", want), read)
	return customers, orders
}

// answer drops a file of the legacy ERP into inbound/.
func (e *env) answer(f *legacyfile.File) {
	e.t.Helper()
	b, err := legacyfile.Encode(f)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := legacyfile.WriteAtomic(e.dir.Inbound(), f.Name(), b); err != nil {
		e.t.Fatal(err)
	}
}

// A customer and an order go through the legacy ERP: the commands leave
// as batch files, the ERP's answers come back on erp.customer.v1 and
// erp.order-status.v1 with the path's results; when the orders flow
// switches to NEW, a new order is left to the new path while the cancel of
// an order the legacy ERP holds still goes to it.
func TestLegacyPathEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.setMode(flowmode.Customers, contracts.RoutingModeLegacy)
	e.setMode(flowmode.Orders, contracts.RoutingModeShadow)
	col := testinfra.Collect(t, e.brokers, e.topic(contracts.TopicERPCustomerV1), e.topic(contracts.TopicERPOrderStatusV1), e.topic(contracts.TopicERPPathResultsV1),
		e.topic(contracts.TopicERPCreditV1))
	e.bridge("a", nil).Start()

	e.customerCommand("cc-1", "G-1")
	e.orderCommand("oc-1", "O-1", contracts.OrderCommandActionCreate)
	customers, orders := e.exported(time.Minute, "cc-1", "oc-1")
	req, ref := legacyfile.CustomerRequest(customers["cc-1"])
	if req.Name != "Acme G-1" || ref != (legacyfile.Ref{Correlation: "corr-G-1", Route: contracts.RoutingModeLegacy}) {
		t.Fatalf("customer request %+v %+v", req, ref)
	}
	if o := orders["oc-1"]; o.Command.OrderID != "O-1" || o.Ref.Route != contracts.RoutingModeShadow || len(o.Command.Lines) != 1 {
		t.Fatalf("order %+v", o)
	}

	now := time.Now().UTC().Truncate(time.Second)
	e.answer(&legacyfile.File{Kind: legacyfile.KindCustomers, Batch: "000001", Created: now, Sender: "LEGACYERP", Rows: []legacyfile.Row{
		legacyfile.CustomerRow(&contracts.Customer{Op: contracts.ChangeOperationUpsert, ERPCustomerID: "L000001", GoldenID: s(req.GoldenID), CommandID: s(req.CommandID),
			Name: req.Name, BillingAddress: req.BillingAddress, Currency: s("EUR"), PaymentTerms: s("NET30"), CreditStatus: contracts.CreditStatusActive,
			CreditLimit: &contracts.Money{AmountMinor: 2500000, Currency: "EUR"}, SourceUpdatedAt: now}, ref)}})
	st := contracts.OrderStatus{OrderID: "O-1", CommandID: s("oc-1"), ERPOrderID: s("4500000001"), Status: contracts.ErpOrderStateAccepted,
		Total: &contracts.Money{AmountMinor: 1500, Currency: "USD"}, Lines: []contracts.OrderLineStatus{{LineNumber: 1, SKU: "SKU-1", Status: contracts.LineStatusAccepted, QuantityConfirmed: 1}}}
	e.answer(&legacyfile.File{Kind: legacyfile.KindOrderStatus, Batch: "000002", Created: now, Sender: "LEGACYERP", Rows: legacyfile.OrderStatusRows(&st, orders["oc-1"].Ref, now)})

	cust := col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPCustomerV1), 1)[0]
	var c contracts.Customer
	if err := e.sd.Decode(context.Background(), cust.Value, &c); err != nil {
		t.Fatal(err)
	}
	if string(cust.Key) != "L000001" || *c.GoldenID != "G-1" || *c.CommandID != "cc-1" || c.Metadata.CorrelationID != "corr-G-1" {
		t.Errorf("erp.customer.v1 %s %+v", cust.Key, c)
	}
	col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPCreditV1), 1)
	status := col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPOrderStatusV1), 1)[0]
	var got contracts.OrderStatus
	if err := e.sd.Decode(context.Background(), status.Value, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != contracts.ErpOrderStateAccepted || got.Metadata.CorrelationID != "corr-O-1" || *got.ERPOrderID != "4500000001" {
		t.Errorf("erp.order-status.v1 %+v", got)
	}
	results := map[string]contracts.PathResult{}
	for _, r := range col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPPathResultsV1), 2) {
		var pr contracts.PathResult
		if err := e.sd.Decode(context.Background(), r.Value, &pr); err != nil {
			t.Fatal(err)
		}
		results[string(r.Key)] = pr
	}
	if pr := results["customers|G-1"]; pr.Mode != contracts.RoutingModeLegacy || pr.Status != flowmode.StatusCreated || !pr.Authoritative {
		t.Errorf("customer path result %+v", pr)
	}
	if pr := results["orders|O-1"]; pr.Mode != contracts.RoutingModeShadow || pr.Status != contracts.ErpOrderStateAccepted || pr.Path != contracts.ErpPathLegacy {
		t.Errorf("order path result %+v", pr)
	}
	testinfra.Eventually(t, 30*time.Second, "answers filed in processed/", func() bool {
		return bridge.Exists(filepath.Join(e.dir.Processed(), "CUSTMAS_000001.csv")) && bridge.Exists(filepath.Join(e.dir.Processed(), "ORDSTAT_000002.csv"))
	})

	// Cut the orders flow over to the new path mid-stream.
	e.setMode(flowmode.Orders, contracts.RoutingModeNew)
	e.orderCommand("oc-2", "O-2", contracts.OrderCommandActionCreate)
	e.orderCommand("oc-3", "O-1", contracts.OrderCommandActionCancel)
	e.orderCommand("oc-4", "O-3", contracts.OrderCommandActionCreate)
	e.customerCommand("cc-2", "G-2")
	e.exported(time.Minute, "oc-3", "cc-2")
	time.Sleep(2 * time.Second) // a later batch would hold O-2 or O-3
	_, orders = e.exported(time.Second, "oc-3")
	for _, id := range []string{"oc-2", "oc-4"} {
		if _, ok := orders[id]; ok {
			t.Errorf("order command %s of an order made after the cutover went to the legacy ERP", id)
		}
	}
	if o := orders["oc-3"]; o.Command.Action != contracts.OrderCommandActionCancel || o.Ref.Route != contracts.RoutingModeShadow {
		t.Errorf("cancel of the legacy order: %+v", o)
	}
}

// Two instances of the bridge in one group, each SIGKILLed in turn while
// files are being applied and started again (a stable instance id rejoins
// at once): whichever holds the drop folder is killed within a file, and
// every file is applied exactly once (read_committed) and filed in
// processed/.
func TestSIGKILLDuringFilesExactlyOnce(t *testing.T) {
	e := newEnv(t)
	const files, rows = 8, 1500
	now := time.Now().UTC().Truncate(time.Second)
	for f := range files {
		var rs []legacyfile.Row
		for i := range rows {
			golden := fmt.Sprintf("G-%d-%d", f, i)
			rs = append(rs, legacyfile.CustomerRow(&contracts.Customer{Op: contracts.ChangeOperationUpsert, ERPCustomerID: fmt.Sprintf("L%03d%05d", f, i), GoldenID: s(golden),
				Name: "Customer " + golden, CreditStatus: contracts.CreditStatusActive, SourceUpdatedAt: now}, legacyfile.Ref{}))
		}
		e.answer(&legacyfile.File{Kind: legacyfile.KindCustomers, Batch: fmt.Sprintf("%06d", f), Created: now, Sender: "LEGACYERP", Rows: rs})
	}
	col := testinfra.Collect(t, e.brokers, e.topic(contracts.TopicERPCustomerV1))
	// Stable instance ids, as the chart's StatefulSet gives: a restarted
	// instance takes its partitions back at once.
	one := map[string]string{"ISTHMUS_LEGACY_FILES_PER_TICK": "1", "ISTHMUS_INSTANCE_STABLE": "true"}
	a, b := e.bridge("a", one), e.bridge("b", one)
	a.Start()
	b.Start()
	processed := func() int {
		names, _ := legacyfile.List(e.dir.Processed())
		return len(names)
	}
	testinfra.Eventually(t, 2*time.Minute, "a first file applied", func() bool { return processed() >= 1 })
	a.Kill() // if a holds the folder, most likely within the next file's transaction
	a.Start()
	testinfra.Eventually(t, 2*time.Minute, "a third file applied", func() bool { return processed() >= 3 })
	b.Kill()
	b.Start()
	testinfra.Eventually(t, 3*time.Minute, "every file filed in processed/", func() bool { return processed() == files })
	if left, _ := legacyfile.List(e.dir.Inbound()); len(left) != 0 {
		t.Fatalf("left in inbound/: %v", left)
	}
	if q, _ := legacyfile.List(e.dir.Quarantine()); len(q) != 0 {
		t.Fatalf("quarantined: %v", q)
	}
	col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPCustomerV1), files*rows)
	time.Sleep(2 * time.Second) // anything published twice would show by now
	seen := map[string]int{}
	for _, r := range col.Records(e.topic(contracts.TopicERPCustomerV1)) {
		seen[string(r.Key)]++
	}
	if len(seen) != files*rows {
		t.Errorf("%d customers published, want %d", len(seen), files*rows)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("customer %s published %d times", k, c)
		}
	}
}

// Refused files on the real broker: each kind of bad file dropped among
// good ones is quarantined with a report naming its reason and an
// exception on ops.exceptions.v1, and the good files around it are
// applied.
func TestBadFilesQuarantinedOnTheBroker(t *testing.T) {
	e := newEnv(t)
	col := testinfra.Collect(t, e.brokers, e.topic(contracts.TopicERPCustomerV1), e.topic(contracts.TopicOpsExceptionsV1))
	now := time.Now().UTC().Truncate(time.Second)
	file := func(batch string) []byte {
		b, err := legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindCustomers, Batch: batch, Created: now, Sender: "LEGACYERP", Rows: []legacyfile.Row{
			legacyfile.CustomerRow(&contracts.Customer{Op: contracts.ChangeOperationUpsert, ERPCustomerID: "L" + batch, GoldenID: s("G-" + batch), Name: "Customer " + batch,
				CreditStatus: contracts.CreditStatusActive, CreditLimit: &contracts.Money{AmountMinor: 500000, Currency: "EUR"}, Currency: s("EUR"), SourceUpdatedAt: now}, legacyfile.Ref{})}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edit := func(batch, from, to string) []byte { return []byte(strings.Replace(string(file(batch)), from, to, 1)) }
	bad := map[string]struct {
		data   []byte
		reason string
	}{
		"CUSTMAS_000002.csv": {edit("000002", "T,1,500000", "T,1,500001"), legacyfile.ReasonControlTotal},
		"CUSTMAS_000003.csv": {edit("000003", "T,1,", "T,4,"), legacyfile.ReasonRecordCount},
		"CUSTMAS_000004.csv": {edit("000004", "\nT,1,500000\n", "\n"), legacyfile.ReasonMissingTrailer},
		"CUSTMAS_000005.csv": {edit("000005", "H,CUSTMAS", "X,CUSTMAS"), legacyfile.ReasonMissingHeader},
		"CUSTMAS_000006.csv": {edit("000006", "M,L000006,", "M,\"L000006,"), legacyfile.ReasonMalformedLine},
		"CUSTMAS_000007.csv": {edit("000007", ",ACTIVE,", ",MAYBE,"), legacyfile.ReasonInvalidValue},
		"CUSTMAS_000008.csv": {edit("000008", "Customer", "Cust\xc3\x28mer"), legacyfile.ReasonNotUTF8},
		"CUSTMAS_000009.csv": {file("000010"), legacyfile.ReasonBatchMismatch},
		"ORDERS_000011.csv":  {[]byte("H,ORDERS,000011,2026-12-07T08:00:00Z,LEGACYERP\nT,0,0\n"), legacyfile.ReasonUnknownKind},
	}
	for name, c := range bad {
		if err := legacyfile.WriteAtomic(e.dir.Inbound(), name, c.data); err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range []string{"000001", "000012"} {
		if err := legacyfile.WriteAtomic(e.dir.Inbound(), legacyfile.Name(legacyfile.KindCustomers, batch), file(batch)); err != nil {
			t.Fatal(err)
		}
	}
	e.bridge("a", nil).Start()
	testinfra.Eventually(t, time.Minute, "every file filed", func() bool {
		left, _ := legacyfile.List(e.dir.Inbound())
		return len(left) == 0
	})
	for name, c := range bad {
		b, err := os.ReadFile(filepath.Join(e.dir.Quarantine(), name+".report.json"))
		if err != nil || !strings.Contains(string(b), `"reason": "`+c.reason+`"`) {
			t.Errorf("%s: report %s (%v), want reason %s", name, b, err, c.reason)
		}
	}
	published := col.WaitCount(t, time.Minute, e.topic(contracts.TopicERPCustomerV1), 2)
	exceptions := col.WaitCount(t, time.Minute, e.topic(contracts.TopicOpsExceptionsV1), len(bad))
	time.Sleep(time.Second)
	if n := col.Count(e.topic(contracts.TopicERPCustomerV1)); n != 2 || len(published) != 2 {
		t.Errorf("%d customers published, want the 2 good files' 2", n)
	}
	reasons := map[string]bool{}
	for _, r := range exceptions {
		var x contracts.OperationalException
		if err := e.sd.Decode(context.Background(), r.Value, &x); err != nil {
			t.Fatal(err)
		}
		reasons[x.Context["reason"]] = true
	}
	for name, c := range bad {
		if !reasons[c.reason] {
			t.Errorf("%s: no exception with reason %s (got %v)", name, c.reason, reasons)
		}
	}
}

// Commands exported while the bridge is SIGKILLed twice: every command
// reaches the legacy ERP's outbound files exactly once (a batch a killed
// tick wrote without committing is written again under the same name, not
// as a second batch).
func TestSIGKILLDuringExportsExactlyOnce(t *testing.T) {
	e := newEnv(t)
	e.setMode(flowmode.Orders, contracts.RoutingModeLegacy)
	a := e.bridge("a", map[string]string{"ISTHMUS_INSTANCE_STABLE": "true", "ISTHMUS_LEGACY_EXPORT_EVERY": "50ms", "ISTHMUS_LEGACY_POLL": "50ms"})
	a.Start()
	var ids []string
	for i := range 300 {
		id := fmt.Sprintf("oc-%03d", i)
		ids = append(ids, id)
		e.orderCommand(id, fmt.Sprintf("O-%03d", i), contracts.OrderCommandActionCreate)
		if i == 100 || i == 200 {
			e.exported(time.Minute, ids[len(ids)-50])
			a.Kill()
			a.Start()
		}
	}
	// exported fails on a command found in two files.
	_, orders := e.exported(2*time.Minute, ids...)
	if len(orders) != len(ids) {
		t.Errorf("%d commands exported, want %d", len(orders), len(ids))
	}
}
