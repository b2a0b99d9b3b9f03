package reconciler

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// The router and the matcher run here as in production (their whole
// processor chain, the matcher's state stores) without a broker.

var unitT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func unitMD(id string, at time.Time) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: id, CorrelationID: "corr-" + id, SourceSystem: contracts.SourceSystemERP, OccurredAt: at}
}

func unitEUR(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "EUR"} }

func unitStr(s string) *string { return &s }

// observation is what the router emitted, decoded.
type observation struct {
	Key   string
	Event match.Event
}

// routerCase is one record of a source topic and the observations it must
// become.
type routerCase struct {
	topic, key string
	v          contracts.Value
	want       []observation
}

// routerHappy has one routed record of every source topic.
func routerHappy() []routerCase {
	md := unitMD("e1", unitT0)
	p := unitT0
	zero := 0
	lines := []contracts.JournalLine{{LineNumber: 1, Account: "1200", Debit: unitEUR(500), Credit: unitEUR(0)}}
	return []routerCase{
		{contracts.TopicCRMQuoteV1, "q1", &contracts.Quote{Metadata: md, QuoteID: "q1", Version: 1, Status: contracts.QuoteStatusAccepted,
			SoldToAccountID: "a1", Currency: "EUR", Region: "EU", Total: unitEUR(100)}, []observation{{"Q:q1", match.EvQuoteAccepted}}},
		{contracts.TopicOrdersLifecycleV1, "o1", &contracts.OrderLifecycle{Metadata: md, OrderID: "o1", QuoteID: "q1", QuoteVersion: 1,
			State: contracts.OrderStateSubmitted, CRMAccountID: "a1", Currency: "EUR", Total: unitEUR(100)}, []observation{{"Q:q1", match.EvOrderProgressed}}},
		{contracts.TopicERPOrderCommandsV1, "o1", &contracts.OrderCommand{Metadata: md, CommandID: "cmd-1", Action: contracts.OrderCommandActionCreate,
			OrderID: "o1", QuoteID: "q1", QuoteVersion: 1, Attempt: 1, ERPCustomerID: "100042", Currency: "EUR", Region: "EU", Total: unitEUR(100)},
			[]observation{{"O:o1", match.EvOrderCommand}, {"Q:q1", match.EvOrderCommand}}},
		{contracts.TopicERPOrderStatusV1, "o1", &contracts.OrderStatus{Metadata: md, OrderID: "o1", Status: contracts.ErpOrderStateAccepted},
			[]observation{{"O:o1", match.EvERPOrderStatus}}},
		{contracts.TopicERPInvoiceV1, "i1", &contracts.Invoice{Metadata: md, InvoiceID: "i1", Status: contracts.InvoiceStatusPosted, ERPCustomerID: "100042",
			OrderID: unitStr("o1"), InvoiceDate: p, DueDate: p, NetTotal: unitEUR(100), TaxTotal: unitEUR(0), Total: unitEUR(100), PostedAt: p},
			[]observation{{"O:o1", match.EvInvoicePosted}}},
		{contracts.TopicCRMDealV1, "k1", &contracts.Deal{Metadata: md, DealID: "d1", ContractID: "k1", DealType: contracts.DealTypeNew, AccountID: "a1",
			Currency: "EUR", StartDate: p, EndDate: p.AddDate(1, 0, 0), BillingFrequency: contracts.BillingFrequencyMonthly, ClosedAt: p},
			[]observation{{"C:k1", match.EvDealClosed}}},
		{contracts.TopicBillingCommandsV1, "k1", &contracts.BillingCommand{Metadata: md, CommandID: "bc-1", Action: contracts.BillingActionProvision,
			ContractID: "k1", AccountID: "a1", Currency: "EUR", StartDate: p, EndDate: p.AddDate(1, 0, 0), EffectiveDate: p,
			BillingFrequency: contracts.BillingFrequencyMonthly,
			InvoiceSchedule:  []contracts.ScheduledInvoice{{Sequence: 1, InvoiceDate: p, PeriodStart: p, PeriodEnd: p.AddDate(0, 1, 0), Amount: unitEUR(500)}}},
			[]observation{{"C:k1", match.EvBillingCommand}}},
		{contracts.TopicBillingEventsV1, "k1", &contracts.BillingEvent{Metadata: md, EventType: contracts.BillingEventTypeSubscriptionProvisioned,
			ContractID: "k1", AmendmentSequence: &zero}, []observation{{"C:k1", match.EvBillingEvent}}},
		{contracts.TopicBillingRevenueScheduleV1, "k1", &contracts.RevenueSchedule{Metadata: md, ContractID: "k1", PeriodStart: p, PeriodEnd: p.AddDate(0, 1, 0),
			Recognised: unitEUR(500), Billed: unitEUR(500), DeferredBalance: unitEUR(0), CumulativeRecognised: unitEUR(500), ContractValue: unitEUR(6000)},
			[]observation{{"C:k1", match.EvRevenueSchedule}}},
		{contracts.TopicERPJournalCommandsV1, "k1", &contracts.JournalCommand{Metadata: md, JournalCommandID: "j1", Kind: contracts.JournalKindInvoice,
			ContractID: "k1", PostingDate: p, PeriodStart: &p, Currency: "EUR", Description: "invoice", Lines: lines},
			[]observation{{"J:j1", match.EvJournalCommand}, {"C:k1", match.EvLedgerCommanded}}},
		{contracts.TopicERPJournalV1, "j1", &contracts.Journal{Metadata: md, JournalCommandID: "j1", Status: contracts.JournalStatusPosted,
			ContractID: unitStr("k1"), Lines: lines}, []observation{{"J:j1", match.EvJournal}, {"C:k1", match.EvLedgerPosted}}},
		{contracts.TopicCRMAccountV1, "a1", &contracts.Account{Metadata: md, Op: contracts.ChangeOperationUpsert, AccountID: "a1", Name: "A1",
			Status: contracts.AccountStatusCustomer, SourceUpdatedAt: p}, []observation{{"A:a1", match.EvAccount}}},
		{contracts.TopicMDMXrefV1, "CRM:a1", &contracts.CrossReference{Metadata: md, System: contracts.SourceSystemCRM, SystemID: "a1", GoldenID: "G1",
			Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: "100042"}}},
			[]observation{{"A:a1", match.EvXrefLinked}}},
		{contracts.TopicOpsExceptionsV1, "x1", &contracts.OperationalException{Metadata: md, ExceptionID: "x1", Category: contracts.ExceptionCategoryCreditHold,
			Queue: contracts.ExceptionQueueFinanceOps, Severity: contracts.SeverityHigh, Status: contracts.ExceptionStatusOpen, OwnerService: "quote-to-order",
			Summary: "credit hold", EntityIds: map[string]string{"order_id": "o1"}, Context: map[string]string{}, AllowedActions: []string{}},
			[]observation{{"O:o1", match.EvExceptionRaised}}},
		{contracts.TopicCRMCaseV1, "c1", &contracts.Case{Metadata: md, CaseID: "c1", AccountID: "a1", Serial: "SN-1", ServiceType: contracts.ServiceTypeRepair,
			Priority: contracts.SeverityMedium, SLATier: "STANDARD", Status: contracts.CaseStatusOpen, OpenedAt: p}, []observation{{"S:c1", match.EvCase}}},
		{contracts.TopicCRMCaseUpdatesV1, "c1", &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventWorkOrder,
			Coverage: contracts.CoverageWarranty, Parts: []contracts.PartUsed{}, ReturnLines: []contracts.ReturnLineUpdate{}},
			[]observation{{"S:c1", match.EvCaseUpdate}}},
		{contracts.TopicERPServiceOrderStatusV1, "c1", &contracts.ServiceOrderStatus{Metadata: md, ServiceOrderID: "c1", CaseID: "c1",
			Status: contracts.ServiceOrderStateScheduled, Parts: []contracts.PartUsed{}}, []observation{{"S:c1", match.EvServiceOrderStatus}}},
		{contracts.TopicERPReturnStatusV1, "c1", &contracts.ReturnStatus{Metadata: md, ReturnID: "c1", Status: contracts.ReturnStateInspected,
			Lines: []contracts.ReturnLineStatus{{LineNumber: 1, SKU: "SKU-1", Received: 2, Accepted: 2}}}, []observation{{"S:c1", match.EvReturnStatus}}},
	}
}

