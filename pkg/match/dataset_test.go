package match_test

// The labelled pair data set: a deterministic generator (this file, output
// committed as matchtest/pairs/pairs_generated.csv; regenerate with
// `go test ./match -run TestGeneratedPairsAreFresh -update`) plus
// hand-written hard cases in matchtest/pairs/pairs_hard.csv. The generator never
// looks at the matcher: each trap is produced the way such records arise in
// real CRM and ERP data.

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
)

var update = flag.Bool("update", false, "rewrite matchtest/pairs/pairs_generated.csv")

const generatedPairs = "matchtest/" + matchtest.GeneratedFile

type gen struct {
	r    *rand.Rand
	used map[string]bool
}

var (
	syllA  = []string{"Zen", "Val", "Brio", "Cor", "Nor", "Ast", "Quin", "Hel", "Ver", "Lum", "Tor", "Kal", "Mar", "Sol", "Dex", "Fen", "Gal", "Ori", "Pax", "Rho", "Tev", "Ul", "Wex", "Yor", "Bel", "Cas", "Dru", "Ell"}
	syllB  = []string{"trix", "ora", "nex", "vant", "dia", "ion", "tara", "mont", "ley", "ford", "wick", "gard", "ix", "ano", "eno", "ara", "ton", "berg", "vik", "sen", "mar", "dal"}
	family = []string{"Müller", "Schröder", "Weiß", "Böhm", "Kühn", "Günther", "Jäger", "Köhler", "Schäfer", "Krüger",
		"Dubois", "Lefèvre", "Gérard", "Martín", "García", "Núñez", "Søren", "Ångström", "Łukasz", "Dvořák",
		"Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Rossi", "Bianchi", "Novak", "Johansson", "Lindqvist",
		"Smith", "Taylor", "Brown", "Wilson", "Clarke", "Murphy", "Kelly", "Walsh", "Evans", "Hughes"}
	trades = []string{"Logistics", "Software", "Consulting", "Engineering", "Foods", "Textiles", "Analytics", "Maritime",
		"Robotics", "Energy", "Media", "Packaging", "Biotech", "Furniture", "Optics", "Aerospace", "Insurance", "Capital",
		"Construction", "Pharma", "Retail", "Mining", "Telecom", "Water", "Security", "Printing", "Chemicals", "Motors"}
	translit = map[string]string{"ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss", "é": "e", "è": "e", "í": "i", "ñ": "n", "ú": "u",
		"ø": "oe", "Å": "Aa", "Ł": "L", "ř": "r", "Ü": "Ue", "Ö": "Oe", "á": "a"}
)

type country struct {
	code, tld, cc, trunk string
	forms                []string
	long                 map[string]string // legal form → written out
	cities               [][2]string       // local name, exonym ("" if none)
	taxLen               int
}

