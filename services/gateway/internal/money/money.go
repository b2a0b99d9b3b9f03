// Package money holds exact amounts: integer minor units of an ISO-4217 currency,
// with overflow-checked arithmetic and half-even rounding. Never a float.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Sentinel errors callers test with errors.Is.
var (
	ErrUnknownCurrency  = errors.New("unknown ISO-4217 currency")
	ErrCurrencyMismatch = errors.New("currency mismatch")
	ErrOverflow         = errors.New("amount overflows int64 minor units")
)

// Amount is an exact amount of money in minor units of Currency.
type Amount struct {
	Currency string
	Minor    int64
}

func (a Amount) String() string { return Format(a) }

// minorUnits is the ISO-4217 exponent of every active currency whose exponent is not
// 2; every other currency in currencies2 has two decimals.
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

var currencies2 = []string{
	"AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
	"BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
	"CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN",
	"ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD",
	"HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
	"KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK",
	"MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
	"NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD",
	"RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP",
	"STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS",
	"UAH", "USD", "UZS", "VES", "WST", "XCD", "YER", "ZAR", "ZMW", "ZWG",
}

func init() {
	for _, c := range currencies2 {
		minorUnits[c] = 2
	}
}

// MinorUnits returns the ISO-4217 exponent of code (2 for USD, 0 for JPY, 3 for BHD).
func MinorUnits(code string) (int, error) {
	e, ok := minorUnits[code]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	return e, nil
}

// Format renders a as a decimal with the currency's exponent, e.g. "12.34 USD".
func Format(a Amount) string {
	e, err := MinorUnits(a.Currency)
	if err != nil || e == 0 {
		return fmt.Sprintf("%d %s", a.Minor, a.Currency)
	}
	sign, v := "", a.Minor
	if v < 0 {
		sign = "-"
	}
	u := uint64(v)
	if v < 0 {
		u = uint64(-(v + 1)) + 1
	}
	p := uint64(math.Pow10(e))
	return fmt.Sprintf("%s%d.%0*d %s", sign, u/p, e, u%p, a.Currency)
}

// MulDivHalfEven returns v*num/den rounded half to even, for num >= 0 and den > 0,
// exact over the full int64 range of the intermediate product.
func MulDivHalfEven(v, num, den int64) (int64, error) {
	if num < 0 || den <= 0 {
		return 0, fmt.Errorf("MulDivHalfEven: num %d and den %d must be >= 0 and > 0", num, den)
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-(v + 1)) + 1
	}
	hi, lo := bits.Mul64(u, uint64(num))
	if hi >= uint64(den) {
		return 0, ErrOverflow
	}
	q, r := bits.Div64(hi, lo, uint64(den))
	// Half-even: round up when the remainder is more than half, or exactly half and q is odd.
	twice := r * 2 // r < den <= MaxInt64, so no overflow
	if twice > uint64(den) || (twice == uint64(den) && q%2 == 1) {
		q++
	}
	if neg && q == 1<<63 {
		return math.MinInt64, nil
	}
	if q > math.MaxInt64 {
		return 0, ErrOverflow
	}
	if neg {
		return -int64(q), nil
	}
	return int64(q), nil
}

// Mul returns a*b or ErrOverflow.
func Mul(a, b int64) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, ErrOverflow
	}
	return c, nil
}

// Add returns a+b or ErrOverflow.
func Add(a, b int64) (int64, error) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, ErrOverflow
	}
	return c, nil
}

// Sub returns a-b or ErrOverflow.
func Sub(a, b int64) (int64, error) {
	if b == math.MinInt64 {
		return 0, ErrOverflow
	}
	return Add(a, -b)
}

// SameCurrency returns ErrCurrencyMismatch unless every amount is in want.
func SameCurrency(want string, as ...Amount) error {
	for _, a := range as {
		if a.Currency != want {
			return fmt.Errorf("%w: %s, want %s", ErrCurrencyMismatch, a.Currency, want)
		}
	}
	return nil
}