func routed(t *testing.T, res processortest.Result) []observation {
	t.Helper()
	var out []observation
	for _, o := range res.On(ObservationsTopic) {
		ob, err := match.UnmarshalObservation(o.Value)
		if err != nil {
			t.Fatalf("observation %s: %v", o.Value, err)
		}
		if o.Key != ob.Key {
			t.Errorf("observation of %s keyed %q", ob.Key, o.Key)
		}
		out = append(out, observation{ob.Key, ob.Event})
	}
	return out
}

// Every source topic: a record is routed to the match keys of its checks.
func TestRouterRoutesEveryTopic(t *testing.T) {
	k := processortest.New(t, RouterConfig("unit"))
	var covered []string
	for _, tc := range routerHappy() {
		covered = append(covered, tc.topic)
		res := k.SendValue(tc.topic, tc.key, tc.v.(serde.Record))
		if res.Err != nil || len(res.DeadLetters(Name)) != 0 {
			t.Fatalf("%s: err %v, dead letters %d", tc.topic, res.Err, len(res.DeadLetters(Name)))
		}
		if diff := cmp.Diff(tc.want, routed(t, res)); diff != "" {
			t.Errorf("%s: observations (-want +got):\n%s", tc.topic, diff)
		}
	}
	for _, topic := range match.InputTopics {
		if !slices.Contains(covered, topic) {
			t.Errorf("no router test for %s", topic)
		}
	}
}

