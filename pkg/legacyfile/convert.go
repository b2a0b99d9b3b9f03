package legacyfile

import (
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// The records of each kind as contract values, both ways. A value read
// from a row has no metadata: the reader sets it.

// Ref is what a request carries for its answers to echo: the flow's
// correlation id and the routing mode it was sent under.
type Ref struct {
	Correlation string
	Route       string
}

func refOf(r Row, kind string) Ref {
	return Ref{Correlation: r.Field(kind, "correlation_id"), Route: r.Field(kind, "route")}
}

func opt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func i64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64) // checked by Parse
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func addressFields(a *contracts.Address) []string {
	if a == nil {
		return []string{"", "", "", "", "", ""}
	}
	return []string{a.Line1, opt(a.Line2), a.City, opt(a.Region), opt(a.PostalCode), a.Country}
}

func address(r Row, kind, prefix string) *contracts.Address {
	a := contracts.Address{Line1: r.Field(kind, prefix+"line1"), Line2: ptr(r.Field(kind, prefix+"line2")), City: r.Field(kind, prefix+"city"),
		Region: ptr(r.Field(kind, prefix+"region")), PostalCode: ptr(r.Field(kind, prefix+"postal_code")), Country: r.Field(kind, prefix+"country")}
	if a.Line1 == "" && a.City == "" && a.Country == "" {
		return nil
	}
	return &a
}

// CustomerRequestRow is a customer command sent under route as a CUSTREQ
// record.
func CustomerRequestRow(c *contracts.CustomerCommand, route string) Row {
	f := []string{c.CommandID, c.Action, c.GoldenID, opt(c.ERPCustomerID), opt(c.CRMAccountID), c.Name, opt(c.LegalName), opt(c.ParentERPCustomerID), opt(c.TaxID)}
	f = append(f, addressFields(c.BillingAddress)...)
	f = append(f, addressFields(c.ShippingAddress)...)
	f = append(f, opt(c.Phone), opt(c.Email), opt(c.Industry), opt(c.Territory), opt(c.OwnerID), strings.Join(c.ChangedFields, ";"), c.Metadata.CorrelationID, route)
	return Row{Type: "C", Fields: f}
}

// CustomerRequest is a CUSTREQ record as a customer command and its
// reference.
func CustomerRequest(r Row) (contracts.CustomerCommand, Ref) {
	k := KindCustomerRequests
	c := contracts.CustomerCommand{
		CommandID: r.Field(k, "command_id"), Action: r.Field(k, "action"), GoldenID: r.Field(k, "golden_id"),
		ERPCustomerID: ptr(r.Field(k, "erp_customer_id")), CRMAccountID: ptr(r.Field(k, "crm_account_id")), Name: r.Field(k, "name"),
		LegalName: ptr(r.Field(k, "legal_name")), ParentERPCustomerID: ptr(r.Field(k, "parent_erp_customer_id")), TaxID: ptr(r.Field(k, "tax_id")),
		BillingAddress: address(r, k, "bill_"), ShippingAddress: address(r, k, "ship_"),
		Phone: ptr(r.Field(k, "phone")), Email: ptr(r.Field(k, "email")), Industry: ptr(r.Field(k, "industry")), Territory: ptr(r.Field(k, "territory")),
		OwnerID: ptr(r.Field(k, "owner_id")), ChangedFields: []string{},
	}
	if cf := r.Field(k, "changed_fields"); cf != "" {
		c.ChangedFields = strings.Split(cf, ";")
	}
	return c, refOf(r, k)
}

// CustomerRow is a customer master record as a CUSTMAS record echoing ref.
func CustomerRow(c *contracts.Customer, ref Ref) Row {
	var limit, cur string
	if c.CreditLimit != nil {
		limit, cur = itoa(c.CreditLimit.AmountMinor), c.CreditLimit.Currency
	}
	if c.Currency != nil {
		cur = *c.Currency
	}
	f := []string{c.ERPCustomerID, opt(c.GoldenID), opt(c.CommandID), opt(c.CRMAccountID), c.Op, c.Name, opt(c.LegalName), opt(c.ParentERPCustomerID), opt(c.TaxID), strconv.FormatBool(c.TaxExempt)}
	f = append(f, addressFields(c.BillingAddress)...)
	f = append(f, addressFields(c.ShippingAddress)...)
	f = append(f, opt(c.Phone), opt(c.Email), opt(c.Industry), opt(c.Territory), cur, opt(c.PaymentTerms), c.CreditStatus, limit,
		c.SourceUpdatedAt.UTC().Format(time.RFC3339), ref.Correlation, ref.Route)
	return Row{Type: "M", Fields: f}
}

