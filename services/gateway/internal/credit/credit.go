// Package credit decides whether an order amount fits a customer's credit:
// available = limit - receivables - open orders - active reservations.
package credit

import (
	"errors"
	"fmt"
	"time"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

// Decision is the outcome of a check.
type Decision int

const (
	Approved Decision = iota + 1
	Hold
	Rejected
)

func (d Decision) String() string {
	switch d {
	case Approved:
		return "APPROVED"
	case Hold:
		return "HOLD"
	case Rejected:
		return "REJECTED"
	}
	return "UNSPECIFIED"
}

// ErrInvalidAmount is returned for an amount that is not positive.
var ErrInvalidAmount = errors.New("amount must be positive")

// Reason codes.
const (
	ReasonCreditHold        = "CREDIT_HOLD"
	ReasonBlocked           = "ACCOUNT_BLOCKED"
	ReasonOverLimit         = "OVER_LIMIT"
	ReasonOverHoldThreshold = "OVER_HOLD_THRESHOLD"
)

// Account is a customer's credit position as ERP published it on erp.credit.v1.
type Account struct {
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	Limit      int64     `json:"limit"`
	AR         int64     `json:"ar"`
	OpenOrders int64     `json:"open_orders"`
	Hold       bool      `json:"hold"`
	HoldReason string    `json:"hold_reason,omitempty"`
	Status     string    `json:"status"` // UNKNOWN, ACTIVE, HOLD, BLOCKED
	AsOf       time.Time `json:"as_of"`
}

// Policy tunes decisions.
type Policy struct {
	// HoldThresholdBps: an order that brings exposure above this share of the limit
	// (in basis points) is held for review even though it fits. 0 disables it.
	HoldThresholdBps int64
}

// Reason explains a decision.
type Reason struct {
	Code    string
	Message string
}

// Result is a decision with its numbers (minor units of Currency).
type Result struct {
	Decision     Decision
	Currency     string
	Limit        int64
	AR           int64
	OpenOrders   int64
	Reservations int64
	Available    int64 // before this amount
	Reasons      []Reason
}

// Decide checks amount against a with reserved minor units already held by active
// reservations.
func Decide(a Account, reserved int64, amount money.Amount, p Policy) (Result, error) {
	if _, err := money.MinorUnits(amount.Currency); err != nil {
		return Result{}, err
	}
	if amount.Currency != a.Currency {
		return Result{}, fmt.Errorf("%w: amount in %s, credit of %s in %s", money.ErrCurrencyMismatch, amount.Currency, a.CustomerID, a.Currency)
	}
	if amount.Minor <= 0 {
		return Result{}, ErrInvalidAmount
	}
	r := Result{Currency: a.Currency, Limit: a.Limit, AR: a.AR, OpenOrders: a.OpenOrders, Reservations: reserved}
	exposure, err := sum(a.AR, a.OpenOrders, reserved)
	if err != nil {
		return Result{}, err
	}
	if r.Available, err = money.Sub(a.Limit, exposure); err != nil {
		return Result{}, err
	}
	cur := func(v int64) string { return money.Format(money.Amount{Currency: a.Currency, Minor: v}) }
	r.Decision = Approved
	worsen := func(d Decision, code, msg string) {
		r.Decision = max(r.Decision, d)
		r.Reasons = append(r.Reasons, Reason{code, msg})
	}
	if a.Status == "BLOCKED" {
		worsen(Rejected, ReasonBlocked, "ERP has blocked new orders for the customer")
	}
	if a.Hold || a.Status == "HOLD" {
		msg := "ERP has put the customer on credit hold"
		if a.HoldReason != "" {
			msg += ": " + a.HoldReason
		}
		worsen(Hold, ReasonCreditHold, msg)
	}
	if amount.Minor > r.Available {
		worsen(Rejected, ReasonOverLimit, fmt.Sprintf("amount %s exceeds available credit %s", cur(amount.Minor), cur(r.Available)))
	} else if p.HoldThresholdBps > 0 {
		after, err := money.Add(exposure, amount.Minor)
		if err != nil {
			return Result{}, err
		}
		threshold, err := money.MulDivHalfEven(a.Limit, p.HoldThresholdBps, 10000)
		if err != nil {
			return Result{}, err
		}
		if after > threshold {
			worsen(Hold, ReasonOverHoldThreshold, fmt.Sprintf("exposure after the order %s is above %d.%02d%% of the limit %s", cur(after), p.HoldThresholdBps/100, p.HoldThresholdBps%100, cur(a.Limit)))
		}
	}
	return r, nil
}

func sum(vs ...int64) (int64, error) {
	var t int64
	for _, v := range vs {
		var err error
		if t, err = money.Add(t, v); err != nil {
			return 0, err
		}
	}
	return t, nil
}
