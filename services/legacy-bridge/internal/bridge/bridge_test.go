package bridge_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/services/legacy-bridge/internal/bridge"
)

type env struct {
	t     *testing.T
	kit   *processortest.Kit
	modes flowmode.Fixed
	dir   bridge.Folder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, modes: flowmode.Fixed{flowmode.Customers: contracts.RoutingModeLegacy, flowmode.Orders: contracts.RoutingModeLegacy}, dir: bridge.Folder{Root: t.TempDir()}}
	if err := e.dir.Ensure(); err != nil {
		t.Fatal(err)
	}
	b := bridge.New(bridge.Settings{Folder: e.dir, Modes: e.modes, ExportEvery: 5 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.kit = processortest.New(t, b.Processor("test", time.Second))
	return e
}

func s(v string) *string { return &v }

func customerCommand(id, golden string) *contracts.CustomerCommand {
	return &contracts.CustomerCommand{Metadata: contracts.EventMetadata{EventID: "e-" + id, CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemCustomerSync},
		CommandID: id, Action: contracts.CustomerCommandActionCreate, GoldenID: golden, Name: "Acme " + golden, ChangedFields: []string{},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Berlin", Country: "DE"}}
}

func orderCommand(id, order, action string) *contracts.OrderCommand {
	usd := contracts.Money{AmountMinor: 1500, Currency: "USD"}
	return &contracts.OrderCommand{Metadata: contracts.EventMetadata{EventID: "e-" + id, CorrelationID: "corr-" + order, SourceSystem: contracts.SourceSystemQuoteToOrder},
		CommandID: id, Action: action, OrderID: order, QuoteID: "Q", QuoteVersion: 1, Attempt: 1, Revision: 1, ERPCustomerID: "L000001", Currency: "USD", Region: "NA",
		Total: usd, Overrides: []string{}, Lines: []contracts.OrderLine{{LineNumber: 1, SKU: "SKU-1", Quantity: 1, ListPrice: usd, UnitPrice: usd, LineTotal: usd, ShipToCountry: "US"}}}
}

func (e *env) outbound() map[string]*legacyfile.File {
	e.t.Helper()
	names, err := legacyfile.List(e.dir.Outbound())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*legacyfile.File{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(e.dir.Outbound(), n))
		if err != nil {
			e.t.Fatal(err)
		}
		f, err := legacyfile.Parse(n, b)
		if err != nil {
			e.t.Fatalf("%s: %v", n, err)
		}
		out[n] = f
	}
	return out
}

// Commands the legacy path serves wait in the outbox and leave as one
// batch file per kind once the oldest has waited the export interval; a
// command of a flow in NEW is left to the new path; an order stays on the
// path its first command took.
func TestExportFollowsTheRoutes(t *testing.T) {
	e := newEnv(t)
	for _, r := range []processortest.Result{
		e.kit.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", customerCommand("cc-1", "G-1")),
		e.kit.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", orderCommand("oc-1", "O-1", contracts.OrderCommandActionCreate)),
	} {
		if r.Err != nil || len(r.Outputs) != 0 {
			t.Fatalf("a routed command publishes nothing itself: %+v", r)
		}
	}
	if r := e.kit.Tick(e.kit.Now().Add(2 * time.Second)); r.Err != nil || len(e.outbound()) != 0 {
		t.Fatalf("batch written before the export interval: %v %v", r.Err, e.outbound())
	}
	// The flows switch to NEW: a new customer command and a new order are
	// the new path's; the cancel of O-1 follows O-1 to the legacy ERP.
	e.modes[flowmode.Customers], e.modes[flowmode.Orders] = contracts.RoutingModeNew, contracts.RoutingModeNew
	e.kit.SendValue(contracts.TopicERPCustomerCommandsV1, "G-2", customerCommand("cc-2", "G-2"))
	e.kit.SendValue(contracts.TopicERPOrderCommandsV1, "O-2", orderCommand("oc-2", "O-2", contracts.OrderCommandActionCreate))
	e.kit.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", orderCommand("oc-3", "O-1", contracts.OrderCommandActionCancel))
	if r := e.kit.Tick(e.kit.Now().Add(6 * time.Second)); r.Err != nil {
		t.Fatal(r.Err)
	}
	files := e.outbound()
	if len(files) != 2 {
		t.Fatalf("outbound %v", slices.Collect(func(yield func(string) bool) {
			for k := range files {
				yield(k)
			}
		}))
	}
	cust := files["CUSTREQ_p0-000000000.csv"]
	orders := files["ORDERS_p0-000000001.csv"]
	if cust == nil || orders == nil {
		t.Fatalf("batch names %v", files)
	}
	cmd, ref := legacyfile.CustomerRequest(cust.Rows[0])
	if len(cust.Rows) != 1 || cmd.GoldenID != "G-1" || ref != (legacyfile.Ref{Correlation: "corr-cc-1", Route: contracts.RoutingModeLegacy}) {
		t.Errorf("customer batch %+v %+v", cmd, ref)
	}
	os := legacyfile.Orders(orders)
	if len(os) != 2 || os[0].Command.CommandID != "oc-1" || os[1].Command.CommandID != "oc-3" || os[1].Command.Action != contracts.OrderCommandActionCancel || os[1].Ref.Route != contracts.RoutingModeLegacy {
		t.Errorf("order batch %+v", os)
	}
	// The outbox is empty: the next tick writes nothing more.
	e.kit.Tick(e.kit.Now().Add(20 * time.Second))
	if n := len(e.outbound()); n != 2 {
		t.Errorf("%d outbound files after another tick, want 2", n)
	}
}

func (e *env) drop(name string, data []byte) {
	e.t.Helper()
	if err := legacyfile.WriteAtomic(e.dir.Inbound(), name, data); err != nil {
		e.t.Fatal(err)
	}
}

func encode(t *testing.T, f *legacyfile.File) []byte {
	t.Helper()
	b, err := legacyfile.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var created = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

func customerFile(t *testing.T, batch string, rows ...legacyfile.Row) []byte {
	return encode(t, &legacyfile.File{Kind: legacyfile.KindCustomers, Batch: batch, Created: created, Sender: "LEGACYERP", Rows: rows})
}

func customerRow(golden, erpID, route string) legacyfile.Row {
	return legacyfile.CustomerRow(&contracts.Customer{Op: contracts.ChangeOperationUpsert, ERPCustomerID: erpID, GoldenID: s(golden), CommandID: s("cc-" + golden),
		Name: "Acme " + golden, Currency: s("EUR"), PaymentTerms: s("NET30"), CreditStatus: contracts.CreditStatusActive,
		CreditLimit: &contracts.Money{AmountMinor: 1000000, Currency: "EUR"}, SourceUpdatedAt: created}, legacyfile.Ref{Correlation: "corr-" + golden, Route: route})
}

// An applied customer file publishes each customer, the credit account of
// a new one and the legacy path's result; the file is filed in processed/
// on the next tick.
func TestInboundCustomers(t *testing.T) {
	e := newEnv(t)
	e.drop("CUSTMAS_000001.csv", customerFile(t, "000001", customerRow("G-1", "L000001", contracts.RoutingModeShadow)))
	r := e.kit.Tick(e.kit.Now())
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	var c contracts.Customer
	var credit contracts.CreditAccount
	var pr contracts.PathResult
	if cs, cr, ps := r.On(contracts.TopicERPCustomerV1), r.On(contracts.TopicERPCreditV1), r.On(contracts.TopicERPPathResultsV1); len(cs) != 1 || len(cr) != 1 || len(ps) != 1 {
		t.Fatalf("outputs %d customers %d credit %d results", len(cs), len(cr), len(ps))
	} else {
		e.kit.Decode(cs[0], &c)
		e.kit.Decode(cr[0], &credit)
		e.kit.Decode(ps[0], &pr)
		if cs[0].Key != "L000001" || ps[0].Key != "customers|G-1" || cs[0].Header("correlation-id") != "corr-G-1" {
			t.Errorf("keys %s %s, correlation %q", cs[0].Key, ps[0].Key, cs[0].Header("correlation-id"))
		}
	}
	if c.Name != "Acme G-1" || c.Metadata.SourceSystem != contracts.SourceSystemERP || credit.CreditLimit.AmountMinor != 1000000 {
		t.Errorf("customer %+v credit %+v", c, credit)
	}
	if pr.Path != contracts.ErpPathLegacy || pr.Mode != contracts.RoutingModeShadow || !pr.Authoritative || pr.Status != flowmode.StatusCreated || pr.Fields["name"] != "Acme G-1" {
		t.Errorf("path result %+v", pr)
	}
	if !bridge.Exists(filepath.Join(e.dir.Inbound(), "CUSTMAS_000001.csv")) {
		t.Fatal("filed before its decision was committed")
	}
	if r := e.kit.Tick(e.kit.Now()); r.Err != nil || len(r.Outputs) != 0 {
		t.Fatalf("second tick: %v %d outputs", r.Err, len(r.Outputs))
	}
	if !bridge.Exists(filepath.Join(e.dir.Processed(), "CUSTMAS_000001.csv")) || bridge.Exists(filepath.Join(e.dir.Inbound(), "CUSTMAS_000001.csv")) {
		t.Fatal("not filed in processed/")
	}
	// The same customer again: UPDATED, no second credit account.
	e.drop("CUSTMAS_000002.csv", customerFile(t, "000002", customerRow("G-1", "L000001", contracts.RoutingModeShadow)))
	r = e.kit.Tick(e.kit.Now())
	if len(r.On(contracts.TopicERPCreditV1)) != 0 || len(r.On(contracts.TopicERPPathResultsV1)) != 1 {
		t.Fatalf("update: %d credit %d results", len(r.On(contracts.TopicERPCreditV1)), len(r.On(contracts.TopicERPPathResultsV1)))
	}
	e.kit.Decode(r.On(contracts.TopicERPPathResultsV1)[0], &pr)
	if pr.Status != flowmode.StatusUpdated {
		t.Errorf("second answer %s", pr.Status)
	}
}

// Order statuses are published as they come; only decisions are reported
// as the path's result.
func TestInboundOrderStatus(t *testing.T) {
	e := newEnv(t)
	ref := legacyfile.Ref{Correlation: "corr-O-1", Route: contracts.RoutingModeLegacy}
	acc := contracts.OrderStatus{OrderID: "O-1", CommandID: s("oc-1"), ERPOrderID: s("4500001"), Status: contracts.ErpOrderStateAccepted,
		Total: &contracts.Money{AmountMinor: 1500, Currency: "USD"}, Lines: []contracts.OrderLineStatus{{LineNumber: 1, SKU: "SKU-1", Status: contracts.LineStatusAccepted, QuantityConfirmed: 1}}}
	shipped := acc
	shipped.Status, shipped.CommandID = contracts.ErpOrderStateShipped, nil
	rows := append(legacyfile.OrderStatusRows(&acc, ref, created), legacyfile.OrderStatusRows(&shipped, ref, created.Add(time.Hour))...)
	e.drop("ORDSTAT_000001.csv", encode(t, &legacyfile.File{Kind: legacyfile.KindOrderStatus, Batch: "000001", Created: created, Sender: "LEGACYERP", Rows: rows}))
	r := e.kit.Tick(e.kit.Now())
	if st, ps := r.On(contracts.TopicERPOrderStatusV1), r.On(contracts.TopicERPPathResultsV1); len(st) != 2 || len(ps) != 1 {
		t.Fatalf("%d statuses, %d results (err %v)", len(st), len(ps), r.Err)
	}
	var pr contracts.PathResult
	e.kit.Decode(r.On(contracts.TopicERPPathResultsV1)[0], &pr)
	if pr.EntityID != "O-1" || pr.Status != contracts.ErpOrderStateAccepted || pr.Total.AmountMinor != 1500 || len(pr.Lines) != 1 {
		t.Errorf("path result %+v", pr)
	}
}

// The bad-file corpus: every kind is quarantined with a report naming its
// reason and an exception on ops.exceptions.v1; the good file among them
// is applied; a duplicate of an applied file is refused; a corrected file
// dropped under a refused file's name is applied.
func TestBadFilesQuarantined(t *testing.T) {
	e := newEnv(t)
	good := customerFile(t, "000010", customerRow("G-9", "L000009", ""))
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	renamed := func(batch string) []byte {
		return []byte(strings.Replace(string(good), "000010", batch, 1))
	}
	corpus := map[string]struct {
		data   []byte
		reason string
	}{
		"CUSTMAS_000001.csv":   {[]byte(strings.Replace(string(renamed("000001")), ",1000000,", ",1000001,", 1)), legacyfile.ReasonControlTotal},
		"CUSTMAS_000002.csv":   {[]byte(strings.Replace(string(renamed("000002")), "T,1,", "T,2,", 1)), legacyfile.ReasonRecordCount},
		"CUSTMAS_000003.csv":   {join(strings.Replace(lines[0], "000010", "000003", 1), lines[1]), legacyfile.ReasonMissingTrailer},
		"CUSTMAS_000004.csv":   {join(lines[1:]...), legacyfile.ReasonMissingHeader},
		"CUSTMAS_000005.csv":   {join(strings.Replace(lines[0], "000010", "000005", 1), "M,L1,\"unterminated", lines[2]), legacyfile.ReasonMalformedLine},
		"CUSTMAS_000006.csv":   {[]byte(strings.Replace(string(renamed("000006")), ",ACTIVE,", ",SOMETIMES,", 1)), legacyfile.ReasonInvalidValue},
		"CUSTMAS_000007.csv":   {[]byte(strings.Replace(string(renamed("000007")), "Acme", "Acme \xff", 1)), legacyfile.ReasonNotUTF8},
		"CUSTMAS_000008.csv":   {nil, legacyfile.ReasonEmpty},
		"CUSTMAS_000009.csv":   {good, legacyfile.ReasonBatchMismatch},
		"CUSTREQ_000011.csv":   {[]byte(strings.ReplaceAll(string(renamed("000011")), "CUSTMAS", "CUSTREQ")), legacyfile.ReasonUnknownKind},
		"customers-000012.txt": {good, legacyfile.ReasonBadName},
		"CUSTMAS_000013.csv":   {[]byte(strings.Replace(string(renamed("000013")), "T,1,1000000", "T,1,1000000,extra", 1)), legacyfile.ReasonMalformedLine},
	}
	for name, c := range corpus {
		e.drop(name, c.data)
	}
	e.drop("CUSTMAS_000010.csv", good)
	exceptions := map[string]contracts.OperationalException{}
	applied := 0
	for range 3 { // 13 files at 10 per tick, then the filing tick
		r := e.kit.Tick(e.kit.Now())
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		applied += len(r.On(contracts.TopicERPCustomerV1))
		for _, o := range r.On(contracts.TopicOpsExceptionsV1) {
			var x contracts.OperationalException
			e.kit.Decode(o, &x)
			exceptions[x.EntityIds["file"]] = x
		}
	}
	if applied != 1 {
		t.Errorf("%d customers published, want the good file's 1", applied)
	}
	if !bridge.Exists(filepath.Join(e.dir.Processed(), "CUSTMAS_000010.csv")) {
		t.Error("good file not in processed/")
	}
	for name, c := range corpus {
		var rep bridge.Decision
		b, err := os.ReadFile(filepath.Join(e.dir.Quarantine(), name+".report.json"))
		if err != nil {
			t.Errorf("%s: no report: %v", name, err)
			continue
		}
		if err := json.Unmarshal(b, &rep); err != nil || rep.Reason != c.reason || rep.Outcome != bridge.OutcomeQuarantined || rep.Detail == "" {
			t.Errorf("%s: report %+v (%v), want reason %s", name, rep, err, c.reason)
		}
		if !bridge.Exists(filepath.Join(e.dir.Quarantine(), name)) {
			t.Errorf("%s not in quarantine/", name)
		}
		x, ok := exceptions[name]
		if !ok || x.Context["reason"] != c.reason || x.OwnerService != bridge.Name || x.Status != contracts.ExceptionStatusOpen || !strings.Contains(x.Summary, name) {
			t.Errorf("%s: exception %+v", name, x)
		}
	}
	if left, _ := legacyfile.List(e.dir.Inbound()); len(left) != 0 {
		t.Errorf("left in inbound/: %v", left)
	}

	// The applied file again: a duplicate, refused.
	e.drop("CUSTMAS_000010.csv", good)
	r := e.kit.Tick(e.kit.Now())
	e.kit.Tick(e.kit.Now())
	if len(r.On(contracts.TopicERPCustomerV1)) != 0 || !bridge.Exists(filepath.Join(e.dir.Quarantine(), "CUSTMAS_000010.csv.2.report.json")) {
		t.Fatalf("duplicate: %d published", len(r.On(contracts.TopicERPCustomerV1)))
	}
	// A corrected file under a refused name: applied.
	e.drop("CUSTMAS_000001.csv", renamed("000001"))
	r = e.kit.Tick(e.kit.Now())
	e.kit.Tick(e.kit.Now())
	if len(r.On(contracts.TopicERPCustomerV1)) != 1 || !bridge.Exists(filepath.Join(e.dir.Processed(), "CUSTMAS_000001.csv")) {
		t.Fatalf("corrected file: %d published", len(r.On(contracts.TopicERPCustomerV1)))
	}
}

// Commands the bridge cannot read (bad bytes, an unknown schema id, a
// command without its ids) are dead-lettered with their bytes and reason,
// and the partition goes on.
func TestBadCommandsDeadLettered(t *testing.T) {
	e := newEnv(t)
	bad := map[errs.Reason][]byte{
		errs.ReasonBadMagic:        []byte("not avro"),
		errs.ReasonUnknownSchemaID: {0, 0, 0, 0x7f, 0x7f, 1, 2},
	}
	for reason, b := range bad {
		r := e.kit.Send(contracts.TopicERPOrderCommandsV1, "O-bad", b)
		dl := r.DeadLetters(bridge.Name)
		if r.Err != nil || len(dl) != 1 || string(dl[0].Value) != string(b) || dl[0].Header(catalog.DLQHeaderErrorReason) != string(reason) {
			t.Errorf("%s: %v %+v", reason, r.Err, dl)
		}
	}
	noID := customerCommand("cc-9", "")
	r := e.kit.SendValue(contracts.TopicERPCustomerCommandsV1, "G-9", noID)
	if dl := r.DeadLetters(bridge.Name); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != string(errs.ReasonValidation) {
		t.Errorf("command without golden id: %+v", dl)
	}
	e.kit.SendValue(contracts.TopicERPOrderCommandsV1, "O-2", orderCommand("oc-2", "O-2", contracts.OrderCommandActionCreate))
	e.kit.Tick(e.kit.Now().Add(time.Minute))
	if _, orders := e.outboundOrders(); len(orders) != 1 {
		t.Errorf("the partition did not go on: %d orders exported", len(orders))
	}
}

func (e *env) outboundOrders() (int, []legacyfile.Order) {
	var out []legacyfile.Order
	files := e.outbound()
	for _, f := range files {
		out = append(out, legacyfile.Orders(f)...)
	}
	return len(files), out
}
