// Package inventory computes available-to-promise from ERP stock levels.
package inventory

import (
	"errors"
	"time"
)

// ErrInvalidQuantity is returned for a requested quantity below 1.
var ErrInvalidQuantity = errors.New("quantity must be at least 1")

// Level is the stock of one SKU at one site as ERP published it on erp.inventory.v1.
type Level struct {
	SKU       string    `json:"sku"`
	Site      string    `json:"site"`
	OnHand    int64     `json:"on_hand"`
	Allocated int64     `json:"allocated"`
	OnOrder   int64     `json:"on_order"`
	AsOf      time.Time `json:"as_of"`
}

// Key is the compacted-topic key of a level: sku|site.
func Key(sku, site string) string { return sku + "|" + site }

// Answer is available-to-promise for a requested quantity.
type Answer struct {
	Level
	AvailableToPromise int64
	Available          bool
}

// Check answers whether qty can be promised from l.
func Check(l Level, qty int64) (Answer, error) {
	if qty < 1 {
		return Answer{}, ErrInvalidQuantity
	}
	var atp int64
	if l.OnHand >= 0 && l.Allocated >= 0 { // both non-negative: the difference cannot overflow
		atp = max(l.OnHand-l.Allocated, 0)
	} // a negative (inconsistent) level promises nothing
	return Answer{Level: l, AvailableToPromise: atp, Available: atp >= qty}, nil
}
