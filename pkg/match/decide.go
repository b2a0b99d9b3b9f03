package match

import (
	"cmp"
	"fmt"
	"slices"
)

// Config tunes matching. Start from DefaultConfig.
type Config struct {
	// AutoMerge: a best score at or above it merges into that golden record.
	// Default 0.90.
	AutoMerge float64 `yaml:"auto_merge" json:"auto_merge"`
	// Review: a best score at or above it (and below AutoMerge) creates a new
	// golden record and raises PROBABLE_DUPLICATE. Default 0.75.
	Review float64 `yaml:"review" json:"review"`
	// MaxBlock: blocks with more records are not used to find candidates
	// (too unspecific). Default 64.
	MaxBlock int `yaml:"max_block" json:"max_block"`
	// MaxCandidates listed in a PROBABLE_DUPLICATE exception. Default 5.
	MaxCandidates int `yaml:"max_candidates" json:"max_candidates"`
	// Weights of exact evidence. Default DefaultWeights().
	Weights Weights `yaml:"weights" json:"weights"`
}

// DefaultConfig returns the default thresholds and weights.
func DefaultConfig() Config {
	return Config{AutoMerge: 0.90, Review: 0.75, MaxBlock: 64, MaxCandidates: 5, Weights: DefaultWeights()}
}

// Validate checks the thresholds.
func (c Config) Validate() error {
	if !(c.Review > 0 && c.Review <= c.AutoMerge && c.AutoMerge <= 1) {
		return fmt.Errorf("match thresholds: want 0 < review (%v) <= auto_merge (%v) <= 1", c.Review, c.AutoMerge)
	}
	if c.MaxBlock < 1 || c.MaxCandidates < 1 {
		return fmt.Errorf("match: max_block and max_candidates must be positive")
	}
	return nil
}

// Outcome of matching one record.
type Outcome string

const (
	// New: no candidate is close; create a golden record.
	New Outcome = "NEW"
	// Merge: the best candidate scores at or above AutoMerge.
	Merge Outcome = "MERGE"
	// Review: the best candidate is in the review band: create a golden
	// record and raise PROBABLE_DUPLICATE with Candidates.
	Review Outcome = "REVIEW"
)

// Candidate is a scored golden record.
type Candidate struct {
	ID       ID         `json:"id"`
	Score    float64    `json:"score"`
	Evidence []Evidence `json:"evidence"`
}

// Decision is the result of matching one record.
type Decision struct {
	Outcome Outcome
	// Target is the golden record to merge into (Outcome Merge).
	Target ID
	// Candidates at or above the review threshold, best first (ties: smaller
	// id first), at most MaxCandidates.
	Candidates []Candidate
}

// Match scores f against its candidates and decides. exclude (may be nil)
// removes golden records from consideration: the record's own golden record
// and pairs a steward marked "not a duplicate".
func (ix *Index) Match(f Features, exclude func(ID) bool) Decision {
	var cands []Entry
	for _, s := range ix.candidates(&f) {
		sl := &ix.slots[s]
		if !sl.live || (exclude != nil && exclude(sl.id)) {
			continue
		}
		cands = append(cands, Entry{ID: sl.id, Features: sl.features()})
	}
	return Rank(ix.cfg, f, cands)
}

// Entry is a golden record's id and features, as a store of golden records
// (the Index, the gateway's Redis read model) hands them to Rank.
type Entry struct {
	ID       ID
	Features Features
}

// Rank scores f against candidate golden records (those sharing a block
// with f: BlockKeys) and decides. It is the one decision both the stream
// (Index.Match) and the synchronous duplicate check use, so the two always
// agree on the same candidates.
func Rank(cfg Config, f Features, cands []Entry) Decision {
	fn := prepareAll(&f)
	var found []Candidate
	for i := range cands {
		g := &cands[i].Features
		sc, ev := score(cfg.Weights, &f, fn, g, prepareAll(g))
		if sc >= cfg.Review {
			found = append(found, Candidate{ID: cands[i].ID, Score: sc, Evidence: ev})
		}
	}
	slices.SortFunc(found, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(found) > cfg.MaxCandidates {
		found = found[:cfg.MaxCandidates]
	}
	switch {
	case len(found) == 0:
		return Decision{Outcome: New}
	case found[0].Score >= cfg.AutoMerge:
		return Decision{Outcome: Merge, Target: found[0].ID, Candidates: found}
	}
	return Decision{Outcome: Review, Candidates: found}
}
