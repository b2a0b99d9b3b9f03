package match

import (
	"sort"
	"strings"

	"github.com/isthmus/isthmus/pkg/normalize"
)

// Features are the normalised identity attributes of a record or of a golden
// record: exactly what blocking and scoring need. Empty means unknown.
type Features struct {
	Name    string // normalize.CompanyName.Key of the name as sold
	Legal   string // normalize.CompanyName.Key of the legal name, if different
	Country string // ISO 3166-1 alpha-2
	Domain  string // normalize.Domain
	TaxID   string // normalize.TaxID (with country prefix)
	Phone   string // normalize.Phone (E.164)
	Postal  string // normalize.PostalCode
}

// names returns the distinct non-empty names.
func (f *Features) names() []string {
	switch {
	case f.Name == "" && f.Legal == "":
		return nil
	case f.Legal == "" || f.Legal == f.Name:
		return []string{f.Name}
	case f.Name == "":
		return []string{f.Legal}
	}
	return []string{f.Name, f.Legal}
}

// nameForm is a name prepared for comparison.
type nameForm struct {
	plain   string   // folded, no spaces
	compact string   // phonetic, no spaces
	sorted  string   // phonetic words sorted, no spaces (word-order proof)
	words   []string // phonetic words
	initial string   // first letters of the words
}

func prepare(key string) nameForm {
	words := strings.Fields(key)
	ph := make([]string, len(words))
	var ini strings.Builder
	for i, w := range words {
		ph[i] = normalize.Phonetic(w)
		ini.WriteByte(w[0])
	}
	s := append([]string(nil), ph...)
	sort.Strings(s)
	return nameForm{
		plain:   strings.ReplaceAll(key, " ", ""),
		compact: strings.Join(ph, ""),
		sorted:  strings.Join(s, ""),
		words:   ph,
		initial: ini.String(),
	}
}

// nameSim compares two prepared names in [0, 1]: the mean of the
// Jaro-Winkler similarity of the compact phonetic forms (the better of
// written and sorted word order) and the weighted token overlap; an acronym
// of the other name's initials scores at least 0.8. It also reports whether
// the names agree word for word (token overlap at least 0.75, or an
// acronym): only then may a shared domain count as evidence, because a
// parent and its subsidiary ("Deutsche Telekom" / "Deutsche Telekom IT")
// share a domain and differ by a word.
func nameSim(a, b nameForm) (float64, bool) {
	switch {
	case a.plain == b.plain:
		return 1, true
	case a.compact == b.compact:
		// Equal once spelling is ignored (Muller / Mueller, Hofmann /
		// Hoffmann): very likely, but two families can spell differently.
		return 0.96, true
	}
	jw := max(JaroWinkler(a.compact, b.compact), JaroWinkler(a.sorted, b.sorted))
	tok := TokenOverlap(a.words, b.words)
	s := 0.5*jw + 0.5*tok
	if len(a.words) == 1 && len(b.words) == 1 {
		s = jw // one word each: the overlap would count the same typo twice
	}
	if isAcronym(a, b) || isAcronym(b, a) {
		return max(s, 0.8), true
	}
	return s, tok >= 0.75
}

func isAcronym(short, long nameForm) bool {
	return len(short.words) == 1 && len(long.words) >= 2 && len(short.compact) >= 2 &&
		short.compact == normalize.Phonetic(long.initial)
}

// Raw is a record's identity attributes as a source system sends them.
type Raw struct {
	Name, LegalName, Country, Website, TaxID, Phone, PostalCode string
}

// FromRaw normalises and validates raw attributes into Features. The first
// validation error is returned (an *normalize.Error).
func FromRaw(r Raw) (Features, error) {
	var f Features
	country, err := normalize.Country(r.Country)
	if err != nil {
		return f, err
	}
	f.Country = country
	if r.Name == "" && r.LegalName == "" {
		_, err := normalize.Name("")
		return f, err
	}
	if r.Name != "" {
		n, err := normalize.Name(r.Name)
		if err != nil {
			return f, err
		}
		f.Name = n.Key
	}
	if r.LegalName != "" {
		n, err := normalize.Name(r.LegalName)
		if err != nil {
			return f, &normalize.Error{Field: "legal_name", Value: r.LegalName, Reason: err.(*normalize.Error).Reason}
		}
		if n.Key != f.Name {
			f.Legal = n.Key
		}
	}
	if f.Name == "" {
		f.Name, f.Legal = f.Legal, ""
	}
	if f.Domain, err = normalize.Domain(r.Website); err != nil {
		return f, err
	}
	if f.TaxID, err = normalize.TaxID(r.TaxID, country); err != nil {
		return f, err
	}
	if f.Phone, err = normalize.Phone(r.Phone, country); err != nil {
		return f, err
	}
	f.Postal = normalize.PostalCode(r.PostalCode, country)
	return f, nil
}

// Golden is a golden record's surviving identity attributes, already
// normalised (as customer-sync keeps them and mdm.customer.v1 carries them).
type Golden struct {
	Name, LegalName, Country, Domain, TaxID, Phone, Postal string
}

// FromGolden returns the match features of a golden record. customer-sync's
// index and the gateway's read model both derive features with it, so a
// record matches the same way in the stream and in CheckDuplicate.
func FromGolden(g Golden) Features {
	f := Features{Country: g.Country, Domain: g.Domain, TaxID: g.TaxID, Phone: g.Phone, Postal: g.Postal}
	if n, err := normalize.Name(g.Name); err == nil {
		f.Name = n.Key
	}
	if n, err := normalize.Name(g.LegalName); err == nil && n.Key != f.Name {
		f.Legal = n.Key
	}
	if f.Name == "" {
		f.Name, f.Legal = f.Legal, ""
	}
	return f
}
