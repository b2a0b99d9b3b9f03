package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// env is one simulator under test: a cluster and its registry, a prefix.
type env struct {
	t          *testing.T
	kcfg       kafka.Config
	sd         *serde.Serde
	in         *testinfra.Producer
	collectors map[string]*testinfra.Collector // physical topic → its collector
}

var allTopics = []string{
	contracts.TopicERPOrderCommandsV1, contracts.TopicERPCustomerCommandsV1, contracts.TopicERPJournalCommandsV1, contracts.TopicBillingCommandsV1,
	contracts.TopicERPOrderStatusV1, contracts.TopicERPInvoiceV1, contracts.TopicERPCustomerV1, contracts.TopicERPCreditV1,
	contracts.TopicERPJournalV1, contracts.TopicBillingEventsV1, contracts.TopicERPAssetV1,
	contracts.TopicERPServiceOrderCommandsV1, contracts.TopicERPWarrantyClaimCommandsV1, contracts.TopicERPServiceOrderStatusV1,
	contracts.TopicERPReturnCommandsV1, contracts.TopicERPReturnStatusV1, contracts.TopicERPPathResultsV1, "dlq.erp-simulator.v1",
}

func newEnv(t *testing.T, c processortest.Cluster) *env {
	t.Helper()
	kcfg := kafka.Config{Brokers: c.Brokers, TopicPrefix: fmt.Sprintf("simtest%d.", time.Now().UnixNano())}
	cl, err := kcfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	physical := make([]string, len(allTopics))
	for i, tp := range allTopics {
		physical[i] = kcfg.Topic(tp)
	}
	testinfra.CreateTopics(t, c.Brokers, 6, physical...)
	sd := serde.New(c.Registry, serde.AutoRegister(true))
	return &env{t: t, kcfg: kcfg, sd: sd, in: testinfra.NewProducer(t, cl, sd, kcfg.TopicPrefix), collectors: map[string]*testinfra.Collector{}}
}

