package match

import (
	"encoding/json"
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// breakKindSymbols are the symbols of the recon.breaks.v1 BreakKind enum,
// read from the generated schema.
func breakKindSymbols(t *testing.T) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal([]byte((&contracts.ReconBreak{}).Schema().String()), &doc); err != nil {
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
