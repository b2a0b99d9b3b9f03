package normalize

import "strings"

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

var countries = func() map[string]bool {
	m := make(map[string]bool, 250)
	for _, c := range strings.Fields(iso3166) {
		m[c] = true
	}
	return m
}()

// countryAliases are codes seen in real data that mean an assigned code.
var countryAliases = map[string]string{"UK": "GB", "EL": "GR"}

// Country validates and canonicalises an ISO 3166-1 alpha-2 country code
// (case and surrounding space are ignored; "UK" is accepted for GB). An empty
// value returns "" and no error: country is optional on a source record; the
// caller decides whether it is required.
func Country(raw string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(raw))
	if c == "" {
		return "", nil
	}
	if a, ok := countryAliases[c]; ok {
		c = a
	}
	if len(c) != 2 || !countries[c] {
		return "", invalid("country", raw, "not an ISO 3166-1 alpha-2 country code")
	}
	return c, nil
}

// IsCountry reports whether c is an assigned ISO 3166-1 alpha-2 code.
func IsCountry(c string) bool { return countries[c] }
