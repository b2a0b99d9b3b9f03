package fieldservice

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/field-service/internal/casework"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
)

// Entitlement asks who pays for the work on a case, and what the
// installed base holds about a return's serials.
type Entitlement interface {
	Check(ctx context.Context, c *casework.Case, day time.Time) (casework.Verdict, error)
	// Assets looks the serials up; a serial unknown to the gateway is
	// missing from the map.
	Assets(ctx context.Context, serials []string) (map[string]returns.Asset, error)
}

// EntitlementClient asks the gateway's EntitlementService.
type EntitlementClient struct {
	client  servicev1.EntitlementServiceClient
	timeout time.Duration
}

// NewEntitlementClient checks through conn (pkg/gatewayclient's connection).
func NewEntitlementClient(conn grpc.ClientConnInterface, timeout time.Duration) *EntitlementClient {
	return &EntitlementClient{client: servicev1.NewEntitlementServiceClient(conn), timeout: timeout}
}

var serviceTypes = map[string]servicev1.ServiceType{
	contracts.ServiceTypeRepair: servicev1.ServiceType_SERVICE_TYPE_REPAIR, contracts.ServiceTypeParts: servicev1.ServiceType_SERVICE_TYPE_PARTS,
	contracts.ServiceTypePreventiveMaintenance: servicev1.ServiceType_SERVICE_TYPE_PREVENTIVE_MAINTENANCE,
	contracts.ServiceTypeInstallation:          servicev1.ServiceType_SERVICE_TYPE_INSTALLATION, contracts.ServiceTypeInspection: servicev1.ServiceType_SERVICE_TYPE_INSPECTION,
}

var coverages = map[servicev1.Coverage]string{
	servicev1.Coverage_COVERAGE_WARRANTY: contracts.CoverageWarranty, servicev1.Coverage_COVERAGE_SERVICE_CONTRACT: contracts.CoverageServiceContract,
	servicev1.Coverage_COVERAGE_BILLABLE: contracts.CoverageBillable, servicev1.Coverage_COVERAGE_NOT_ENTITLED: contracts.CoverageNotEntitled,
}

// Check asks for the verdict on the day the case was opened. The asset or
// customer unknown to the gateway is a verdict (Unknown), the gateway
// refusing the request otherwise is poison (a case the service validated
// should never be), and every other failure is retriable.
func (e *EntitlementClient) Check(ctx context.Context, c *casework.Case, day time.Time) (casework.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req := &servicev1.CheckEntitlementRequest{Serial: c.Serial, ServiceType: serviceTypes[c.ServiceType], ServiceDate: day.UTC().Format(time.DateOnly)}
	if c.ERPCustomerID != "" {
		req.Customer = &servicev1.CheckEntitlementRequest_ErpCustomerId{ErpCustomerId: c.ERPCustomerID}
	} else {
		req.Customer = &servicev1.CheckEntitlementRequest_CrmAccountId{CrmAccountId: c.AccountID}
	}
	r, err := e.client.CheckEntitlement(ctx, req)
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return casework.Verdict{Unknown: true, Reason: "NOT_FOUND", Message: status.Convert(err).Message()}, nil
	case codes.InvalidArgument:
		return casework.Verdict{}, errs.Poison(errs.ReasonGatewayInvalidArgument, fmt.Errorf("entitlement check of case %s: %w", c.CaseID, err))
	default:
		return casework.Verdict{}, errs.Retriable(errs.GatewayStatus(status.Code(err)), fmt.Errorf("entitlement check of case %s: %w", c.CaseID, err))
	}
	cov, ok := coverages[r.GetCoverage()]
	if !ok {
		return casework.Verdict{}, errs.Retriablef(errs.ReasonGatewayIncomplete, "entitlement check of case %s: coverage %s", c.CaseID, r.GetCoverage())
	}
	v := casework.Verdict{Coverage: cov, Reason: r.GetReason(), Message: r.GetMessage(), ContractID: r.GetContractId(), ResponseHours: int(r.GetResponseHours())}
	if a := r.GetAsset(); a != nil {
		v.ERPCustomerID, v.SKU = a.GetErpCustomerId(), a.GetSku()
		v.Provider = a.GetWarranty().GetProvider()
	}
	return v, nil
}

// Assets asks the gateway's LookupAsset for each serial (NotFound: the
// serial is unknown); the same error classes as Check.
func (e *EntitlementClient) Assets(ctx context.Context, serials []string) (map[string]returns.Asset, error) {
	out := make(map[string]returns.Asset, len(serials))
	for _, serial := range serials {
		a, found, err := e.lookup(ctx, serial)
		if err != nil {
			return nil, err
		}
		if found {
			out[serial] = a
		}
	}
	return out, nil
}

func (e *EntitlementClient) lookup(ctx context.Context, serial string) (returns.Asset, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	r, err := e.client.LookupAsset(ctx, &servicev1.LookupAssetRequest{Serial: serial})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return returns.Asset{}, false, nil
	case codes.InvalidArgument:
		return returns.Asset{}, false, errs.Poison(errs.ReasonGatewayInvalidArgument, fmt.Errorf("asset lookup of %q: %w", serial, err))
	default:
		return returns.Asset{}, false, errs.Retriable(errs.GatewayStatus(status.Code(err)), fmt.Errorf("asset lookup of %q: %w", serial, err))
	}
	pa := r.GetAsset()
	if pa == nil {
		return returns.Asset{}, false, errs.Retriablef(errs.ReasonGatewayIncomplete, "asset lookup of %q: no asset in the answer", serial)
	}
	a := returns.Asset{Serial: pa.GetSerial(), SKU: pa.GetSku(), ERPCustomerID: pa.GetErpCustomerId(), Status: pa.GetStatus()}
	var perr error
	if a.Installed, perr = optionalDate(pa.GetInstallDate()); perr != nil {
		return returns.Asset{}, false, errs.Retriablef(errs.ReasonGatewayIncomplete, "asset %s: install date: %v", serial, perr)
	}
	if a.WarrantyEnd, perr = optionalDate(pa.GetWarranty().GetEndDate()); perr != nil {
		return returns.Asset{}, false, errs.Retriablef(errs.ReasonGatewayIncomplete, "asset %s: warranty end: %v", serial, perr)
	}
	return a, true, nil
}

// optionalDate parses a YYYY-MM-DD date; "" is the zero time.
func optionalDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}