func (e *env) start(s Settings) {
	e.t.Helper()
	h := New(s)
	p, err := processor.New(processor.Config{Service: "erp-simulator", Instance: "test", Topics: Topics, Stores: Stores, InternalTopics: InternalTopics, Handler: h.Handle, Tick: 50 * time.Millisecond, OnTick: h.Tick},
		e.kcfg, processor.WithSerde(e.sd), processor.WithRegisterer(prometheus.NewRegistry()), processor.WithTransactionTimeout(10*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	testinfra.Go(e.t, "erp-simulator", p.Run)
}

// consume waits until n committed values of a topic arrived (read from its
// start) and returns every one so far.
func (e *env) consume(topic string, n int, timeout time.Duration) []contracts.Value {
	e.t.Helper()
	phys := e.kcfg.Topic(topic)
	c, ok := e.collectors[phys]
	if !ok {
		c = testinfra.Collect(e.t, e.kcfg.Brokers, phys)
		e.collectors[phys] = c
	}
	var out []contracts.Value
	for _, r := range c.WaitCount(e.t, timeout, phys, n) {
		v, _ := contracts.NewValue(topic)
		if err := e.sd.Decode(context.Background(), r.Value, v); err != nil {
			e.t.Fatalf("decode %s: %v", topic, err)
		}
		out = append(out, v)
	}
	return out
}

func fastSettings() Settings {
	fast := erp.Latency{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	return Settings{
		Rules:   erp.Rules{Seed: 7, ExportRestricted: erp.ParseSet("CU,IR"), TaxMissing: erp.ParseSet("AR"), GLAccounts: erp.ParseSet("1200,2400,4000")},
		Latency: fast, Ship: fast, Invoice: fast,
	}
}

func meta(id string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: id, CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemQuoteToOrder, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

// suiteOrderLifecycle: an order with one export-controlled line is
// PARTIALLY_REJECTED, then SHIPPED, then INVOICED with an ERP invoice for
// the accepted line only.
func suiteOrderLifecycle(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	e.start(fastSettings())
	terms := "NET45"
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-1", &contracts.OrderCommand{
		Metadata: meta("c1"), CommandID: "CMD-1", Action: contracts.OrderCommandActionCreate, OrderID: "O-1", QuoteID: "Q-1", QuoteVersion: 1, Attempt: 1,
		ERPCustomerID: "1000001", Currency: "USD", Region: "NA", PaymentTerms: &terms,
		Lines: []contracts.OrderLine{
			{LineNumber: 10, SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000), LineTotal: usd(2000), ShipToCountry: "US"},
			{LineNumber: 20, SKU: "CTRL-PLC", Quantity: 1, ListPrice: usd(500), UnitPrice: usd(500), LineTotal: usd(500), ShipToCountry: "IR"},
		},
		Total: usd(2500),
	})
	st := e.consume(contracts.TopicERPOrderStatusV1, 3, time.Minute)
	var got []string
	for _, v := range st {
		s := v.(*contracts.OrderStatus)
		got = append(got, s.Status)
		if s.OrderID != "O-1" || s.Total == nil || s.Total.AmountMinor != 2000 || s.Metadata.CorrelationID != "corr-c1" {
			t.Fatalf("status %+v", s)
		}
		if r := s.Lines[1]; r.Status != contracts.LineStatusRejected || r.RejectionReason == nil || *r.RejectionReason != contracts.RejectionReasonExportControl {
			t.Fatalf("line 20 %+v", r)
		}
	}
	want := []string{contracts.ErpOrderStatePartiallyRejected, contracts.ErpOrderStateShipped, contracts.ErpOrderStateInvoiced}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	inv := e.consume(contracts.TopicERPInvoiceV1, 1, time.Minute)[0].(*contracts.Invoice)
	if inv.NetTotal.AmountMinor != 2000 || len(inv.Lines) != 1 || inv.TaxTotal.AmountMinor != 145 || inv.DueDate.Sub(inv.InvoiceDate) != 45*24*time.Hour {
		t.Fatalf("invoice %+v", inv)
	}
	if last := st[2].(*contracts.OrderStatus); last.InvoiceID == nil || *last.InvoiceID != inv.InvoiceID {
		t.Fatalf("INVOICED status names invoice %v, invoice is %s", last.InvoiceID, inv.InvoiceID)
	}
	// The shipment adds the accepted pumps to the installed base, one asset
	// per unit with the product's warranty; the rejected controller does not.
	serials := map[string]bool{}
	for _, v := range e.consume(contracts.TopicERPAssetV1, 2, time.Minute) {
		a := v.(*contracts.Asset)
		serials[a.Serial] = true
		if a.SKU != "PUMP-100" || a.ERPCustomerID != "1000001" || a.Status != contracts.AssetStatusInstalled || a.Warranty == nil ||
			!a.Warranty.EndDate.Equal(a.InstallDate.AddDate(0, 24, -1)) || a.Metadata.CorrelationID != "corr-c1" || a.AsOf.IsZero() {
			t.Fatalf("asset %+v", a)
		}
	}
	if len(serials) != 2 {
		t.Fatalf("serials %v", serials)
	}
}

// suiteCustomerAndJournal: a customer command gets an ERP customer (and its
// credit position); a balanced journal is POSTED, an unbalanced one REJECTED.
func suiteCustomerAndJournal(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	e.start(fastSettings())
	crm := "ACC-1"
	e.in.Value(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate,
		GoldenID: "G-1", CRMAccountID: &crm, Name: "Acme", BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}})
	cust := e.consume(contracts.TopicERPCustomerV1, 1, time.Minute)[0].(*contracts.Customer)
	if cust.ERPCustomerID == "" || cust.GoldenID == nil || *cust.GoldenID != "G-1" || cust.CRMAccountID == nil || *cust.CRMAccountID != crm ||
		cust.Currency == nil || *cust.Currency != "EUR" || cust.PaymentTerms == nil {
		t.Fatalf("customer %+v", cust)
	}
	cr := e.consume(contracts.TopicERPCreditV1, 1, time.Minute)[0].(*contracts.CreditAccount)
	if cr.ERPCustomerID != cust.ERPCustomerID || cr.CreditLimit.AmountMinor <= 0 || cr.CreditLimit.Currency != "EUR" {
		t.Fatalf("credit %+v", cr)
	}
	// An UPDATE (the CRM renamed the customer) changes the name and keeps
	// the master data: country, currency, terms, credit limit; the credit
	// position is not re-issued.
	erpID := cust.ERPCustomerID
	e.in.Value(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc2"), CommandID: "CC-2", Action: contracts.CustomerCommandActionUpdate,
		GoldenID: "G-1", ERPCustomerID: &erpID, CRMAccountID: &crm, Name: "Acme Robotics"})
	upd := e.consume(contracts.TopicERPCustomerV1, 2, time.Minute)[1].(*contracts.Customer)
	if upd.ERPCustomerID != erpID || upd.Name != "Acme Robotics" || upd.CommandID == nil || *upd.CommandID != "CC-2" ||
		upd.BillingAddress == nil || upd.BillingAddress.Country != "DE" || *upd.Currency != "EUR" || *upd.PaymentTerms != *cust.PaymentTerms ||
		upd.CreditLimit == nil || *upd.CreditLimit != *cust.CreditLimit {
		t.Fatalf("updated customer %+v, created as %+v", upd, cust)
	}
	eur := func(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "EUR"} }
	for i, lines := range [][]contracts.JournalLine{
		{{LineNumber: 1, Account: "1200-ar", Debit: eur(100), Credit: eur(0)}, {LineNumber: 2, Account: "2400-deferred", Debit: eur(0), Credit: eur(100)}},
		{{LineNumber: 1, Account: "1200-ar", Debit: eur(100), Credit: eur(0)}, {LineNumber: 2, Account: "2400-deferred", Debit: eur(0), Credit: eur(90)}},
	} {
		id := fmt.Sprintf("J-%d", i)
		e.in.Value(contracts.TopicERPJournalCommandsV1, "CT-1", &contracts.JournalCommand{Metadata: meta(id), JournalCommandID: id, Kind: contracts.JournalKindInvoice,
			ContractID: "CT-1", AmendmentSequence: 1, PostingDate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Currency: "EUR", Description: "invoice", Lines: lines})
	}
	got := map[string]string{}
	for _, v := range e.consume(contracts.TopicERPJournalV1, 2, time.Minute) {
		j := v.(*contracts.Journal)
		got[j.JournalCommandID] = j.Status
	}
	if got["J-0"] != contracts.JournalStatusPosted || got["J-1"] != contracts.JournalStatusRejected {
		t.Fatalf("journals %v", got)
	}
}

