package erp

import (
	"strings"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// The ERP's answers built from its decisions, without metadata: each ERP
// path of the simulator (the topic-boundary ERP of internal/sim and the
// drop-folder legacy ERP of internal/legacyerp) builds the same business
// answer from the same decision, and sets its own metadata and numbers.

// Report is the status of an order decided as d, reported in state status
// (the decision's own, SHIPPED, INVOICED or CANCELLED) under the ERP order
// number erpOrderID: each line's status, confirmed and shipped quantity,
// rejection reason and message, the decision's messages and extra, and the
// accepted total. The caller sets metadata, shipment and invoice.
func (d OrderDecision) Report(cmd *contracts.OrderCommand, erpOrderID, status string, extra ...contracts.ERPMessage) *contracts.OrderStatus {
	cmdID := cmd.CommandID
	v := &contracts.OrderStatus{
		OrderID:    cmd.OrderID,
		CommandID:  &cmdID,
		ERPOrderID: &erpOrderID,
		Status:     status,
		Messages:   append(append([]contracts.ERPMessage{}, d.Messages...), extra...),
		Total:      &contracts.Money{AmountMinor: d.AcceptedTotal, Currency: cmd.Currency},
		Lines:      []contracts.OrderLineStatus{},
	}
	for _, ld := range d.Lines {
		ls := contracts.OrderLineStatus{LineNumber: ld.Line.LineNumber, SKU: ld.Line.SKU}
		if ld.Reason != "" {
			r, msg := ld.Reason, ld.Message
			ls.Status, ls.RejectionReason, ls.ERPMessage = contracts.LineStatusRejected, &r, &msg
		} else {
			ls.QuantityConfirmed = ld.Line.Quantity
			switch status {
			case contracts.ErpOrderStateShipped:
				ls.Status, ls.QuantityShipped = contracts.LineStatusShipped, ld.Line.Quantity
			case contracts.ErpOrderStateInvoiced:
				ls.Status, ls.QuantityShipped = contracts.LineStatusInvoiced, ld.Line.Quantity
			case contracts.ErpOrderStateCancelled:
				ls.Status = contracts.LineStatusCancelled
			default:
				ls.Status = contracts.LineStatusAccepted
			}
		}
		v.Lines = append(v.Lines, ls)
	}
	return v
}

// NewCustomer is the customer master the ERP creates for cmd under its
// customer number erpCustomerID, and the terms it gives: NewCustomerTerms
// for the region and currency of the billing country (traffic's
// countries; NA and USD for a country it does not know). The caller sets
// metadata and the update time.
func (r Rules) NewCustomer(cmd *contracts.CustomerCommand, erpCustomerID string) (*contracts.Customer, CustomerTerms) {
	country := ""
	if cmd.BillingAddress != nil {
		country = cmd.BillingAddress.Country
	}
	c, ok := traffic.CountryByCode(strings.ToUpper(country))
	if !ok {
		c = traffic.Country{Region: "NA", Currency: "USD"}
	}
	terms := r.NewCustomerTerms(cmd.GoldenID, c.Region, c.Currency)
	cmdID, golden := cmd.CommandID, cmd.GoldenID
	legal := cmd.LegalName
	if legal == nil {
		legal = &cmd.Name
	}
	return &contracts.Customer{
		Op:                  contracts.ChangeOperationUpsert,
		ERPCustomerID:       erpCustomerID,
		CRMAccountID:        cmd.CRMAccountID,
		GoldenID:            &golden,
		CommandID:           &cmdID,
		Name:                cmd.Name,
		LegalName:           legal,
		ParentERPCustomerID: cmd.ParentERPCustomerID,
		TaxID:               cmd.TaxID,
		BillingAddress:      cmd.BillingAddress,
		ShippingAddress:     cmd.ShippingAddress,
		Phone:               cmd.Phone,
		Email:               cmd.Email,
		Industry:            cmd.Industry,
		Territory:           cmd.Territory,
		Currency:            &terms.Currency,
		PaymentTerms:        &terms.PaymentTerms,
		CreditStatus:        terms.CreditStatus,
		CreditLimit:         &contracts.Money{AmountMinor: terms.CreditLimit, Currency: terms.Currency},
	}, terms
}

// UpdateCustomer is the master record prev after a command for a customer
// the ERP already has: the fields the command carries change, the rest
// stays (an UPDATE of the name does not move the customer to another
// country, currency or credit limit; those are the ERP's, set once at
// creation). prev is not changed; the caller sets metadata and the update
// time.
func UpdateCustomer(prev *contracts.Customer, cmd *contracts.CustomerCommand) *contracts.Customer {
	c := *prev
	cmdID, golden := cmd.CommandID, cmd.GoldenID
	c.GoldenID, c.CommandID = &golden, &cmdID
	if cmd.CRMAccountID != nil {
		c.CRMAccountID = cmd.CRMAccountID
	}
	if cmd.Name != "" {
		c.Name = cmd.Name
	}
	for _, f := range []struct{ dst, src **string }{
		{&c.LegalName, &cmd.LegalName}, {&c.TaxID, &cmd.TaxID}, {&c.Phone, &cmd.Phone}, {&c.Email, &cmd.Email},
		{&c.Industry, &cmd.Industry}, {&c.Territory, &cmd.Territory}, {&c.ParentERPCustomerID, &cmd.ParentERPCustomerID},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	if cmd.BillingAddress != nil {
		c.BillingAddress = cmd.BillingAddress
	}
	if cmd.ShippingAddress != nil {
		c.ShippingAddress = cmd.ShippingAddress
	}
	return &c
}
