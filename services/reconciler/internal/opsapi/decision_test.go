package opsapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
)

func TestNewDecision(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	x := &readmodel.Exception{ExceptionID: "X-1", OwnerService: "customer-sync", CorrelationID: "corr", EventID: "e-1",
		EntityIDs: map[string]string{"golden_id": "G-2", "candidate_golden_id": "G-1"}}
	tests := []struct {
		action  string
		params  map[string]string
		wantPar map[string]string
		err     bool
	}{
		{"RESOLVE", nil, map[string]string{}, false},
		{"MERGE", nil, map[string]string{"survivor_golden_id": "G-1", "merged_golden_id": "G-2"}, false},
		{"NOT_DUPLICATE", map[string]string{"other_golden_id": "G-9"}, map[string]string{"golden_id": "G-2", "other_golden_id": "G-9"}, false},
	}
	for _, tt := range tests {
		d, err := newDecision(x, tt.action, tt.params, "ana", "checked", now)
		if err != nil {
			t.Fatalf("%s: %v", tt.action, err)
		}
		if d.Action != tt.action || d.ExceptionID != "X-1" || d.OwnerService != "customer-sync" || d.Actor != "ana" || d.DecisionID == "" ||
			d.DecisionID != d.Metadata.EventID || d.Metadata.CorrelationID != "corr" || *d.Metadata.CausationID != "e-1" ||
			d.Metadata.SourceSystem != contracts.SourceSystemOperator || len(d.ApprovedBy) != 0 || *d.Comment != "checked" {
			t.Fatalf("%s: decision %+v", tt.action, d)
		}
		if diff := cmp.Diff(tt.wantPar, d.Parameters); diff != "" {
			t.Fatalf("%s: parameters (-want +got):\n%s", tt.action, diff)
		}
	}
	if _, err := newDecision(&readmodel.Exception{ExceptionID: "X-2"}, "MERGE", nil, "ana", "", now); err == nil {
		t.Fatal("MERGE without golden ids accepted")
	}
}

func TestApprovalReason(t *testing.T) {
	for _, tt := range []struct {
		action, amount string
		threshold      int64
		want           bool
	}{
		{"OVERRIDE", "", 0, true}, {"RELEASE_HOLD", "1 EUR (minor units)", 1000, true},
		{"RESOLVE", "1001 EUR (minor units)", 1000, true}, {"RESOLVE", "1000", 1000, false},
		{"RESOLVE", "-5000", 1000, true}, {"RETRY", "5000", 0, false}, {"RETRY", "n/a", 1, false}, {"RETRY", "", 1, false},
	} {
		if got := approvalReason(tt.action, tt.amount, tt.threshold) != ""; got != tt.want {
			t.Errorf("approvalReason(%s, %q, %d) = %v, want %v", tt.action, tt.amount, tt.threshold, got, tt.want)
		}
	}
}
