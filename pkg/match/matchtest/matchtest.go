// Package matchtest holds the labelled pair data set of identity resolution
// (package match) and a generator of realistic synthetic golden records, so
// that every consumer of the one matcher — customer-sync's stream, the
// gateway's CheckDuplicate — is measured on the same pairs and the same
// populations.
//
// The pairs are pairs/pairs_generated.csv (written by the generator in
// package match's tests; regenerate with
// `go test ./match -run TestGeneratedPairsAreFresh -update` in pkg/) plus
// the hand-written pairs/pairs_hard.csv.
package matchtest

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/isthmus/isthmus/pkg/match"
)

//go:embed pairs/*.csv
var files embed.FS

// Files of the data set, relative to this package's directory.
const (
	GeneratedFile = "pairs/pairs_generated.csv"
	HardFile      = "pairs/pairs_hard.csv"
)

// Header is the CSV header of a pairs file.
var Header = []string{"id", "label", "trap",
	"a_name", "a_legal_name", "a_country", "a_website", "a_tax_id", "a_phone", "a_postal_code",
	"b_name", "b_legal_name", "b_country", "b_website", "b_tax_id", "b_phone", "b_postal_code"}

// Labels of a pair.
const (
	Same      = "same"
	Different = "different"
)

// Pair is one labelled pair: are A and B the same company?
type Pair struct {
	ID, Label, Trap string
	A, B            match.Raw
}

// Row is the pair as a CSV row (Header order).
func (p Pair) Row() []string {
	return []string{p.ID, p.Label, p.Trap,
		p.A.Name, p.A.LegalName, p.A.Country, p.A.Website, p.A.TaxID, p.A.Phone, p.A.PostalCode,
		p.B.Name, p.B.LegalName, p.B.Country, p.B.Website, p.B.TaxID, p.B.Phone, p.B.PostalCode}
}

// Render writes pairs as CSV with the header.
func Render(ps []Pair) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(Header)
	for _, p := range ps {
		_ = w.Write(p.Row())
	}
	w.Flush()
	return buf.Bytes()
}

// Parse reads a pairs file; name is used in errors.
func Parse(name string, raw []byte) ([]Pair, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Pair
	for i, row := range rows {
		if i == 0 {
			continue
		}
		if len(row) != len(Header) {
			return nil, fmt.Errorf("%s line %d: %d columns, want %d", name, i+1, len(row), len(Header))
		}
		if row[1] != Same && row[1] != Different {
			return nil, fmt.Errorf("%s line %d: label %q", name, i+1, row[1])
		}
		out = append(out, Pair{ID: row[0], Label: row[1], Trap: row[2],
			A: match.Raw{Name: row[3], LegalName: row[4], Country: row[5], Website: row[6], TaxID: row[7], Phone: row[8], PostalCode: row[9]},
			B: match.Raw{Name: row[10], LegalName: row[11], Country: row[12], Website: row[13], TaxID: row[14], Phone: row[15], PostalCode: row[16]}})
	}
	return out, nil
}

