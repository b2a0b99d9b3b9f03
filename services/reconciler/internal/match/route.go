package match

import (
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// InputTopics are the source topics the router consumes.
var InputTopics = []string{
	contracts.TopicCRMQuoteV1, contracts.TopicOrdersLifecycleV1, contracts.TopicERPOrderCommandsV1,
	contracts.TopicERPOrderStatusV1, contracts.TopicERPInvoiceV1, contracts.TopicCRMDealV1,
	contracts.TopicBillingCommandsV1, contracts.TopicBillingEventsV1, contracts.TopicBillingRevenueScheduleV1,
	contracts.TopicERPJournalCommandsV1, contracts.TopicERPJournalV1, contracts.TopicCRMAccountV1,
	contracts.TopicMDMXrefV1, contracts.TopicOpsExceptionsV1,
	contracts.TopicCRMCaseV1, contracts.TopicCRMCaseUpdatesV1, contracts.TopicERPServiceOrderStatusV1, contracts.TopicERPReturnStatusV1,
}

// Key constructors.
func QuoteKey(id string) string    { return "Q:" + id }
func OrderKey(id string) string    { return "O:" + id }
func ContractKey(id string) string { return "C:" + id }
func JournalKey(id string) string  { return "J:" + id }
func AccountKey(id string) string  { return "A:" + id }

// CaseKey is the key of a CRM service case. Its ERP service order and, for
// a return, its ERP return order carry the case id as their own id.
func CaseKey(id string) string { return "S:" + id }

// Case kinds (Observation.Kind of EvCase).
const (
	CaseKindService = "SERVICE" // field service: expects an ERP service order
	CaseKindReturn  = "RETURN"  // a return (RMA): expects its credit once inspected
)

// ServiceCostJournalID is the journal command id under which field-service
// books the cost of a case's completed service order (docs/field-service.md).
func ServiceCostJournalID(caseID string) string {
	return contracts.FieldServiceJournalID(caseID, contracts.JournalKindServiceCost, 0)
}

// ServiceCostCase returns the case of a field-service SERVICE_COST journal
// command id (contracts.FieldServiceJournalID), first posting or repost; ok
// is false for any other id (billing-bridge's, field-service's other kinds,
// malformed).
func ServiceCostCase(journalCommandID string) (caseID string, ok bool) {
	c, kind, _, ok := contracts.ParseFieldServiceJournalID(journalCommandID)
	if !ok || kind != contracts.JournalKindServiceCost {
		return "", false
	}
	return c, true
}

// RecordID names the id a record of the field-service topics must carry
// and be keyed by (the catalog's key): crm.case.v1 and crm.case-updates.v1
// by case_id, erp.service-order-status.v1 by service_order_id,
// erp.return-status.v1 by return_id. ok is false for other values, whose
// keys the router does not check.
func RecordID(v contracts.Value) (field, id string, ok bool) {
	switch e := v.(type) {
	case *contracts.Case:
		return "case_id", e.CaseID, true
	case *contracts.CaseUpdate:
		return "case_id", e.CaseID, true
	case *contracts.ServiceOrderStatus:
		return "service_order_id", e.ServiceOrderID, true
	case *contracts.ReturnStatus:
		return "return_id", e.ReturnID, true
	}
	return "", "", false
}

// progressed are the lifecycle states that mean the order left validation.
var progressed = map[string]bool{
	contracts.OrderStateSubmitted: true, contracts.OrderStateAccepted: true, contracts.OrderStatePartiallyRejected: true,
	contracts.OrderStateRejected: true, contracts.OrderStateShipped: true, contracts.OrderStateInvoiced: true,
	contracts.OrderStateCancelled: true, contracts.OrderStateSuperseded: true,
}

func base(topic string, md contracts.EventMetadata, ev Event, key string) Observation {
	return Observation{Key: key, Event: ev, Topic: topic, EventID: md.EventID, CorrelationID: md.CorrelationID, At: millis(md.OccurredAt)}
}

func ids(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func journalAmount(lines []contracts.JournalLine, currency string) Money {
	var sum int64
	for _, l := range lines {
		sum += l.Debit.AmountMinor
		if currency == "" {
			currency = l.Debit.Currency
		}
	}
	return Money{Minor: sum, Currency: currency}
}

// Route turns one decoded source event into the observations of every match
// key it concerns. Events that matter to no check yield nothing.
func Route(topic string, v contracts.Value) []Observation {
	switch e := v.(type) {
	case *contracts.Quote:
		if e.Status != contracts.QuoteStatusAccepted || e.QuoteID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvQuoteAccepted, QuoteKey(e.QuoteID))
		t := fromContract(e.Total)
		o.Amount = &t
		o.IDs = ids("quote_id", e.QuoteID, "account_id", e.SoldToAccountID, "contract_id", contracts.Deref(e.ContractID))
		return []Observation{o}
	case *contracts.OrderLifecycle:
		if !progressed[e.State] || e.QuoteID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvOrderProgressed, QuoteKey(e.QuoteID))
		o.Status = e.State
		o.IDs = ids("quote_id", e.QuoteID, "order_id", e.OrderID, "account_id", e.CRMAccountID, "erp_customer_id", contracts.Deref(e.ERPCustomerID))
		return []Observation{o}
	case *contracts.OrderCommand:
		if e.OrderID == "" {
			return nil
		}
		t := fromContract(e.Total)
		idm := ids("quote_id", e.QuoteID, "order_id", e.OrderID, "erp_customer_id", e.ERPCustomerID, "command_id", e.CommandID)
		o := base(topic, e.Metadata, EvOrderCommand, OrderKey(e.OrderID))
		o.Status, o.Amount, o.IDs = e.Action, &t, idm
		out := []Observation{o}
		if e.QuoteID != "" {
			q := o
			q.Key = QuoteKey(e.QuoteID)
			out = append(out, q)
		}
		return out
	case *contracts.OrderStatus:
		if e.OrderID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvERPOrderStatus, OrderKey(e.OrderID))
		o.Status = e.Status
		if e.Total != nil {
			t := fromContract(*e.Total)
			o.Amount = &t
		}
		o.IDs = ids("order_id", e.OrderID, "erp_order_id", contracts.Deref(e.ERPOrderID), "invoice_id", contracts.Deref(e.InvoiceID))
		return []Observation{o}
	case *contracts.Invoice:
		if e.OrderID == nil || *e.OrderID == "" || e.Status != contracts.InvoiceStatusPosted {
			return nil
		}
		o := base(topic, e.Metadata, EvInvoicePosted, OrderKey(*e.OrderID))
		t := fromContract(e.NetTotal)
		o.Amount, o.Ref, o.Status = &t, e.InvoiceID, e.Status
		o.IDs = ids("order_id", *e.OrderID, "invoice_id", e.InvoiceID, "erp_customer_id", e.ERPCustomerID)
		return []Observation{o}
	case *contracts.Deal:
		if e.ContractID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvDealClosed, ContractKey(e.ContractID))
		o.Status, o.Ref = e.DealType, strconv.Itoa(e.AmendmentSequence)
		o.IDs = ids("contract_id", e.ContractID, "deal_id", e.DealID, "account_id", e.AccountID)
		return []Observation{o}
	case *contracts.BillingCommand:
		if e.ContractID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvBillingCommand, ContractKey(e.ContractID))
		o.Status, o.Ref = e.Action, strconv.Itoa(e.AmendmentSequence)
		// The schedule lists the documents dated on or after the effective
		// date; earlier periods are as the previous amendment left them.
		if !e.EffectiveDate.IsZero() {
			o.Period = day(e.EffectiveDate)
		}
		for _, s := range e.InvoiceSchedule {
			o.Schedule = append(o.Schedule, PeriodAmount{Period: day(s.PeriodStart), Amount: fromContract(s.Amount)})
		}
		o.IDs = ids("contract_id", e.ContractID, "account_id", e.AccountID, "erp_customer_id", contracts.Deref(e.ERPCustomerID))
		return []Observation{o}
	case *contracts.BillingEvent:
		if e.ContractID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvBillingEvent, ContractKey(e.ContractID))
		o.Status, o.Detail = e.EventType, contracts.Deref(e.Message)
		if e.AmendmentSequence != nil {
			o.Ref = strconv.Itoa(*e.AmendmentSequence)
		}
		o.IDs = ids("contract_id", e.ContractID, "subscription_id", contracts.Deref(e.SubscriptionID), "invoice_id", contracts.Deref(e.InvoiceID))
		return []Observation{o}
	case *contracts.RevenueSchedule:
		if e.ContractID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvRevenueSchedule, ContractKey(e.ContractID))
		o.Ref = strconv.Itoa(e.AmendmentSequence)
		o.Schedule = []PeriodAmount{{Period: day(e.PeriodStart), Amount: fromContract(e.Recognised)}}
		o.IDs = ids("contract_id", e.ContractID)
		return []Observation{o}
	case *contracts.JournalCommand:
		if e.JournalCommandID == "" {
			return nil
		}
		amt := journalAmount(e.Lines, e.Currency)
		o := base(topic, e.Metadata, EvJournalCommand, JournalKey(e.JournalCommandID))
		o.Kind, o.Ref, o.Amount = e.Kind, e.JournalCommandID, &amt
		if e.PeriodStart != nil {
			o.Period = day(*e.PeriodStart)
		}
		o.IDs = ids("journal_command_id", e.JournalCommandID, "contract_id", e.ContractID, "erp_customer_id", contracts.Deref(e.ERPCustomerID))
		out := []Observation{o}
		if e.ContractID != "" {
			c := o
			c.Key, c.Event = ContractKey(e.ContractID), EvLedgerCommanded
			out = append(out, c)
		}
		return out
	case *contracts.Journal:
		if e.JournalCommandID == "" {
			return nil
		}
		amt := journalAmount(e.Lines, "")
		o := base(topic, e.Metadata, EvJournal, JournalKey(e.JournalCommandID))
		o.Status, o.Ref, o.Amount = e.Status, e.JournalCommandID, &amt
		o.Detail = strings.TrimSpace(contracts.Deref(e.RejectionCode) + " " + contracts.Deref(e.ERPMessage))
		o.IDs = ids("journal_command_id", e.JournalCommandID, "contract_id", contracts.Deref(e.ContractID), "erp_journal_id", contracts.Deref(e.ERPJournalID))
		out := []Observation{o}
		if e.ContractID != nil && *e.ContractID != "" && e.Status == contracts.JournalStatusPosted {
			c := o
			c.Key, c.Event = ContractKey(*e.ContractID), EvLedgerPosted
			out = append(out, c)
		}
		if id, ok := ServiceCostCase(e.JournalCommandID); ok {
			c := o
			c.Key, c.Event = CaseKey(id), EvServiceCostJournal
			c.IDs = ids("journal_command_id", e.JournalCommandID, "case_id", id, "erp_journal_id", contracts.Deref(e.ERPJournalID))
			out = append(out, c)
		}
		return out
	case *contracts.Account:
		if e.AccountID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvAccount, AccountKey(e.AccountID))
		o.Status = e.Op
		o.Ref = contracts.Deref(e.ERPCustomerID)
		o.IDs = ids("account_id", e.AccountID, "erp_customer_id", contracts.Deref(e.ERPCustomerID))
		return []Observation{o}
	case *contracts.CrossReference:
		return routeXref(topic, e)
	case *contracts.OperationalException:
		return routeException(topic, e)
	case *contracts.Case, *contracts.CaseUpdate, *contracts.ServiceOrderStatus, *contracts.ReturnStatus:
		return routeFieldService(topic, e)
	}
	return nil
}