// Bad input of every source topic: bytes that are no Avro and a schema id
// nobody registered are dead-lettered with their reason; the partition
// flows on (the next record is routed).
func TestRouterDeadLettersUndecodable(t *testing.T) {
	k := processortest.New(t, RouterConfig("unit"))
	unknownSchema := []byte{0, 0, 0, 0x7a, 0x69, 2, 4}
	for _, tc := range routerHappy() {
		for name, value := range map[string][]byte{"bad bytes": []byte("not avro"), "unknown schema id": unknownSchema} {
			res := k.Send(tc.topic, tc.key, value)
			dl := res.DeadLetters(Name)
			if res.Err != nil || len(dl) != 1 || len(res.On(ObservationsTopic)) != 0 {
				t.Fatalf("%s, %s: err %v, outputs %+v", tc.topic, name, res.Err, res.Outputs)
			}
			if got := dl[0].Header(catalog.DLQHeaderErrorClass); got != "poison" {
				t.Errorf("%s, %s: error class %q, want poison", tc.topic, name, got)
			}
			if dl[0].Header(catalog.DLQHeaderErrorReason) == "" || string(dl[0].Value) != string(value) || dl[0].Header(catalog.DLQHeaderTopic) != tc.topic {
				t.Errorf("%s, %s: dead letter %q reason %q topic %q", tc.topic, name, dl[0].Value, dl[0].Header(catalog.DLQHeaderErrorReason), dl[0].Header(catalog.DLQHeaderTopic))
			}
		}
		if got := routed(t, k.SendValue(tc.topic, tc.key, tc.v.(serde.Record))); len(got) == 0 {
			t.Errorf("%s: the record after bad ones was not routed", tc.topic)
		}
	}
	// A tombstone of a compacted topic is nothing to reconcile.
	if res := k.Send(contracts.TopicMDMXrefV1, "CRM:a1", nil); len(res.Outputs) != 0 || res.Err != nil {
		t.Errorf("tombstone: %+v %v", res.Outputs, res.Err)
	}
}

