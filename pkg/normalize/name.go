package normalize

import (
	"strings"
)

// CompanyName is a normalised company name.
type CompanyName struct {
	// Tokens are the significant words: folded, punctuation removed,
	// abbreviations expanded, legal form and a leading "the" removed.
	Tokens []string
	// Key is Tokens joined by single spaces ("mueller bau").
	Key string
	// Compact is Key without spaces ("muellerbau"), robust to word splits
	// such as "Coca-Cola" / "CocaCola".
	Compact string
	// LegalForm is the canonical legal form found at the end (or start) of
	// the name, e.g. "gmbh", "inc", "ltd", "sa"; "" if none.
	LegalForm string
}

// legalPhrases are multi-word legal forms, rewritten to their abbreviation
// before single-token suffixes are stripped. Matched on folded tokens.
var legalPhrases = []struct {
	words []string
	form  string
}{
	{[]string{"gesellschaft", "mit", "beschraenkter", "haftung"}, "gmbh"},
	{[]string{"gesellschaft", "mbh"}, "gmbh"},
	{[]string{"public", "limited", "company"}, "plc"},
	{[]string{"limited", "liability", "company"}, "llc"},
	{[]string{"limited", "liability", "partnership"}, "llp"},
	{[]string{"limited", "partnership"}, "lp"},
	{[]string{"societe", "anonyme"}, "sa"},
	{[]string{"sociedad", "anonima"}, "sa"},
	{[]string{"sociedade", "anonima"}, "sa"},
	{[]string{"societe", "par", "actions", "simplifiee"}, "sas"},
	{[]string{"societe", "a", "responsabilite", "limitee"}, "sarl"},
	{[]string{"sociedad", "limitada"}, "sl"},
	{[]string{"besloten", "vennootschap"}, "bv"},
	{[]string{"naamloze", "vennootschap"}, "nv"},
	{[]string{"kabushiki", "kaisha"}, "kk"},
	{[]string{"societa", "per", "azioni"}, "spa"},
	{[]string{"societa", "a", "responsabilita", "limitata"}, "srl"},
	{[]string{"proprietary", "limited"}, "pty"},
	{[]string{"pty", "ltd"}, "pty"},
	{[]string{"co", "ltd"}, "ltd"},
	{[]string{"and", "co", "kg"}, "kg"},
	{[]string{"and", "co", "kgaa"}, "kgaa"},
	{[]string{"sp", "z", "o", "o"}, "spzoo"},
	{[]string{"societas", "europaea"}, "se"},
	{[]string{"spolka", "z", "ograniczona", "odpowiedzialnoscia"}, "spzoo"},
}

// legalForms maps a single folded token that is a legal form to its canonical
// abbreviation. Tokens are compared after dots are removed, so "S.A.S." is
// "sas" and "B.V." is "bv".
var legalForms = map[string]string{
	"inc": "inc", "incorporated": "inc",
	"llc": "llc", "llp": "llp", "lp": "lp", "plc": "plc",
	"ltd": "ltd", "limited": "ltd", "ltda": "ltda",
	"corp": "corp", "corporation": "corp",
	"co": "co", "company": "co", "cie": "co",
	"gmbh": "gmbh", "mbh": "gmbh", "ag": "ag", "kg": "kg", "kgaa": "kgaa", "ohg": "ohg", "ug": "ug", "ev": "ev",
	"sa": "sa", "sas": "sas", "sasu": "sas", "sarl": "sarl", "eurl": "eurl", "sca": "sca", "se": "se",
	"sl": "sl", "slu": "sl", "sau": "sa", "srl": "srl", "spa": "spa", "sapa": "sapa",
	"bv": "bv", "nv": "nv", "vof": "vof", "cv": "cv",
	"pty": "pty", "pte": "pte", "bhd": "bhd", "sdn": "sdn",
	"kk": "kk", "yk": "yk",
	"oy": "oy", "oyj": "oyj", "ab": "ab", "publ": "ab", "as": "as", "asa": "asa", "aps": "aps", "a/s": "as",
	"sro": "sro", "as.": "as", "spzoo": "spzoo", "zrt": "zrt", "kft": "kft", "doo": "doo",
	"pvt": "pvt", "private": "pvt",
	"aktiengesellschaft": "ag", "kommanditgesellschaft": "kg", "aktiebolag": "ab", "aktiebolaget": "ab",
	"aksjeselskap": "as", "aktieselskab": "as", "anpartsselskab": "aps", "osakeyhtio": "oy", "naamloze": "nv", "ooo": "ooo", "zao": "zao", "oao": "oao", "pao": "pao",
}

