package match

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// breakKindSymbols are the symbols of the recon.breaks.v1 BreakKind enum.
func breakKindSymbols(t *testing.T) []string {
	t.Helper()
	syms := contracts.EnumSymbols(&contracts.ReconBreak{}, "kind")
	if len(syms) == 0 {
		t.Fatal("no BreakKind enum in the recon.breaks.v1 schema")
	}
	return syms
}

// Every break kind of the contract but OTHER has a title and a severity.
func TestEveryBreakKindDescribed(t *testing.T) {
	for _, k := range breakKindSymbols(t) {
		if k == contracts.BreakKindOther {
			continue
		}
		if titles[k] == "" || severities[k] == "" {
			t.Errorf("break kind %s: title %q, severity %q", k, titles[k], severities[k])
		}
	}
}