// Customer is a CUSTMAS record as a customer master record and the
// reference it echoes.
func Customer(r Row) (contracts.Customer, Ref) {
	k := KindCustomers
	updated, _ := time.Parse(time.RFC3339, r.Field(k, "updated_at"))
	c := contracts.Customer{
		Op: r.Field(k, "op"), ERPCustomerID: r.Field(k, "erp_customer_id"), CRMAccountID: ptr(r.Field(k, "crm_account_id")),
		GoldenID: ptr(r.Field(k, "golden_id")), CommandID: ptr(r.Field(k, "command_id")), Name: r.Field(k, "name"),
		LegalName: ptr(r.Field(k, "legal_name")), ParentERPCustomerID: ptr(r.Field(k, "parent_erp_customer_id")), TaxID: ptr(r.Field(k, "tax_id")),
		TaxExempt: r.Field(k, "tax_exempt") == "true", BillingAddress: address(r, k, "bill_"), ShippingAddress: address(r, k, "ship_"),
		Phone: ptr(r.Field(k, "phone")), Email: ptr(r.Field(k, "email")), Industry: ptr(r.Field(k, "industry")), Territory: ptr(r.Field(k, "territory")),
		Currency: ptr(r.Field(k, "currency")), PaymentTerms: ptr(r.Field(k, "payment_terms")), CreditStatus: r.Field(k, "credit_status"),
		SourceUpdatedAt: updated.UTC(),
	}
	if c.CreditStatus == "" {
		c.CreditStatus = contracts.CreditStatusUnknown
	}
	if l := r.Field(k, "credit_limit_minor"); l != "" {
		c.CreditLimit = &contracts.Money{AmountMinor: i64(l), Currency: r.Field(k, "currency")}
	}
	return c, refOf(r, k)
}

// OrderRows are an order command sent under route as an ORDERS record and
// its lines.
func OrderRows(c *contracts.OrderCommand, route string) []Row {
	date := ""
	if c.RequestedDeliveryDate != nil {
		date = c.RequestedDeliveryDate.UTC().Format(time.DateOnly)
	}
	rows := []Row{{Type: "O", Fields: []string{c.CommandID, c.Action, c.OrderID, c.QuoteID, strconv.Itoa(c.QuoteVersion), strconv.Itoa(c.Attempt), strconv.Itoa(c.Revision),
		c.ERPCustomerID, opt(c.ShipToERPCustomerID), c.Currency, c.Region, opt(c.PaymentTerms), opt(c.CustomerPo), date, itoa(c.Total.AmountMinor),
		opt(c.CreditReservationID), strings.Join(c.Overrides, ";"), c.Metadata.CorrelationID, route}}}
	for _, l := range c.Lines {
		rows = append(rows, Row{Type: "L", Fields: []string{c.OrderID, strconv.Itoa(l.LineNumber), l.SKU, itoa(l.Quantity), itoa(l.ListPrice.AmountMinor),
			itoa(l.UnitPrice.AmountMinor), strconv.Itoa(l.DiscountBps), itoa(l.LineTotal.AmountMinor), l.ShipToCountry}})
	}
	return rows
}

// Order is an order command read from an ORDERS file, with its
// reference.
type Order struct {
	Command contracts.OrderCommand
	Ref     Ref
}

// Orders are the order commands of an ORDERS file.
func Orders(f *File) []Order {
	k := KindOrders
	var out []Order
	for _, r := range f.Rows {
		switch r.Type {
		case "O":
			c := contracts.OrderCommand{
				CommandID: r.Field(k, "command_id"), Action: r.Field(k, "action"), OrderID: r.Field(k, "order_id"), QuoteID: r.Field(k, "quote_id"),
				QuoteVersion: int(i64(r.Field(k, "quote_version"))), Attempt: int(i64(r.Field(k, "attempt"))), Revision: int(i64(r.Field(k, "revision"))),
				ERPCustomerID: r.Field(k, "erp_customer_id"), ShipToERPCustomerID: ptr(r.Field(k, "ship_to_erp_customer_id")), Currency: r.Field(k, "currency"),
				Region: r.Field(k, "region"), PaymentTerms: ptr(r.Field(k, "payment_terms")), CustomerPo: ptr(r.Field(k, "customer_po")),
				Total:               contracts.Money{AmountMinor: i64(r.Field(k, "total_minor")), Currency: r.Field(k, "currency")},
				CreditReservationID: ptr(r.Field(k, "credit_reservation_id")), Lines: []contracts.OrderLine{}, Overrides: []string{},
			}
			if d := r.Field(k, "requested_delivery_date"); d != "" {
				t, _ := time.Parse(time.DateOnly, d)
				c.RequestedDeliveryDate = &t
			}
			if o := r.Field(k, "overrides"); o != "" {
				c.Overrides = strings.Split(o, ";")
			}
			out = append(out, Order{Command: c, Ref: refOf(r, k)})
		case "L":
			o := &out[len(out)-1].Command // checkLines: a line follows its order
			money := func(col string) contracts.Money {
				return contracts.Money{AmountMinor: i64(r.Field(k, col)), Currency: o.Currency}
			}
			o.Lines = append(o.Lines, contracts.OrderLine{LineNumber: int(i64(r.Field(k, "line_number"))), SKU: r.Field(k, "sku"), Quantity: i64(r.Field(k, "quantity")),
				ListPrice: money("list_price_minor"), UnitPrice: money("unit_price_minor"), DiscountBps: int(i64(r.Field(k, "discount_bps"))),
				LineTotal: money("line_total_minor"), ShipToCountry: r.Field(k, "ship_to_country")})
		}
	}
	return out
}

