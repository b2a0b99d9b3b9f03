package normalize

import "strings"

// callingCodes are ITU country calling codes by ISO country.
var callingCodes = map[string]string{
	"US": "1", "CA": "1", "PR": "1", "MX": "52", "BR": "55", "AR": "54", "CL": "56", "CO": "57", "PE": "51",
	"GB": "44", "IE": "353", "DE": "49", "AT": "43", "CH": "41", "FR": "33", "BE": "32", "NL": "31", "LU": "352",
	"IT": "39", "ES": "34", "PT": "351", "DK": "45", "SE": "46", "NO": "47", "FI": "358", "IS": "354",
	"PL": "48", "CZ": "420", "SK": "421", "HU": "36", "RO": "40", "BG": "359", "GR": "30", "HR": "385",
	"SI": "386", "RS": "381", "EE": "372", "LV": "371", "LT": "370", "UA": "380", "TR": "90", "IL": "972",
	"AE": "971", "SA": "966", "QA": "974", "EG": "20", "ZA": "27", "NG": "234", "KE": "254", "MA": "212",
	"IN": "91", "PK": "92", "CN": "86", "HK": "852", "TW": "886", "JP": "81", "KR": "82", "SG": "65",
	"MY": "60", "TH": "66", "VN": "84", "ID": "62", "PH": "63", "AU": "61", "NZ": "64", "RU": "7", "KZ": "7",
}

// keepTrunkZero are countries whose national numbers keep their leading 0
// after the country code.
var keepTrunkZero = map[string]bool{"IT": true, "SM": true, "VA": true}

// Phone canonicalises a telephone number to E.164 ("+4930123456"). A number
// without "+" or an international prefix ("00", or "011" in North America)
// is national and takes the calling code of country; its trunk "0" is
// dropped. Extensions ("x12", "ext. 12") are removed. Empty input gives ""
// and no error.
func Phone(raw, country string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return "", nil
	}
	for _, ext := range []string{"extension", "ext.", "ext", " x", "#"} {
		if i := strings.Index(s, ext); i > 0 {
			s = s[:i]
		}
	}
	intl := false
	var d strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			d.WriteByte(c)
		case c == '+' && d.Len() == 0 && !intl:
			intl = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || c == '\t':
		default:
			return "", invalid("phone", raw, "invalid character %q", rune(c))
		}
	}
	digits := d.String()
	switch {
	case intl:
	case strings.HasPrefix(digits, "00"):
		digits, intl = digits[2:], true
	case strings.HasPrefix(digits, "011") && callingCodes[country] == "1":
		digits, intl = digits[3:], true
	}
	if !intl {
		cc, ok := callingCodes[country]
		if !ok {
			if country == "" {
				return "", invalid("phone", raw, "national number without a country")
			}
			return "", invalid("phone", raw, "national number and no calling code known for %s; write it with +", country)
		}
		if cc == "1" {
			digits = strings.TrimPrefix(digits, "1")
		} else if !keepTrunkZero[country] {
			digits = strings.TrimPrefix(digits, "0")
		}
		digits = cc + digits
	}
	if digits == "" || digits[0] == '0' {
		return "", invalid("phone", raw, "country calling code cannot start with 0")
	}
	if len(digits) < 8 || len(digits) > 15 {
		return "", invalid("phone", raw, "E.164 numbers have 8 to 15 digits, got %d", len(digits))
	}
	return "+" + digits, nil
}

// PhoneCountry is the country of an E.164 number (Phone's output) when its
// calling code belongs to one country only (+49 → DE); "" for a shared code
// (+1, +7) or one not listed. Calling codes are a prefix code, so at most
// one code matches.
func PhoneCountry(e164 string) string {
	if !strings.HasPrefix(e164, "+") {
		return ""
	}
	found, n := "", 0
	for c, code := range callingCodes {
		if strings.HasPrefix(e164[1:], code) {
			found, n = c, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return found
}
