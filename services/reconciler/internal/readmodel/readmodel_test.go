package readmodel

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// BreakKinds (the dashboard's filter and its open-breaks-by-kind counts)
// lists every symbol of the recon.breaks.v1 BreakKind enum.
func TestBreakKindsListsTheContract(t *testing.T) {
	s := (&contracts.ReconBreak{}).Schema().String()
	var doc any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	var syms []string
	var walk func(any)
	walk = func(v any) {
		switch n := v.(type) {
		case map[string]any:
			if n["type"] == "enum" && n["name"] == "isthmus.recon.v1.BreakKind" {
				for _, s := range n["symbols"].([]any) {
					syms = append(syms, s.(string))
				}
				return
			}
			for _, c := range n {
				walk(c)
			}
		case []any:
			for _, c := range n {
				walk(c)
			}
		}
	}
	walk(doc)
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
