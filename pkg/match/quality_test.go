package match_test

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
)

// TestMatchQuality measures precision and recall on the labelled pairs at
// the default thresholds. A pair is predicted "same" when record b, matched
// against an index holding only record a, would MERGE into a's golden record
// (REVIEW counts as "not same": auto-merge is the decision that must be
// right; review outcomes are reported separately).
func TestMatchQuality(t *testing.T) {
	pairs, err := matchtest.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) < 300 {
		t.Fatalf("only %d labelled pairs", len(pairs))
	}
	cfg := match.DefaultConfig()
	var q matchtest.Quality
	for _, p := range pairs {
		fa, err := match.FromRaw(p.A)
		if err != nil {
			t.Fatalf("%s: record a: %v", p.ID, err)
		}
		fb, err := match.FromRaw(p.B)
		if err != nil {
			t.Fatalf("%s: record b: %v", p.ID, err)
		}
		ix := match.NewIndex(cfg)
		ix.Upsert(1, fa)
		d := ix.Match(fb, nil)
		if q.Add(p, d.Outcome) {
			sc, ev := match.Score(cfg.Weights, &fb, &fa)
			t.Logf("wrong (%s) %s %-28s %q ~ %q score %.3f %v", d.Outcome, p.ID, p.Trap, p.A.Name, p.B.Name, sc, ev)
		}
	}
	t.Log(q.String())
	if err := q.Check(0.98, 0.95); err != nil {
		t.Error(err)
	}
}
