package contract

import (
	"errors"
	"fmt"

	"github.com/isthmus/isthmus/pkg/errs"
)

// Limits that keep every amount of a contract inside int64 with room to spare:
// at most MaxPeriodAmount per billing period over at most MaxTermDays.
const (
	MaxPeriodAmount int64 = 1_000_000_000_000_000 // 10^15 minor units
	MaxTermDays     int   = 36525                 // 100 years
	MaxLines        int   = 1000
)

// Sentinel errors, one per rule. Validate and Terms.Apply wrap them with the
// contract id and sequence, classified with pkg/errs (see docs/billing-bridge.md
// for the outcome of each); callers test them with errors.Is.
var (
	// Poison: the deal can never be applied as it is.
	ErrMissingContractID = errors.New("missing contract id")
	ErrBadSequence       = errors.New("bad amendment sequence")
	ErrUnknownKind       = errors.New("unknown deal kind")
	ErrUnknownChange     = errors.New("unknown amendment change")
	ErrMissingCustomer   = errors.New("missing customer id")
	ErrBadCurrency       = errors.New("currency is not an ISO-4217 code")
	ErrUnknownFrequency  = errors.New("unknown billing frequency")
	ErrMissingDate       = errors.New("missing date")
	ErrEndBeforeStart    = errors.New("end date before start date")
	ErrZeroLengthTerm    = errors.New("zero-length term")
	ErrTermTooLong       = errors.New("term longer than 100 years")
	ErrMissingLines      = errors.New("missing lines")
	ErrTooManyLines      = errors.New("too many lines")
	ErrMissingSKU        = errors.New("line without sku")
	ErrDuplicateSKU      = errors.New("duplicate sku")
	ErrNegativeQuantity  = errors.New("negative quantity")
	ErrNegativePrice     = errors.New("negative unit price")
	ErrMixedCurrencies   = errors.New("mixed currencies")
	ErrAmountTooLarge    = errors.New("period amount too large")

	// Business: the deal is well formed but contradicts the contract.
	ErrUnknownContract           = errors.New("amendment to unknown contract")
	ErrCurrencyChanged           = errors.New("currency differs from the contract's")
	ErrFrequencyChanged          = errors.New("billing frequency differs from the contract's")
	ErrEffectiveOutsideTerm      = errors.New("effective date outside the term")
	ErrEffectiveBeforeLastChange = errors.New("effective date before the last applied change")
	ErrContractCanceled          = errors.New("contract already canceled")
	ErrRenewalNotExtending       = errors.New("renewal does not extend the term")
	ErrChangeMismatch            = errors.New("lines do not match the amendment change")
	ErrConflictingDuplicate      = errors.New("same sequence re-sent with different content")
)

var reasons = map[error]errs.Reason{
	ErrMissingContractID:         errs.ReasonMissingContractID,
	ErrBadSequence:               errs.ReasonBadSequence,
	ErrUnknownKind:               errs.ReasonUnknownKind,
	ErrUnknownChange:             errs.ReasonUnknownChange,
	ErrMissingCustomer:           errs.ReasonMissingCustomer,
	ErrBadCurrency:               errs.ReasonBadCurrency,
	ErrUnknownFrequency:          errs.ReasonUnknownFrequency,
	ErrMissingDate:               errs.ReasonMissingDate,
	ErrEndBeforeStart:            errs.ReasonEndBeforeStart,
	ErrZeroLengthTerm:            errs.ReasonZeroLengthTerm,
	ErrTermTooLong:               errs.ReasonTermTooLong,
	ErrMissingLines:              errs.ReasonMissingLines,
	ErrTooManyLines:              errs.ReasonTooManyLines,
	ErrMissingSKU:                errs.ReasonMissingSKU,
	ErrDuplicateSKU:              errs.ReasonDuplicateSKU,
	ErrNegativeQuantity:          errs.ReasonNegativeQuantity,
	ErrNegativePrice:             errs.ReasonNegativePrice,
	ErrMixedCurrencies:           errs.ReasonMixedCurrencies,
	ErrAmountTooLarge:            errs.ReasonAmountTooLarge,
	ErrUnknownContract:           errs.ReasonUnknownContract,
	ErrCurrencyChanged:           errs.ReasonCurrencyChanged,
	ErrFrequencyChanged:          errs.ReasonFrequencyChanged,
	ErrEffectiveOutsideTerm:      errs.ReasonEffectiveOutsideTerm,
	ErrEffectiveBeforeLastChange: errs.ReasonEffectiveBeforeLastChange,
	ErrContractCanceled:          errs.ReasonContractCanceled,
	ErrRenewalNotExtending:       errs.ReasonRenewalNotExtending,
	ErrChangeMismatch:            errs.ReasonChangeMismatch,
	ErrConflictingDuplicate:      errs.ReasonConflictingDuplicate,
}

// Reason is the machine-readable reason of a rule's sentinel error.
func Reason(sentinel error) errs.Reason {
	if r, ok := reasons[sentinel]; ok {
		return r
	}
	return errs.ReasonUnclassified
}

// Poison wraps a rule violation of deal d as a poison message.
func Poison(d Deal, sentinel error, format string, args ...any) error {
	return errs.Poison(Reason(sentinel), violation(d, sentinel, format, args...))
}

