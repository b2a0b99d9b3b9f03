package normalize

import (
	"regexp"
	"strings"
)

// taxPatterns are the shapes of national VAT / tax identifiers after the
// country prefix, for the countries where the shape is well defined. Other
// countries get the generic rule (4–20 letters or digits, at least 4 digits).
var taxPatterns = map[string]struct {
	re   *regexp.Regexp
	want string
}{
	"AT": {regexp.MustCompile(`^U\d{8}$`), "U followed by 8 digits"},
	"BE": {regexp.MustCompile(`^[01]\d{9}$`), "10 digits starting with 0 or 1"},
	"CH": {regexp.MustCompile(`^E\d{9}$`), "CHE followed by 9 digits"},
	"DE": {regexp.MustCompile(`^\d{9}$`), "9 digits"},
	"DK": {regexp.MustCompile(`^\d{8}$`), "8 digits"},
	"ES": {regexp.MustCompile(`^[A-Z0-9]\d{7}[A-Z0-9]$`), "9 characters: letter or digit, 7 digits, letter or digit"},
	"FI": {regexp.MustCompile(`^\d{8}$`), "8 digits"},
	"FR": {regexp.MustCompile(`^[A-HJ-NP-Z0-9]{2}\d{9}$`), "2 letters or digits followed by 9 digits"},
	"GB": {regexp.MustCompile(`^(\d{9}|\d{12}|GD\d{3}|HA\d{3})$`), "9 or 12 digits"},
	"GR": {regexp.MustCompile(`^\d{9}$`), "9 digits"},
	"IE": {regexp.MustCompile(`^\d{7}[A-W][A-I]?$|^\d[A-Z+*]\d{5}[A-W]$`), "8 or 9 characters"},
	"IT": {regexp.MustCompile(`^\d{11}$`), "11 digits"},
	"LU": {regexp.MustCompile(`^\d{8}$`), "8 digits"},
	"NL": {regexp.MustCompile(`^\d{9}B\d{2}$`), "9 digits, B, 2 digits"},
	"NO": {regexp.MustCompile(`^\d{9}$`), "9 digits"},
	"PL": {regexp.MustCompile(`^\d{10}$`), "10 digits"},
	"PT": {regexp.MustCompile(`^\d{9}$`), "9 digits"},
	"SE": {regexp.MustCompile(`^\d{10}01$`), "12 digits ending in 01"},
	"US": {regexp.MustCompile(`^\d{9}$`), "9 digits (EIN)"},
	"AU": {regexp.MustCompile(`^\d{11}$`), "11 digits (ABN)"},
	"CA": {regexp.MustCompile(`^\d{9}([A-Z]{2}\d{4})?$`), "9 digits, optionally RT/RC and 4 digits"},
	"JP": {regexp.MustCompile(`^\d{13}$`), "13 digits (corporate number)"},
}

var genericTax = regexp.MustCompile(`^[A-Z0-9]{4,20}$`)

// TaxID canonicalises a tax or VAT identifier to COUNTRY + BODY, upper case,
// without spaces, dashes, dots or slashes: "DE 123.456.789", "123456789" with
// country DE, and "de-123456789" all give "DE123456789". A country prefix in
// the value wins over the record's country (a company may be VAT-registered
// elsewhere); Greek "EL" becomes GR and Swiss "CHE…MWST" becomes "CHE…".
// Empty input gives "" and no error; a value without prefix and without a
// record country is refused, as is a body that does not fit the country.
func TaxID(raw, country string) (string, error) {
	s := strings.ToUpper(strings.TrimSpace(raw))
	if s == "" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '*':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '_':
		default:
			return "", invalid("tax_id", raw, "invalid character %q", rune(c))
		}
	}
	s = b.String()
	for _, suf := range []string{"MWST", "TVA", "IVA"} {
		if strings.HasPrefix(s, "CHE") {
			s = strings.TrimSuffix(s, suf)
		}
	}
	cc := ""
	if len(s) > 2 && isUpper(s[0]) && isUpper(s[1]) {
		p := s[:2]
		if a, ok := countryAliases[p]; ok && p == "EL" {
			p = a
		}
		if countries[p] {
			if p != "CH" || strings.HasPrefix(s[2:], "E") { // "CH…" without E is no UID prefix
				cc, s = p, s[2:]
			}
		}
	}
	if cc == "" {
		if country == "" {
			return "", invalid("tax_id", raw, "no country prefix and no country on the record")
		}
		cc = country
		s = strings.TrimPrefix(s, cc) // value written with its own prefix already
		if cc == "CH" && !strings.HasPrefix(s, "E") {
			s = "E" + s
		}
	}
	if p, ok := taxPatterns[cc]; ok {
		if !p.re.MatchString(s) {
			return "", invalid("tax_id", raw, "%s tax ids are %s", cc, p.want)
		}
	} else if !genericTax.MatchString(s) || countDigits(s) < 4 {
		return "", invalid("tax_id", raw, "must be 4 to 20 letters or digits with at least 4 digits")
	}
	if cc == "CH" {
		return "CH" + s, nil // CHE123456789
	}
	return cc + s, nil
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}
