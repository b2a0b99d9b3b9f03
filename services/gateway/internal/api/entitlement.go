package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/gateway/internal/entitlement"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Entitlement implements isthmus.service.v1.EntitlementService over the
// installed base (readmodel.Asset, in Redis: one round trip per call), the
// subscription contracts (readmodel.Contract) and the customer
// cross-reference (both mirrored in memory).
type Entitlement struct {
	servicev1.UnimplementedEntitlementServiceServer
	*Deps
	// Service is the store of the asset model (without mirror); nil:
	// Deps.Store.
	Service *readmodel.Store
}

func (e *Entitlement) service() *readmodel.Store {
	if e.Service != nil {
		return e.Service
	}
	return e.Store
}

// How far from today a service date may be.
const maxServiceDateYears = 50

var serviceTypes = map[servicev1.ServiceType]string{
	servicev1.ServiceType_SERVICE_TYPE_REPAIR:                 "REPAIR",
	servicev1.ServiceType_SERVICE_TYPE_PARTS:                  "PARTS",
	servicev1.ServiceType_SERVICE_TYPE_PREVENTIVE_MAINTENANCE: contracts.ServiceTypePreventiveMaintenance,
	servicev1.ServiceType_SERVICE_TYPE_INSTALLATION:           "INSTALLATION",
	servicev1.ServiceType_SERVICE_TYPE_INSPECTION:             "INSPECTION",
}

var coverages = map[entitlement.Coverage]servicev1.Coverage{
	entitlement.Warranty:        servicev1.Coverage_COVERAGE_WARRANTY,
	entitlement.ServiceContract: servicev1.Coverage_COVERAGE_SERVICE_CONTRACT,
	entitlement.Billable:        servicev1.Coverage_COVERAGE_BILLABLE,
	entitlement.NotEntitled:     servicev1.Coverage_COVERAGE_NOT_ENTITLED,
}

func serviceTypePB(s string) servicev1.ServiceType {
	for k, v := range serviceTypes {
		if v == s {
			return k
		}
	}
	return servicev1.ServiceType_SERVICE_TYPE_UNSPECIFIED
}

