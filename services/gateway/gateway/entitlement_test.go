package gateway_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

func TestEntitlementAPI(t *testing.T) { testEntitlementAPI(t, gwtest.Unit(t)) }

// seedAssets: customer C1 (CRM-1) owns SN-W (warranty running), SN-C
// (warranty over, contract SC-1 sold until next year), SN-X (contract SC-2,
// cancelled from yesterday) and SN-D (decommissioned); C2 owns SN-O.
func seedAssets(e *gwtest.Env) {
	today := now.Truncate(24 * time.Hour)
	ymd := func(days int) string { return today.AddDate(0, 0, days).Format(time.DateOnly) }
	repair := []string{"REPAIR", "PARTS"}
	e.Produce(
		gwtest.Customer("C1", "CRM-1", false, now),
		gwtest.Xref("CRM-1", "C1", now),
		gwtest.Asset("SN-W", "PUMP-100", "C1", "INSTALLED", gwtest.Cover{Start: ymd(-100), End: ymd(265), Types: repair}, gwtest.Cover{}, now),
		gwtest.Asset("SN-C", "MOTOR-5KW", "C1", "INSTALLED", gwtest.Cover{Start: ymd(-800), End: ymd(-435), Types: repair},
			gwtest.Cover{Start: ymd(-400), End: ymd(3000), Types: []string{"REPAIR", "PREVENTIVE_MAINTENANCE"}, ContractID: "SC-1", Response: 8}, now),
		gwtest.Deal("SC-1", "CRM-1", "NEW", 0, ymd(-400), ymd(330), "", now),
		gwtest.Asset("SN-X", "CTRL-PLC", "C1", "INSTALLED", gwtest.Cover{},
			gwtest.Cover{Start: ymd(-30), End: ymd(335), Types: []string{"REPAIR"}, ContractID: "SC-2"}, now),
		gwtest.Deal("SC-2", "CRM-1", "NEW", 0, ymd(-30), ymd(335), "", now),
		gwtest.Deal("SC-2", "CRM-1", "CANCEL", 1, ymd(-30), ymd(335), ymd(-1), now),
		gwtest.Asset("SN-D", "PUMP-250", "C1", "DECOMMISSIONED", gwtest.Cover{Start: ymd(-10), End: ymd(300), Types: repair}, gwtest.Cover{}, now),
		gwtest.Asset("SN-O", "PUMP-100", "C2", "INSTALLED", gwtest.Cover{Start: ymd(-10), End: ymd(300), Types: repair}, gwtest.Cover{}, now),
		gwtest.Asset("SN-GONE", "PUMP-100", "C1", "INSTALLED", gwtest.Cover{}, gwtest.Cover{}, now),
	)
	e.ProduceRaw("erp.asset.v1", "SN-GONE", nil) // removed from the installed base
}

// waitAssets retries LookupAsset until the service models answer with SN-O
// (UNAVAILABLE, then NOT_FOUND until the builder has read it).
func waitAssets(t testing.TB, ec servicev1.EntitlementServiceClient, c *client) {
	t.Helper()
	waitAnswer(t, "service models", func() error {
		_, err := ec.LookupAsset(c.ctx(), &servicev1.LookupAssetRequest{Serial: "SN-O"})
		return err
	}, codes.Unavailable, codes.NotFound)
}

