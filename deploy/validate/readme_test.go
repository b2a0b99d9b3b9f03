package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var readmeKey = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// TestChartReadmeDocumentsEveryValue: every key of values.yaml (services.<name>
// standing for each service) is in the README's values table, itself or through
// an ancestor documented as a whole (e.g. securityContext), and the table names
// no key that values.yaml lacks.
func TestChartReadmeDocumentsEveryValue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range readmeKey.FindAllStringSubmatch(string(raw), -1) {
		documented[m[1]] = true
	}
	if len(documented) == 0 {
		t.Fatal("README.md has no values table")
	}
	leaves := map[string]bool{}
	all := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		all[prefix] = true
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			leaves[prefix] = true
			return
		}
		for k, child := range m {
			if prefix == "services" {
				k = "<name>"
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, child)
		}
	}
	walk("", loadChart(t).Values)
	var undocumented []string
	for leaf := range leaves {
		ok := false
		for p := leaf; p != ""; {
			if documented[p] {
				ok = true
				break
			}
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		if !ok {
			undocumented = append(undocumented, leaf)
		}
	}
	slices.Sort(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("values.yaml keys missing from the README values table:\n  %s", strings.Join(undocumented, "\n  "))
	}
	for k := range documented {
		if !all[k] {
			t.Errorf("README documents %s, which values.yaml does not have", k)
		}
	}
}
