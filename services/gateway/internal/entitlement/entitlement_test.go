package entitlement

import (
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecide(t *testing.T) {
	base := func() *Asset {
		return &Asset{Serial: "SN-1", SKU: "PUMP-100", CustomerID: "C-1", Status: StatusInstalled, InstallDate: d("2025-01-10"),
			Warranty:   &Window{Start: d("2025-01-10"), End: d("2026-01-09"), Types: []string{"REPAIR", "PARTS"}},
			Contract:   &Window{Start: d("2025-06-01"), End: d("2027-05-31"), Types: []string{"REPAIR", "PREVENTIVE_MAINTENANCE"}},
			ContractID: "SC-1", ResponseHours: 8}
	}
	sold := &Contract{ID: "SC-1", Start: d("2025-06-01"), End: d("2026-05-31")}
	cancelled := &Contract{ID: "SC-1", Start: d("2025-06-01"), End: d("2027-05-31"), CancelledFrom: d("2026-03-01")}
	noContract := func(a *Asset) *Asset { a.Contract, a.ContractID = nil, ""; return a }
	noWarranty := func(a *Asset) *Asset { a.Warranty = nil; return a }
	status := func(s string) func(*Asset) *Asset { return func(a *Asset) *Asset { a.Status = s; return a } }
	id := func(a *Asset) *Asset { return a }
	for _, tc := range []struct {
		name     string
		asset    func(*Asset) *Asset
		contract *Contract
		customer []string
		st, day  string
		want     Coverage
		reason   string
		contrID  string
	}{
		{"warranty first", id, nil, []string{"C-1"}, "REPAIR", "2025-07-01", Warranty, ReasonWarrantyActive, ""},
		{"warranty last day", id, nil, []string{"C-1"}, "PARTS", "2026-01-09", Warranty, ReasonWarrantyActive, ""},
		{"contract when the warranty does not cover the type", id, nil, []string{"C-1"}, "PREVENTIVE_MAINTENANCE", "2025-07-01", ServiceContract, ReasonContractActive, "SC-1"},
		{"contract after the warranty", id, nil, []string{"C-1"}, "REPAIR", "2026-02-01", ServiceContract, ReasonContractActive, "SC-1"},
		{"neither covers the type", id, nil, []string{"C-1"}, "INSTALLATION", "2025-07-01", Billable, ReasonTypeNotCovered, ""},
		{"warranty only, type not covered", noContract, nil, []string{"C-1"}, "INSPECTION", "2025-03-01", Billable, ReasonTypeNotCovered, ""},
		{"sold term shorter than the installed base's", id, sold, []string{"C-1"}, "REPAIR", "2026-07-01", Billable, ReasonContractExpired, ""},
		{"sold term in force", id, sold, []string{"C-1"}, "REPAIR", "2026-05-31", ServiceContract, ReasonContractActive, "SC-1"},
		{"cancelled contract, before the cancellation", id, cancelled, []string{"C-1"}, "REPAIR", "2026-02-28", ServiceContract, ReasonContractActive, "SC-1"},
		{"cancelled contract, from the cancellation", id, cancelled, []string{"C-1"}, "REPAIR", "2026-03-01", Billable, ReasonContractCancelled, ""},
		{"contract ended", noWarranty, nil, []string{"C-1"}, "REPAIR", "2027-06-01", Billable, ReasonContractExpired, ""},
		{"contract not started", noWarranty, nil, []string{"C-1"}, "REPAIR", "2025-05-31", Billable, ReasonContractNotYet, ""},
		{"warranty expired, no contract", noContract, nil, []string{"C-1"}, "REPAIR", "2026-01-10", Billable, ReasonWarrantyExpired, ""},
		{"no coverage at all", func(a *Asset) *Asset { return noWarranty(noContract(a)) }, nil, []string{"C-1"}, "REPAIR", "2025-07-01", Billable, ReasonNoCoverage, ""},
		{"another customer's asset", id, nil, []string{"C-2"}, "REPAIR", "2025-07-01", NotEntitled, ReasonAssetNotOwned, ""},
		{"one of the customer's ERP ids", id, nil, []string{"C-2", "C-1"}, "REPAIR", "2025-07-01", Warranty, ReasonWarrantyActive, ""},
		{"decommissioned", status(StatusDecommissioned), nil, []string{"C-1"}, "REPAIR", "2025-07-01", NotEntitled, ReasonAssetOutOfService, ""},
		{"returned", status(StatusReturned), nil, []string{"C-1"}, "REPAIR", "2025-07-01", NotEntitled, ReasonAssetOutOfService, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.asset(base()), tc.contract, tc.customer, tc.st, d(tc.day))
			if v.Coverage != tc.want || v.Reason != tc.reason || v.ContractID != tc.contrID || v.Message == "" {
				t.Errorf("got %+v, want %s %s %q", v, tc.want, tc.reason, tc.contrID)
			}
			if v.Coverage == ServiceContract && v.ResponseHours != 8 {
				t.Errorf("response hours %d", v.ResponseHours)
			}
		})
	}
}

func TestContractWindow(t *testing.T) {
	a := &Asset{Contract: &Window{Start: d("2025-01-01"), End: d("2027-12-31")}}
	for _, tc := range []struct {
		name       string
		c          *Contract
		start, end string
		status     string
	}{
		{"unknown contract: the installed base's dates", nil, "2025-01-01", "2027-12-31", ContractUnknown},
		{"cut to the sold term", &Contract{Start: d("2025-03-01"), End: d("2026-02-28")}, "2025-03-01", "2026-02-28", ContractActive},
		{"cut by the cancellation", &Contract{Start: d("2024-01-01"), End: d("2028-12-31"), CancelledFrom: d("2026-07-01")}, "2025-01-01", "2026-06-30", ContractCancelled},
	} {
		w, st, ok := ContractWindow(a, tc.c)
		if !ok || w.Start != d(tc.start) || w.End != d(tc.end) || st != tc.status {
			t.Errorf("%s: %v..%v %s %v", tc.name, w.Start, w.End, st, ok)
		}
	}
	if _, _, ok := ContractWindow(&Asset{}, nil); ok {
		t.Error("an asset without a contract has a window")
	}
}
