// Package entitlement decides who pays for field service on an installed
// asset: the manufacturer's warranty, a service contract in force, or the
// customer. It is pure: the gateway's EntitlementService feeds it from the
// read models of erp.asset.v1 and crm.deal.v1.
package entitlement

import (
	"fmt"
	"slices"
	"time"
)

// Coverage is who pays.
type Coverage string

// Coverages.
const (
	Warranty        Coverage = "WARRANTY"
	ServiceContract Coverage = "SERVICE_CONTRACT"
	Billable        Coverage = "BILLABLE"
	NotEntitled     Coverage = "NOT_ENTITLED"
)

// Reasons, machine-readable.
const (
	ReasonWarrantyActive    = "WARRANTY_ACTIVE"
	ReasonContractActive    = "CONTRACT_ACTIVE"
	ReasonTypeNotCovered    = "TYPE_NOT_COVERED"
	ReasonContractCancelled = "CONTRACT_CANCELLED"
	ReasonContractExpired   = "CONTRACT_EXPIRED"
	ReasonContractNotYet    = "CONTRACT_NOT_STARTED"
	ReasonWarrantyExpired   = "WARRANTY_EXPIRED"
	ReasonNoCoverage        = "NO_COVERAGE"
	ReasonAssetNotOwned     = "ASSET_NOT_OWNED"
	ReasonAssetOutOfService = "ASSET_OUT_OF_SERVICE"
)

// Asset statuses (erp.asset.v1).
const (
	StatusInstalled      = "INSTALLED"
	StatusDecommissioned = "DECOMMISSIONED"
	StatusReturned       = "RETURNED"
)

// Contract statuses of a covering service contract.
const (
	ContractActive    = "ACTIVE"
	ContractCancelled = "CANCELLED"
	// ContractUnknown: the subscription data does not have the contract; the
	// installed base's dates apply.
	ContractUnknown = "UNKNOWN"
)

// Window is a coverage: the days it runs (both inclusive, UTC midnights)
// and the service types it covers.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Types []string  `json:"types,omitempty"`
}

func (w Window) has(day time.Time) bool { return !day.Before(w.Start) && !day.After(w.End) }

// Asset is one asset of the installed base.
type Asset struct {
	Serial      string    `json:"serial"`
	SKU         string    `json:"sku"`
	ProductName string    `json:"product_name,omitempty"`
	CustomerID  string    `json:"erp_customer_id"`
	Status      string    `json:"status"`
	InstallDate time.Time `json:"install_date"`
	Site        string    `json:"site,omitempty"`
	Warranty    *Window   `json:"warranty,omitempty"`
	Provider    string    `json:"provider,omitempty"`
	// Contract is the service contract the installed base names.
	Contract      *Window   `json:"contract,omitempty"`
	ContractID    string    `json:"contract_id,omitempty"`
	ResponseHours int       `json:"response_hours,omitempty"`
	AsOf          time.Time `json:"as_of"`
}