// suiteDowntime: no answer while the ERP is down; the answer follows after.
func suiteDowntime(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	s := fastSettings()
	s.Downtime = erp.Downtime{Every: 6 * time.Second, For: 3 * time.Second}
	// Send the command at the start of a window.
	testinfra.Eventually(t, 2*s.Downtime.Every, "the start of a downtime window", func() bool {
		return s.Downtime.Down(time.Now()) && s.Downtime.Down(time.Now().Add(2*time.Second))
	})
	e.start(s)
	sent := time.Now()
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-2", &contracts.OrderCommand{Metadata: meta("c2"), CommandID: "CMD-2", Action: contracts.OrderCommandActionCreate, OrderID: "O-2",
		ERPCustomerID: "1", Currency: "USD", Region: "NA", Lines: []contracts.OrderLine{{LineNumber: 1, SKU: "KIT-SEAL", Quantity: 1, LineTotal: usd(10), ShipToCountry: "US"}}, Total: usd(10)})
	e.consume(contracts.TopicERPOrderStatusV1, 1, time.Minute)
	if s.Downtime.Down(time.Now()) {
		t.Fatal("answered during downtime")
	}
	if time.Since(sent) < time.Second {
		t.Fatalf("answered %s after the command although the ERP was down", time.Since(sent))
	}
}

func TestFakeOrderLifecycle(t *testing.T) { suiteOrderLifecycle(t, processortest.FakeCluster(t)) }
func TestFakeCustomerAndJournal(t *testing.T) {
	suiteCustomerAndJournal(t, processortest.FakeCluster(t))
}
func TestFakeDowntime(t *testing.T) { suiteDowntime(t, processortest.FakeCluster(t)) }

