package sim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// The simulator's processor (Sim.Processor) without a broker: commands
// in, answers out when a tick finds them due (pkg/processor/processortest).

var t0 = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)

// second is every latency and delay of these tests.
var second = erp.Latency{Min: time.Second, Max: time.Second}

func simKit(t *testing.T, s Settings) *processortest.Kit {
	t.Helper()
	if s.Rules.Seed == 0 {
		s.Rules = erp.Rules{Seed: 7, ExportRestricted: erp.ParseSet("CU,IR"), TaxMissing: erp.ParseSet("AR"), GLAccounts: erp.ParseSet("1200,2400,4000")}
	}
	s.Latency, s.Ship, s.Invoice = second, second, second
	return processortest.New(t, New(s).Processor("test"), processortest.Now(t0))
}

func values[T any, P interface {
	*T
	contracts.Value
}](t *testing.T, k *processortest.Kit, outs []processortest.Output) []*T {
	t.Helper()
	var vs []*T
	for _, o := range outs {
		v := P(new(T))
		k.Decode(o, v)
		vs = append(vs, (*T)(v))
	}
	return vs
}

func onlyDeadLetter(t *testing.T, res processortest.Result) string {
	t.Helper()
	dl := res.DeadLetters("erp-simulator")
	if res.Err != nil || len(dl) != 1 || len(res.Outputs) != 1 || len(res.Writes) != 0 {
		t.Fatalf("want one dead letter and nothing else: err %v, %d outputs, %d writes", res.Err, len(res.Outputs), len(res.Writes))
	}
	return dl[0].Header(catalog.DLQHeaderErrorReason)
}

// An order is decided at once and answered when its latency has passed:
// PARTIALLY_REJECTED (an export-controlled line), then SHIPPED with its
// assets (through the internal topic), then INVOICED with the invoice.
func TestOrderAnsweredWhenDue(t *testing.T) {
	k := simKit(t, Settings{})
	res := k.SendValue(contracts.TopicERPOrderCommandsV1, "O-1", &contracts.OrderCommand{
		Metadata: meta("c1"), CommandID: "CMD-1", Action: contracts.OrderCommandActionCreate, OrderID: "O-1", QuoteID: "Q-1", QuoteVersion: 1, Attempt: 1,
		ERPCustomerID: "1000001", Currency: "USD", Region: "NA",
		Lines: []contracts.OrderLine{
			{LineNumber: 10, SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000), LineTotal: usd(2000), ShipToCountry: "US"},
			{LineNumber: 20, SKU: "CTRL-PLC", Quantity: 1, ListPrice: usd(500), UnitPrice: usd(500), LineTotal: usd(500), ShipToCountry: "IR"},
		},
		Total: usd(2500),
	})
	if len(res.Outputs) != 0 || res.Err != nil {
		t.Fatalf("answered before its latency: %+v %v", res.Outputs, res.Err)
	}
	b, ok := k.State(StoreOrders, "O-1")
	var st orderState
	if !ok || json.Unmarshal(b, &st) != nil || st.Step != stepDecide || st.Timer != timerKey(t0.Add(time.Second), "order", "O-1") {
		t.Fatalf("order state %s", b)
	}
	if res := k.Tick(t0.Add(999 * time.Millisecond)); len(res.Outputs) != 0 {
		t.Fatalf("tick before the answer is due: %+v", res.Outputs)
	}
	at := t0.Add(time.Second)
	sts := values[contracts.OrderStatus](t, k, k.Tick(at).On(contracts.TopicERPOrderStatusV1))
	if len(sts) != 1 || sts[0].Status != contracts.ErpOrderStatePartiallyRejected || sts[0].Total.AmountMinor != 2000 {
		t.Fatalf("decision = %+v", sts)
	}
	want := event.Metadata(event.ID("erp-simulator", "order-status", "O-1", "decide"), "corr-c1", "c1", contracts.SourceSystemERP, at)
	if md := sts[0].Metadata; md.EventID != want.EventID || md.CorrelationID != want.CorrelationID || md.CausationID == nil || *md.CausationID != "c1" ||
		md.SourceSystem != contracts.SourceSystemERP || !md.OccurredAt.Equal(at) {
		t.Errorf("metadata = %+v, want %+v", md, want)
	}
	ship := k.Tick(at.Add(time.Second))
	if sts := values[contracts.OrderStatus](t, k, ship.On(contracts.TopicERPOrderStatusV1)); len(sts) != 1 || sts[0].Status != contracts.ErpOrderStateShipped {
		t.Fatalf("shipment = %+v", sts)
	}
	assets := values[contracts.Asset](t, k, ship.On(contracts.TopicERPAssetV1))
	if len(ship.On(TopicAssets)) != 2 || len(assets) != 2 || assets[0].SKU != "PUMP-100" || assets[0].Status != contracts.AssetStatusInstalled || assets[0].Metadata.CorrelationID != "corr-c1" {
		t.Fatalf("assets = %+v", assets)
	}
	if _, ok := k.State(StoreAssets, assets[0].Serial); !ok {
		t.Errorf("asset %s not kept", assets[0].Serial)
	}
	inv := k.Tick(at.Add(2 * time.Second))
	invoices := values[contracts.Invoice](t, k, inv.On(contracts.TopicERPInvoiceV1))
	if sts := values[contracts.OrderStatus](t, k, inv.On(contracts.TopicERPOrderStatusV1)); len(sts) != 1 || sts[0].Status != contracts.ErpOrderStateInvoiced ||
		len(invoices) != 1 || invoices[0].NetTotal.AmountMinor != 2000 || *sts[0].InvoiceID != invoices[0].InvoiceID {
		t.Fatalf("invoice = %+v, statuses %+v", invoices, sts)
	}
	if res := k.Tick(at.Add(time.Hour)); len(res.Outputs) != 0 {
		t.Fatalf("an answer emitted twice: %+v", res.Outputs)
	}
}

