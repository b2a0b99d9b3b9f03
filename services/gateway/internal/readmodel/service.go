package readmodel

import (
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/gateway/internal/entitlement"
)

// The models behind EntitlementService. The installed base, which may be
// large, has a builder of its own into Redis only (no in-memory mirror); the
// contracts, far fewer, are one of the mirrored models (Models), so a check
// costs one Redis round trip.
const (
	// Asset is the installed base by serial (*entitlement.Asset).
	Asset Model = "erp.asset.v1"
	// Contract is the subscription contracts by contract id as sold, after
	// their latest deal (*entitlement.Contract). CRM sends a contract's deals
	// in sequence order on one partition, and the model keeps the last one.
	Contract Model = "crm.deal.v1"
)

// ServiceModels are the models of the Redis-only service builder.
var ServiceModels = []Model{Asset}

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func window(start, end time.Time, types []string) *entitlement.Window {
	return &entitlement.Window{Start: day(start), End: day(end), Types: append([]string(nil), types...)}
}

func assetChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*contracts.Asset)
	a := entitlement.Asset{Serial: r.Serial, SKU: r.SKU, CustomerID: r.ERPCustomerID, Status: r.Status,
		InstallDate: day(r.InstallDate), ProductName: contracts.Deref(r.ProductName), Site: contracts.Deref(r.Site), AsOf: r.AsOf.UTC()}
	if w := r.Warranty; w != nil {
		a.Warranty, a.Provider = window(w.StartDate, w.EndDate, w.ServiceTypes), contracts.Deref(w.Provider)
	}
	if c := r.ServiceContract; c != nil {
		a.Contract, a.ContractID = window(c.StartDate, c.EndDate, c.ServiceTypes), c.ContractID
		if c.ResponseHours != nil {
			a.ResponseHours = *c.ResponseHours
		}
	}
	return r.Serial, a, false, nil
}

func contractChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*contracts.Deal)
	c := entitlement.Contract{ID: r.ContractID, AccountID: r.AccountID, Seq: r.AmendmentSequence,
		Start: day(r.StartDate), End: day(r.EndDate), AsOf: r.ClosedAt.UTC()}
	if r.DealType == contracts.DealTypeCancel && r.EffectiveDate != nil {
		c.CancelledFrom = day(*r.EffectiveDate)
	}
	return r.ContractID, c, false, nil
}
