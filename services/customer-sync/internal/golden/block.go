package golden

import (
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/normalize"
)

// NoCountry is the match block of source records that name no country
// (neither an address country nor a tax id's prefix).
const NoCountry = "--"

// BlockOf is the match block of a source record: the coarsest blocking key
// that holds every record it can be merged with automatically. That is its
// country: name and postal-code blocks of the match index are scoped by
// country, a tax id carries its country, and a country mismatch weighs
// −0.60, so records of two countries never reach the merge threshold. The
// address country wins, else the tax id's prefix, else the country of an
// international phone number whose calling code is one country's, else
// NoCountry. A record without a country matches records with one in that
// block through the unscoped tax-id, domain and phone blocks. The
// service routes a source record to the block of its first event and keeps
// it there (the block is sticky), so a record whose country changes does
// not move. An invalid record gives NoCountry (Validate refuses it first).
func BlockOf(e SourceUpserted) string {
	_, f, err := identity(e)
	if err != nil {
		return NoCountry
	}
	if f.Country != "" {
		return f.Country
	}
	if len(f.TaxID) >= 2 && normalize.IsCountry(f.TaxID[:2]) {
		return f.TaxID[:2]
	}
	if c := normalize.PhoneCountry(f.Phone); c != "" {
		return c
	}
	return NoCountry
}

// BlockOfID is the match block a golden id was created in (ApplyIn), from
// its first two bytes; ok is false for an id that carries no block.
func BlockOfID(id string) (block string, ok bool) {
	h, found := strings.CutPrefix(id, "cus-")
	if !found || len(h) != 16 {
		return "", false
	}
	v, err := strconv.ParseUint(h[:4], 16, 16)
	if err != nil {
		return "", false
	}
	b := string([]byte{byte(v >> 8), byte(v)})
	if b != NoCountry && !normalize.IsCountry(b) {
		return "", false
	}
	return b, true
}