// Customer, journal and billing commands are answered after their latency.
func TestCustomerJournalBillingAnswered(t *testing.T) {
	k := simKit(t, Settings{})
	k.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate,
		GoldenID: "G-1", Name: "Acme", BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}})
	eur := func(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "EUR"} }
	day := t0.Truncate(24 * time.Hour)
	k.SendValue(contracts.TopicERPJournalCommandsV1, "J-1", &contracts.JournalCommand{Metadata: meta("j1"), Kind: contracts.JournalKindInvoice, JournalCommandID: "J-1", ContractID: "C-1", PostingDate: t0.Truncate(24 * time.Hour), Currency: "EUR",
		Lines: []contracts.JournalLine{{LineNumber: 1, Account: "1200-ar", Debit: eur(100), Credit: eur(0)}, {LineNumber: 2, Account: "2400-deferred", Debit: eur(0), Credit: eur(100)}}})
	k.SendValue(contracts.TopicBillingCommandsV1, "C-1", &contracts.BillingCommand{Metadata: meta("b1"), CommandID: "B-1", ContractID: "C-1", Action: contracts.BillingActionProvision,
		AccountID: "ACC-1", Currency: "EUR", StartDate: day, EndDate: day.AddDate(1, 0, -1), EffectiveDate: day, BillingFrequency: contracts.BillingFrequencyMonthly,
		AmendmentSequence: 1, Lines: []contracts.SubscriptionLine{}, InvoiceSchedule: []contracts.ScheduledInvoice{{Sequence: 1, InvoiceDate: day, PeriodStart: day, PeriodEnd: day.AddDate(0, 1, -1), Amount: eur(1000)}}})
	res := k.Tick(t0.Add(2 * time.Second))
	custs := values[contracts.Customer](t, k, res.On(contracts.TopicERPCustomerV1))
	credit := values[contracts.CreditAccount](t, k, res.On(contracts.TopicERPCreditV1))
	if len(custs) != 1 || custs[0].ERPCustomerID == "" || *custs[0].Currency != "EUR" || len(credit) != 1 || credit[0].ERPCustomerID != custs[0].ERPCustomerID {
		t.Fatalf("customer %+v, credit %+v", custs, credit)
	}
	if b, ok := k.State(StoreSeq, "customer"); !ok || string(b) != "1" {
		t.Errorf("customer counter = %q", b)
	}
	js := values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1))
	if len(js) != 1 || js[0].JournalCommandID != "J-1" || js[0].Status != contracts.JournalStatusPosted {
		t.Fatalf("journal answers = %+v", js)
	}
	var kinds []string
	for _, ev := range values[contracts.BillingEvent](t, k, res.On(contracts.TopicBillingEventsV1)) {
		kinds = append(kinds, ev.EventType)
	}
	if len(kinds) != 2 || kinds[0] != contracts.BillingEventTypeSubscriptionProvisioned || kinds[1] != contracts.BillingEventTypeInvoiceIssued {
		t.Fatalf("billing events = %v", kinds)
	}
}