// suiteRetryAfterFix: an order rejected for export control and tax is
// resubmitted as revision 2 after trade compliance grants the licence: ERP
// accepts the export line and still rejects the tax line; revision 3
// overrides the tax rejection and is ACCEPTED, shipped and invoiced once.
// A repeat of revision 3 is the same order.
func suiteRetryAfterFix(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	s := fastSettings()
	s.Ship = erp.Latency{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}
	s.Live = erp.NewLive(s.Rules)
	e.start(s)
	cmd := func(id string, rev int, overrides ...string) *contracts.OrderCommand {
		return &contracts.OrderCommand{Metadata: meta(id), CommandID: id, Action: contracts.OrderCommandActionCreate, OrderID: "O-3", QuoteID: "Q-3", QuoteVersion: 1, Attempt: 1,
			Revision: rev, Overrides: overrides, ERPCustomerID: "1", Currency: "USD", Region: "NA",
			Lines: []contracts.OrderLine{
				{LineNumber: 1, SKU: "CTRL-PLC", Quantity: 1, UnitPrice: usd(500), LineTotal: usd(500), ShipToCountry: "IR"},
				{LineNumber: 2, SKU: "KIT-SEAL", Quantity: 1, UnitPrice: usd(10), LineTotal: usd(10), ShipToCountry: "AR"},
			}, Total: usd(510)}
	}
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-3", cmd("O-3:v1:a1", 0))
	first := e.consume(contracts.TopicERPOrderStatusV1, 1, time.Minute)[0].(*contracts.OrderStatus)
	if first.Status != contracts.ErpOrderStateRejected {
		t.Fatalf("revision 1: %s, want REJECTED", first.Status)
	}
	if !s.Live.GrantLicence("ir") {
		t.Fatal("IR was not export-restricted")
	}
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-3", cmd("O-3:v1:r2:a1", 2))
	second := e.consume(contracts.TopicERPOrderStatusV1, 2, time.Minute)[1].(*contracts.OrderStatus)
	if second.Status != contracts.ErpOrderStatePartiallyRejected || second.Lines[0].Status != contracts.LineStatusAccepted ||
		second.Lines[1].RejectionReason == nil || *second.Lines[1].RejectionReason != contracts.RejectionReasonTaxConfiguration {
		t.Fatalf("revision 2 after the licence: %+v", second)
	}
	if *second.CommandID != "O-3:v1:r2:a1" || second.Metadata.EventID == first.Metadata.EventID {
		t.Fatalf("revision 2 answer: command %s, event id %s (revision 1: %s)", *second.CommandID, second.Metadata.EventID, first.Metadata.EventID)
	}
	// Revision 3 overrides the tax rejection before revision 2 ships.
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-3", cmd("O-3:v1:r3:a1", 3, contracts.RejectionReasonTaxConfiguration))
	var got []string
	for _, v := range e.consume(contracts.TopicERPOrderStatusV1, 5, time.Minute)[2:] {
		got = append(got, v.(*contracts.OrderStatus).Status)
	}
	want := []string{contracts.ErpOrderStateAccepted, contracts.ErpOrderStateShipped, contracts.ErpOrderStateInvoiced}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("revision 3 statuses %v, want %v", got, want)
	}
	// A repeat of revision 3 is the same order: the current status again.
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-3", cmd("O-3:v1:r3:a2", 3, contracts.RejectionReasonTaxConfiguration))
	if again := e.consume(contracts.TopicERPOrderStatusV1, 6, time.Minute)[5].(*contracts.OrderStatus); again.Status != contracts.ErpOrderStateInvoiced {
		t.Fatalf("repeat of revision 3 answered %s, want INVOICED", again.Status)
	}
	inv := e.consume(contracts.TopicERPInvoiceV1, 1, time.Minute)
	if n := inv[0].(*contracts.Invoice).NetTotal.AmountMinor; n != 510 {
		t.Fatalf("invoice net %d, want 510", n)
	}
}

func TestFakeRetryAfterFix(t *testing.T) { suiteRetryAfterFix(t, processortest.FakeCluster(t)) }

func TestFakeServiceOrders(t *testing.T) { suiteServiceOrders(t, processortest.FakeCluster(t)) }

