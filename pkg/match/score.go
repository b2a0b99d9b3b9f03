package match

import (
	"fmt"
	"strconv"

	"github.com/isthmus/isthmus/pkg/normalize"
)

// Evidence is one reason a score went up or down; it travels with a
// PROBABLE_DUPLICATE exception so a steward sees why.
type Evidence struct {
	Kind   string  `json:"kind"`   // e.g. "name_similarity", "tax_id_equal", "country_mismatch"
	Detail string  `json:"detail"` // the compared values
	Weight float64 `json:"weight"` // contribution to the score
}

// Weights of the exact evidence added to the name similarity. The zero value
// is not useful; start from DefaultWeights.
type Weights struct {
	TaxIDEqual       float64 // strong: a tax id names one legal entity
	TaxIDDiffer      float64 // strong negative: two tax ids, two legal entities
	DomainEqual      float64 // medium, only when names already agree (MinNameForDomain): subsidiaries share domains
	DomainDiffer     float64 // weak negative: companies own several domains
	MinNameForDomain float64
	PhoneEqual       float64 // weak: switchboards and agencies reuse numbers
	PostalEqual      float64
	PostalDiffer     float64
	CountryMismatch  float64 // strong negative: separate legal entities per country
}

// DefaultWeights are the evidence weights used unless configured otherwise.
func DefaultWeights() Weights {
	return Weights{
		TaxIDEqual:       0.30,
		TaxIDDiffer:      -0.60,
		DomainEqual:      0.12,
		DomainDiffer:     -0.05,
		MinNameForDomain: 0.75,
		PhoneEqual:       0.03,
		PostalEqual:      0.04,
		PostalDiffer:     -0.06,
		CountryMismatch:  -0.60,
	}
}

// Score compares a record with a golden record's features and returns a
// score in [0, 1] with the evidence behind it.
func Score(w Weights, a, b *Features) (float64, []Evidence) {
	return score(w, a, prepareAll(a), b, prepareAll(b))
}

func prepareAll(f *Features) []nameForm {
	ns := f.names()
	out := make([]nameForm, len(ns))
	for i, n := range ns {
		out[i] = prepare(n)
	}
	return out
}

func score(w Weights, a *Features, an []nameForm, b *Features, bn []nameForm) (float64, []Evidence) {
	sim, words := 0.0, false
	for _, x := range an {
		for _, y := range bn {
			s, w := nameSim(x, y)
			if s > sim {
				sim = s
			}
			words = words || w
		}
	}
	ev := make([]Evidence, 0, 4)
	ev = append(ev, Evidence{Kind: "name_similarity", Detail: fmt.Sprintf("%q ~ %q", a.Name+alt(a.Legal), b.Name+alt(b.Legal)), Weight: round(sim)})
	s := sim
	add := func(kind, detail string, weight float64) {
		s += weight
		ev = append(ev, Evidence{Kind: kind, Detail: detail, Weight: weight})
	}
	if a.Country != "" && b.Country != "" && a.Country != b.Country {
		add("country_mismatch", a.Country+" != "+b.Country, w.CountryMismatch)
	}
	switch {
	case a.TaxID == "" || b.TaxID == "":
	case a.TaxID == b.TaxID:
		add("tax_id_equal", a.TaxID, w.TaxIDEqual)
	default:
		add("tax_id_differ", a.TaxID+" != "+b.TaxID, w.TaxIDDiffer)
	}
	switch {
	case a.Domain == "" || b.Domain == "" || normalize.IsFreeMail(a.Domain) || normalize.IsFreeMail(b.Domain):
	case a.Domain == b.Domain:
		if words && sim >= w.MinNameForDomain {
			add("domain_equal", a.Domain, w.DomainEqual)
		} else {
			ev = append(ev, Evidence{Kind: "domain_equal_names_differ", Detail: a.Domain})
		}
	default:
		add("domain_differ", a.Domain+" != "+b.Domain, w.DomainDiffer)
	}
	if a.Phone != "" && a.Phone == b.Phone {
		add("phone_equal", a.Phone, w.PhoneEqual)
	}
	switch {
	case a.Postal == "" || b.Postal == "" || a.Country != b.Country:
	case a.Postal == b.Postal:
		add("postal_code_equal", a.Postal, w.PostalEqual)
	default:
		add("postal_code_differ", a.Postal+" != "+b.Postal, w.PostalDiffer)
	}
	return round(min(1, max(0, s))), ev
}

func alt(legal string) string {
	if legal == "" {
		return ""
	}
	return " / " + legal
}

// round keeps four decimals so that scores print and compare stably.
func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 4, 64), 64)
	return v
}
