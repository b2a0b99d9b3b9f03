package legacyerp_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/legacyerp"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/sim"
)

// The legacy ERP without a broker: request files into outbound/, steps at
// chosen times, answer files out of inbound/.

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

var second = erp.Latency{Min: time.Second, Max: time.Second}

func rules() erp.Rules {
	return erp.Rules{Seed: 7, ExportRestricted: erp.ParseSet("CU,IR"), TaxMissing: erp.ParseSet("AR"), CreditHoldBps: 300}
}

func open(t *testing.T, dir string, s legacyerp.Settings) *legacyerp.ERP {
	t.Helper()
	s.Dir = dir
	if s.Rules.Seed == 0 {
		s.Rules = rules()
	}
	s.Batch, s.Ship, s.Invoice = second, second, second
	s.Now = func() time.Time { return t0 }
	e, err := legacyerp.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func step(t *testing.T, e *legacyerp.ERP, at time.Time) {
	t.Helper()
	if err := e.Step(at); err != nil {
		t.Fatal(err)
	}
}

// request writes a request file into outbound as the bridge does.
func request(t *testing.T, dir, kind, batch string, rows ...legacyfile.Row) string {
	t.Helper()
	b, err := legacyfile.Encode(&legacyfile.File{Kind: kind, Batch: batch, Created: t0, Sender: "isthmus", Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	name := legacyfile.Name(kind, batch)
	if err := os.WriteFile(filepath.Join(dir, legacyerp.DirOutbound, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

type answerFile struct {
	name string
	data []byte
	file *legacyfile.File
	err  error
}

// collect takes the answer files out of inbound (as the bridge does), in
// name order.
func collect(t *testing.T, dir string) []answerFile {
	t.Helper()
	in := filepath.Join(dir, legacyerp.DirInbound)
	ents, err := os.ReadDir(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []answerFile
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".") {
			t.Errorf("temp file left in inbound: %s", ent.Name())
			continue
		}
		p := filepath.Join(in, ent.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, perr := legacyfile.Parse(ent.Name(), b)
		out = append(out, answerFile{ent.Name(), b, f, perr})
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func good(t *testing.T, files []answerFile, kinds ...string) []*legacyfile.File {
	t.Helper()
	if len(files) != len(kinds) {
		t.Fatalf("%d answer files, want %d (%v)", len(files), len(kinds), kinds)
	}
	var out []*legacyfile.File
	for i, f := range files {
		if f.err != nil || f.file.Kind != kinds[i] || f.file.Sender != legacyerp.Sender {
			t.Fatalf("answer file %s: %v (want a good %s of %s)\n%s", f.name, f.err, kinds[i], legacyerp.Sender, f.data)
		}
		out = append(out, f.file)
	}
	return out
}

func s(v string) *string { return &v }

func md(id string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: id, CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemCustomerSync, OccurredAt: t0}
}

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

func customerCmd(id, golden, country string) *contracts.CustomerCommand {
	return &contracts.CustomerCommand{Metadata: md(id), CommandID: "CC-" + id, Action: contracts.CustomerCommandActionCreate, GoldenID: golden, Name: "Acme " + golden,
		CRMAccountID: s("A-" + golden), TaxID: s("DE123"), Industry: s("Manufacturing"), ChangedFields: []string{},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Munich", PostalCode: s("80331"), Country: country}}
}

func orderCmd(id, order string, ship ...string) *contracts.OrderCommand {
	c := &contracts.OrderCommand{Metadata: md(id), CommandID: "OC-" + id, Action: contracts.OrderCommandActionCreate, OrderID: order, QuoteID: "Q-" + order,
		QuoteVersion: 1, Attempt: 1, ERPCustomerID: "L0000001", Currency: "USD", Region: "NA", Lines: []contracts.OrderLine{}, Overrides: []string{}}
	for i, country := range ship {
		c.Lines = append(c.Lines, contracts.OrderLine{LineNumber: 10 * (i + 1), SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000),
			LineTotal: usd(2000), ShipToCountry: country})
		c.Total.AmountMinor += 2000
	}
	c.Total.Currency = "USD"
	return c
}

func cancelCmd(id, order string) *contracts.OrderCommand {
	return &contracts.OrderCommand{Metadata: md(id), CommandID: "OC-" + id, Action: contracts.OrderCommandActionCancel, OrderID: order, QuoteID: "Q-" + order,
		QuoteVersion: 1, Attempt: 1, ERPCustomerID: "L0000001", Currency: "USD", Region: "NA", Total: usd(0), Lines: []contracts.OrderLine{}, Overrides: []string{}}
}

// topicERP is the simulator's topic ERP (internal/sim) with the same rules
// and latencies: the new path the legacy ERP must agree with.
func topicERP(t *testing.T) *processortest.Kit {
	return processortest.New(t, sim.New(sim.Settings{Rules: rules(), Latency: second, Ship: second, Invoice: second}).Processor("test"), processortest.Now(t0))
}

func topicStatuses(t *testing.T, k *processortest.Kit, res processortest.Result) map[string]*contracts.OrderStatus {
	t.Helper()
	out := map[string]*contracts.OrderStatus{}
	for _, o := range res.On(contracts.TopicERPOrderStatusV1) {
		var v contracts.OrderStatus
		k.Decode(o, &v)
		out[v.OrderID] = &v
	}
	return out
}

func legacyStatuses(files ...*legacyfile.File) map[string]legacyfile.Status {
	out := map[string]legacyfile.Status{}
	for _, f := range files {
		for _, st := range legacyfile.OrderStatuses(f) {
			out[st.Status.OrderID] = st
		}
	}
	return out
}

// sameDecision compares two paths' order statuses as the parity check
// does (flowmode.OrderResult), and the ERP's messages.
func sameDecision(t *testing.T, what string, legacy, topic *contracts.OrderStatus) {
	t.Helper()
	if legacy == nil || topic == nil {
		t.Fatalf("%s: legacy %+v, topic %+v", what, legacy, topic)
	}
	l := flowmode.OrderResult(contracts.ErpPathLegacy, "SHADOW", true, legacy, contracts.EventMetadata{})
	n := flowmode.OrderResult(contracts.ErpPathNew, "SHADOW", false, topic, contracts.EventMetadata{})
	ignore := cmpopts.IgnoreFields(contracts.PathResult{}, "Path", "Authoritative", "ERPID")
	if d := cmp.Diff(n, l, ignore); d != "" {
		t.Errorf("%s: legacy decision differs from the topic ERP's (-topic +legacy):\n%s", what, d)
	}
	if d := cmp.Diff(topic.Messages, legacy.Messages, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s: messages (-topic +legacy):\n%s", what, d)
	}
}

// A customer request and an order file in; after the batch latency a
// CUSTMAS and an ORDSTAT file out, each row echoing its request's
// correlation and route, decided as the topic ERP decides the same
// commands with the same rules; then SHIPPED and INVOICED in later
// batches, and CANCELLED for an order cancelled before its decision.
func TestRequestsAnsweredAsTheTopicERP(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir, legacyerp.Settings{})
	k := topicERP(t)

	cust := customerCmd("c1", "G-1", "DE")
	o1 := orderCmd("o1", "O-1", "US", "IR") // one line export-controlled
	o2 := orderCmd("o2", "O-2", "US")       // cancelled before its decision
	o3 := orderCmd("o3", "O-3", "AR")       // all rejected: no tax configuration
	request(t, dir, legacyfile.KindCustomerRequests, "p0-000000001", legacyfile.CustomerRequestRow(cust, "SHADOW"))
	orders := slices.Concat(legacyfile.OrderRows(o1, "SHADOW"), legacyfile.OrderRows(o2, "LEGACY"), legacyfile.OrderRows(o3, "SHADOW"))
	request(t, dir, legacyfile.KindOrders, "p1-000000001", orders...)
	k.SendValue(contracts.TopicERPCustomerCommandsV1, cust.GoldenID, cust)
	for _, c := range []*contracts.OrderCommand{o1, o2, o3} {
		k.SendValue(contracts.TopicERPOrderCommandsV1, c.OrderID, c)
	}
	// A file being written (a name starting with ".") and other names are
	// not the ERP's.
	for _, n := range []string{".ORDERS_p1-000000002.csv", "README.txt"} {
		if err := os.WriteFile(filepath.Join(dir, legacyerp.DirOutbound, n), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	step(t, e, t0)
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("answered before the batch latency: %v", got)
	}
	for _, n := range []string{"CUSTREQ_p0-000000001.csv", "ORDERS_p1-000000001.csv"} {
		if _, err := os.Stat(filepath.Join(dir, legacyerp.DirArchive, n)); err != nil {
			t.Errorf("%s not archived: %v", n, err)
		}
	}
	for _, n := range []string{".ORDERS_p1-000000002.csv", "README.txt"} {
		if _, err := os.Stat(filepath.Join(dir, legacyerp.DirOutbound, n)); err != nil {
			t.Errorf("%s touched: %v", n, err)
		}
	}

	// The cancel of O-2 comes in a later batch, before O-2 is decided.
	cancel := cancelCmd("o2c", "O-2")
	request(t, dir, legacyfile.KindOrders, "p1-000000002", legacyfile.OrderRows(cancel, "LEGACY")...)
	k.SendValue(contracts.TopicERPOrderCommandsV1, "O-2", cancel)
	step(t, e, t0)

	step(t, e, t0.Add(999*time.Millisecond))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("answered before the batch latency: %v", got)
	}
	at := t0.Add(time.Second)
	step(t, e, at)
	files := good(t, collect(t, dir), legacyfile.KindCustomers, legacyfile.KindOrderStatus)
	topic := k.Tick(at)

	// The customer: a number of the legacy ERP's own, the same master
	// fields, terms and credit as the topic ERP's.
	var want contracts.Customer
	outs := topic.On(contracts.TopicERPCustomerV1)
	if len(outs) != 1 {
		t.Fatalf("topic ERP answered %d customers", len(outs))
	}
	k.Decode(outs[0], &want)
	if len(files[0].Rows) != 1 {
		t.Fatalf("CUSTMAS rows %+v", files[0].Rows)
	}
	got, ref := legacyfile.Customer(files[0].Rows[0])
	if got.ERPCustomerID != "L0000001" || ref != (legacyfile.Ref{Correlation: "corr-c1", Route: "SHADOW"}) || !got.SourceUpdatedAt.Equal(at) {
		t.Errorf("customer %s, ref %+v, updated %s", got.ERPCustomerID, ref, got.SourceUpdatedAt)
	}
	lr := flowmode.CustomerResult(contracts.ErpPathLegacy, "SHADOW", true, &got, true, contracts.EventMetadata{})
	nr := flowmode.CustomerResult(contracts.ErpPathNew, "SHADOW", false, &want, true, contracts.EventMetadata{})
	if d := cmp.Diff(nr, lr, cmpopts.IgnoreFields(contracts.PathResult{}, "Path", "Authoritative", "ERPID")); d != "" {
		t.Errorf("customer differs from the topic ERP's (-topic +legacy):\n%s", d)
	}
	if lr.Fields["payment_terms"] == "" || lr.Fields["credit_limit"] == "" || lr.Fields["currency"] != "EUR" {
		t.Errorf("customer fields %v", lr.Fields)
	}

	// The decisions, in one ORDSTAT file.
	ls, ts := legacyStatuses(files[1]), topicStatuses(t, k, topic)
	if len(ls) != 3 || len(ts) != 3 {
		t.Fatalf("statuses: legacy %v, topic %v", ls, ts)
	}
	for id, st := range map[string]string{"O-1": contracts.ErpOrderStatePartiallyRejected, "O-2": contracts.ErpOrderStateCancelled, "O-3": contracts.ErpOrderStateRejected} {
		l := ls[id]
		if l.Status.Status != st {
			t.Errorf("%s: %s, want %s", id, l.Status.Status, st)
		}
		sameDecision(t, id, &l.Status, ts[id])
	}
	if r := ls["O-1"].Ref; r != (legacyfile.Ref{Correlation: "corr-o1", Route: "SHADOW"}) || *ls["O-1"].Status.ERPOrderID != "LO0000001" || ls["O-1"].Status.Total.AmountMinor != 2000 {
		t.Errorf("O-1: ref %+v, status %+v", r, ls["O-1"].Status)
	}
	if r := ls["O-2"].Ref; r != (legacyfile.Ref{Correlation: "corr-o2c", Route: "LEGACY"}) {
		t.Errorf("O-2 cancel echoes %+v", r)
	}

	// Later batches: O-1 shipped, then invoiced, echoing its order's ref.
	for i, want := range []string{contracts.ErpOrderStateShipped, contracts.ErpOrderStateInvoiced} {
		at := t0.Add(time.Duration(i+2) * time.Second)
		step(t, e, at)
		files := good(t, collect(t, dir), legacyfile.KindOrderStatus)
		ls, ts := legacyStatuses(files...), topicStatuses(t, k, k.Tick(at))
		if len(ls) != 1 || ls["O-1"].Status.Status != want || ls["O-1"].Ref.Correlation != "corr-o1" || !ls["O-1"].ChangedAt.Equal(at) {
			t.Fatalf("%s: %+v", want, ls)
		}
		l := ls["O-1"].Status
		sameDecision(t, want, &l, ts["O-1"])
		if want == contracts.ErpOrderStateInvoiced && (ls["O-1"].Status.InvoiceID == nil || ls["O-1"].Status.ShipmentID == nil) {
			t.Errorf("invoiced without shipment or invoice: %+v", ls["O-1"].Status)
		}
	}

	// An update of the customer keeps its number; a cancel after shipment
	// is refused with the current status; names sort in the order written.
	upd := customerCmd("c2", "G-1", "DE")
	upd.Action, upd.Name = contracts.CustomerCommandActionUpdate, "Acme Renamed"
	request(t, dir, legacyfile.KindCustomerRequests, "p0-000000002", legacyfile.CustomerRequestRow(upd, "LEGACY"))
	request(t, dir, legacyfile.KindOrders, "p1-000000003", legacyfile.OrderRows(cancelCmd("o1c", "O-1"), "LEGACY")...)
	step(t, e, t0.Add(10*time.Second))
	step(t, e, t0.Add(11*time.Second))
	all := collect(t, dir)
	files = good(t, all, legacyfile.KindCustomers, legacyfile.KindOrderStatus)
	if c, _ := legacyfile.Customer(files[0].Rows[0]); c.ERPCustomerID != "L0000001" || c.Name != "Acme Renamed" || *c.PaymentTerms != *got.PaymentTerms {
		t.Errorf("updated customer %+v", c)
	}
	st := legacyStatuses(files[1])["O-1"].Status
	if st.Status != contracts.ErpOrderStateInvoiced || len(st.Messages) == 0 || st.Messages[len(st.Messages)-1].Code != "CANCEL_REFUSED" {
		t.Errorf("late cancel: %+v", st)
	}
	if !slices.IsSorted([]string{strings.TrimPrefix(all[0].name, "CUSTMAS_"), strings.TrimPrefix(all[1].name, "ORDSTAT_")}) {
		t.Errorf("batch ids out of order: %s, %s", all[0].name, all[1].name)
	}
}

// A batch re-sent with the same id and content (the bridge after a crash)
// is archived without a second answer; the same id with other content is
// refused as a duplicate.
func TestResentBatchAnsweredOnce(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir, legacyerp.Settings{})
	row := legacyfile.CustomerRequestRow(customerCmd("c1", "G-1", "US"), "LEGACY")
	request(t, dir, legacyfile.KindCustomerRequests, "p0-000000001", row)
	step(t, e, t0)
	step(t, e, t0.Add(time.Second))
	good(t, collect(t, dir), legacyfile.KindCustomers)

	request(t, dir, legacyfile.KindCustomerRequests, "p0-000000001", row)
	step(t, e, t0.Add(2*time.Second))
	step(t, e, t0.Add(5*time.Second))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("a re-sent batch answered again: %v", got[0].name)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyerp.DirArchive, "CUSTREQ_p0-000000001.csv")); err != nil {
		t.Error(err)
	}

	other := legacyfile.CustomerRequestRow(customerCmd("c9", "G-9", "US"), "LEGACY")
	name := request(t, dir, legacyfile.KindCustomerRequests, "p0-000000001", other)
	step(t, e, t0.Add(6*time.Second))
	rejected(t, dir, name, legacyfile.ReasonDuplicate)
	step(t, e, t0.Add(9*time.Second))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("a refused batch answered: %v", got[0].name)
	}
}

func rejected(t *testing.T, dir, name, reason string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, legacyerp.DirOutbound, name)); err == nil {
		t.Errorf("%s still in outbound", name)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyerp.DirRejected, name)); err != nil {
		t.Errorf("%s not in rejected: %v", name, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, legacyerp.DirRejected, name+".reason.txt"))
	if err != nil || !strings.Contains(string(b), "reason: "+reason+"\n") {
		t.Errorf("%s reason %q (%v), want %s", name, b, err, reason)
	}
}