// routeFieldService routes the field-service flows to their case: a case,
// its updates for CRM, its ERP service order and its ERP return order all
// carry the case id.
func routeFieldService(topic string, v contracts.Value) []Observation {
	switch e := v.(type) {
	case *contracts.Case:
		if e.CaseID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvCase, CaseKey(e.CaseID))
		o.Status, o.Kind = e.Status, CaseKindService
		o.IDs = ids("case_id", e.CaseID, "account_id", e.AccountID, "erp_customer_id", contracts.Deref(e.ERPCustomerID))
		if e.ReturnRequest != nil {
			o.Kind = CaseKindReturn
			o.IDs["return_id"] = e.CaseID
		} else {
			o.IDs["service_order_id"] = e.CaseID // the service order ERP must open
		}
		return []Observation{o}
	case *contracts.CaseUpdate:
		if e.CaseID == "" {
			return nil
		}
		switch e.Event {
		case contracts.CaseEventEntitlement, contracts.CaseEventWorkOrder, contracts.CaseEventRefused, contracts.CaseEventCancelled:
		default:
			return nil
		}
		o := base(topic, e.Metadata, EvCaseUpdate, CaseKey(e.CaseID))
		o.Status, o.Kind, o.Detail = e.Event, e.Coverage, contracts.Deref(e.Message)
		o.IDs = ids("case_id", e.CaseID, "service_order_id", contracts.Deref(e.ServiceOrderID), "erp_service_order_id", contracts.Deref(e.ERPServiceOrderID))
		return []Observation{o}
	case *contracts.ServiceOrderStatus:
		if e.ServiceOrderID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvServiceOrderStatus, CaseKey(e.ServiceOrderID))
		o.Status, o.Detail = e.Status, contracts.Deref(e.Message)
		o.IDs = ids("case_id", e.ServiceOrderID, "service_order_id", e.ServiceOrderID, "erp_service_order_id", contracts.Deref(e.ERPServiceOrderID))
		if e.Status == contracts.ServiceOrderStateCompleted {
			cost := serviceCost(e)
			o.Amount = &cost
			if cost.Minor != 0 {
				o.IDs["journal_command_id"] = ServiceCostJournalID(e.ServiceOrderID)
			}
		}
		return []Observation{o}
	case *contracts.ReturnStatus:
		if e.ReturnID == "" {
			return nil
		}
		o := base(topic, e.Metadata, EvReturnStatus, CaseKey(e.ReturnID))
		o.Status, o.Detail = e.Status, contracts.Deref(e.Message)
		for _, l := range e.Lines {
			o.Units += l.Accepted
		}
		if e.CreditAmount != nil {
			a := fromContract(*e.CreditAmount)
			o.Amount = &a
		}
		o.IDs = ids("case_id", e.ReturnID, "return_id", e.ReturnID, "rma_number", contracts.Deref(e.RmaNumber), "credit_memo_id", contracts.Deref(e.CreditMemoID))
		return []Observation{o}
	}
	return nil
}