// leadingLegal are legal forms written before the name in some countries.
var leadingLegal = map[string]string{"pt": "pt", "kk": "kk", "ooo": "ooo", "zao": "zao", "oao": "oao", "pao": "pao", "cv": "cv"}

// abbreviations expands common abbreviations in company names, so that
// "Intl Mfg Svcs" equals "International Manufacturing Services".
var abbreviations = map[string]string{
	"intl": "international", "int": "international", "inter": "international",
	"mfg": "manufacturing", "manuf": "manufacturing",
	"bros": "brothers", "bro": "brothers",
	"svc": "services", "svcs": "services", "srvcs": "services", "service": "services",
	"tech": "technology", "technologies": "technology", "techn": "technology",
	"sys": "systems", "system": "systems",
	"assoc": "associates", "assocs": "associates",
	"natl": "national", "nat": "national",
	"grp": "group", "hldgs": "holdings", "hldg": "holdings", "holding": "holdings",
	"mgmt": "management", "mgt": "management",
	"dev": "development", "devel": "development",
	"ind": "industries", "inds": "industries", "industry": "industries",
	"labs": "laboratories", "lab": "laboratories", "laboratory": "laboratories",
	"univ": "university", "ctr": "center", "centre": "center",
	"st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort",
	"dept": "department", "assn": "association",
	"eng": "engineering", "engg": "engineering",
	"solns": "solutions", "solution": "solutions",
	"pharma": "pharmaceuticals", "pharmaceutical": "pharmaceuticals",
	"chem": "chemicals", "chemical": "chemicals",
	"elec": "electric", "electrical": "electric",
	"ins": "insurance", "fin": "financial", "finl": "financial",
	"amer": "america", "us": "usa",
}

// Name normalises a company name. It returns an *Error when the name is
// missing (empty or only punctuation).
func Name(raw string) (CompanyName, error) {
	toks := nameTokens(raw)
	if len(toks) == 0 || !strings.ContainsFunc(raw, isLetterOrDigit) {
		if strings.TrimSpace(raw) == "" {
			return CompanyName{}, invalid("name", "", "name is required")
		}
		return CompanyName{}, invalid("name", raw, "name has no letters or digits")
	}
	toks = rewritePhrases(toks)
	var form string
	// Strip legal forms (and dangling "and"/"co") at the end, repeatedly, but
	// never the last remaining word: "Company AG" keeps "company".
	for len(toks) > 1 {
		last := toks[len(toks)-1]
		if f, ok := legalForms[last]; ok {
			if form == "" {
				form = f
			}
			toks = toks[:len(toks)-1]
			continue
		}
		if last == "and" || last == "the" {
			toks = toks[:len(toks)-1]
			continue
		}
		break
	}
	if len(toks) > 1 {
		if f, ok := leadingLegal[toks[0]]; ok {
			if form == "" {
				form = f
			}
			toks = toks[1:]
		}
	}
	if len(toks) > 1 && toks[0] == "the" {
		toks = toks[1:]
	}
	for i, t := range toks {
		if e, ok := abbreviations[t]; ok {
			toks[i] = e
		}
	}
	key := strings.Join(toks, " ")
	return CompanyName{
		Tokens:    toks,
		Key:       key,
		Compact:   strings.ReplaceAll(key, " ", ""),
		LegalForm: form,
	}, nil
}

// nameTokens folds raw and splits it into words. Dots and apostrophes join
// (S.A. → sa, O'Brien → obrien), "&" and "+" become "and", every other
// non-alphanumeric character separates words. A run of single letters
// ("A C M E", from "A.C.M.E" written with spaces) stays as written.
func nameTokens(raw string) []string {
	s := Fold(raw)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '.' || r == '\'' || r == '`':
			// joins
		case r == '&' || r == '+':
			b.WriteString(" and ")
		case r == '/':
			// keep "a/s" style forms joined: "A/S" → "as"
		case isAlnum(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}

func isAlnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r > 0x7f && isLetterOrDigit(r))
}

func rewritePhrases(toks []string) []string {
	out := make([]string, 0, len(toks))
	for i := 0; i < len(toks); {
		matched := false
		for _, p := range legalPhrases {
			if i+len(p.words) <= len(toks) && equalWords(toks[i:i+len(p.words)], p.words) {
				out = append(out, strings.Fields(p.form)...)
				i += len(p.words)
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, toks[i])
			i++
		}
	}
	return out
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