// A request file the ERP cannot read is moved to outbound/rejected with
// its reason, and nothing of it is applied; the next file is processed.
func TestBadRequestFileRejected(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir, legacyerp.Settings{})
	o := orderCmd("o1", "O-1", "US")
	b, err := legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindOrders, Batch: "p0-000000001", Created: t0, Sender: "isthmus", Rows: legacyfile.OrderRows(o, "LEGACY")})
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "T,2,2000", "T,2,2001", 1))
	bad := "ORDERS_p0-000000001.csv"
	if err := os.WriteFile(filepath.Join(dir, legacyerp.DirOutbound, bad), b, 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := *o
	unknown.OrderID, unknown.Action = "O-2", contracts.OrderCommandActionUnknown
	badAction := request(t, dir, legacyfile.KindOrders, "p0-000000002", slices.Concat(legacyfile.OrderRows(orderCmd("o3", "O-3", "US"), "LEGACY"), legacyfile.OrderRows(&unknown, "LEGACY"))...)
	next := request(t, dir, legacyfile.KindOrders, "p0-000000003", legacyfile.OrderRows(orderCmd("o4", "O-4", "US"), "LEGACY")...)

	step(t, e, t0)
	rejected(t, dir, bad, legacyfile.ReasonControlTotal)
	rejected(t, dir, badAction, legacyfile.ReasonInvalidValue)
	if _, err := os.Stat(filepath.Join(dir, legacyerp.DirArchive, next)); err != nil {
		t.Errorf("the next file was not processed: %v", err)
	}
	step(t, e, t0.Add(time.Second))
	ls := legacyStatuses(good(t, collect(t, dir), legacyfile.KindOrderStatus)...)
	if len(ls) != 1 || ls["O-4"].Status.Status != contracts.ErpOrderStateAccepted {
		t.Fatalf("statuses %+v: want only O-4's (nothing of a refused file applied)", ls)
	}
}