// serviceCost is the cost of a completed service order as field-service
// books it: the parts at standard cost plus the labour (total_cost only
// names the currency when neither is given).
func serviceCost(e *contracts.ServiceOrderStatus) Money {
	parts, labour, currency := contracts.ServiceOrderWork(e)
	return Money{Minor: parts + labour, Currency: currency}
}

// routeXref emits xref_linked to every CRM account the reference links to
// an ERP customer id.
func routeXref(topic string, e *contracts.CrossReference) []Observation {
	if e.Status != contracts.XrefStatusActive {
		return nil
	}
	refs := append([]contracts.SystemRef{{System: e.System, ID: e.SystemID}}, e.OtherIds...)
	var crm []string
	erp := ""
	for _, r := range refs {
		switch r.System {
		case contracts.SourceSystemCRM:
			crm = append(crm, r.ID)
		case contracts.SourceSystemERP:
			if erp == "" {
				erp = r.ID
			}
		}
	}
	if erp == "" {
		return nil
	}
	var out []Observation
	for _, id := range crm {
		if id == "" {
			continue
		}
		o := base(topic, e.Metadata, EvXrefLinked, AccountKey(id))
		o.Ref = erp
		o.IDs = ids("account_id", id, "erp_customer_id", erp, "golden_id", e.GoldenID)
		out = append(out, o)
	}
	return out
}

// exceptionKeys maps an exception's entity id names to match keys.
var exceptionKeys = []struct {
	name string
	key  func(string) string
}{
	{"quote_id", QuoteKey}, {"order_id", OrderKey}, {"contract_id", ContractKey},
	{"journal_command_id", JournalKey}, {"journal_id", JournalKey}, {"account_id", AccountKey}, {"crm_account_id", AccountKey},
	{"case_id", CaseKey}, {"service_order_id", CaseKey}, {"return_id", CaseKey},
}

func routeException(topic string, e *contracts.OperationalException) []Observation {
	var out []Observation
	seen := map[string]bool{}
	for _, ek := range exceptionKeys {
		id := e.EntityIds[ek.name]
		if id == "" || seen[ek.key(id)] {
			continue
		}
		seen[ek.key(id)] = true
		o := base(topic, e.Metadata, EvExceptionRaised, ek.key(id))
		o.Status, o.Ref, o.Kind, o.Detail = e.Status, e.ExceptionID, e.Queue, e.Category
		o.IDs = ids("exception_id", e.ExceptionID)
		out = append(out, o)
	}
	return out
}