// Invalid business data of every source topic: a field-service record
// without its id or under another key is dead-lettered (missing_id,
// key_mismatch); a record of another topic without the ids a check needs
// is skipped.
func TestRouterInvalidRecords(t *testing.T) {
	md := unitMD("e2", unitT0)
	tests := []struct {
		topic, key string
		v          contracts.Value
		reason     string // "" when skipped
	}{
		{contracts.TopicCRMQuoteV1, "q1", &contracts.Quote{Metadata: md, Status: contracts.QuoteStatusAccepted, Total: unitEUR(1)}, ""},
		{contracts.TopicOrdersLifecycleV1, "o1", &contracts.OrderLifecycle{Metadata: md, OrderID: "o1", State: contracts.OrderStateSubmitted, Total: unitEUR(1)}, ""},
		{contracts.TopicERPOrderCommandsV1, "o1", &contracts.OrderCommand{Metadata: md, Action: contracts.OrderCommandActionCreate, Total: unitEUR(1)}, ""},
		{contracts.TopicERPOrderStatusV1, "o1", &contracts.OrderStatus{Metadata: md, Status: contracts.ErpOrderStateAccepted}, ""},
		{contracts.TopicERPInvoiceV1, "i1", &contracts.Invoice{Metadata: md, InvoiceID: "i1", Status: contracts.InvoiceStatusPosted}, ""},
		{contracts.TopicCRMDealV1, "k1", &contracts.Deal{Metadata: md, DealType: contracts.DealTypeNew, BillingFrequency: contracts.BillingFrequencyMonthly}, ""},
		{contracts.TopicBillingCommandsV1, "k1", &contracts.BillingCommand{Metadata: md, Action: contracts.BillingActionProvision, BillingFrequency: contracts.BillingFrequencyMonthly}, ""},
		{contracts.TopicBillingEventsV1, "k1", &contracts.BillingEvent{Metadata: md, EventType: contracts.BillingEventTypeSubscriptionProvisioned}, ""},
		{contracts.TopicBillingRevenueScheduleV1, "k1", &contracts.RevenueSchedule{Metadata: md}, ""},
		{contracts.TopicERPJournalCommandsV1, "k1", &contracts.JournalCommand{Metadata: md, Kind: contracts.JournalKindInvoice}, ""},
		{contracts.TopicERPJournalV1, "j1", &contracts.Journal{Metadata: md, Status: contracts.JournalStatusPosted}, ""},
		{contracts.TopicCRMAccountV1, "a1", &contracts.Account{Metadata: md, Op: contracts.ChangeOperationUpsert, Status: contracts.AccountStatusCustomer}, ""},
		{contracts.TopicMDMXrefV1, "CRM:a1", &contracts.CrossReference{Metadata: md, System: contracts.SourceSystemCRM, SystemID: "a1", Status: contracts.XrefStatusActive}, ""},
		{contracts.TopicOpsExceptionsV1, "x1", &contracts.OperationalException{Metadata: md, ExceptionID: "x1", Category: contracts.ExceptionCategoryOther,
			Queue: contracts.ExceptionQueueSalesOps, Severity: contracts.SeverityLow, Status: contracts.ExceptionStatusOpen}, ""},
		{contracts.TopicCRMCaseV1, "c1", &contracts.Case{Metadata: md, ServiceType: contracts.ServiceTypeRepair, Priority: contracts.SeverityMedium, SLATier: "STANDARD", Status: contracts.CaseStatusOpen}, "missing_id"},
		{contracts.TopicCRMCaseUpdatesV1, "c2", &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventWorkOrder, Coverage: contracts.CoverageWarranty}, "key_mismatch"},
		{contracts.TopicERPServiceOrderStatusV1, "c1", &contracts.ServiceOrderStatus{Metadata: md, Status: contracts.ServiceOrderStateScheduled}, "missing_id"},
		{contracts.TopicERPReturnStatusV1, "c2", &contracts.ReturnStatus{Metadata: md, ReturnID: "c1", Status: contracts.ReturnStateInspected}, "key_mismatch"},
	}
	k := processortest.New(t, RouterConfig("unit"))
	var covered []string
	for _, tc := range tests {
		covered = append(covered, tc.topic)
		res := k.SendValue(tc.topic, tc.key, tc.v.(serde.Record))
		if res.Err != nil || len(res.On(ObservationsTopic)) != 0 {
			t.Fatalf("%s: err %v, outputs %+v", tc.topic, res.Err, res.Outputs)
		}
		dl := res.DeadLetters(Name)
		if tc.reason == "" {
			if len(dl) != 0 {
				t.Errorf("%s: dead-lettered (%s), want skipped", tc.topic, dl[0].Header(catalog.DLQHeaderErrorReason))
			}
			continue
		}
		if len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != tc.reason {
			t.Errorf("%s: dead letters %+v, want one with reason %s", tc.topic, dl, tc.reason)
		}
	}
	for _, topic := range match.InputTopics {
		if !slices.Contains(covered, topic) {
			t.Errorf("no invalid-record test for %s", topic)
		}
	}
}