// Pairs returns every labelled pair: generated, then hard.
func Pairs() ([]Pair, error) {
	var out []Pair
	for _, f := range []string{GeneratedFile, HardFile} {
		raw, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ps, err := Parse(f, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// Synth makes deterministic, realistic-looking golden records: pronounceable
// names of 2–3 syllables, often with a trade word, a country mix weighted
// towards large markets, and the usual sparsity of domains, phones, tax ids
// and postal codes. Not safe for concurrent use.
type Synth struct{ r *rand.Rand }

// NewSynth returns a generator seeded with seed (same seed, same records).
func NewSynth(seed uint64) *Synth { return &Synth{r: rand.New(rand.NewPCG(seed, 11))} }

var (
	synthCons   = strings.Split("b c d f g h k l m n p r s t v w z br cr dr fr gr kr pl st tr", " ")
	synthVowels = strings.Split("a e i o u ai ea io ou", " ")
	synthCC     = []string{"US", "US", "US", "DE", "DE", "GB", "GB", "FR", "IT", "ES", "NL", "SE", "CH", "AT", "JP", "CA", "AU", "BR", "IN", "PL"}
	synthTrades = strings.Split("logistics software consulting engineering foods textiles analytics maritime robotics energy media packaging biotech furniture optics", " ")
)

func (s *Synth) word() string {
	var b strings.Builder
	for range 2 + s.r.IntN(2) {
		b.WriteString(synthCons[s.r.IntN(len(synthCons))])
		b.WriteString(synthVowels[s.r.IntN(len(synthVowels))])
	}
	return b.String()
}

// Features returns the normalised features of synthetic golden record i.
func (s *Synth) Features(i int) match.Features {
	name := s.word()
	if s.r.IntN(2) == 0 {
		name += " " + synthTrades[s.r.IntN(len(synthTrades))]
	}
	if s.r.IntN(4) == 0 {
		name = s.word() + " " + name
	}
	f := match.Features{Name: name, Country: synthCC[s.r.IntN(len(synthCC))]}
	if s.r.IntN(10) < 7 {
		f.Domain = strings.ReplaceAll(name, " ", "") + fmt.Sprintf("%d.com", i%97)
	}
	if s.r.IntN(10) < 6 {
		f.Phone = fmt.Sprintf("+%d%09d", 1+s.r.IntN(89), s.r.IntN(1e9))
	}
	if s.r.IntN(10) < 3 {
		f.TaxID = fmt.Sprintf("%s%09d", f.Country, i)
	}
	if s.r.IntN(10) < 8 {
		f.Postal = fmt.Sprintf("%05d", s.r.IntN(100000))
	}
	return f
}

// Typo drops one letter of name (position chosen by i): the near-duplicate
// a sales rep types.
func Typo(name string, i int) string {
	if len(name) < 5 {
		return name + "s"
	}
	p := 2 + i%(len(name)-3)
	return name[:p] + name[p+1:]
}

// Query is the i-th query of a benchmark's mix: for even i a typo of one of
// existing (a duplicate being entered again), for odd i a new company beyond
// the size records indexed from s.
func (s *Synth) Query(existing []match.Features, size, i int) match.Features {
	if i%2 == 0 {
		f := existing[i/2%len(existing)]
		f.Name = Typo(f.Name, i)
		return f
	}
	return s.Features(size + i)
}

// Quality counts the outcomes of matching labelled pairs: a pair is
// predicted "same" when B would MERGE into A's golden record; REVIEW counts
// as "not same" (auto-merge is the decision that must be right) and is
// reported separately.
type Quality struct {
	TP, FP, FN, TN         int
	ReviewSame, ReviewDiff int
}

// Add counts one pair's outcome and reports whether it was wrong.
func (q *Quality) Add(p Pair, o match.Outcome) (wrong bool) {
	same := p.Label == Same
	switch {
	case o == match.Merge && same:
		q.TP++
	case o == match.Merge:
		q.FP++
		return true
	case same:
		q.FN++
		if o == match.Review {
			q.ReviewSame++
		}
		return true
	default:
		q.TN++
		if o == match.Review {
			q.ReviewDiff++
		}
	}
	return false
}

// Precision of the MERGE decisions.
func (q Quality) Precision() float64 { return float64(q.TP) / float64(max(1, q.TP+q.FP)) }

// Recall of the MERGE decisions.
func (q Quality) Recall() float64 { return float64(q.TP) / float64(max(1, q.TP+q.FN)) }

func (q Quality) String() string {
	return fmt.Sprintf("pairs %d: precision %.4f recall %.4f (tp %d fp %d fn %d tn %d; review band: %d same, %d different)",
		q.TP+q.FP+q.FN+q.TN, q.Precision(), q.Recall(), q.TP, q.FP, q.FN, q.TN, q.ReviewSame, q.ReviewDiff)
}

// Check returns an error when precision or recall is below its floor.
func (q Quality) Check(minPrecision, minRecall float64) error {
	if q.Precision() < minPrecision || q.Recall() < minRecall {
		return fmt.Errorf("%s: want precision >= %.2f and recall >= %.2f", q, minPrecision, minRecall)
	}
	return nil
}