// suiteServiceOrders: a pump repair under warranty runs CREATED →
// SCHEDULED → PART_UNAVAILABLE (every order waits for a part here) →
// PARTS_ISSUED → COMPLETED with parts, labour and cost; its warranty claim
// is accepted for the cost and rejected above it. An order cancelled at
// once is CANCELLED and goes no further; a not-entitled one is REJECTED.
func suiteServiceOrders(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	s := fastSettings()
	s.Rules.PartShortageBps, s.Rules.ClaimRejectBps = 10000, 0
	e.start(s)
	so := func(id, action, coverage string) *contracts.ServiceOrderCommand {
		return &contracts.ServiceOrderCommand{Metadata: meta(id + action), CommandID: id + "-" + action, Action: action, ServiceOrderID: id, CaseID: "CASE-" + id,
			ERPCustomerID: "1000001", Serial: "SN-1", SKU: "PUMP-100", ServiceType: contracts.ServiceTypeRepair, Coverage: coverage, Priority: contracts.SeverityHigh}
	}
	e.in.Value(contracts.TopicERPServiceOrderCommandsV1, "SO-1", so("SO-1", contracts.ServiceOrderActionCreate, contracts.CoverageWarranty))
	e.in.Value(contracts.TopicERPServiceOrderCommandsV1, "SO-2", so("SO-2", contracts.ServiceOrderActionCreate, contracts.CoverageBillable))
	e.in.Value(contracts.TopicERPServiceOrderCommandsV1, "SO-2", so("SO-2", contracts.ServiceOrderActionCancel, contracts.CoverageBillable))
	e.in.Value(contracts.TopicERPServiceOrderCommandsV1, "SO-3", so("SO-3", contracts.ServiceOrderActionCreate, contracts.CoverageNotEntitled))
	byOrder := func(n int) map[string][]*contracts.ServiceOrderStatus {
		out := map[string][]*contracts.ServiceOrderStatus{}
		for _, v := range e.consume(contracts.TopicERPServiceOrderStatusV1, n, time.Minute) {
			st := v.(*contracts.ServiceOrderStatus)
			out[st.ServiceOrderID] = append(out[st.ServiceOrderID], st)
		}
		return out
	}
	statuses := func(sts []*contracts.ServiceOrderStatus) string {
		var out []string
		for _, st := range sts {
			out = append(out, st.Status)
		}
		return fmt.Sprint(out)
	}
	got := byOrder(8)
	if s := statuses(got["SO-1"]); s != "[CREATED SCHEDULED PART_UNAVAILABLE PARTS_ISSUED COMPLETED]" {
		t.Fatalf("SO-1 %s", s)
	}
	if s := statuses(got["SO-2"]); s != "[CREATED CANCELLED]" {
		t.Fatalf("SO-2 %s", s)
	}
	if s := statuses(got["SO-3"]); s != "[REJECTED]" {
		t.Fatalf("SO-3 %s", s)
	}
	done := got["SO-1"][4]
	var parts int64
	for _, p := range done.Parts {
		parts += p.Quantity * p.UnitCost.AmountMinor
	}
	if len(done.Parts) != 2 || done.LabourCost == nil || done.TotalCost == nil || done.LabourMinutes < 30 ||
		done.TotalCost.AmountMinor != parts+done.LabourCost.AmountMinor || done.Resolution == nil || done.Metadata.CorrelationID != "corr-SO-1CREATE" {
		t.Fatalf("completed %+v", done)
	}
	if got["SO-1"][1].Technician == nil || got["SO-1"][1].ScheduledFor == nil || got["SO-1"][2].Message == nil {
		t.Fatalf("scheduled %+v, shortage %+v", got["SO-1"][1], got["SO-1"][2])
	}
	claim := func(id string, amount int64) *contracts.WarrantyClaimCommand {
		return &contracts.WarrantyClaimCommand{Metadata: meta(id), CommandID: id, ClaimID: id, ServiceOrderID: "SO-1", CaseID: "CASE-SO-1", Serial: "SN-1", SKU: "PUMP-100",
			Parts: done.Parts, LabourCost: *done.LabourCost, Amount: usd(amount)}
	}
	e.in.Value(contracts.TopicERPWarrantyClaimCommandsV1, "SO-1", claim("WC-1", done.TotalCost.AmountMinor))
	e.in.Value(contracts.TopicERPWarrantyClaimCommandsV1, "SO-1", claim("WC-2", done.TotalCost.AmountMinor+1))
	got = byOrder(10)
	answers := map[string]string{}
	for _, st := range got["SO-1"][5:] {
		answers[contracts.Deref(st.ClaimID)] = st.Status
	}
	if answers["WC-1"] != contracts.ServiceOrderStateClaimAccepted || answers["WC-2"] != contracts.ServiceOrderStateClaimRejected {
		t.Fatalf("claims %v", answers)
	}
}

func TestFakeReturns(t *testing.T) { suiteReturns(t, processortest.FakeCluster(t)) }

