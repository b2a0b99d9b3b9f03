// Package returns holds the return policy and the credit rules of field
// service's returns (RMA): which requested units may come back, on which
// terms, and what the customer is credited for the units inspection
// accepts. Pure: no I/O; amounts in minor units of one currency.
package returns

import (
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Refusal codes of the policy (CRM sees them on the case update).
const (
	AssetUnknown        = "ASSET_UNKNOWN"
	AssetNotOwned       = "ASSET_NOT_OWNED"
	AlreadyReturned     = "ALREADY_RETURNED"
	AssetDecommissioned = "ASSET_DECOMMISSIONED"
	SKUMismatch         = "SKU_MISMATCH"
	OutsideReturnWindow = "OUTSIDE_RETURN_WINDOW"
	PurchaseDateUnknown = "PURCHASE_DATE_UNKNOWN"
	DuplicateSerial     = "DUPLICATE_SERIAL"
	// InspectionRefused: ERP's inspection refused every unit.
	InspectionRefused = "INSPECTION_REFUSED"
)

const (
	hoursPerDay = 24 * time.Hour
	basisPoints = 10_000
)

// Policy is the return policy.
type Policy struct {
	// WindowDays: goods may come back for any reason within this many
	// days of purchase (delivery or installation).
	WindowDays int
	// RestockingFeeBps is kept from the credit of goods returned by the
	// customer's choice (NOT_NEEDED), in basis points.
	RestockingFeeBps int64
}

// Asset is what the installed base says about one serial.
type Asset struct {
	Serial        string    `json:"serial"`
	SKU           string    `json:"sku"`
	ERPCustomerID string    `json:"erp_customer_id"`
	Status        string    `json:"status"`                // INSTALLED, DECOMMISSIONED, RETURNED
	Installed     time.Time `json:"installed,omitzero"`    // zero when unknown
	WarrantyEnd   time.Time `json:"warranty_end,omitzero"` // last day covered; zero: none
}

// Line is one requested line.
type Line struct {
	Number       int       `json:"number"` // 1-based, in the order of the request
	OrderLine    *int      `json:"order_line,omitempty"`
	SKU          string    `json:"sku"`
	Quantity     int64     `json:"quantity"`
	Serials      []string  `json:"serials,omitempty"`
	UnitPrice    int64     `json:"unit_price"`
	Reason       string    `json:"reason"`
	PurchasedAt  time.Time `json:"purchased_at,omitzero"`
	Subscription bool      `json:"subscription,omitempty"`
}

// SellersFault tells whether the reason is the seller's fault (defective,
// damaged, wrong item): such goods may also come back while under warranty
// and carry no restocking fee.
func SellersFault(reason string) bool {
	switch reason {
	case contracts.ReturnReasonDefective, contracts.ReturnReasonDamaged, contracts.ReturnReasonWrongItem:
		return true
	}
	return false
}

// Decision is the policy's answer for one line.
type Decision struct {
	Number     int      `json:"number"`
	Authorised int64    `json:"authorised"`
	Serials    []string `json:"serials,omitempty"` // authorised serials
	Refused    int64    `json:"refused,omitempty"`
	Reason     string   `json:"reason,omitempty"` // refusal code of the (first) refused unit
	Message    string   `json:"message,omitempty"`
	FeeBps     int64    `json:"fee_bps,omitempty"`
}

// Validate names what is wrong with a request's lines (malformed data, not
// a policy matter), or "".
func Validate(currency string, lines []contracts.ReturnRequestLine) string {
	if currency == "" {
		return "return_request.currency is empty"
	}
	if len(lines) == 0 {
		return "return_request has no lines"
	}
	for i, l := range lines {
		n := i + 1
		switch {
		case l.SKU == "":
			return fmt.Sprintf("return line %d: sku is empty", n)
		case l.Quantity <= 0:
			return fmt.Sprintf("return line %d: quantity %d, must be positive", n, l.Quantity)
		case len(l.Serials) > 0 && int64(len(l.Serials)) != l.Quantity:
			return fmt.Sprintf("return line %d: %d serials for %d units (serialised goods name every unit)", n, len(l.Serials), l.Quantity)
		case l.UnitPrice.AmountMinor < 0:
			return fmt.Sprintf("return line %d: negative unit price %d", n, l.UnitPrice.AmountMinor)
		case l.UnitPrice.Currency != currency:
			return fmt.Sprintf("return line %d: price in %q, the return in %q", n, l.UnitPrice.Currency, currency)
		}
	}
	return ""
}

// Lines turns a request's lines into the policy's.
func Lines(in []contracts.ReturnRequestLine) []Line {
	out := make([]Line, 0, len(in))
	for i, l := range in {
		reason := l.Reason
		if reason == "" {
			reason = contracts.ReturnReasonUnknown
		}
		ln := Line{Number: i + 1, OrderLine: l.OrderLineNumber, SKU: l.SKU, Quantity: l.Quantity, Serials: append([]string(nil), l.Serials...),
			UnitPrice: l.UnitPrice.AmountMinor, Reason: reason, Subscription: l.Subscription}
		if l.PurchasedAt != nil {
			ln.PurchasedAt = l.PurchasedAt.UTC()
		}
		out = append(out, ln)
	}
	return out
}

// Serials lists the serials the request names, each once, in order.
func Serials(lines []Line) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		for _, s := range l.Serials {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Decide applies the policy to every line, on day (the day the request was
// opened), for the customer, with the installed base's view of the serials
// (a serial missing from assets is unknown). Serialised units are decided
// one by one; other units line by line.
func Decide(p Policy, customer string, day time.Time, lines []Line, assets map[string]Asset) []Decision {
	out := make([]Decision, 0, len(lines))
	seen := map[string]bool{}
	for _, l := range lines {
		d := Decision{Number: l.Number}
		refuse := func(units int64, code, msg string) {
			d.Refused += units
			if d.Reason == "" {
				d.Reason, d.Message = code, msg
			}
		}
		if len(l.Serials) == 0 {
			if code, msg := window(p, l, day, l.PurchasedAt, time.Time{}); code != "" {
				refuse(l.Quantity, code, msg)
			} else {
				d.Authorised = l.Quantity
			}
		}
		for _, s := range l.Serials {
			if seen[s] {
				refuse(1, DuplicateSerial, "serial "+s+" is named twice in the request")
				continue
			}
			seen[s] = true
			a, ok := assets[s]
			switch {
			case !ok:
				refuse(1, AssetUnknown, "serial "+s+" is not in the installed base")
				continue
			case a.ERPCustomerID != customer:
				refuse(1, AssetNotOwned, "serial "+s+" belongs to another customer")
				continue
			case a.Status == contracts.AssetStatusReturned:
				refuse(1, AlreadyReturned, "serial "+s+" was returned before")
				continue
			case a.Status == contracts.AssetStatusDecommissioned:
				refuse(1, AssetDecommissioned, "serial "+s+" is decommissioned")
				continue
			case a.SKU != "" && a.SKU != l.SKU:
				refuse(1, SKUMismatch, fmt.Sprintf("serial %s is a %s, not a %s", s, a.SKU, l.SKU))
				continue
			}
			bought := l.PurchasedAt
			if bought.IsZero() {
				bought = a.Installed
			}
			if code, msg := window(p, l, day, bought, a.WarrantyEnd); code != "" {
				refuse(1, code, "serial "+s+": "+msg)
				continue
			}
			d.Authorised++
			d.Serials = append(d.Serials, s)
		}
		if d.Authorised > 0 && !SellersFault(l.Reason) {
			d.FeeBps = p.RestockingFeeBps
		}
		out = append(out, d)
	}
	return out
}

// window is why the line's goods bought on bought may not come back on day
// ("" when they may): within the window for any reason; a seller's fault
// also while under warranty, or when the purchase date is unknown (the
// inspection decides); the customer's choice needs a known purchase date.
func window(p Policy, l Line, day, bought, warrantyEnd time.Time) (code, msg string) {
	fault := SellersFault(l.Reason)
	if bought.IsZero() {
		if fault {
			return "", ""
		}
		return PurchaseDateUnknown, "no purchase date for a return by the customer's choice"
	}
	last := dayOf(bought).Add(time.Duration(p.WindowDays) * hoursPerDay)
	if !dayOf(day).After(last) {
		return "", ""
	}
	if fault && !warrantyEnd.IsZero() && !dayOf(day).After(dayOf(warrantyEnd)) {
		return "", ""
	}
	return OutsideReturnWindow, fmt.Sprintf("bought %s, more than %d days before %s", bought.Format(time.DateOnly), p.WindowDays, day.Format(time.DateOnly))
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Authorised counts the units the decisions let come back.
func Authorised(ds []Decision) int64 {
	var n int64
	for _, d := range ds {
		n += d.Authorised
	}
	return n
}

// Credit is what the customer is credited for the units inspection
// accepted (accepted: line number → units, at most the authorised ones):
// per line, the units at the price paid less the line's restocking fee,
// rounded half up. Goods and subscriptions are apart, as they take back
// different revenue.
type Credit struct {
	Goods         int64 `json:"goods"`
	Subscriptions int64 `json:"subscriptions"`
}

// Total is the whole credit.
func (c Credit) Total() int64 { return c.Goods + c.Subscriptions }

// CreditFor computes the credit of the accepted units.
func CreditFor(lines []Line, ds []Decision, accepted map[int]int64) Credit {
	var c Credit
	for i, l := range lines {
		if i >= len(ds) {
			break
		}
		n := min(accepted[l.Number], ds[i].Authorised)
		if n <= 0 {
			continue
		}
		amount := (n*l.UnitPrice*(basisPoints-ds[i].FeeBps) + basisPoints/2) / basisPoints
		if l.Subscription {
			c.Subscriptions += amount
		} else {
			c.Goods += amount
		}
	}
	return c
}
