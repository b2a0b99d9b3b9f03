package match

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func TestRoute(t *testing.T) {
	md := contracts.EventMetadata{EventID: "e1", CorrelationID: "c1", OccurredAt: t0}
	at := t0.UnixMilli()
	order, contract := "o1", "k1"
	p := t0
	type kv struct {
		Key string
		Ev  Event
	}
	tests := []struct {
		name  string
		topic string
		v     contracts.Value
		want  []kv
	}{
		{"accepted quote", contracts.TopicCRMQuoteV1, &contracts.Quote{Metadata: md, QuoteID: "q1", Status: contracts.QuoteStatusAccepted}, []kv{{"Q:q1", EvQuoteAccepted}}},
		{"draft quote ignored", contracts.TopicCRMQuoteV1, &contracts.Quote{Metadata: md, QuoteID: "q1", Status: contracts.QuoteStatusDraft}, nil},
		{"lifecycle validating ignored", contracts.TopicOrdersLifecycleV1, &contracts.OrderLifecycle{Metadata: md, OrderID: "o1", QuoteID: "q1", State: contracts.OrderStateValidating}, nil},
		{"lifecycle submitted", contracts.TopicOrdersLifecycleV1, &contracts.OrderLifecycle{Metadata: md, OrderID: "o1", QuoteID: "q1", State: contracts.OrderStateSubmitted}, []kv{{"Q:q1", EvOrderProgressed}}},
		{"order command to order and quote", contracts.TopicERPOrderCommandsV1, &contracts.OrderCommand{Metadata: md, OrderID: "o1", QuoteID: "q1", Action: "CREATE"}, []kv{{"O:o1", EvOrderCommand}, {"Q:q1", EvOrderCommand}}},
		{"invoice with order", contracts.TopicERPInvoiceV1, &contracts.Invoice{Metadata: md, InvoiceID: "i1", OrderID: &order, Status: contracts.InvoiceStatusPosted}, []kv{{"O:o1", EvInvoicePosted}}},
		{"subscription invoice ignored", contracts.TopicERPInvoiceV1, &contracts.Invoice{Metadata: md, InvoiceID: "i1", ContractID: &contract, Status: contracts.InvoiceStatusPosted}, nil},
		{"journal command to journal and contract", contracts.TopicERPJournalCommandsV1, &contracts.JournalCommand{Metadata: md, JournalCommandID: "j1", ContractID: "k1", PeriodStart: &p}, []kv{{"J:j1", EvJournalCommand}, {"C:k1", EvLedgerCommanded}}},
		{"posted journal to contract", contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md, JournalCommandID: "j1", ContractID: &contract, Status: contracts.JournalStatusPosted}, []kv{{"J:j1", EvJournal}, {"C:k1", EvLedgerPosted}}},
		{"rejected journal stays at the journal", contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md, JournalCommandID: "j1", ContractID: &contract, Status: contracts.JournalStatusRejected}, []kv{{"J:j1", EvJournal}}},
		{"xref links every CRM id to ERP", contracts.TopicMDMXrefV1, &contracts.CrossReference{Metadata: md, System: "ERP", SystemID: "100", Status: contracts.XrefStatusActive,
			OtherIds: []contracts.SystemRef{{System: "CRM", ID: "a1"}, {System: "CRM", ID: "a2"}}}, []kv{{"A:a1", EvXrefLinked}, {"A:a2", EvXrefLinked}}},
		{"xref without ERP ignored", contracts.TopicMDMXrefV1, &contracts.CrossReference{Metadata: md, System: "CRM", SystemID: "a1", Status: contracts.XrefStatusActive}, nil},
		{"exception to its entities", contracts.TopicOpsExceptionsV1, &contracts.OperationalException{Metadata: md, ExceptionID: "x1",
			EntityIds: map[string]string{"order_id": "o1", "quote_id": "q1", "other": "z"}}, []kv{{"Q:q1", EvExceptionRaised}, {"O:o1", EvExceptionRaised}}},
		{"billing-bridge's journal exception to its contract and journal", contracts.TopicOpsExceptionsV1, &contracts.OperationalException{Metadata: md, ExceptionID: "x2",
			EntityIds: map[string]string{"contract_id": "k1", "journal_id": "JE/k1/2/2025-03/RECOGNITION"}}, []kv{{"C:k1", EvExceptionRaised}, {"J:JE/k1/2/2025-03/RECOGNITION", EvExceptionRaised}}},
		{"field-service's exception to its case", contracts.TopicOpsExceptionsV1, &contracts.OperationalException{Metadata: md, ExceptionID: "fsv:1:NOT_ENTITLED:c1",
			EntityIds: map[string]string{"case_id": "c1", "serial": "s1"}}, []kv{{"S:c1", EvExceptionRaised}}},
		{"service case", contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md, CaseID: "c1", Status: contracts.CaseStatusOpen}, []kv{{"S:c1", EvCase}}},
		{"return case", contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md, CaseID: "c1", Status: contracts.CaseStatusOpen, ReturnRequest: &contracts.ReturnRequest{Currency: "EUR"}}, []kv{{"S:c1", EvCase}}},
		{"case update: entitlement", contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventEntitlement, Coverage: contracts.CoverageNotEntitled}, []kv{{"S:c1", EvCaseUpdate}}},
		{"case update: work order", contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventWorkOrder}, []kv{{"S:c1", EvCaseUpdate}}},
		{"case update: refused", contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventRefused}, []kv{{"S:c1", EvCaseUpdate}}},
		{"case update: resolved ignored", contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventResolved}, nil},
		{"case update: return step ignored", contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventReturnCredited}, nil},
		{"service order status", contracts.TopicERPServiceOrderStatusV1, &contracts.ServiceOrderStatus{Metadata: md, ServiceOrderID: "c1", CaseID: "c1", Status: contracts.ServiceOrderStateScheduled}, []kv{{"S:c1", EvServiceOrderStatus}}},
		{"return status", contracts.TopicERPReturnStatusV1, &contracts.ReturnStatus{Metadata: md, ReturnID: "c1", Status: contracts.ReturnStateInspected}, []kv{{"S:c1", EvReturnStatus}}},
		{"case without id ignored", contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md, Status: contracts.CaseStatusOpen}, nil},
		{"service cost journal to journal and case", contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md, JournalCommandID: "FS/c1/SERVICE_COST", Status: contracts.JournalStatusPosted}, []kv{{"J:FS/c1/SERVICE_COST", EvJournal}, {"S:c1", EvServiceCostJournal}}},
		{"service cost repost to its case", contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md, JournalCommandID: "FS/a%2Fb/SERVICE_COST/r2", Status: contracts.JournalStatusRejected}, []kv{{"J:FS/a%2Fb/SERVICE_COST/r2", EvJournal}, {"S:a/b", EvServiceCostJournal}}},
		{"service charge journal stays at the journal", contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md, JournalCommandID: "FS/c1/SERVICE_CHARGE", Status: contracts.JournalStatusPosted}, []kv{{"J:FS/c1/SERVICE_CHARGE", EvJournal}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []kv
			for _, o := range Route(tc.topic, tc.v) {
				got = append(got, kv{o.Key, o.Event})
				if o.At != at || o.CorrelationID != "c1" || o.EventID != "e1" {
					t.Errorf("metadata not carried: %+v", o)
				}
				b, err := o.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				back, err := UnmarshalObservation(b)
				if err != nil || !cmp.Equal(*back, o) {
					t.Errorf("round trip: %v %s", err, cmp.Diff(o, *back))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := UnmarshalObservation([]byte(`{"key":""}`)); err == nil {
		t.Error("empty observation accepted")
	}
	_ = time.Second
}

func TestServiceCostCase(t *testing.T) {
	tests := []struct {
		id   string
		want string // "" when the id is not a SERVICE_COST journal of a case
	}{
		{"FS/c1/SERVICE_COST", "c1"},
		{"FS/c1/SERVICE_COST/r1", "c1"},
		{"FS/c1/SERVICE_COST/r12", "c1"},
		{"FS/case%2F7%20b/SERVICE_COST", "case/7 b"},
		{ServiceCostJournalID("x/y?z"), "x/y?z"},
		{"FS/c1/SERVICE_CHARGE", ""},
		{"FS/c1/WARRANTY_RECOVERY", ""},
		{"FS/c1/CREDIT", ""},
		{"FS/c1/SERVICE_COST/r0", ""},
		{"FS/c1/SERVICE_COST/r01", ""},
		{"FS/c1/SERVICE_COST/x1", ""},
		{"FS/c1/SERVICE_COST/r1/r2", ""},
		{"FS//SERVICE_COST", ""},
		{"FS/%zz/SERVICE_COST", ""},
		{"JE/k1/0/2025-03/INVOICE", ""},
		{"c1/SERVICE_COST", ""},
	}
	for _, tc := range tests {
		got, ok := ServiceCostCase(tc.id)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ServiceCostCase(%q) = %q, %v; want %q", tc.id, got, ok, tc.want)
		}
	}
}

func TestRouteFieldServiceDetails(t *testing.T) {
	md := contracts.EventMetadata{EventID: "e1", CorrelationID: "c1", OccurredAt: t0}
	eur := func(n int64) *contracts.Money { return &contracts.Money{AmountMinor: n, Currency: "EUR"} }
	one := func(topic string, v contracts.Value) Observation {
		t.Helper()
		obs := Route(topic, v)
		if len(obs) != 1 {
			t.Fatalf("%T: %d observations, want 1", v, len(obs))
		}
		return obs[0]
	}
	done := one(contracts.TopicERPServiceOrderStatusV1, &contracts.ServiceOrderStatus{Metadata: md, ServiceOrderID: "c1", Status: contracts.ServiceOrderStateCompleted,
		Parts: []contracts.PartUsed{{Quantity: 3, UnitCost: *eur(250)}, {Quantity: 1, UnitCost: *eur(100)}}, LabourCost: eur(4000), TotalCost: eur(1)})
	if diff := cmp.Diff(&Money{Minor: 4850, Currency: "EUR"}, done.Amount); diff != "" {
		t.Errorf("completed cost (parts at standard cost + labour) (-want +got):\n%s", diff)
	}
	if done.IDs["journal_command_id"] != "FS/c1/SERVICE_COST" || done.IDs["case_id"] != "c1" || done.IDs["service_order_id"] != "c1" {
		t.Errorf("ids %v", done.IDs)
	}
	free := one(contracts.TopicERPServiceOrderStatusV1, &contracts.ServiceOrderStatus{Metadata: md, ServiceOrderID: "c1", Status: contracts.ServiceOrderStateCompleted, TotalCost: eur(0)})
	if free.Amount == nil || free.Amount.Minor != 0 || free.IDs["journal_command_id"] != "" {
		t.Errorf("free work: amount %v ids %v, want zero and no journal", free.Amount, free.IDs)
	}
	insp := one(contracts.TopicERPReturnStatusV1, &contracts.ReturnStatus{Metadata: md, ReturnID: "r1", Status: contracts.ReturnStateInspected,
		Lines: []contracts.ReturnLineStatus{{Accepted: 2, Refused: 1}, {Accepted: 0, Refused: 4}, {Accepted: 5}}})
	if insp.Units != 7 || insp.IDs["return_id"] != "r1" {
		t.Errorf("inspection: units %d ids %v, want 7 accepted", insp.Units, insp.IDs)
	}
	rc := one(contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md, CaseID: "r1", Status: contracts.CaseStatusOpen, ReturnRequest: &contracts.ReturnRequest{}})
	if rc.Kind != CaseKindReturn || rc.IDs["return_id"] != "r1" || rc.IDs["service_order_id"] != "" {
		t.Errorf("return case: kind %s ids %v", rc.Kind, rc.IDs)
	}
	sc := one(contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md, CaseID: "c1", Status: contracts.CaseStatusOpen})
	if sc.Kind != CaseKindService || sc.IDs["service_order_id"] != "c1" || sc.IDs["return_id"] != "" {
		t.Errorf("service case: kind %s ids %v", sc.Kind, sc.IDs)
	}
	up := one(contracts.TopicCRMCaseUpdatesV1, &contracts.CaseUpdate{Metadata: md, CaseID: "c1", Event: contracts.CaseEventEntitlement, Coverage: contracts.CoverageNotEntitled})
	if up.Status != contracts.CaseEventEntitlement || up.Kind != contracts.CoverageNotEntitled {
		t.Errorf("case update: status %s kind %s", up.Status, up.Kind)
	}
}

func TestRecordID(t *testing.T) {
	tests := []struct {
		v         contracts.Value
		field, id string
		ok        bool
	}{
		{&contracts.Case{CaseID: "c1"}, "case_id", "c1", true},
		{&contracts.CaseUpdate{CaseID: "c1"}, "case_id", "c1", true},
		{&contracts.ServiceOrderStatus{ServiceOrderID: "c1", CaseID: "other"}, "service_order_id", "c1", true},
		{&contracts.ReturnStatus{}, "return_id", "", true},
		{&contracts.Quote{QuoteID: "q1"}, "", "", false},
	}
	for _, tc := range tests {
		field, id, ok := RecordID(tc.v)
		if field != tc.field || id != tc.id || ok != tc.ok {
			t.Errorf("RecordID(%T) = %q, %q, %v; want %q, %q, %v", tc.v, field, id, ok, tc.field, tc.id, tc.ok)
		}
	}
}
