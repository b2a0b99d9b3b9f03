package erp

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func TestLiveFixAndOverride(t *testing.T) {
	base := Rules{ExportRestricted: ParseSet("IR,CU"), TaxMissing: ParseSet("AR")}
	live := NewLive(base)
	cmd := func(overrides ...string) *contracts.OrderCommand {
		return &contracts.OrderCommand{Region: "NA", Overrides: overrides, Lines: []contracts.OrderLine{
			{LineNumber: 1, ShipToCountry: "IR"}, {LineNumber: 2, ShipToCountry: "AR"}, {LineNumber: 3, ShipToCountry: "US"}}}
	}
	reasons := func(d OrderDecision) []string {
		var out []string
		for _, l := range d.Lines {
			out = append(out, l.Reason)
		}
		return out
	}
	tests := []struct {
		name   string
		change func()
		cmd    *contracts.OrderCommand
		want   []string
		status string
	}{
		{"as configured", func() {}, cmd(), []string{"EXPORT_CONTROL", "TAX_CONFIGURATION", ""}, contracts.ErpOrderStatePartiallyRejected},
		{"tax override waives only tax", func() {}, cmd("TAX_CONFIGURATION"), []string{"EXPORT_CONTROL", "", ""}, contracts.ErpOrderStatePartiallyRejected},
		{"licence granted", func() { live.GrantLicence("ir") }, cmd(), []string{"", "TAX_CONFIGURATION", ""}, contracts.ErpOrderStatePartiallyRejected},
		{"tax configured too", func() { live.ConfigureTax("AR") }, cmd(), []string{"", "", ""}, contracts.ErpOrderStateAccepted},
		{"licence withdrawn", func() { live.RestrictExport("IR") }, cmd(), []string{"EXPORT_CONTROL", "", ""}, contracts.ErpOrderStatePartiallyRejected},
	}
	for _, tc := range tests {
		tc.change()
		d := live.Apply(base).DecideOrder(tc.cmd)
		if got := reasons(d); len(got) != len(tc.want) || got[0] != tc.want[0] || got[1] != tc.want[1] || got[2] != tc.want[2] || d.Status != tc.status {
			t.Errorf("%s: reasons %q status %s, want %q %s", tc.name, got, d.Status, tc.want, tc.status)
		}
	}
	if !base.ExportRestricted["IR"] || !base.TaxMissing["AR"] {
		t.Error("live changes leaked into the configured rules")
	}
	if live.GrantLicence("DE") {
		t.Error("granting a licence for an unrestricted country reported a change")
	}
}