// Contract is a subscription contract as sold (crm.deal.v1): its term
// after the latest amendment, and the first day out of service when
// cancelled.
type Contract struct {
	ID        string    `json:"contract_id"`
	AccountID string    `json:"account_id"`
	Seq       int       `json:"seq"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// CancelledFrom is the first day no longer in service (zero: not cancelled).
	CancelledFrom time.Time `json:"cancelled_from,omitzero"`
	AsOf          time.Time `json:"as_of"`
}

// Verdict is the answer.
type Verdict struct {
	Coverage Coverage
	Reason   string
	Message  string
	// ContractID and ResponseHours: the covering contract (ServiceContract).
	ContractID    string
	ResponseHours int
}

// ContractWindow is the service contract's coverage on the asset as the
// suite knows it: the installed base's window cut to the contract's term
// and cancellation when the subscription data has the contract. ok is false
// when the asset names no contract.
func ContractWindow(a *Asset, c *Contract) (w Window, status string, ok bool) {
	if a.Contract == nil {
		return Window{}, "", false
	}
	w = *a.Contract
	if c == nil {
		return w, ContractUnknown, true
	}
	if c.Start.After(w.Start) {
		w.Start = c.Start
	}
	if c.End.Before(w.End) {
		w.End = c.End
	}
	status = ContractActive
	if !c.CancelledFrom.IsZero() {
		status = ContractCancelled
		if last := c.CancelledFrom.AddDate(0, 0, -1); last.Before(w.End) {
			w.End = last
		}
	}
	return w, status, true
}

// Decide is the entitlement of customer (its ERP customer ids) to service
// of type st on asset a on day (UTC midnight); c is the subscription
// contract the asset's service contract names, nil when unknown.
//
// The asset must be the customer's and in service. Then the warranty pays
// when it runs on the day and covers the type, else the service contract
// when it is in force and covers the type, else the customer. A billable
// verdict names the most telling reason: a coverage in force that does not
// cover the type, a cancelled contract, an expired or not yet started
// contract, an expired warranty, or none at all.
func Decide(a *Asset, c *Contract, customer []string, st string, day time.Time) Verdict {
	if !slices.Contains(customer, a.CustomerID) {
		return Verdict{Coverage: NotEntitled, Reason: ReasonAssetNotOwned,
			Message: fmt.Sprintf("asset %s belongs to another customer", a.Serial)}
	}
	if a.Status == StatusDecommissioned || a.Status == StatusReturned {
		return Verdict{Coverage: NotEntitled, Reason: ReasonAssetOutOfService,
			Message: fmt.Sprintf("asset %s is %s", a.Serial, a.Status)}
	}
	ymd := day.Format(time.DateOnly)
	inForceOther := false
	if w := a.Warranty; w != nil && w.has(day) {
		if slices.Contains(w.Types, st) {
			return Verdict{Coverage: Warranty, Reason: ReasonWarrantyActive,
				Message: fmt.Sprintf("%s on %s is covered by the warranty until %s", st, ymd, w.End.Format(time.DateOnly))}
		}
		inForceOther = true
	}
	cw, cstatus, hasContract := ContractWindow(a, c)
	if hasContract && cw.has(day) {
		if slices.Contains(cw.Types, st) {
			return Verdict{Coverage: ServiceContract, Reason: ReasonContractActive, ContractID: a.ContractID, ResponseHours: a.ResponseHours,
				Message: fmt.Sprintf("%s on %s is covered by service contract %s until %s", st, ymd, a.ContractID, cw.End.Format(time.DateOnly))}
		}
		inForceOther = true
	}
	v := Verdict{Coverage: Billable}
	switch {
	case inForceOther:
		v.Reason, v.Message = ReasonTypeNotCovered, fmt.Sprintf("%s is not covered by the asset's coverage in force on %s: billable", st, ymd)
	case hasContract && cstatus == ContractCancelled && !day.Before(c.CancelledFrom):
		v.Reason, v.Message = ReasonContractCancelled, fmt.Sprintf("service contract %s was cancelled from %s: billable", a.ContractID, c.CancelledFrom.Format(time.DateOnly))
	case hasContract && day.After(cw.End):
		v.Reason, v.Message = ReasonContractExpired, fmt.Sprintf("service contract %s ended on %s: billable", a.ContractID, cw.End.Format(time.DateOnly))
	case hasContract && day.Before(cw.Start):
		v.Reason, v.Message = ReasonContractNotYet, fmt.Sprintf("service contract %s starts on %s: billable", a.ContractID, cw.Start.Format(time.DateOnly))
	case a.Warranty != nil && day.After(a.Warranty.End):
		v.Reason, v.Message = ReasonWarrantyExpired, fmt.Sprintf("the warranty ended on %s: billable", a.Warranty.End.Format(time.DateOnly))
	default:
		v.Reason, v.Message = ReasonNoCoverage, fmt.Sprintf("no warranty or service contract covers asset %s on %s: billable", a.Serial, ymd)
	}
	return v
}