// A restarted ERP reads its state: a pending shipment and invoice still
// come, once; an answer planned before a failed write is written after the
// restart, once.
func TestRestartResumesPendingWork(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir, legacyerp.Settings{})
	request(t, dir, legacyfile.KindOrders, "p0-000000001", legacyfile.OrderRows(orderCmd("o1", "O-1", "US"), "LEGACY")...)
	request(t, dir, legacyfile.KindCustomerRequests, "p0-000000001", legacyfile.CustomerRequestRow(customerCmd("c1", "G-1", "US"), "LEGACY"))
	step(t, e, t0)
	step(t, e, t0.Add(time.Second))
	files := good(t, collect(t, dir), legacyfile.KindCustomers, legacyfile.KindOrderStatus)
	if st := legacyStatuses(files[1])["O-1"].Status.Status; st != contracts.ErpOrderStateAccepted {
		t.Fatalf("decision %s", st)
	}

	// Restart: the shipment is still pending.
	e = open(t, dir, legacyerp.Settings{})
	// The bridge re-sends the batch (written again after its own crash).
	request(t, dir, legacyfile.KindOrders, "p0-000000001", legacyfile.OrderRows(orderCmd("o1", "O-1", "US"), "LEGACY")...)
	step(t, e, t0.Add(1500*time.Millisecond))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("after a restart: %v", got[0].name)
	}

	// The inbound folder unwritable when the shipment is due: the step
	// fails with the answer planned in the saved state.
	in := filepath.Join(dir, legacyerp.DirInbound)
	if err := os.Remove(in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(t0.Add(2 * time.Second)); err == nil {
		t.Fatal("a step wrote into a file")
	}
	if err := os.Remove(in); err != nil {
		t.Fatal(err)
	}
	e = open(t, dir, legacyerp.Settings{})
	step(t, e, t0.Add(2100*time.Millisecond))
	ls := legacyStatuses(good(t, collect(t, dir), legacyfile.KindOrderStatus)...)
	if ls["O-1"].Status.Status != contracts.ErpOrderStateShipped || !ls["O-1"].ChangedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after the restart: %+v", ls)
	}
	step(t, e, t0.Add(2500*time.Millisecond))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("the shipment written twice: %v", got[0].name)
	}
	e = open(t, dir, legacyerp.Settings{})
	step(t, e, t0.Add(3*time.Second))
	ls = legacyStatuses(good(t, collect(t, dir), legacyfile.KindOrderStatus)...)
	if ls["O-1"].Status.Status != contracts.ErpOrderStateInvoiced {
		t.Fatalf("invoice after restarts: %+v", ls)
	}
	step(t, e, t0.Add(time.Hour))
	if got := collect(t, dir); len(got) != 0 {
		t.Fatalf("more answers: %v", got[0].name)
	}
}