// OrderStatusRows are an order status changed at at, echoing ref, as an
// ORDSTAT record, its lines and its messages.
func OrderStatusRows(s *contracts.OrderStatus, ref Ref, at time.Time) []Row {
	var total, cur string
	if s.Total != nil {
		total, cur = itoa(s.Total.AmountMinor), s.Total.Currency
	}
	rows := []Row{{Type: "S", Fields: []string{s.OrderID, opt(s.CommandID), opt(s.ERPOrderID), s.Status, total, cur, opt(s.InvoiceID), opt(s.ShipmentID),
		at.UTC().Format(time.RFC3339), ref.Correlation, ref.Route}}}
	for _, l := range s.Lines {
		reason := ""
		if l.RejectionReason != nil {
			reason = *l.RejectionReason
		}
		rows = append(rows, Row{Type: "L", Fields: []string{s.OrderID, strconv.Itoa(l.LineNumber), l.SKU, l.Status, reason, itoa(l.QuantityConfirmed), itoa(l.QuantityShipped), opt(l.ERPMessage)}})
	}
	for _, m := range s.Messages {
		line := ""
		if m.LineNumber != nil {
			line = strconv.Itoa(*m.LineNumber)
		}
		rows = append(rows, Row{Type: "X", Fields: []string{s.OrderID, m.Code, m.Text, line}})
	}
	return rows
}

// Status is an order status read from an ORDSTAT file, with the
// reference it echoes and when it changed in the ERP.
type Status struct {
	Status    contracts.OrderStatus
	Ref       Ref
	ChangedAt time.Time
}

// OrderStatuses are the order statuses of an ORDSTAT file.
func OrderStatuses(f *File) []Status {
	k := KindOrderStatus
	var out []Status
	for _, r := range f.Rows {
		switch r.Type {
		case "S":
			at, _ := time.Parse(time.RFC3339, r.Field(k, "changed_at"))
			s := contracts.OrderStatus{OrderID: r.Field(k, "order_id"), CommandID: ptr(r.Field(k, "command_id")), ERPOrderID: ptr(r.Field(k, "erp_order_id")),
				Status: r.Field(k, "status"), InvoiceID: ptr(r.Field(k, "invoice_id")), ShipmentID: ptr(r.Field(k, "shipment_id")),
				Lines: []contracts.OrderLineStatus{}, Messages: []contracts.ERPMessage{}}
			if t := r.Field(k, "total_minor"); t != "" {
				s.Total = &contracts.Money{AmountMinor: i64(t), Currency: r.Field(k, "currency")}
			}
			out = append(out, Status{Status: s, Ref: refOf(r, k), ChangedAt: at.UTC()})
		case "L":
			s := &out[len(out)-1].Status
			l := contracts.OrderLineStatus{LineNumber: int(i64(r.Field(k, "line_number"))), SKU: r.Field(k, "sku"), Status: r.Field(k, "status"),
				RejectionReason: ptr(r.Field(k, "rejection_reason")), ERPMessage: ptr(r.Field(k, "erp_message")),
				QuantityConfirmed: i64(r.Field(k, "quantity_confirmed")), QuantityShipped: i64(r.Field(k, "quantity_shipped"))}
			s.Lines = append(s.Lines, l)
		case "X":
			s := &out[len(out)-1].Status
			m := contracts.ERPMessage{Code: r.Field(k, "code"), Text: r.Field(k, "text")}
			if n := r.Field(k, "line_number"); n != "" {
				v := int(i64(n))
				m.LineNumber = &v
			}
			s.Messages = append(s.Messages, m)
		}
	}
	return out
}
