// Package settle turns the cost of a completed service order into balanced
// ledger journals: the cost of the work (parts out of inventory, field labour
// accrued) charged to the coverage's cost centre, the customer's charge for
// billable work, and the manufacturer's refund of warranty work. Pure: no I/O,
// amounts in minor units of one currency, ids derived from the service order
// and the journal's kind so that re-processing yields the same ids.
package settle

import (
	"errors"
	"fmt"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/ledger"
)

// Kind is what a settlement journal records (erp.journal-commands.v1 kind).
type Kind string

// Journal kinds.
const (
	// Cost: Dr cost of service (cost centre of the coverage) / Cr spare
	// parts inventory (parts issued) and Cr accrued field labour (labour).
	Cost Kind = "SERVICE_COST"
	// Charge: Dr accounts receivable / Cr service revenue — the customer
	// pays for billable work.
	Charge Kind = "SERVICE_CHARGE"
	// Recovery: Dr warranty receivable / Cr cost of service — the
	// manufacturer accepted the warranty claim.
	Recovery Kind = "WARRANTY_RECOVERY"
	// Credit: Dr sales returns (goods) and Dr deferred revenue
	// (subscriptions) / Cr accounts receivable — a return's credit memo.
	Credit Kind = "CREDIT"
)

// Accounts is the chart of accounts settlement posts to.
type Accounts struct {
	Receivable         string `json:"receivable"`
	WarrantyReceivable string `json:"warranty_receivable"`
	PartsInventory     string `json:"parts_inventory"`
	AccruedLabour      string `json:"accrued_labour"`
	ServiceRevenue     string `json:"service_revenue"`
	CostOfService      string `json:"cost_of_service"`
	SalesReturns       string `json:"sales_returns"`
	DeferredRevenue    string `json:"deferred_revenue"`
}

// DefaultAccounts is the chart used unless configured.
var DefaultAccounts = Accounts{
	Receivable:         "1200-accounts-receivable",
	WarrantyReceivable: "1300-warranty-receivable",
	PartsInventory:     "1400-spare-parts-inventory",
	AccruedLabour:      "2100-accrued-field-labour",
	ServiceRevenue:     "4100-service-revenue",
	CostOfService:      "5000-cost-of-service",
	SalesReturns:       "4200-sales-returns",
	DeferredRevenue:    "2400-deferred-revenue",
}

// Cost centres of cost of service by coverage; a service contract's cost
// goes to the contract itself.
const (
	CentreWarranty = "FIELD-WARRANTY"
	CentreBillable = "FIELD-BILLABLE"
	CentreGoodwill = "FIELD-GOODWILL"
)

// Journal is one settlement journal for ERP.
type Journal struct {
	ID       string        `json:"id"`
	Kind     Kind          `json:"kind"`
	Currency string        `json:"currency"`
	Text     string        `json:"text"`
	Lines    []ledger.Line `json:"lines"`
}

// Work is what a completed service order cost, in one currency.
type Work struct {
	ServiceOrderID string
	Currency       string
	Parts          int64 // parts issued at standard cost
	Labour         int64 // labour at the field labour rate
}

// Total is the full cost of the work.
func (w Work) Total() int64 { return w.Parts + w.Labour }

// ID is the deterministic id of a settlement journal; attempt > 0 names a
// repost (a new id ERP has not seen, after a rejection). The scheme is
// contracts.FieldServiceJournalID, which the reconciler reads back.
func ID(serviceOrderID string, kind Kind, attempt int) string {
	return contracts.FieldServiceJournalID(serviceOrderID, string(kind), attempt)
}

// ErrNoCost is returned for work that cost nothing: no journal to post.
var ErrNoCost = errors.New("settle: the work cost nothing")

// CostJournal books the cost of the work to centre: Dr cost of service,
// Cr parts inventory (when parts were issued) and Cr accrued labour (when
// labour was recorded).
func CostJournal(a Accounts, w Work, centre string) (Journal, error) {
	if err := w.check(); err != nil {
		return Journal{}, err
	}
	j := Journal{ID: ID(w.ServiceOrderID, Cost, 0), Kind: Cost, Currency: w.Currency, Text: "Field service cost of " + w.ServiceOrderID}
	j.Lines = append(j.Lines, ledger.Line{Account: a.CostOfService, Debit: w.Total(), CostCentre: centre, Text: "cost of service"})
	if w.Parts > 0 {
		j.Lines = append(j.Lines, ledger.Line{Account: a.PartsInventory, Credit: w.Parts, Text: "spare parts issued"})
	}
	if w.Labour > 0 {
		j.Lines = append(j.Lines, ledger.Line{Account: a.AccruedLabour, Credit: w.Labour, Text: "field labour"})
	}
	return j, j.Check()
}