// An unreadable state file stops the ERP with a clear error rather than
// answering everything again.
func TestUnreadableState(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, legacyerp.DirState), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, legacyerp.DirState, legacyerp.StateFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := legacyerp.Open(legacyerp.Settings{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("err %v", err)
	}
}

// Every bad kind but the duplicate is a corrupt copy that legacyfile.Parse
// refuses for its reason.
func TestCorruptRefusedForItsReason(t *testing.T) {
	st := &contracts.OrderStatus{OrderID: "O-1", Status: contracts.ErpOrderStateAccepted, Total: &contracts.Money{AmountMinor: 500, Currency: "USD"},
		Lines: []contracts.OrderLineStatus{{LineNumber: 1, SKU: "A", Status: contracts.LineStatusAccepted, QuantityConfirmed: 1}}}
	f := &legacyfile.File{Kind: legacyfile.KindOrderStatus, Batch: "0000000009", Created: t0, Sender: legacyerp.Sender,
		Rows: legacyfile.OrderStatusRows(st, legacyfile.Ref{Correlation: "c,\"1\"\nx", Route: "LEGACY"}, t0)}
	for _, kind := range legacyerp.BadKinds {
		if kind == legacyfile.ReasonDuplicate {
			continue
		}
		b, err := legacyerp.Corrupt(f, kind)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if _, err := legacyfile.Parse(f.Name(), b); legacyfile.ReasonOf(err) != kind {
			t.Errorf("%s: Parse says %v\n%s", kind, err, b)
		}
	}
}

