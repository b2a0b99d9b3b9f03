package match

import (
	"encoding/csv"
	"os"
	"testing"
)

// TestMatchQuality measures precision and recall on the labelled pairs at
// the default thresholds. A pair is predicted "same" when record b, matched
// against an index holding only record a, would MERGE into a's golden record
// (REVIEW counts as "not same": auto-merge is the decision that must be
// right; review outcomes are reported separately).
func TestMatchQuality(t *testing.T) {
	pairs := append(readPairs(t, generatedPairs), readPairs(t, "../../testdata/pairs_hard.csv")...)
	if len(pairs) < 300 {
		t.Fatalf("only %d labelled pairs", len(pairs))
	}
	cfg := DefaultConfig()
	var tp, fp, fn, tn, reviewSame, reviewDiff int
	for _, p := range pairs {
		fa, err := FromRaw(p.a)
		if err != nil {
			t.Fatalf("%s: record a: %v", p.id, err)
		}
		fb, err := FromRaw(p.b)
		if err != nil {
			t.Fatalf("%s: record b: %v", p.id, err)
		}
		ix := NewIndex(cfg)
		ix.Upsert(1, fa)
		d := ix.Match(fb, nil)
		same := p.label == "same"
		switch {
		case d.Outcome == Merge && same:
			tp++
		case d.Outcome == Merge && !same:
			fp++
			t.Logf("false merge  %s %-28s %q ~ %q %v", p.id, p.trap, p.a.Name, p.b.Name, d.Candidates[0].Evidence)
		case same:
			fn++
			if d.Outcome == Review {
				reviewSame++
			}
			sc, ev := Score(cfg.Weights, &fb, &fa)
			t.Logf("missed (%s) %s %-28s %q ~ %q score %.3f %v", d.Outcome, p.id, p.trap, p.a.Name, p.b.Name, sc, ev)
		default:
			tn++
			if d.Outcome == Review {
				reviewDiff++
			}
		}
	}
	precision := float64(tp) / float64(max(1, tp+fp))
	recall := float64(tp) / float64(max(1, tp+fn))
	t.Logf("pairs %d: precision %.4f recall %.4f (tp %d fp %d fn %d tn %d; review band: %d same, %d different)",
		len(pairs), precision, recall, tp, fp, fn, tn, reviewSame, reviewDiff)
	t.Logf("for reference, counting REVIEW as \"same\": precision %.4f recall %.4f",
		float64(tp+reviewSame)/float64(max(1, tp+reviewSame+fp+reviewDiff)), float64(tp+reviewSame)/float64(max(1, tp+fn)))
	if precision < 0.98 {
		t.Errorf("precision %.4f < 0.98", precision)
	}
	if recall < 0.95 {
		t.Errorf("recall %.4f < 0.95", recall)
	}
}

func readPairs(t *testing.T, path string) []pair {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []pair
	for i, row := range rows {
		if i == 0 {
			continue
		}
		if len(row) != len(pairHeader) {
			t.Fatalf("%s line %d: %d columns, want %d", path, i+1, len(row), len(pairHeader))
		}
		if row[1] != "same" && row[1] != "different" {
			t.Fatalf("%s line %d: label %q", path, i+1, row[1])
		}
		out = append(out, pair{id: row[0], label: row[1], trap: row[2],
			a: Raw{row[3], row[4], row[5], row[6], row[7], row[8], row[9]},
			b: Raw{row[10], row[11], row[12], row[13], row[14], row[15], row[16]}})
	}
	return out
}
