package normalize

import "strings"

// Address is a postal address as a source system sends it.
type Address struct {
	Line1, Line2, City, Region, PostalCode, Country string
}

// NormalAddress is an address in comparable form.
type NormalAddress struct {
	Street     string // folded, abbreviations expanded: "hauptstrasse 5"
	City       string // folded, common exonyms mapped: "munich" → "muenchen"
	Region     string
	PostalCode string // upper case without spaces or dashes; US ZIP+4 cut to 5
	Country    string // ISO 3166-1 alpha-2
}

// streetWords expands street abbreviations (English, German, French, Spanish).
var streetWords = map[string]string{
	"st": "street", "str": "strasse", "rd": "road", "ave": "avenue", "av": "avenue", "blvd": "boulevard",
	"dr": "drive", "ln": "lane", "ct": "court", "pl": "place", "sq": "square", "hwy": "highway",
	"pkwy": "parkway", "ste": "suite", "apt": "apartment", "fl": "floor", "bldg": "building",
	"n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
	"se": "southeast", "sw": "southwest", "bd": "boulevard", "pza": "plaza", "c": "calle",
}

// cityExonyms maps folded foreign names of cities to their local folded name.
var cityExonyms = map[string]string{
	"munich": "muenchen", "munchen": "muenchen", "cologne": "koeln", "koln": "koeln", "nuremberg": "nuernberg",
	"nurnberg": "nuernberg", "vienna": "wien", "zurich": "zuerich", "geneva": "geneve", "genf": "geneve",
	"milan": "milano", "rome": "roma", "turin": "torino", "florence": "firenze", "naples": "napoli",
	"venice": "venezia", "lisbon": "lisboa", "prague": "praha", "warsaw": "warszawa", "cracow": "krakow",
	"copenhagen": "koebenhavn", "kobenhavn": "koebenhavn", "gothenburg": "goeteborg", "goteborg": "goeteborg",
	"brussels": "bruxelles", "brussel": "bruxelles", "antwerp": "antwerpen", "the hague": "den haag",
	"athens": "athina", "moscow": "moskva", "st petersburg": "sankt peterburg", "bucharest": "bucuresti",
	"belgrade": "beograd", "seville": "sevilla", "saragossa": "zaragoza",
}

// PostalAddress canonicalises an address. The country, when present, must be
// an ISO 3166-1 alpha-2 code.
func PostalAddress(a Address) (NormalAddress, error) {
	c, err := Country(a.Country)
	if err != nil {
		return NormalAddress{}, &Error{Field: "address.country", Value: a.Country, Reason: err.(*Error).Reason}
	}
	street := addrWords(strings.TrimSpace(a.Line1 + " " + a.Line2))
	for i, w := range street {
		if e, ok := streetWords[w]; ok {
			street[i] = e
		} else if strings.HasSuffix(w, "str") && len(w) > 5 {
			street[i] = w + "asse" // Hauptstr. → hauptstrasse
		}
	}
	city := strings.Join(addrWords(a.City), " ")
	if e, ok := cityExonyms[city]; ok {
		city = e
	}
	return NormalAddress{
		Street:     strings.Join(street, " "),
		City:       city,
		Region:     strings.Join(addrWords(a.Region), " "),
		PostalCode: PostalCode(a.PostalCode, c),
		Country:    c,
	}, nil
}

// PostalCode canonicalises a postal code: upper case, no spaces or dashes;
// a US ZIP+4 keeps its 5-digit ZIP.
func PostalCode(raw, country string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(raw) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if country == "US" && len(s) == 9 && allDigits(s) {
		s = s[:5]
	}
	return s
}

func addrWords(s string) []string {
	s = Fold(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '.' || r == '\'':
		case isAlnum(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}