func testEntitlementAPI(t *testing.T, e *gwtest.Env) {
	seedAssets(e)
	g := e.Start(e.Config())
	c := dial(t, g, e.Token("field-service", time.Hour, "service:read"))
	ec := servicev1.NewEntitlementServiceClient(c.conn)
	waitAssets(t, ec, c)
	g.WaitReady(t)

	erp := func(id string) *servicev1.CheckEntitlementRequest_ErpCustomerId {
		return &servicev1.CheckEntitlementRequest_ErpCustomerId{ErpCustomerId: id}
	}
	crm := &servicev1.CheckEntitlementRequest_CrmAccountId{CrmAccountId: "CRM-1"}
	repair, pm := servicev1.ServiceType_SERVICE_TYPE_REPAIR, servicev1.ServiceType_SERVICE_TYPE_PREVENTIVE_MAINTENANCE
	for _, tc := range []struct {
		name     string
		req      *servicev1.CheckEntitlementRequest
		coverage servicev1.Coverage
		reason   string
		contract string
	}{
		{"warranty", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-W", ServiceType: repair}, servicev1.Coverage_COVERAGE_WARRANTY, "WARRANTY_ACTIVE", ""},
		{"by CRM account", &servicev1.CheckEntitlementRequest{Customer: crm, Serial: "SN-W", ServiceType: repair}, servicev1.Coverage_COVERAGE_WARRANTY, "WARRANTY_ACTIVE", ""},
		{"type the warranty does not cover", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-W", ServiceType: pm}, servicev1.Coverage_COVERAGE_BILLABLE, "TYPE_NOT_COVERED", ""},
		{"contract", &servicev1.CheckEntitlementRequest{Customer: crm, Serial: "SN-C", ServiceType: pm}, servicev1.Coverage_COVERAGE_SERVICE_CONTRACT, "CONTRACT_ACTIVE", "SC-1"},
		{"contract past its sold term", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-C", ServiceType: repair,
			ServiceDate: now.AddDate(0, 0, 400).Format(time.DateOnly)}, servicev1.Coverage_COVERAGE_BILLABLE, "CONTRACT_EXPIRED", ""},
		{"cancelled contract", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-X", ServiceType: repair}, servicev1.Coverage_COVERAGE_BILLABLE, "CONTRACT_CANCELLED", ""},
		{"before the cancellation", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-X", ServiceType: repair,
			ServiceDate: now.AddDate(0, 0, -5).Format(time.DateOnly)}, servicev1.Coverage_COVERAGE_SERVICE_CONTRACT, "CONTRACT_ACTIVE", "SC-2"},
		{"decommissioned", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-D", ServiceType: repair}, servicev1.Coverage_COVERAGE_NOT_ENTITLED, "ASSET_OUT_OF_SERVICE", ""},
		{"another customer's asset", &servicev1.CheckEntitlementRequest{Customer: erp("C1"), Serial: "SN-O", ServiceType: repair}, servicev1.Coverage_COVERAGE_NOT_ENTITLED, "ASSET_NOT_OWNED", ""},
	} {
		resp, err := ec.CheckEntitlement(c.ctx(), tc.req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if resp.GetCoverage() != tc.coverage || resp.GetReason() != tc.reason || resp.GetContractId() != tc.contract || resp.GetMessage() == "" {
			t.Errorf("%s: %v", tc.name, resp)
		}
		if tc.reason == "ASSET_NOT_OWNED" && resp.GetAsset() != nil {
			t.Errorf("%s: another customer's asset is shown: %v", tc.name, resp.GetAsset())
		}
		if tc.reason != "ASSET_NOT_OWNED" && (resp.GetAsset().GetSerial() != tc.req.GetSerial() || resp.GetFreshness() == nil) {
			t.Errorf("%s: asset %v freshness %v", tc.name, resp.GetAsset(), resp.GetFreshness())
		}
	}
	if resp, _ := ec.CheckEntitlement(c.ctx(), &servicev1.CheckEntitlementRequest{Customer: crm, Serial: "SN-C", ServiceType: pm}); resp.GetResponseHours() != 8 {
		t.Errorf("response hours %v", resp)
	}

	// LookupAsset: the contract as the suite knows it (term cut to the sold one; cancellation).
	a, err := ec.LookupAsset(c.ctx(), &servicev1.LookupAssetRequest{Serial: "SN-X"})
	if err != nil {
		t.Fatal(err)
	}
	sc := a.GetAsset().GetServiceContract()
	if sc.GetContractId() != "SC-2" || sc.GetStatus() != "CANCELLED" || sc.GetCancelledFrom() != now.AddDate(0, 0, -1).Format(time.DateOnly) ||
		sc.GetEndDate() != now.AddDate(0, 0, -2).Format(time.DateOnly) || a.GetAsset().GetWarranty() != nil {
		t.Errorf("cancelled contract asset %v", a)
	}
	if a, _ := ec.LookupAsset(c.ctx(), &servicev1.LookupAssetRequest{Serial: "SN-C"}); a.GetAsset().GetServiceContract().GetEndDate() != now.AddDate(0, 0, 330).Format(time.DateOnly) ||
		a.GetAsset().GetServiceContract().GetStatus() != "ACTIVE" || a.GetAsset().GetWarranty().GetEndDate() == "" {
		t.Errorf("contract cut to its sold term: %v", a)
	}

	// Not found and bad input, precisely.
	for _, serial := range []string{"SN-NONE", "SN-GONE"} {
		if _, err := ec.LookupAsset(c.ctx(), &servicev1.LookupAssetRequest{Serial: serial}); status.Code(err) != codes.NotFound {
			t.Errorf("%s: %v", serial, err)
		}
	}
	if _, err := ec.CheckEntitlement(c.ctx(), &servicev1.CheckEntitlementRequest{Customer: &servicev1.CheckEntitlementRequest_CrmAccountId{CrmAccountId: "CRM-NOPE"}, Serial: "SN-W", ServiceType: repair}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown CRM account: %v", err)
	}
	for name, req := range map[string]*servicev1.CheckEntitlementRequest{
		"customer":     {Serial: "SN-W", ServiceType: repair},
		"serial":       {Customer: erp("C1"), ServiceType: repair},
		"service_type": {Customer: erp("C1"), Serial: "SN-W"},
		"service_date": {Customer: erp("C1"), Serial: "SN-W", ServiceType: repair, ServiceDate: "31/12/2026"},
	} {
		_, err := ec.CheckEntitlement(c.ctx(), req)
		if status.Code(err) != codes.InvalidArgument || !slices.Contains(badRequestFields(err), name) {
			t.Errorf("missing %s: %v", name, err)
		}
	}

	// REST: the same answers, and the scope.
	code, body := c.get("/v1/assets/SN-C")
	if code != http.StatusOK || body["asset"].(map[string]any)["serviceContract"].(map[string]any)["contractId"] != "SC-1" {
		t.Errorf("GET asset: %d %v", code, body)
	}
	if code, body := c.get("/v1/assets/SN-NONE"); code != http.StatusNotFound {
		t.Errorf("GET unknown asset: %d %v", code, body)
	}
	code, _, body = c.rest("/v1/entitlements:check", map[string]any{"crmAccountId": "CRM-1", "serial": "SN-C", "serviceType": "SERVICE_TYPE_PREVENTIVE_MAINTENANCE"})
	if code != http.StatusOK || body["coverage"] != "COVERAGE_SERVICE_CONTRACT" || body["contractId"] != "SC-1" {
		t.Errorf("REST check: %d %v", code, body)
	}
	if code, _, body = c.rest("/v1/entitlements:check", map[string]any{"erpCustomerId": "C1", "serial": "SN-W", "serviceType": "WASH"}); code != http.StatusBadRequest {
		t.Errorf("REST bad service type: %d %v", code, body)
	}
	other := dial(t, g, e.Token("crm", time.Hour, "customer:read"))
	if _, err := servicev1.NewEntitlementServiceClient(other.conn).LookupAsset(other.ctx(), &servicev1.LookupAssetRequest{Serial: "SN-W"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("without service:read: %v", err)
	}
	if code, _ := other.get("/v1/assets/SN-W"); code != http.StatusForbidden {
		t.Errorf("REST without service:read: %d", code)
	}
}