// ChargeAmount is what the customer pays for billable work: its cost plus
// a markup in basis points, rounded half up.
func ChargeAmount(w Work, markupBps int64) int64 {
	t := w.Total()
	return t + (t*markupBps+5000)/10000
}

// ChargeJournal charges the customer amount: Dr receivables / Cr service
// revenue.
func ChargeJournal(a Accounts, w Work, amount int64) (Journal, error) {
	if amount <= 0 {
		return Journal{}, ErrNoCost
	}
	j := Journal{ID: ID(w.ServiceOrderID, Charge, 0), Kind: Charge, Currency: w.Currency, Text: "Field service charge for " + w.ServiceOrderID,
		Lines: []ledger.Line{
			{Account: a.Receivable, Debit: amount, Text: "service charge"},
			{Account: a.ServiceRevenue, Credit: amount, Text: "service revenue"},
		}}
	return j, j.Check()
}

// RecoveryJournal books the manufacturer's refund of warranty work:
// Dr warranty receivable / Cr cost of service (warranty cost centre).
func RecoveryJournal(a Accounts, w Work, amount int64) (Journal, error) {
	if amount <= 0 {
		return Journal{}, ErrNoCost
	}
	j := Journal{ID: ID(w.ServiceOrderID, Recovery, 0), Kind: Recovery, Currency: w.Currency, Text: "Warranty recovery for " + w.ServiceOrderID,
		Lines: []ledger.Line{
			{Account: a.WarrantyReceivable, Debit: amount, Text: "warranty claim accepted"},
			{Account: a.CostOfService, Credit: amount, CostCentre: CentreWarranty, Text: "cost recovered"},
		}}
	return j, j.Check()
}

// CreditJournal books a return's credit memo: the customer owes goods +
// subscriptions less (Cr receivables); returned goods reverse their sale
// through sales returns, returned subscriptions take back the revenue still
// deferred (Dr deferred revenue).
func CreditJournal(a Accounts, returnID, currency string, goods, subscriptions int64) (Journal, error) {
	switch {
	case returnID == "":
		return Journal{}, errors.New("settle: no return id")
	case len(currency) != 3:
		return Journal{}, fmt.Errorf("settle: currency %q is not an ISO-4217 code", currency)
	case goods < 0 || subscriptions < 0:
		return Journal{}, fmt.Errorf("settle: negative credit (goods %d, subscriptions %d)", goods, subscriptions)
	case goods+subscriptions == 0:
		return Journal{}, ErrNoCost
	}
	j := Journal{ID: ID(returnID, Credit, 0), Kind: Credit, Currency: currency, Text: "Credit memo for return " + returnID}
	if goods > 0 {
		j.Lines = append(j.Lines, ledger.Line{Account: a.SalesReturns, Debit: goods, Text: "goods returned"})
	}
	if subscriptions > 0 {
		j.Lines = append(j.Lines, ledger.Line{Account: a.DeferredRevenue, Debit: subscriptions, Text: "subscription returned: deferred revenue taken back"})
	}
	j.Lines = append(j.Lines, ledger.Line{Account: a.Receivable, Credit: goods + subscriptions, Text: "credit memo"})
	return j, j.Check()
}

// Repost is j again under a new id (attempt > 0), for a rejected posting.
func Repost(j Journal, serviceOrderID string, attempt int) Journal {
	r := j
	r.ID = ID(serviceOrderID, j.Kind, attempt)
	r.Lines = append([]ledger.Line(nil), j.Lines...)
	return r
}

func (w Work) check() error {
	switch {
	case w.ServiceOrderID == "":
		return errors.New("settle: no service order id")
	case len(w.Currency) != 3:
		return fmt.Errorf("settle: currency %q is not an ISO-4217 code", w.Currency)
	case w.Parts < 0 || w.Labour < 0:
		return fmt.Errorf("settle: negative cost (parts %d, labour %d)", w.Parts, w.Labour)
	case w.Total() == 0:
		return ErrNoCost
	}
	return nil
}

// Check verifies that the journal may be posted (ledger.Check).
func (j Journal) Check() error { return ledger.Check(j.ID, j.Currency, j.Lines) }

// Effect is the net debit of account over journals (debits minus credits).
func Effect(account string, js ...Journal) int64 {
	var n int64
	for _, j := range js {
		n += ledger.Effect(account, j.Lines...)
	}
	return n
}
