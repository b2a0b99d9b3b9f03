package restjson

import (
	"strconv"
	"unicode/utf8"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
)

// The PriceQuote answer is the gateway's hottest: written from its Go
// structs, it costs a sixth of what reading it through protoreflect does
// (BenchmarkQuoteResponse). The output is byte for byte the planned
// encoder's (TestTypedSameAsPlanned fills every field at random, so a field
// added to these messages and not here fails it); anything the JSON mapping
// refuses (invalid UTF-8, a timestamp out of range) goes to protojson as
// before.

func appendPriceQuote(b []byte, r *pricingv1.PriceQuoteResponse) ([]byte, error) {
	var err error
	b = append(b, `{"erpCustomerId":`...)
	if b, err = appendUTF8(b, r.ErpCustomerId); err != nil {
		return b, err
	}
	b = append(b, `,"currencyCode":`...)
	if b, err = appendUTF8(b, r.CurrencyCode); err != nil {
		return b, err
	}
	b = append(b, `,"region":`...)
	if b, err = appendUTF8(b, r.Region); err != nil {
		return b, err
	}
	b = append(b, `,"lines":[`...)
	for i, l := range r.Lines {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendPricedLine(b, l); err != nil {
			return b, err
		}
	}
	b = append(b, `],"subtotal":`...)
	if b, err = appendMoney(b, r.Subtotal); err != nil {
		return b, err
	}
	b = append(b, `,"taxTotal":`...)
	if b, err = appendMoney(b, r.TaxTotal); err != nil {
		return b, err
	}
	b = append(b, `,"grandTotal":`...)
	if b, err = appendMoney(b, r.GrandTotal); err != nil {
		return b, err
	}
	b = append(b, `,"priceBookVersion":`...)
	b = appendInt64(b, r.PriceBookVersion)
	b = append(b, `,"freshness":`...)
	if b, err = appendFreshness(b, r.Freshness); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func appendPricedLine(b []byte, l *pricingv1.PricedLine) ([]byte, error) {
	if l == nil {
		l = &pricingv1.PricedLine{}
	}
	var err error
	b = append(b, `{"lineNumber":`...)
	b = strconv.AppendInt(b, int64(l.LineNumber), 10)
	b = append(b, `,"sku":`...)
	if b, err = appendUTF8(b, l.Sku); err != nil {
		return b, err
	}
	b = append(b, `,"quantity":`...)
	b = appendInt64(b, l.Quantity)
	b = append(b, `,"listPrice":`...)
	if b, err = appendMoney(b, l.ListPrice); err != nil {
		return b, err
	}
	b = append(b, `,"volumeTier":`...)
	if l.VolumeTier == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"minQuantity":`...)
		b = appendInt64(b, l.VolumeTier.MinQuantity)
		b = append(b, `,"unitPrice":`...)
		if b, err = appendMoney(b, l.VolumeTier.UnitPrice); err != nil {
			return b, err
		}
		b = append(b, '}')
	}
	b = append(b, `,"customerDiscountBps":`...)
	b = strconv.AppendInt(b, int64(l.CustomerDiscountBps), 10)
	b = append(b, `,"priceBookId":`...)
	if b, err = appendUTF8(b, l.PriceBookId); err != nil {
		return b, err
	}
	b = append(b, `,"netUnitPrice":`...)
	if b, err = appendMoney(b, l.NetUnitPrice); err != nil {
		return b, err
	}
	b = append(b, `,"lineTotal":`...)
	if b, err = appendMoney(b, l.LineTotal); err != nil {
		return b, err
	}
	b = append(b, `,"taxRateBps":`...)
	b = strconv.AppendInt(b, int64(l.TaxRateBps), 10)
	b = append(b, `,"tax":`...)
	if b, err = appendMoney(b, l.Tax); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func appendMoney(b []byte, m *typev1.Money) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"currencyCode":`...)
	if b, err = appendUTF8(b, m.CurrencyCode); err != nil {
		return b, err
	}
	b = append(b, `,"unitsMinor":`...)
	b = appendInt64(b, m.UnitsMinor)
	return append(b, '}'), nil
}

func appendFreshness(b []byte, f *typev1.Freshness) ([]byte, error) {
	if f == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"asOf":`...)
	if f.AsOf == nil {
		b = append(b, "null"...)
	} else if b, err = appendOther(b, f.AsOf.ProtoReflect()); err != nil {
		return b, err
	}
	b = append(b, `,"lag":`...)
	if f.Lag == nil {
		b = append(b, "null"...)
	} else if b, err = appendOther(b, f.Lag.ProtoReflect()); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// appendInt64 writes an int64 as the JSON mapping does: a quoted decimal.
func appendInt64(b []byte, v int64) []byte {
	b = append(b, '"')
	return append(strconv.AppendInt(b, v, 10), '"')
}

func appendUTF8(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, errFallback
	}
	return appendString(b, s), nil
}
