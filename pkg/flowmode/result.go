package flowmode

import (
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Customer statuses of a path result.
const (
	StatusCreated = "CREATED"
	StatusUpdated = "UPDATED"
)

// ResultKey is the key of a path result and of a parity result.
func ResultKey(flow, entity string) string { return flow + "|" + entity }

// CustomerResult is a path's answer to a customer command as compared
// by the parity check: the master fields a customer command sets or the
// ERP derives from them, never the path's own numbers. created tells the
// first answer for the golden id on this path.
func CustomerResult(path, mode string, authoritative bool, c *contracts.Customer, created bool, md contracts.EventMetadata) contracts.PathResult {
	status := StatusUpdated
	if created {
		status = StatusCreated
	}
	golden := ""
	if c.GoldenID != nil {
		golden = *c.GoldenID
	}
	erpID := c.ERPCustomerID
	f := map[string]string{}
	put := func(k string, v *string) {
		if v != nil && strings.TrimSpace(*v) != "" {
			f[k] = strings.TrimSpace(*v)
		}
	}
	name := c.Name
	put("name", &name)
	put("legal_name", c.LegalName)
	put("tax_id", c.TaxID)
	put("crm_account_id", c.CRMAccountID)
	put("industry", c.Industry)
	put("territory", c.Territory)
	put("currency", c.Currency)
	put("payment_terms", c.PaymentTerms)
	if a := c.BillingAddress; a != nil {
		country, city := a.Country, a.City
		put("country", &country)
		put("city", &city)
		put("postal_code", a.PostalCode)
		put("line1", &a.Line1)
		put("line2", a.Line2)
		put("region", a.Region)
	}
	if c.CreditLimit != nil {
		l := strconv.FormatInt(c.CreditLimit.AmountMinor, 10) + " " + c.CreditLimit.Currency
		put("credit_limit", &l)
	}
	cs := c.CreditStatus
	put("credit_status", &cs)
	return contracts.PathResult{
		Metadata: md, Flow: Customers, EntityID: golden, Path: path, Mode: mode, Authoritative: authoritative,
		CommandID: c.CommandID, ERPID: &erpID, Status: status, Fields: f, Lines: []contracts.OrderLineStatus{},
	}
}

// OrderResult is a path's decision on an order as compared by the parity
// check: the order state, each line's decision and the accepted total.
// ERP messages are the path's own words and are not compared.
func OrderResult(path, mode string, authoritative bool, s *contracts.OrderStatus, md contracts.EventMetadata) contracts.PathResult {
	lines := make([]contracts.OrderLineStatus, len(s.Lines))
	for i, l := range s.Lines {
		l.ERPMessage = nil
		lines[i] = l
	}
	return contracts.PathResult{
		Metadata: md, Flow: Orders, EntityID: s.OrderID, Path: path, Mode: mode, Authoritative: authoritative,
		CommandID: s.CommandID, ERPID: s.ERPOrderID, Status: s.Status, Fields: map[string]string{}, Lines: lines, Total: s.Total,
	}
}

// Decided reports whether an order status is a decision on a command
// (ACCEPTED, PARTIALLY_REJECTED, REJECTED, CANCELLED): the statuses a path
// reports on erp.path-results.v1. Receipt, shipment and invoice are not.
func Decided(status string) bool {
	switch status {
	case contracts.ErpOrderStateAccepted, contracts.ErpOrderStatePartiallyRejected, contracts.ErpOrderStateRejected, contracts.ErpOrderStateCancelled:
		return true
	}
	return false
}

// Tally counts entities of a flow by their latest parity verdict
// (recon.parity.v1): the figures the dashboard and `isthmus recon parity`
// show.
type Tally struct {
	// Compared counts the entities with a verdict (any).
	Compared      int `json:"compared"`
	Match         int `json:"match"`
	Different     int `json:"different"`
	MissingLegacy int `json:"missing_legacy"`
	MissingNew    int `json:"missing_new"`
}

// Add counts one entity's latest verdict.
func (t *Tally) Add(verdict string) {
	t.Compared++
	switch verdict {
	case contracts.ParityVerdictMatch:
		t.Match++
	case contracts.ParityVerdictDifferent:
		t.Different++
	case contracts.ParityVerdictMissingLegacy:
		t.MissingLegacy++
	case contracts.ParityVerdictMissingNew:
		t.MissingNew++
	}
}