var unitSLA = match.SLA{OrderSubmit: time.Minute, ERPAck: time.Minute, Invoice: time.Minute, Provision: time.Minute,
	InvoiceSchedule: time.Minute, Journal: time.Minute, CustomerXref: time.Minute, LedgerSettle: time.Minute,
	ServiceOrder: time.Minute, ServiceCost: time.Minute, ReturnCredit: time.Minute}

func matcherConfig() processor.Config {
	cfg := &Config{SLA: unitSLA, Tick: time.Second, ReportEvery: time.Hour, Retention: 24 * time.Hour}
	cfg.Instance = "unit"
	return MatcherConfig(cfg, slog.New(slog.DiscardHandler))
}

// pipeline routes a source record and hands its observations to the
// matcher, as the internal topic does.
type pipeline struct {
	t       *testing.T
	router  *processortest.Kit
	matcher *processortest.Kit
}

func newPipeline(t *testing.T, matcher processor.Config) *pipeline {
	return &pipeline{t: t, router: processortest.New(t, RouterConfig("unit")), matcher: processortest.New(t, matcher)}
}

func (p *pipeline) send(topic, key string, v contracts.Value) processortest.Result {
	p.t.Helper()
	res := p.router.SendValue(topic, key, v.(serde.Record))
	obs := res.On(ObservationsTopic)
	if res.Err != nil || len(obs) == 0 {
		p.t.Fatalf("%s/%s not routed: %v %+v", topic, key, res.Err, res.Outputs)
	}
	var all processortest.Result
	for _, o := range obs {
		r := p.matcher.SendRecord(processortest.Record{Topic: ObservationsTopic, Key: o.Key, Value: o.Value, Headers: o.Headers})
		if r.Err != nil {
			p.t.Fatalf("matcher: %v", r.Err)
		}
		all.Outputs = append(all.Outputs, r.Outputs...)
		all.Writes = append(all.Writes, r.Writes...)
	}
	return all
}

func breaksOf(t *testing.T, k *processortest.Kit, res processortest.Result) []contracts.ReconBreak {
	t.Helper()
	var out []contracts.ReconBreak
	for _, o := range res.On(contracts.TopicReconBreaksV1) {
		var b contracts.ReconBreak
		k.Decode(o, &b)
		if o.Key != b.BreakID {
			t.Errorf("break %s keyed %q", b.BreakID, o.Key)
		}
		out = append(out, b)
	}
	return out
}

func account(id string, at time.Time) contracts.Value {
	return &contracts.Account{Metadata: unitMD("acct-"+id, at), Op: contracts.ChangeOperationUpsert, AccountID: id, Name: id,
		Status: contracts.AccountStatusCustomer, SourceUpdatedAt: at}
}