// With every answer file followed by a bad one, the kinds rotate: each is
// refused by a reader for its reason (the duplicate: a batch already
// received), has a batch id of its own, and every answer still arrives in
// a good file.
func TestBadFilesRotate(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir, legacyerp.Settings{BadFileBps: 10000})
	before := map[string]float64{}
	for _, k := range legacyerp.BadKinds {
		before[k] = badFilesCounted(t, k)
	}
	seen := map[string][]byte{} // good files received, by name
	reasons := map[string]int{}
	customers := 0
	for i := range 8 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		cmd := customerCmd("c"+string(rune('a'+i)), "G-"+string(rune('A'+i)), "US")
		request(t, dir, legacyfile.KindCustomerRequests, "p0-00000000"+string(rune('1'+i)), legacyfile.CustomerRequestRow(cmd, "LEGACY"))
		step(t, e, at)
		step(t, e, at.Add(time.Second))
		files := collect(t, dir)
		if len(files) != 2 {
			t.Fatalf("step %d: %d files, want a good one and a bad one", i, len(files))
		}
		var g, b answerFile
		for _, f := range files {
			if prev, ok := seen[f.name]; (ok && string(prev) == string(f.data)) || f.err != nil {
				b = f
			} else {
				g = f
			}
		}
		if g.file == nil || b.name == "" {
			t.Fatalf("step %d: want a good file and a bad one: %+v", i, files)
		}
		customers += len(g.file.Rows)
		var reason string
		switch prev, dup := seen[b.name]; {
		case dup && string(prev) == string(b.data):
			reason = legacyfile.ReasonDuplicate
		case dup:
			t.Fatalf("step %d: %s re-used with other content", i, b.name)
		default:
			reason = legacyfile.ReasonOf(b.err)
			if b.name <= g.name {
				t.Errorf("bad file %s does not sort after %s", b.name, g.name)
			}
		}
		seen[g.name] = g.data
		reasons[reason]++
	}
	for _, k := range legacyerp.BadKinds {
		if reasons[k] == 0 {
			t.Errorf("no bad file of kind %s: %v", k, reasons)
		}
		if d := badFilesCounted(t, k) - before[k]; d != float64(reasons[k]) {
			t.Errorf("metric %s counted %v, want %d", k, d, reasons[k])
		}
	}
	if customers != 8 {
		t.Errorf("%d customers answered in good files, want 8", customers)
	}
}

// badFilesCounted is the bad-file counter of kind on the process registry.
func badFilesCounted(t *testing.T, kind string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "isthmus_sim_legacy_bad_files_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
