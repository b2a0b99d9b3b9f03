package provision

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/isthmus/isthmus/pkg/catalog"
)

func TestPlan(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	acc := cat.MustTopic("crm.account.v1")
	want := acc.BrokerConfigs()
	changed := map[string]string{}
	for k, v := range want {
		changed[k] = v
	}
	changed["retention.ms"] = "1000"
	tests := []struct {
		name     string
		existing map[string]Existing
		action   Action
		changes  []string
	}{
		{"missing", nil, Create, nil},
		{"same", map[string]Existing{"p.crm.account.v1": {acc.Partitions, want}}, Unchanged, nil},
		{"retention differs", map[string]Existing{"p.crm.account.v1": {acc.Partitions, changed}}, Alter, []string{"retention.ms 1000 -> " + want["retention.ms"]}},
		{"fewer partitions", map[string]Existing{"p.crm.account.v1": {1, want}}, Alter, []string{"partitions 1 -> 6"}},
		{"more partitions", map[string]Existing{"p.crm.account.v1": {acc.Partitions + 1, want}}, Refuse, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Plan("p.", []*catalog.Topic{acc}, tt.existing)
			if len(plan) != 1 || plan[0].Action != tt.action || plan[0].Topic != "p.crm.account.v1" {
				t.Fatalf("plan %+v", plan)
			}
			if diff := cmp.Diff(tt.changes, plan[0].Changes); tt.changes != nil && diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}
