package normalize

import (
	"strconv"
	"strings"
)

// iso4217 lists active ISO 4217 currency codes.
const iso4217 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD " +
	"HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD " +
	"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG " +
	"QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD " +
	"TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL"

var currencies = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(iso4217) {
		m[c] = true
	}
	return m
}()

// Money renders an exact amount (integer minor units) with its ISO 4217
// currency as the canonical attribute text "EUR 1250000" (minor units).
func Money(minor int64, currency string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(currency))
	if !currencies[c] {
		return "", invalid("currency", currency, "not an ISO 4217 currency code")
	}
	return c + " " + strconv.FormatInt(minor, 10), nil
}

// ParseMoney reads the canonical text written by Money.
func ParseMoney(s string) (minor int64, currency string, err error) {
	cur, amt, ok := strings.Cut(s, " ")
	if !ok || !currencies[cur] {
		return 0, "", invalid("money", s, "want \"CUR minorunits\"")
	}
	minor, err = strconv.ParseInt(amt, 10, 64)
	if err != nil {
		return 0, "", invalid("money", s, "amount is not an integer number of minor units")
	}
	return minor, cur, nil
}
