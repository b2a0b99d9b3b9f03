// Package pricing computes quote prices from price-book entries: list price, volume
// tier, customer-specific discount, net unit price, line total and tax, all in exact
// minor units with half-even rounding.
package pricing

import (
	"errors"
	"fmt"
	"time"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

// Sentinel errors callers test with errors.Is.
var (
	ErrNoPrice         = errors.New("no active price")
	ErrInvalidQuantity = errors.New("quantity must be at least 1")
	ErrBadEntry        = errors.New("inconsistent price-book entry")
)

// Tier is a quantity break: from MinQuantity units on, UnitPrice (minor units)
// applies to every unit of the line.
type Tier struct {
	MinQuantity int64 `json:"min_quantity"`
	UnitPrice   int64 `json:"unit_price"`
}

// Entry is one price-book rule, as read from erp.price-book.v1. CustomerID is empty
// for the standard list price; a customer-specific entry contributes DiscountBps.
type Entry struct {
	PriceBookID string    `json:"price_book_id"`
	Version     int64     `json:"version"`
	SKU         string    `json:"sku"`
	Region      string    `json:"region"`
	Currency    string    `json:"currency"`
	CustomerID  string    `json:"customer_id,omitempty"`
	ListPrice   int64     `json:"list_price"`
	Tiers       []Tier    `json:"tiers,omitempty"` // ordered by MinQuantity
	DiscountBps int32     `json:"discount_bps"`
	TaxRateBps  int32     `json:"tax_rate_bps"`
	ValidFrom   time.Time `json:"valid_from,omitzero"` // zero: always
	ValidTo     time.Time `json:"valid_to,omitzero"`   // zero: open-ended; inclusive day
	Active      bool      `json:"active"`
	AsOf        time.Time `json:"as_of"`
}

// Key is the compacted-topic key of an entry: sku|region|currency[|customer].
func Key(sku, region, currency, customerID string) string {
	k := sku + "|" + region + "|" + currency
	if customerID != "" {
		k += "|" + customerID
	}
	return k
}

// Applies reports whether e is active on day (UTC date).
func (e *Entry) Applies(day time.Time) bool {
	if e == nil || !e.Active {
		return false
	}
	d := day.UTC().Truncate(24 * time.Hour)
	if !e.ValidFrom.IsZero() && d.Before(e.ValidFrom) {
		return false
	}
	if !e.ValidTo.IsZero() && d.After(e.ValidTo) {
		return false
	}
	return true
}

// Line is one requested quote line.
type Line struct {
	SKU      string
	Quantity int64
}

// Request is a quote to price. Entries holds, per SKU, the standard entry and the
// customer-specific entry (either may be nil) for Region and Currency.
type Request struct {
	CustomerID string
	TaxExempt  bool
	Currency   string
	Region     string
	Lines      []Line
	Entries    map[string]Entries
	Day        time.Time
}

// Entries are the entries that can price one SKU.
type Entries struct {
	Standard *Entry
	Customer *Entry
}

// PricedLine is a line with every step of its price (amounts in minor units).
type PricedLine struct {
	Line         int // 1-based
	SKU          string
	Quantity     int64
	PriceBookID  string
	ListPrice    int64
	Tier         *Tier
	DiscountBps  int32
	NetUnitPrice int64
	LineTotal    int64
	TaxRateBps   int32
	Tax          int64
}

// Quote is the priced quote.
type Quote struct {
	Currency         string
	Lines            []PricedLine
	Subtotal         int64
	TaxTotal         int64
	GrandTotal       int64
	PriceBookVersion int64
	AsOf             time.Time // newest entry folded into the answer
}

// LineError is a failure pricing one line.
type LineError struct {
	Line  int    // 1-based
	Field string // "sku" or "quantity"
	Err   error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d %s: %v", e.Line, e.Field, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

const bpsDen = 10000

// Price prices every line of r.
func Price(r Request) (Quote, error) {
	if _, err := money.MinorUnits(r.Currency); err != nil {
		return Quote{}, err
	}
	q := Quote{Currency: r.Currency, Lines: make([]PricedLine, 0, len(r.Lines))}
	for i, l := range r.Lines {
		pl, e, err := priceLine(r, i+1, l)
		if err != nil {
			return Quote{}, err
		}
		q.Lines = append(q.Lines, pl)
		if q.Subtotal, err = money.Add(q.Subtotal, pl.LineTotal); err != nil {
			return Quote{}, fmt.Errorf("subtotal: %w", err)
		}
		if q.TaxTotal, err = money.Add(q.TaxTotal, pl.Tax); err != nil {
			return Quote{}, fmt.Errorf("tax total: %w", err)
		}
		for _, x := range []*Entry{e.Standard, e.Customer} {
			if x == nil {
				continue
			}
			q.PriceBookVersion = max(q.PriceBookVersion, x.Version)
			if x.AsOf.After(q.AsOf) {
				q.AsOf = x.AsOf
			}
		}
	}
	var err error
	if q.GrandTotal, err = money.Add(q.Subtotal, q.TaxTotal); err != nil {
		return Quote{}, fmt.Errorf("grand total: %w", err)
	}
	return q, nil
}

func priceLine(r Request, n int, l Line) (PricedLine, Entries, error) {
	if l.Quantity < 1 {
		return PricedLine{}, Entries{}, &LineError{n, "quantity", ErrInvalidQuantity}
	}
	es := r.Entries[l.SKU]
	std := es.Standard
	if !std.Applies(r.Day) {
		return PricedLine{}, Entries{}, &LineError{n, "sku", fmt.Errorf("%w for %s in %s/%s", ErrNoPrice, l.SKU, r.Region, r.Currency)}
	}
	if std.Currency != r.Currency {
		return PricedLine{}, Entries{}, &LineError{n, "sku", fmt.Errorf("%w: entry %s is in %s, quote in %s", money.ErrCurrencyMismatch, Key(std.SKU, std.Region, std.Currency, ""), std.Currency, r.Currency)}
	}
	used := Entries{Standard: std}
	pl := PricedLine{Line: n, SKU: l.SKU, Quantity: l.Quantity, PriceBookID: std.PriceBookID, ListPrice: std.ListPrice, TaxRateBps: std.TaxRateBps}
	unit := std.ListPrice
	for i := range std.Tiers {
		t := std.Tiers[i]
		if t.MinQuantity <= l.Quantity && (pl.Tier == nil || t.MinQuantity >= pl.Tier.MinQuantity) {
			pl.Tier = &t
			unit = t.UnitPrice
		}
	}
	if c := es.Customer; c.Applies(r.Day) && c.CustomerID == r.CustomerID {
		if c.Currency != r.Currency {
			return PricedLine{}, Entries{}, &LineError{n, "sku", fmt.Errorf("%w: customer entry in %s, quote in %s", money.ErrCurrencyMismatch, c.Currency, r.Currency)}
		}
		if c.DiscountBps < 0 || c.DiscountBps > bpsDen {
			return PricedLine{}, Entries{}, &LineError{n, "sku", fmt.Errorf("%w: discount %d bps", ErrBadEntry, c.DiscountBps)}
		}
		pl.DiscountBps = c.DiscountBps
		used.Customer = c
	}
	var err error
	if pl.NetUnitPrice, err = money.MulDivHalfEven(unit, int64(bpsDen-pl.DiscountBps), bpsDen); err != nil {
		return PricedLine{}, Entries{}, &LineError{n, "quantity", err}
	}
	if pl.LineTotal, err = money.Mul(pl.NetUnitPrice, l.Quantity); err != nil {
		return PricedLine{}, Entries{}, &LineError{n, "quantity", err}
	}
	if r.TaxExempt {
		pl.TaxRateBps = 0
	}
	if pl.TaxRateBps < 0 {
		return PricedLine{}, Entries{}, &LineError{n, "sku", fmt.Errorf("%w: tax rate %d bps", ErrBadEntry, pl.TaxRateBps)}
	}
	if pl.Tax, err = money.MulDivHalfEven(pl.LineTotal, int64(pl.TaxRateBps), bpsDen); err != nil {
		return PricedLine{}, Entries{}, &LineError{n, "quantity", err}
	}
	return pl, used, nil
}

// Quoted is a line with the unit price a quote carries.
type Quoted struct {
	SKU       string
	Quantity  int64
	UnitPrice money.Amount
}

// Violation is a line whose quoted unit price is off by more than the tolerance.
type Violation struct {
	Line       int
	SKU        string
	Quoted     int64
	Computed   int64
	Difference int64 // quoted - computed
}

// Validate compares quoted unit prices with the computed net unit prices; tolerance
// is the allowed absolute difference per unit in minor units.
func Validate(r Request, quoted []Quoted, tolerance int64) ([]Violation, Quote, error) {
	if tolerance < 0 {
		return nil, Quote{}, fmt.Errorf("tolerance %d must be >= 0", tolerance)
	}
	r.Lines = make([]Line, len(quoted))
	for i, q := range quoted {
		if q.UnitPrice.Currency != r.Currency {
			return nil, Quote{}, &LineError{i + 1, "quoted_unit_price", fmt.Errorf("%w: %s, quote in %s", money.ErrCurrencyMismatch, q.UnitPrice.Currency, r.Currency)}
		}
		r.Lines[i] = Line{SKU: q.SKU, Quantity: q.Quantity}
	}
	quote, err := Price(r)
	if err != nil {
		return nil, Quote{}, err
	}
	var vs []Violation
	for i, pl := range quote.Lines {
		d, err := money.Sub(quoted[i].UnitPrice.Minor, pl.NetUnitPrice)
		if err != nil {
			return nil, Quote{}, &LineError{i + 1, "quoted_unit_price", err}
		}
		if d > tolerance || -d > tolerance {
			vs = append(vs, Violation{Line: i + 1, SKU: pl.SKU, Quoted: quoted[i].UnitPrice.Minor, Computed: pl.NetUnitPrice, Difference: d})
		}
	}
	return vs, quote, nil
}
