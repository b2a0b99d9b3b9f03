package readmodel

import (
	"slices"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// BreakKinds (the dashboard's filter and its open-breaks-by-kind counts)
// lists every symbol of the recon.breaks.v1 BreakKind enum.
func TestBreakKindsListsTheContract(t *testing.T) {
	syms := contracts.EnumSymbols(&contracts.ReconBreak{}, "kind")
	if len(syms) == 0 {
		t.Fatal("no BreakKind enum in the recon.breaks.v1 schema")
	}
	for _, k := range syms {
		if !slices.Contains(BreakKinds, k) {
			t.Errorf("break kind %s missing from BreakKinds", k)
		}
	}
	if len(BreakKinds) != len(syms) {
		t.Errorf("BreakKinds has %d kinds, the contract %d: %s", len(BreakKinds), len(syms), strings.Join(BreakKinds, ","))
	}
}

// Every source topic the reconciler routes is counted in a flow of the
// overview's throughput.
func TestEveryInputInAFlow(t *testing.T) {
	for _, tp := range match.InputTopics {
		if f := Flows[tp]; !slices.Contains(FlowNames, f) {
			t.Errorf("input topic %s is in flow %q, not one of %v", tp, f, FlowNames)
		}
	}
}
