// Package match is the reconciler's domain: it turns events of the CRM,
// order, billing, field-service, ERP, xref and exception topics into observations keyed by
// a business match key (Route), and keeps per-key expectations with SLA
// deadlines, amount comparisons and the breaks they raise (Engine).
//
// Match keys name one business entity in the reconciliation:
//
//	Q:<quote id>             quote accepted → order submitted, quote vs order total
//	O:<order id>             order submitted → ERP ack, shipped → invoice, order/invoice totals
//	C:<contract id>          deal closed → subscription + invoice schedule, schedule vs journals
//	J:<journal command id>   journal command → journal posted
//	A:<CRM account id>       CRM account → ERP customer id
//	S:<CRM case id>          case opened → ERP service order, service order completed →
//	                         SERVICE_COST journal posted, return inspected → credited
package match

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Event names what an observation means to the reconciliation.
type Event string

// The observation events.
const (
	EvQuoteAccepted      Event = "quote_accepted"
	EvOrderProgressed    Event = "order_progressed" // lifecycle reached SUBMITTED or later
	EvOrderCommand       Event = "order_command"
	EvERPOrderStatus     Event = "erp_order_status"
	EvInvoicePosted      Event = "invoice_posted"
	EvDealClosed         Event = "deal_closed"
	EvBillingCommand     Event = "billing_command"
	EvBillingEvent       Event = "billing_event"
	EvRevenueSchedule    Event = "revenue_schedule"
	EvJournalCommand     Event = "journal_command"
	EvJournal            Event = "journal"
	EvAccount            Event = "account"
	EvXrefLinked         Event = "xref_linked"
	EvExceptionRaised    Event = "exception"
	EvLedgerCommanded    Event = "ledger_commanded" // journal command seen at its contract
	EvLedgerPosted       Event = "ledger_posted"    // journal outcome seen at its contract
	EvCase               Event = "case"             // CRM service case (Kind: CaseKindService or CaseKindReturn)
	EvCaseUpdate         Event = "case_update"      // field-service's update for CRM (Status: event, Kind: coverage)
	EvServiceOrderStatus Event = "service_order_status"
	EvReturnStatus       Event = "return_status"        // Units: units inspection accepted
	EvServiceCostJournal Event = "service_cost_journal" // ERP's answer to a SERVICE_COST journal, seen at its case
)

// Money is an exact amount in minor units of an ISO-4217 currency.
type Money struct {
	Minor    int64  `json:"m"`
	Currency string `json:"c"`
}

func (m Money) String() string { return fmt.Sprintf("%d %s", m.Minor, m.Currency) }

// Contract returns the contracts type.
func (m Money) Contract() *contracts.Money {
	return &contracts.Money{AmountMinor: m.Minor, Currency: m.Currency}
}

func fromContract(m contracts.Money) Money { return Money{Minor: m.AmountMinor, Currency: m.Currency} }

// PeriodAmount is an expected or posted amount of one period.
type PeriodAmount struct {
	Period string `json:"p"` // period start, 2006-01-02
	Amount Money  `json:"a"`
}

// Observation is what the router emits on the internal re-key topic, keyed
// by Key: one source event as seen by one match key.
type Observation struct {
	Key           string            `json:"key"`
	Event         Event             `json:"ev"`
	Topic         string            `json:"topic"`
	EventID       string            `json:"eid"`
	CorrelationID string            `json:"cid,omitempty"`
	At            int64             `json:"at"` // occurred_at, unix millis
	Status        string            `json:"st,omitempty"`
	Detail        string            `json:"d,omitempty"`
	Ref           string            `json:"ref,omitempty"` // invoice id, journal command id, exception id, amendment
	Kind          string            `json:"kind,omitempty"`
	Period        string            `json:"per,omitempty"`
	Units         int64             `json:"n,omitempty"`
	Amount        *Money            `json:"amt,omitempty"`
	Schedule      []PeriodAmount    `json:"sched,omitempty"`
	IDs           map[string]string `json:"ids,omitempty"`
}

// Marshal encodes the observation for the internal topic.
func (o *Observation) Marshal() ([]byte, error) { return json.Marshal(o) }

// UnmarshalObservation decodes an internal-topic value.
func UnmarshalObservation(b []byte) (*Observation, error) {
	var o Observation
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("observation: %w", err)
	}
	if o.Key == "" || o.Event == "" {
		return nil, fmt.Errorf("observation: missing key or event")
	}
	return &o, nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