// CheckEntitlement decides who pays for the service asked.
func (e *Entitlement) CheckEntitlement(ctx context.Context, r *servicev1.CheckEntitlementRequest) (*servicev1.CheckEntitlementResponse, error) {
	cref := custRef(r.GetCrmAccountId(), r.GetErpCustomerId(), r.Customer != nil)
	var v violations
	checkCustomer(&v, cref)
	checkID(&v, "serial", r.GetSerial())
	st, ok := serviceTypes[r.GetServiceType()]
	if !ok {
		v.add("service_type", "must be one of SERVICE_TYPE_REPAIR, SERVICE_TYPE_PARTS, SERVICE_TYPE_PREVENTIVE_MAINTENANCE, SERVICE_TYPE_INSTALLATION, SERVICE_TYPE_INSPECTION")
	}
	now := e.now()
	day := now.UTC().Truncate(24 * time.Hour)
	if s := r.GetServiceDate(); s != "" {
		d, err := time.Parse(time.DateOnly, s)
		switch {
		case err != nil:
			v.add("service_date", "must be a date YYYY-MM-DD")
		case d.Year() < day.Year()-maxServiceDateYears || d.Year() > day.Year()+maxServiceDateYears:
			v.add("service_date", "must be within 50 years of today")
		default:
			day = d
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	ids, err := e.customerIDs(ctx, cref)
	if err != nil {
		return nil, err
	}
	a, c, err := e.asset(ctx, r.GetSerial())
	if err != nil {
		return nil, err
	}
	verdict := entitlement.Decide(a, c, ids, st, day)
	out := &servicev1.CheckEntitlementResponse{
		Coverage: coverages[verdict.Coverage], Reason: verdict.Reason, Message: verdict.Message,
		ContractId: verdict.ContractID, ResponseHours: int32(verdict.ResponseHours),
		Freshness: freshness(a.AsOf, now),
	}
	if verdict.Coverage != entitlement.NotEntitled || verdict.Reason == entitlement.ReasonAssetOutOfService {
		out.Asset = assetPB(a, c) // not another customer's asset
	}
	return out, nil
}

// LookupAsset returns an asset by serial.
func (e *Entitlement) LookupAsset(ctx context.Context, r *servicev1.LookupAssetRequest) (*servicev1.LookupAssetResponse, error) {
	var v violations
	checkID(&v, "serial", r.GetSerial())
	if err := v.err(); err != nil {
		return nil, err
	}
	a, c, err := e.asset(ctx, r.GetSerial())
	if err != nil {
		return nil, err
	}
	return &servicev1.LookupAssetResponse{Asset: assetPB(a, c), Freshness: freshness(a.AsOf, e.now())}, nil
}

// asset is the asset of serial and the subscription contract its service
// contract names (nil: none, or not in the subscription data).
func (e *Entitlement) asset(ctx context.Context, serial string) (*entitlement.Asset, *entitlement.Contract, error) {
	vals, err := e.valuesIn(ctx, e.service(), readmodel.Lookup{Model: readmodel.Asset, Fields: []string{serial}})
	if err != nil {
		return nil, nil, err
	}
	a := as[entitlement.Asset](vals[0][0])
	if a == nil {
		return nil, nil, status.Errorf(codes.NotFound, "no asset with serial %s in the installed base", serial)
	}
	if a.ContractID == "" {
		return a, nil, nil
	}
	vals, err = e.values(ctx, readmodel.Lookup{Model: readmodel.Contract, Fields: []string{a.ContractID}})
	if err != nil {
		return nil, nil, err
	}
	return a, as[entitlement.Contract](vals[0][0]), nil
}

// customerIDs are the ERP customer ids of the customer: every ERP id of its
// golden customer when the cross-reference has it, else the one given.
func (e *Entitlement) customerIDs(ctx context.Context, c customerRef) ([]string, error) {
	field := readmodel.XrefField("ERP", c.erp)
	if c.crm != "" {
		field = readmodel.XrefField("CRM", c.crm)
	}
	vals, err := e.values(ctx, readmodel.Lookup{Model: readmodel.Xref, Fields: []string{field}})
	if err != nil {
		return nil, err
	}
	if x := as[readmodel.XrefInfo](vals[0][0]); x != nil && len(x.ERPIDs) > 0 {
		return x.ERPIDs, nil
	}
	if c.crm != "" {
		return nil, status.Errorf(codes.NotFound, "CRM account %s is not linked to an ERP customer", c.crm)
	}
	return []string{c.erp}, nil
}

func assetPB(a *entitlement.Asset, c *entitlement.Contract) *servicev1.Asset {
	out := &servicev1.Asset{Serial: a.Serial, Sku: a.SKU, ProductName: a.ProductName, ErpCustomerId: a.CustomerID,
		Status: a.Status, InstallDate: a.InstallDate.Format(time.DateOnly), Site: a.Site}
	if w := a.Warranty; w != nil {
		out.Warranty = &servicev1.Warranty{StartDate: w.Start.Format(time.DateOnly), EndDate: w.End.Format(time.DateOnly),
			ServiceTypes: typesPB(w.Types), Provider: a.Provider}
	}
	if w, st, ok := entitlement.ContractWindow(a, c); ok {
		sc := &servicev1.ServiceContract{ContractId: a.ContractID, StartDate: w.Start.Format(time.DateOnly), EndDate: w.End.Format(time.DateOnly),
			ServiceTypes: typesPB(w.Types), ResponseHours: int32(a.ResponseHours), Status: st}
		if c != nil && !c.CancelledFrom.IsZero() {
			sc.CancelledFrom = c.CancelledFrom.Format(time.DateOnly)
		}
		out.ServiceContract = sc
	}
	return out
}

func typesPB(ts []string) []servicev1.ServiceType {
	out := make([]servicev1.ServiceType, 0, len(ts))
	for _, t := range ts {
		if pb := serviceTypePB(t); pb != servicev1.ServiceType_SERVICE_TYPE_UNSPECIFIED {
			out = append(out, pb)
		}
	}
	return out
}