// The matcher keeps an expectation in its state, its tick raises the break
// once the deadline passed (and the partition's event time with it), a
// late event closes it, and the report window closes with a report.
func TestMatcherBreaksOnTickAndClosesLate(t *testing.T) {
	p := newPipeline(t, matcherConfig())
	if res := p.send(contracts.TopicCRMAccountV1, "a1", account("a1", unitT0)); len(res.On(contracts.TopicReconBreaksV1)) != 0 {
		t.Fatalf("break before the deadline: %+v", res.Outputs)
	}
	raw, ok := p.matcher.State(match.StoreEntities, match.AccountKey("a1"))
	if !ok || len(raw) == 0 {
		t.Fatal("no entity state for A:a1")
	}
	if res := p.matcher.Tick(unitT0.Add(30 * time.Second)); len(res.On(contracts.TopicReconBreaksV1)) != 0 {
		t.Fatalf("break before the deadline: %+v", res.Outputs)
	}
	// a later event moves the partition's event time past a1's deadline
	p.send(contracts.TopicCRMAccountV1, "a2", account("a2", unitT0.Add(2*time.Minute)))
	opened := breaksOf(t, p.matcher, p.matcher.Tick(unitT0.Add(2*time.Minute)))
	want := match.BreakID(match.AccountKey("a1"), contracts.BreakKindCustomerNotInERP)
	if len(opened) != 1 || opened[0].BreakID != want || opened[0].Kind != contracts.BreakKindCustomerNotInERP || opened[0].Status != contracts.BreakStatusOpen ||
		opened[0].EntityIds["account_id"] != "a1" || opened[0].Metadata.CorrelationID != "corr-acct-a1" {
		t.Fatalf("opened %+v, want a1's CUSTOMER_NOT_IN_ERP", opened)
	}
	if again := p.matcher.Tick(unitT0.Add(3 * time.Minute)); len(again.On(contracts.TopicReconBreaksV1)) != 0 {
		t.Errorf("the break fired twice: %+v", again.Outputs)
	}
	xref := &contracts.CrossReference{Metadata: unitMD("x-a1", unitT0.Add(4*time.Minute)), System: contracts.SourceSystemCRM, SystemID: "a1", GoldenID: "G1",
		Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: "100042"}}}
	closed := breaksOf(t, p.matcher, p.send(contracts.TopicMDMXrefV1, "CRM:a1", xref))
	if len(closed) != 1 || closed[0].BreakID != want || closed[0].Status != contracts.BreakStatusClosed || closed[0].Resolution == nil {
		t.Fatalf("closed %+v, want a1's break CLOSED", closed)
	}
	// a2's deadline is behind the event time now: it breaks at the next
	// tick, which also closes the report window of the first hour.
	last := p.matcher.Tick(unitT0.Add(2 * time.Hour))
	if b := breaksOf(t, p.matcher, last); len(b) != 1 || b[0].EntityIds["account_id"] != "a2" || b[0].Status != contracts.BreakStatusOpen {
		t.Errorf("breaks %+v, want a2's opened", b)
	}
	reports := last.On(contracts.TopicReconReportsV1)
	if len(reports) != 1 {
		t.Fatalf("reports %d, want 1", len(reports))
	}
	var r contracts.ReconReport
	p.matcher.Decode(reports[0], &r)
	if r.BreaksOpened != 2 || r.BreaksClosed != 1 || r.OpenBreaks != 1 || r.ExpectationsOpened != 2 || !r.WindowStart.Equal(unitT0) || reports[0].Key != r.ReportID {
		t.Errorf("report %+v", r)
	}
}

// An observation or a state value the matcher cannot read is our own bug:
// retriable (corrupt_state), nothing applied, nothing dead-lettered or
// skipped; other keys flow on.
func TestMatcherCorruptOwnData(t *testing.T) {
	cfg := matcherConfig()
	const plant = "unit.plant-state"
	cfg.Topics = append(cfg.Topics, plant)
	handle := cfg.Handler
	cfg.Handler = func(ctx context.Context, m *processor.Message) error {
		if m.Topic == plant { // writes a value as a broken release would have
			m.Put(match.StoreEntities, m.Key(), m.Value())
			return nil
		}
		return handle(ctx, m)
	}
	p := newPipeline(t, cfg)
	k := p.matcher
	check := func(name string, res processortest.Result) {
		t.Helper()
		if res.Err == nil || errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != "corrupt_state" {
			t.Fatalf("%s: err %v (class %q reason %q), want retriable corrupt_state", name, res.Err, errs.ClassOf(res.Err), errs.ReasonOf(res.Err))
		}
		if len(res.Outputs) != 0 || len(res.Writes) != 0 {
			t.Fatalf("%s: applied %+v %+v", name, res.Outputs, res.Writes)
		}
	}
	check("undecodable observation", k.Send(ObservationsTopic, "A:a1", []byte("{not json")))
	check("observation without key", k.Send(ObservationsTopic, "A:a1", []byte(`{"ev":"account"}`)))

	if res := k.Send(plant, match.AccountKey("a1"), []byte("{broken")); res.Err != nil {
		t.Fatal(res.Err)
	}
	obs := p.router.SendValue(contracts.TopicCRMAccountV1, "a1", account("a1", unitT0).(serde.Record)).On(ObservationsTopic)
	check("corrupt entity", k.SendRecord(processortest.Record{Topic: ObservationsTopic, Key: obs[0].Key, Value: obs[0].Value}))
	if res := p.send(contracts.TopicCRMAccountV1, "a2", account("a2", unitT0)); len(res.Writes) == 0 {
		t.Error("another key did not flow on")
	}
}