// suiteReturns: two shipped pumps and ten seal kits come back on one return:
// CREATED, RECEIVED (the pumps become RETURNED in the installed base),
// INSPECTED with units accepted or refused; a credit above the accepted
// units is refused, the right one CREDITED once. A return cancelled before
// receipt is CANCELLED; one without lines is REJECTED.
func suiteReturns(t *testing.T, c processortest.Cluster) {
	e := newEnv(t, c)
	s := fastSettings()
	s.Rules.InspectionRefuseBps = 5000
	e.start(s)
	e.in.Value(contracts.TopicERPOrderCommandsV1, "O-1", &contracts.OrderCommand{
		Metadata: meta("o1"), CommandID: "CMD-1", Action: contracts.OrderCommandActionCreate, OrderID: "O-1", QuoteID: "Q-1", QuoteVersion: 1, Attempt: 1,
		ERPCustomerID: "1000001", Currency: "USD", Region: "NA",
		Lines: []contracts.OrderLine{{LineNumber: 10, SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000), LineTotal: usd(2000), ShipToCountry: "US"}},
		Total: usd(2000),
	})
	var serials []string
	for _, v := range e.consume(contracts.TopicERPAssetV1, 2, time.Minute) {
		serials = append(serials, v.(*contracts.Asset).Serial)
	}
	order := "O-1"
	ret := func(id, cmd, action string, lines ...contracts.ReturnLine) *contracts.ReturnCommand {
		return &contracts.ReturnCommand{Metadata: meta(cmd), CommandID: cmd, Action: action, ReturnID: id, ERPCustomerID: "1000001", OrderID: &order, Currency: "USD", Lines: lines}
	}
	pumps := contracts.ReturnLine{LineNumber: 1, SKU: "PUMP-100", Quantity: 2, Serials: serials, UnitPrice: usd(1000)}
	kits := contracts.ReturnLine{LineNumber: 2, SKU: "KIT-SEAL", Quantity: 10, Serials: []string{}, UnitPrice: usd(49)}
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-1", ret("R-1", "R1-create", contracts.ReturnActionCreate, pumps, kits))
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-2", ret("R-2", "R2-create", contracts.ReturnActionCreate, kits))
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-2", ret("R-2", "R2-cancel", contracts.ReturnActionCancel))
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-3", ret("R-3", "R3-create", contracts.ReturnActionCreate))
	byReturn := func(n int) map[string][]*contracts.ReturnStatus {
		out := map[string][]*contracts.ReturnStatus{}
		for _, v := range e.consume(contracts.TopicERPReturnStatusV1, n, time.Minute) {
			st := v.(*contracts.ReturnStatus)
			out[st.ReturnID] = append(out[st.ReturnID], st)
		}
		return out
	}
	statuses := func(sts []*contracts.ReturnStatus) string {
		var out []string
		for _, st := range sts {
			out = append(out, st.Status)
		}
		return fmt.Sprint(out)
	}
	got := byReturn(6)
	for id, want := range map[string]string{"R-1": "[CREATED RECEIVED INSPECTED]", "R-2": "[CREATED CANCELLED]", "R-3": "[REJECTED]"} {
		if s := statuses(got[id]); s != want {
			t.Fatalf("%s %s, want %s", id, s, want)
		}
	}
	inspected := got["R-1"][2]
	var credit int64
	for i, l := range inspected.Lines {
		if l.Received != []int64{2, 10}[i] || l.Accepted+l.Refused != l.Received || (l.Refused > 0) != (l.RefusalReason != nil) {
			t.Fatalf("inspected line %+v", l)
		}
		credit += l.Accepted * []int64{1000, 49}[i]
	}
	if credit == 0 || inspected.RmaNumber == nil {
		t.Fatalf("nothing accepted, or no RMA: %+v", inspected)
	}
	returned := 0
	for _, v := range e.consume(contracts.TopicERPAssetV1, 4, time.Minute) {
		if a := v.(*contracts.Asset); a.Status == contracts.AssetStatusReturned && a.Warranty != nil && a.ERPCustomerID == "1000001" {
			returned++
		}
	}
	if returned != 2 {
		t.Fatalf("%d assets RETURNED, want 2", returned)
	}
	creditCmd := func(cmd string, amount int64) *contracts.ReturnCommand {
		c := ret("R-1", cmd, contracts.ReturnActionCredit)
		c.CreditAmount = &contracts.Money{AmountMinor: amount, Currency: "USD"}
		return c
	}
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-1", creditCmd("R1-credit-high", credit+1))
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-1", creditCmd("R1-credit", credit))
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-1", creditCmd("R1-credit", credit)) // the same command again: nothing
	e.in.Value(contracts.TopicERPReturnCommandsV1, "R-1", creditCmd("R1-credit-again", credit))
	got = byReturn(9)
	if s := statuses(got["R-1"]); s != "[CREATED RECEIVED INSPECTED REJECTED CREDITED CREDITED]" {
		t.Fatalf("R-1 %s", s)
	}
	first, again := got["R-1"][4], got["R-1"][5]
	if first.CreditMemoID == nil || first.CreditAmount == nil || first.CreditAmount.AmountMinor != credit ||
		contracts.Deref(again.CreditMemoID) != *first.CreditMemoID || got["R-1"][3].Message == nil {
		t.Fatalf("credit %+v, again %+v", first, again)
	}
}
