package exceptions

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func exc(status string, allowed ...string) *contracts.OperationalException {
	return &contracts.OperationalException{Metadata: contracts.EventMetadata{EventID: "e-1", CorrelationID: "corr"}, ExceptionID: "X-1", Status: status,
		OwnerService: "customer-sync", AllowedActions: allowed, EntityIds: map[string]string{"golden_id": "G-2", "candidate_golden_id": "G-1"}}
}

func TestNewDecision(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		x       *contracts.OperationalException
		action  string
		params  map[string]string
		want    string
		wantPar map[string]string
		err     string
	}{
		{"default resolve", exc("OPEN"), "", nil, "RESOLVE", map[string]string{}, ""},
		{"retry allowed", exc("OPEN", "RESOLVE", "RETRY"), "retry", nil, "RETRY", map[string]string{}, ""},
		{"merge defaults from entity ids", exc("OPEN", "MERGE", "NOT_DUPLICATE", "DISMISS"), "merge", nil, "MERGE", map[string]string{"survivor_golden_id": "G-1", "merged_golden_id": "G-2"}, ""},
		{"not duplicate with explicit param", exc("OPEN", "MERGE", "NOT_DUPLICATE"), "not-duplicate", map[string]string{"other_golden_id": "G-9"}, "NOT_DUPLICATE", map[string]string{"golden_id": "G-2", "other_golden_id": "G-9"}, ""},
		{"resolve not allowed", exc("OPEN", "MERGE", "NOT_DUPLICATE"), "", nil, "", nil, "does not allow RESOLVE"},
		{"action not allowed", exc("OPEN", "RESOLVE"), "RETRY", nil, "", nil, "not allowed"},
		{"already resolved", exc("RESOLVED"), "", nil, "", nil, "already RESOLVED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecision(tt.x, tt.action, tt.params, "ana", "checked", now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want || d.ExceptionID != "X-1" || d.OwnerService != "customer-sync" || d.Actor != "ana" || d.DecisionID == "" ||
				d.Metadata.CorrelationID != "corr" || *d.Metadata.CausationID != "e-1" || d.Metadata.SourceSystem != contracts.SourceSystemOperator {
				t.Fatalf("decision %+v", d)
			}
			if diff := cmp.Diff(tt.wantPar, d.Parameters); diff != "" {
				t.Fatalf("parameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing sub-verb"},
		{[]string{"close"}, `unknown sub-verb "close"`},
		{[]string{"show"}, "want exactly one exception id"},
		{[]string{"resolve", "a", "b"}, "want exactly one exception id"},
		{[]string{"resolve", "X", "--param", "novalue"}, "is not key=value"},
		{[]string{"list", "--queue", "legal"}, `--queue "legal"`},
		{[]string{"list", "--status", "done"}, `--status "done"`},
		{[]string{"list", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, "kafka 127.0.0.1:1 unreachable"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := Run(context.Background(), tt.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
