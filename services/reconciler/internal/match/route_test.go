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