// Service orders, warranty claims and returns are answered after their
// latency.
func TestServiceOrderClaimReturnAnswered(t *testing.T) {
	k := simKit(t, Settings{})
	k.SendValue(contracts.TopicERPServiceOrderCommandsV1, "SO-1", &contracts.ServiceOrderCommand{Metadata: meta("so1"), CommandID: "SO-1-create", Action: contracts.ServiceOrderActionCreate,
		ServiceOrderID: "SO-1", CaseID: "CASE-1", ERPCustomerID: "1000001", Serial: "SN-1", SKU: "PUMP-100", ServiceType: contracts.ServiceTypeRepair,
		Coverage: contracts.CoverageWarranty, Priority: contracts.SeverityHigh})
	k.SendValue(contracts.TopicERPWarrantyClaimCommandsV1, "SO-9", &contracts.WarrantyClaimCommand{Metadata: meta("cl1"), CommandID: "CL-1", ClaimID: "SO-9/claim",
		ServiceOrderID: "SO-9", CaseID: "CASE-9", Serial: "SN-9", SKU: "PUMP-100", Parts: []contracts.PartUsed{}, LabourCost: usd(0), Amount: usd(100)})
	k.SendValue(contracts.TopicERPReturnCommandsV1, "R-1", &contracts.ReturnCommand{Metadata: meta("r1"), CommandID: "R1-create", Action: contracts.ReturnActionCreate,
		ReturnID: "R-1", ERPCustomerID: "1000001", Currency: "USD", Lines: []contracts.ReturnLine{{LineNumber: 1, SKU: "KIT-SEAL", Quantity: 2, Serials: []string{}, UnitPrice: usd(49)}}})
	res := k.Tick(t0.Add(time.Second))
	byOrder := map[string]string{}
	for _, st := range values[contracts.ServiceOrderStatus](t, k, res.On(contracts.TopicERPServiceOrderStatusV1)) {
		byOrder[st.ServiceOrderID] = st.Status
	}
	if byOrder["SO-1"] != contracts.ServiceOrderStateCreated || byOrder["SO-9"] != contracts.ServiceOrderStateClaimRejected {
		t.Fatalf("service order statuses = %v", byOrder)
	}
	rs := values[contracts.ReturnStatus](t, k, res.On(contracts.TopicERPReturnStatusV1))
	if len(rs) != 1 || rs[0].Status != contracts.ReturnStateCreated || rs[0].RmaNumber == nil {
		t.Fatalf("return statuses = %+v", rs)
	}
	if res := k.Tick(t0.Add(2 * time.Second)); len(values[contracts.ServiceOrderStatus](t, k, res.On(contracts.TopicERPServiceOrderStatusV1))) != 1 ||
		len(values[contracts.ReturnStatus](t, k, res.On(contracts.TopicERPReturnStatusV1))) != 1 {
		t.Fatalf("next steps: %+v", res.Outputs)
	}
}