// Business wraps a rule violation of deal d as a business exception.
func Business(d Deal, sentinel error, format string, args ...any) error {
	return errs.Business(Reason(sentinel), violation(d, sentinel, format, args...))
}

func violation(d Deal, sentinel error, format string, args ...any) error {
	detail := ""
	if format != "" {
		detail = ": " + fmt.Sprintf(format, args...)
	}
	return fmt.Errorf("deal %s seq %d (%s): %w%s", d.ContractID, d.Seq, d.Kind, sentinel, detail)
}

// Validate checks everything about d that does not depend on the contract's
// state. Every violation is Poison: no later event can make the deal valid.
func Validate(d Deal) error {
	if d.ContractID == "" {
		return Poison(d, ErrMissingContractID, "")
	}
	switch d.Kind {
	case KindNew, KindAmend, KindRenew, KindCancel:
	default:
		return Poison(d, ErrUnknownKind, "%q", d.Kind)
	}
	if d.Seq < 1 {
		return Poison(d, ErrBadSequence, "sequence %d is below 1", d.Seq)
	}
	if (d.Kind == KindNew) != (d.Seq == 1) {
		return Poison(d, ErrBadSequence, "sequence 1 is NEW and only NEW is sequence 1")
	}
	if d.Currency != "" && !isCurrency(d.Currency) {
		return Poison(d, ErrBadCurrency, "%q", d.Currency)
	}
	if d.Frequency != "" {
		if _, ok := d.Frequency.Months(); !ok {
			return Poison(d, ErrUnknownFrequency, "%q", d.Frequency)
		}
	}
	switch d.Kind {
	case KindNew:
		if d.CustomerID == "" {
			return Poison(d, ErrMissingCustomer, "")
		}
		if d.Currency == "" {
			return Poison(d, ErrBadCurrency, "missing currency")
		}
		if d.Frequency == "" {
			return Poison(d, ErrUnknownFrequency, "missing frequency")
		}
		if d.Start.IsZero() || d.End.IsZero() {
			return Poison(d, ErrMissingDate, "NEW needs start and end")
		}
		if d.End < d.Start {
			return Poison(d, ErrEndBeforeStart, "%s < %s", d.End, d.Start)
		}
		if d.End == d.Start {
			return Poison(d, ErrZeroLengthTerm, "start = end = %s", d.Start)
		}
		if int(d.End-d.Start) > MaxTermDays {
			return Poison(d, ErrTermTooLong, "%d days", d.End-d.Start)
		}
		return validateLines(d, true)
	case KindAmend:
		switch d.Change {
		case ChangeUpsell, ChangeDownsell, ChangePriceChange:
		default:
			return Poison(d, ErrUnknownChange, "%q", d.Change)
		}
		if d.Effective.IsZero() {
			return Poison(d, ErrMissingDate, "AMEND needs an effective date")
		}
		return validateLines(d, true)
	case KindRenew:
		if d.End.IsZero() {
			return Poison(d, ErrMissingDate, "RENEW needs the new end date")
		}
		return validateLines(d, false)
	default: // KindCancel
		if d.Effective.IsZero() {
			return Poison(d, ErrMissingDate, "CANCEL needs an effective date")
		}
		return nil
	}
}

func validateLines(d Deal, required bool) error {
	if len(d.Lines) == 0 {
		if required {
			return Poison(d, ErrMissingLines, "")
		}
		return nil
	}
	if len(d.Lines) > MaxLines {
		return Poison(d, ErrTooManyLines, "%d lines", len(d.Lines))
	}
	seen := make(map[string]bool, len(d.Lines))
	currency := d.Currency
	var total int64
	for i, l := range d.Lines {
		if l.SKU == "" {
			return Poison(d, ErrMissingSKU, "line %d", i)
		}
		if seen[l.SKU] {
			return Poison(d, ErrDuplicateSKU, "%q", l.SKU)
		}
		seen[l.SKU] = true
		if l.Quantity < 0 {
			return Poison(d, ErrNegativeQuantity, "sku %q quantity %d", l.SKU, l.Quantity)
		}
		if l.UnitPrice < 0 {
			return Poison(d, ErrNegativePrice, "sku %q unit price %d", l.SKU, l.UnitPrice)
		}
		if l.Currency != "" {
			if !isCurrency(l.Currency) {
				return Poison(d, ErrBadCurrency, "sku %q currency %q", l.SKU, l.Currency)
			}
			if currency == "" {
				currency = l.Currency
			} else if l.Currency != currency {
				return Poison(d, ErrMixedCurrencies, "sku %q in %s, deal in %s", l.SKU, l.Currency, currency)
			}
		}
		if l.Quantity != 0 && l.UnitPrice > MaxPeriodAmount/l.Quantity {
			return Poison(d, ErrAmountTooLarge, "sku %q", l.SKU)
		}
		total += l.PeriodAmount()
		if total > MaxPeriodAmount {
			return Poison(d, ErrAmountTooLarge, "period amount above %d", MaxPeriodAmount)
		}
	}
	return nil
}

// DealCurrency is the deal's currency: Currency, or else the lines' common one.
func DealCurrency(d Deal) string {
	if d.Currency != "" {
		return d.Currency
	}
	for _, l := range d.Lines {
		if l.Currency != "" {
			return l.Currency
		}
	}
	return ""
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