var countriesGen = []country{
	{"DE", "de", "49", "0", []string{"GmbH", "AG", "GmbH & Co. KG"}, map[string]string{"GmbH": "Gesellschaft mit beschränkter Haftung"}, [][2]string{{"München", "Munich"}, {"Köln", "Cologne"}, {"Nürnberg", "Nuremberg"}, {"Hamburg", ""}}, 9},
	{"AT", "at", "43", "0", []string{"GmbH", "AG"}, map[string]string{"GmbH": "Gesellschaft mbH"}, [][2]string{{"Wien", "Vienna"}, {"Graz", ""}}, 0},
	{"FR", "fr", "33", "0", []string{"SA", "SAS", "SARL"}, map[string]string{"SA": "Société Anonyme", "SAS": "S.A.S."}, [][2]string{{"Paris", ""}, {"Lyon", ""}}, 0},
	{"GB", "co.uk", "44", "0", []string{"Ltd", "PLC", "Limited"}, map[string]string{"Ltd": "Limited", "PLC": "Public Limited Company"}, [][2]string{{"London", ""}, {"Leeds", ""}}, 9},
	{"US", "com", "1", "", []string{"Inc.", "LLC", "Corp."}, map[string]string{"Inc.": "Incorporated", "Corp.": "Corporation", "LLC": "L.L.C."}, [][2]string{{"Austin", ""}, {"Boston", ""}}, 9},
	{"NL", "nl", "31", "0", []string{"B.V.", "N.V."}, map[string]string{"B.V.": "Besloten Vennootschap", "N.V.": "NV"}, [][2]string{{"Den Haag", "The Hague"}, {"Utrecht", ""}}, 0},
	{"IT", "it", "39", "", []string{"S.p.A.", "S.r.l."}, map[string]string{"S.p.A.": "SpA", "S.r.l.": "SRL"}, [][2]string{{"Milano", "Milan"}, {"Roma", "Rome"}}, 11},
	{"ES", "es", "34", "", []string{"S.A.", "S.L."}, map[string]string{"S.A.": "Sociedad Anónima", "S.L.": "SL"}, [][2]string{{"Sevilla", "Seville"}, {"Madrid", ""}}, 0},
	{"SE", "se", "46", "0", []string{"AB"}, map[string]string{"AB": "AB (publ)"}, [][2]string{{"Göteborg", "Gothenburg"}, {"Malmö", ""}}, 0},
	{"DK", "dk", "45", "", []string{"A/S", "ApS"}, map[string]string{"A/S": "AS"}, [][2]string{{"København", "Copenhagen"}, {"Aarhus", ""}}, 8},
	{"CH", "ch", "41", "0", []string{"AG", "GmbH", "SA"}, map[string]string{"AG": "A.G."}, [][2]string{{"Zürich", "Zurich"}, {"Genève", "Geneva"}}, 0},
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

// stem invents a brand-like company stem never used before in the set.
func (g *gen) stem() string {
	for {
		var s string
		switch g.r.IntN(3) {
		case 0:
			s = g.pick(syllA) + g.pick(syllB)
		case 1:
			s = g.pick(family)
		default:
			s = g.pick(syllA) + g.pick(syllB) + " " + g.pick(trades)
		}
		if !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

func (g *gen) country() country { return countriesGen[g.r.IntN(len(countriesGen))] }

func (g *gen) phone(c country) string {
	n := fmt.Sprintf("%d%02d%03d%04d", 2+g.r.IntN(7), g.r.IntN(100), g.r.IntN(1000), g.r.IntN(10000))
	if c.code == "US" {
		return fmt.Sprintf("(%s) %s-%s", n[:3], n[3:6], n[6:])
	}
	return c.trunk + n[:2] + " " + n[2:9]
}

func intlPhone(c country, national string) string {
	d := strings.NewReplacer(" ", "", "(", "", ")", "", "-", "").Replace(national)
	d = strings.TrimPrefix(d, c.trunk)
	return "+" + c.cc + " " + d
}

func (g *gen) postal(c country) string {
	switch c.code {
	case "GB":
		return fmt.Sprintf("SW%d %dAB", 1+g.r.IntN(9), 1+g.r.IntN(9))
	case "NL":
		return fmt.Sprintf("%04d AB", 1000+g.r.IntN(8999))
	case "US", "DE", "FR", "IT", "ES":
		return fmt.Sprintf("%05d", 10000+g.r.IntN(89999))
	}
	return fmt.Sprintf("%04d", 1000+g.r.IntN(8999))
}

func (g *gen) tax(c country) string {
	switch c.code {
	case "DE", "GB":
		return fmt.Sprintf("%s%09d", c.code, g.r.IntN(1e9))
	case "US":
		return fmt.Sprintf("%02d-%07d", 10+g.r.IntN(89), g.r.IntN(1e7))
	case "IT":
		return fmt.Sprintf("IT%011d", g.r.Int64N(1e11))
	case "DK":
		return fmt.Sprintf("DK%08d", g.r.IntN(1e8))
	case "AT":
		return fmt.Sprintf("ATU%08d", g.r.IntN(1e8))
	case "NL":
		return fmt.Sprintf("NL%09dB%02d", g.r.IntN(1e9), 1+g.r.IntN(20))
	case "FR":
		return fmt.Sprintf("FR%02d%09d", g.r.IntN(100), g.r.IntN(1e9))
	case "SE":
		return fmt.Sprintf("SE%010d01", g.r.Int64N(1e10))
	case "CH":
		return fmt.Sprintf("CHE-%03d.%03d.%03d MWST", g.r.IntN(1000), g.r.IntN(1000), g.r.IntN(1000))
	case "ES":
		return fmt.Sprintf("ESB%08d", g.r.IntN(1e8))
	}
	return ""
}

// reformatTax writes the same tax id the way another system would.
func reformatTax(t, country string) string {
	switch {
	case strings.HasPrefix(t, country) && len(t) > 6 && country != "CH":
		body := t[len(country):]
		return body[:3] + " " + body[3:6] + " " + body[6:]
	case strings.Contains(t, "-"):
		return strings.ReplaceAll(t, "-", "")
	}
	return strings.ToLower(t[:2]) + "-" + t[2:]
}

func domainOf(stem string, c country) string {
	d := strings.ToLower(transliterate(stem))
	d = strings.NewReplacer(" ", "", "&", "", ".", "").Replace(d)
	return d + "." + c.tld
}

func transliterate(s string) string {
	for k, v := range translit {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// typo applies one keyboard-style error inside the first word of s (never
// on its first letter).
func (g *gen) typo(s string) string {
	end := strings.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	r := []rune(s[:end])
	if len(r) < 4 {
		return s + "s"
	}
	i := 1 + g.r.IntN(len(r)-2)
	switch g.r.IntN(4) {
	case 0: // swap
		r[i], r[i+1] = r[i+1], r[i]
	case 1: // drop
		r = append(r[:i], r[i+1:]...)
	case 2: // double
		r = append(r[:i+1], r[i:]...)
	default: // neighbour key
		r[i] = 'a' + (r[i]-'a'+1+26)%26
		if r[i] < 'a' || r[i] > 'z' {
			r[i] = 'e'
		}
	}
	return string(r) + s[end:]
}

func (g *gen) base(c country, stem string) match.Raw {
	form := g.pick(c.forms)
	r := match.Raw{
		Name:       stem + " " + form,
		Country:    c.code,
		Website:    "https://www." + domainOf(stem, c),
		Phone:      g.phone(c),
		PostalCode: g.postal(c),
	}
	return r
}

// maybe blanks attributes a CRM record often lacks.
func (g *gen) sparse(r match.Raw) match.Raw {
	if g.r.IntN(3) == 0 {
		r.Website = ""
	}
	if g.r.IntN(2) == 0 {
		r.Phone = ""
	}
	if g.r.IntN(3) == 0 {
		r.PostalCode = ""
	}
	return r
}

func generatePairs() []matchtest.Pair {
	g := &gen{r: rand.New(rand.NewPCG(20240611, 4)), used: map[string]bool{}}
	var out []matchtest.Pair
	add := func(label, trap string, a, b match.Raw) {
		out = append(out, matchtest.Pair{ID: fmt.Sprintf("g%03d", len(out)+1), Label: label, Trap: trap, A: a, B: b})
	}
	// --- same company -------------------------------------------------
	for range 30 { // legal-suffix variants
		c := g.country()
		a := g.base(c, g.stem())
		b := g.sparse(a)
		stem := strings.TrimSuffix(a.Name, " "+lastForm(a.Name, c))
		form := lastForm(a.Name, c)
		switch g.r.IntN(3) {
		case 0:
			b.Name = stem
		case 1:
			if l, ok := c.long[form]; ok {
				b.Name = stem + " " + l
			} else {
				b.Name = strings.ToUpper(stem) + " " + form
			}
		default:
			b.Name = stem + ", " + strings.ToUpper(strings.ReplaceAll(form, ".", ""))
		}
		add("same", "legal_suffix_variant", a, b)
	}
	for range 40 { // typos
		c := g.country()
		a := g.base(c, g.stem())
		b := g.sparse(a)
		b.Name = g.typo(a.Name)
		if g.r.IntN(10) == 0 { // a branch office: different postal code
			b.PostalCode = g.postal(c)
		}
		add("same", "typo", a, b)
	}
	for range 30 { // transliterations of names and cities
		c := g.country()
		stem := g.pick(family)
		if !strings.ContainsAny(stem, "üöäßéèíñúøÅŁřá") {
			stem = "Müller"
		}
		stem += " " + g.pick(trades)
		a := g.base(c, stem)
		b := g.sparse(a)
		b.Name = transliterate(a.Name)
		if g.r.IntN(2) == 0 {
			b.Name = strings.ToUpper(b.Name)
		}
		add("same", "transliteration", a, b)
	}
	for range 20 { // punctuation and case
		c := g.country()
		a := g.base(c, g.stem())
		b := g.sparse(a)
		fields := strings.Fields(a.Name)
		if len(fields[0]) <= 5 {
			fields[0] = strings.Join(strings.Split(strings.ToUpper(fields[0]), ""), ".") + "."
		} else {
			fields[0] = strings.ToLower(fields[0])
		}
		b.Name = strings.Join(fields, " ")
		b.Name = strings.ReplaceAll(b.Name, " ", g.pick([]string{" ", "-", "  "}))
		add("same", "punctuation_case", a, b)
	}
	for range 15 { // word order
		c := g.country()
		x, y := g.pick(family), g.pick(family)
		for y == x {
			y = g.pick(family)
		}
		form := g.pick(c.forms)
		a := g.base(c, x+" & "+y)
		a.Name = x + " & " + y + " " + form
		b := g.sparse(a)
		b.Name = y + " & " + x + " " + form
		if g.r.IntN(2) == 0 {
			b.Name = y + " and " + x
		}
		add("same", "word_order", a, b)
	}
	abbrev := [][2]string{{"International", "Intl"}, {"Manufacturing", "Mfg"}, {"Services", "Svcs"}, {"Brothers", "Bros"},
		{"Technologies", "Tech"}, {"Systems", "Sys"}, {"Holdings", "Hldgs"}, {"Laboratories", "Labs"}, {"Management", "Mgmt"}, {"National", "Natl"}}
	for i := range 20 { // abbreviations
		c := g.country()
		ab := abbrev[i%len(abbrev)]
		stem := g.pick(syllA) + g.pick(syllB)
		a := g.base(c, stem)
		a.Name = stem + " " + ab[0] + " " + g.pick(c.forms)
		b := g.sparse(a)
		b.Name = stem + " " + ab[1] + "."
		if i%3 == 0 {
			a.Name = "The " + a.Name
		}
		add("same", "abbreviation", a, b)
	}
	for range 25 { // trade name in CRM, legal name and tax id in ERP
		c := g.country()
		stem := g.stem()
		a := g.base(c, stem)
		a.Name = stem
		a.TaxID = g.tax(c)
		b := match.Raw{Name: stem + " " + g.pick([]string{"Holdings", "Group", "International"}) + " " + g.pick(c.forms),
			Country: c.code, TaxID: reformatTax(a.TaxID, c.code), PostalCode: a.PostalCode}
		if b.TaxID == "" || a.TaxID == "" {
			b.Website = a.Website
		}
		add("same", "trade_vs_legal_name", a, b)
	}
	for range 15 { // domain written differently
		c := g.country()
		a := g.base(c, g.stem())
		b := g.sparse(a)
		b.Name = strings.ToUpper(a.Name)
		b.Website = strings.ToUpper(strings.TrimPrefix(a.Website, "https://www.")) + "/contact?ref=crm"
		add("same", "domain_format", a, b)
	}
	for range 10 { // phone written internationally, city as exonym
		c := g.country()
		a := g.base(c, g.stem())
		b := a
		b.Phone = intlPhone(c, a.Phone)
		b.Website = ""
		b.Name = g.typo(a.Name)
		add("same", "phone_format", a, b)
	}
	// --- different companies ---------------------------------------------
	for range 40 { // same name, different country (often one brand domain)
		c1 := g.country()
		c2 := g.country()
		for c2.code == c1.code {
			c2 = g.country()
		}
		stem := g.stem()
		a := g.base(c1, stem)
		b := g.base(c2, stem)
		b.Name = stem + " " + g.pick(c2.forms)
		if g.r.IntN(2) == 0 {
			b.Website = a.Website
		}
		add("different", "same_name_other_country", a, b)
	}
	for range 40 { // subsidiaries sharing the parent's domain, same country
		c := g.country()
		stem := g.pick(syllA) + g.pick(syllB)
		for g.used[stem] {
			stem = g.pick(syllA) + g.pick(syllB)
		}
		g.used[stem] = true
		t1 := g.pick(trades)
		t2 := g.pick(trades)
		for t2 == t1 {
			t2 = g.pick(trades)
		}
		a := g.base(c, stem)
		a.Name = stem + " " + t1 + " " + g.pick(c.forms)
		b := g.base(c, stem)
		b.Website, b.Phone = a.Website, ""
		if g.r.IntN(3) == 0 { // parent vs subsidiary
			a.Name = stem + " " + g.pick(c.forms)
		}
		b.Name = stem + " " + t2 + " " + g.pick(c.forms)
		add("different", "subsidiary_shared_domain", a, b)
	}
	for range 30 { // reused phone numbers (shared office, agency, switchboard)
		c := g.country()
		a := g.base(c, g.stem())
		b := g.base(c, g.stem())
		b.Phone = a.Phone
		if g.r.IntN(2) == 0 {
			b.PostalCode = a.PostalCode // same building
		}
		add("different", "reused_phone", a, b)
	}
	for range 40 { // similar names, different companies
		c := g.country()
		var a, b match.Raw
		switch g.r.IntN(3) {
		case 0: // same trade, different stem that looks alike
			t := g.pick(trades)
			s1 := g.pick(syllA) + g.pick(syllB)
			s2 := s1[:len(s1)-1] + g.pick([]string{"a", "o", "is", "er", "an"})
			for s2 == s1 {
				s2 = s1[:len(s1)-1] + g.pick([]string{"a", "o", "is", "er", "an"})
			}
			a = g.base(c, s1+" "+t)
			b = g.base(c, s2+" "+t)
		case 1: // same family name, different trade
			f := g.pick(family)
			t1, t2 := g.pick(trades), g.pick(trades)
			for t2 == t1 {
				t2 = g.pick(trades)
			}
			a = g.base(c, f+" "+t1)
			b = g.base(c, f+" "+t2)
		default: // spelling variants of a family name are different families
			pairs := [][2]string{{"Meyer", "Maier"}, {"Schmidt", "Schmitt"}, {"Hoffmann", "Hofmann"}, {"Fischer", "Fiscer"}, {"Neumann", "Naumann"}, {"Hansen", "Hanson"}, {"Clarke", "Clark"}, {"Thomson", "Thompson"}}
			p := pairs[g.r.IntN(len(pairs))]
			t := g.pick(trades)
			a = g.base(c, p[0]+" "+t)
			b = g.base(c, p[1]+" "+t)
		}
		add("different", "similar_name", a, b)
	}
	for range 25 { // same name and country, different legal entities (tax ids differ)
		c := g.country()
		stem := g.pick(family) + " " + g.pick(trades)
		a := g.base(c, stem)
		b := g.base(c, stem)
		a.TaxID, b.TaxID = g.tax(c), g.tax(c)
		if a.TaxID == "" {
			a.TaxID, b.TaxID = fmt.Sprintf("%d", 10000+g.r.IntN(80000)), fmt.Sprintf("%d", 10000+g.r.IntN(80000))
		}
		b.Website = ""
		add("different", "same_name_different_tax_id", a, b)
	}
	return out
}

func lastForm(name string, c country) string {
	for _, f := range c.forms {
		if strings.HasSuffix(name, " "+f) {
			return f
		}
	}
	return ""
}

func TestGeneratedPairsAreFresh(t *testing.T) {
	got := matchtest.Render(generatePairs())
	if *update {
		if err := os.WriteFile(generatedPairs, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(generatedPairs)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./match -run TestGeneratedPairsAreFresh -update", generatedPairs)
	}
}