// In a maintenance window the answers wait; they go out after it.
func TestDowntimeHoldsAnswers(t *testing.T) {
	k := simKit(t, Settings{Downtime: erp.Downtime{Every: 10 * time.Second, For: 5 * time.Second}})
	k.SendValue(contracts.TopicERPJournalCommandsV1, "J-1", &contracts.JournalCommand{Metadata: meta("j1"), Kind: contracts.JournalKindInvoice, JournalCommandID: "J-1", PostingDate: t0.Truncate(24 * time.Hour), Currency: "USD",
		Lines: []contracts.JournalLine{}})
	if res := k.Tick(t0.Add(6 * time.Second)); len(res.Outputs) != 0 {
		t.Fatalf("answered in the window: %+v", res.Outputs)
	}
	res := k.Tick(t0.Add(10 * time.Second))
	js := values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1))
	if len(js) != 1 || !js[0].Metadata.OccurredAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("after the window: %+v", js)
	}
}

// Bad input on every topic is dead-lettered with its reason.
func TestBadCommandsDeadLettered(t *testing.T) {
	k := simKit(t, Settings{})
	for _, topic := range Topics {
		if got := onlyDeadLetter(t, k.Send(topic, "K", []byte("not avro"))); got != "bad-magic" {
			t.Errorf("%s, bad bytes: reason %q", topic, got)
		}
		if got := onlyDeadLetter(t, k.Send(topic, "K", []byte{0, 0, 0, 0x30, 0x39, 2, 'a'})); got != "unknown-schema-id" {
			t.Errorf("%s, unknown schema id: reason %q", topic, got)
		}
	}
	for _, c := range []struct {
		topic string
		v     contracts.Value
	}{
		{contracts.TopicERPOrderCommandsV1, &contracts.OrderCommand{Metadata: meta("x1"), CommandID: "X-1", Action: contracts.OrderCommandActionCreate, Currency: "USD", Lines: []contracts.OrderLine{}}},
		{contracts.TopicERPOrderCommandsV1, &contracts.OrderCommand{Metadata: meta("x2"), CommandID: "X-2", Action: "UNKNOWN", OrderID: "O-X", Currency: "USD", Lines: []contracts.OrderLine{}}},
		{contracts.TopicERPCustomerCommandsV1, &contracts.CustomerCommand{Metadata: meta("x3"), CommandID: "X-3", Action: contracts.CustomerCommandActionCreate, Name: "No golden id"}},
		{contracts.TopicERPJournalCommandsV1, &contracts.JournalCommand{Metadata: meta("x4"), Kind: contracts.JournalKindInvoice, PostingDate: t0.Truncate(24 * time.Hour), Currency: "USD", Lines: []contracts.JournalLine{}}},
		{contracts.TopicBillingCommandsV1, &contracts.BillingCommand{Metadata: meta("x5"), CommandID: "X-5", Action: contracts.BillingActionProvision,
			BillingFrequency: contracts.BillingFrequencyMonthly, Lines: []contracts.SubscriptionLine{}, InvoiceSchedule: []contracts.ScheduledInvoice{}}},
		{contracts.TopicERPServiceOrderCommandsV1, &contracts.ServiceOrderCommand{Metadata: meta("x6"), CommandID: "X-6", Action: contracts.ServiceOrderActionCreate,
			ServiceType: contracts.ServiceTypeRepair, Coverage: contracts.CoverageWarranty, Priority: contracts.SeverityHigh}},
		{contracts.TopicERPWarrantyClaimCommandsV1, &contracts.WarrantyClaimCommand{Metadata: meta("x7"), CommandID: "X-7", Parts: []contracts.PartUsed{}}},
		{contracts.TopicERPReturnCommandsV1, &contracts.ReturnCommand{Metadata: meta("x8"), CommandID: "X-8", Action: contracts.ReturnActionCreate, Lines: []contracts.ReturnLine{}}},
	} {
		if got := onlyDeadLetter(t, k.SendValue(c.topic, "K", c.v)); got != "validation" {
			t.Errorf("%s %+v: reason %q", c.topic, c.v, got)
		}
	}
	// The internal topic carries the simulator's own installed-base
	// changes as JSON.
	for _, v := range []string{"not json", `{"origin":{}}`} {
		if got := onlyDeadLetter(t, k.Send(TopicAssets, "SN-1", []byte(v))); got != string(errs.ReasonAssetOp) {
			t.Errorf("asset change %s: reason %q", v, got)
		}
	}
}
