// Package contract holds the subscription contract as sold in the CRM: the
// deal events that create and amend it, their validation, and the versioned
// terms (the timeline of line sets in force) that billing and revenue are
// derived from.
package contract

import (
	"time"
)

// Kind is what a deal event does to a contract.
type Kind string

// Deal kinds.
const (
	KindNew    Kind = "NEW"    // creates the contract; always sequence 1
	KindAmend  Kind = "AMEND"  // replaces the line set from an effective date
	KindRenew  Kind = "RENEW"  // extends the term, optionally with new lines
	KindCancel Kind = "CANCEL" // ends the term early at an effective date
)

// Change labels an AMEND.
type Change string

// Amendment changes.
const (
	ChangeUpsell      Change = "UPSELL"       // the period value goes up
	ChangeDownsell    Change = "DOWNSELL"     // the period value goes down
	ChangePriceChange Change = "PRICE_CHANGE" // same SKUs and quantities, new prices
)

// Frequency is how often the contract is billed (in advance).
type Frequency string

// Billing frequencies.
const (
	Monthly   Frequency = "MONTHLY"
	Quarterly Frequency = "QUARTERLY"
	Annual    Frequency = "ANNUAL"
)

// Months is the length of one billing period in months, and false for an
// unknown frequency.
func (f Frequency) Months() (int, bool) {
	switch f {
	case Monthly:
		return 1, true
	case Quarterly:
		return 3, true
	case Annual:
		return 12, true
	}
	return 0, false
}

// Line is one product on the contract. UnitPrice is in minor units of the
// contract currency per unit per billing period of the contract's frequency
// (a MONTHLY contract prices per month, an ANNUAL one per year).
type Line struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	// Currency, when set, must equal the deal currency; it exists so that a
	// CRM that prices per line can be checked for mixed currencies.
	Currency string `json:"currency,omitempty"`
}

// PeriodAmount is Quantity × UnitPrice: the amount of one full billing period.
// Validate guarantees it does not overflow.
func (l Line) PeriodAmount() int64 { return l.Quantity * l.UnitPrice }

// Deal is one closed-won deal event for a contract, as the domain sees it
// (the adapter maps the crm.deal.v1 record onto it).
type Deal struct {
	ContractID string `json:"contract_id"`
	// Seq is the amendment sequence: 1 for NEW, then 2, 3, ... with no gaps.
	Seq        int64     `json:"seq"`
	Kind       Kind      `json:"kind"`
	Change     Change    `json:"change,omitempty"`
	CustomerID string    `json:"customer_id,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	Frequency  Frequency `json:"frequency,omitempty"`
	// Start and End are the term of a NEW deal, half-open: [Start, End). A
	// twelve-month contract starting 2025-01-01 ends 2026-01-01. A RENEW
	// carries the new End.
	Start Date `json:"start,omitempty"`
	End   Date `json:"end,omitempty"`
	// Effective is the first day an AMEND's lines apply, or the first day no
	// longer in service for a CANCEL.
	Effective Date `json:"effective,omitempty"`
	// Lines is the complete line set from Effective on (AMEND), for the whole
	// term (NEW), or for the renewal term (RENEW; empty keeps current lines).
	Lines []Line `json:"lines,omitempty"`
	// OccurredAt is when the CRM recorded the deal; it dates held amendments.
	// It is not part of the deal's identity (a re-send may carry a new time).
	OccurredAt time.Time `json:"occurred_at"`
}
