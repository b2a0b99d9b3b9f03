package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/money"
	"github.com/isthmus/isthmus/services/gateway/internal/pricing"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Pricing implements isthmus.pricing.v1.PricingService.
type Pricing struct {
	pricingv1.UnimplementedPricingServiceServer
	*Deps
}

type pricingInput struct {
	cust     customerRef
	currency string
	region   string
	lines    []pricing.Line
}

func checkPricing(v *violations, in pricingInput) {
	checkCustomer(v, in.cust)
	checkCurrency(v, "currency_code", in.currency)
	checkID(v, "region", in.region)
	switch {
	case len(in.lines) == 0:
		v.add("lines", "must have at least one line")
	case len(in.lines) > maxLines:
		v.add("lines", fmt.Sprintf("must have at most %d lines", maxLines))
	}
	for i, l := range in.lines {
		if i >= maxLines {
			break
		}
		checkID(v, fmt.Sprintf("lines[%d].sku", i), l.SKU)
		if l.Quantity < 1 || l.Quantity > maxQty {
			v.add(fmt.Sprintf("lines[%d].quantity", i), fmt.Sprintf("must be between 1 and %d", maxQty))
		}
	}
}

// request loads everything a quote needs from the read models.
func (p *Pricing) request(ctx context.Context, in pricingInput) (pricing.Request, *readmodel.CustomerInfo, error) {
	cust, err := p.resolve(ctx, in.cust)
	if err != nil {
		return pricing.Request{}, nil, err
	}
	var skus []string
	seen := map[string]bool{}
	for _, l := range in.lines {
		if !seen[l.SKU] {
			seen[l.SKU] = true
			skus = append(skus, l.SKU)
		}
	}
	fields := make([]string, 0, 2*len(skus))
	for _, s := range skus {
		fields = append(fields, pricing.Key(s, in.region, in.currency, ""), pricing.Key(s, in.region, in.currency, cust))
	}
	vals, err := p.values(ctx,
		readmodel.Lookup{Model: readmodel.Customer, Fields: []string{cust}},
		readmodel.Lookup{Model: readmodel.PriceBook, Fields: fields},
	)
	if err != nil {
		return pricing.Request{}, nil, err
	}
	ci := as[readmodel.CustomerInfo](vals[0][0])
	if ci == nil {
		return pricing.Request{}, nil, status.Errorf(codes.NotFound, "ERP customer %s is unknown", cust)
	}
	req := pricing.Request{CustomerID: cust, TaxExempt: ci.TaxExempt, Currency: in.currency, Region: in.region, Lines: in.lines, Entries: make(map[string]pricing.Entries, len(skus)), Day: p.now()}
	for i, s := range skus {
		req.Entries[s] = pricing.Entries{Standard: as[pricing.Entry](vals[1][2*i]), Customer: as[pricing.Entry](vals[1][2*i+1])}
	}
	return req, ci, nil
}

func pricingErr(err error, lineField func(n int, field string) string) error {
	var le *pricing.LineError
	if errors.As(err, &le) {
		field := lineField(le.Line, le.Field)
		switch {
		case errors.Is(err, pricing.ErrNoPrice):
			return status.Errorf(codes.NotFound, "%s: %v", field, le.Err)
		case errors.Is(err, money.ErrCurrencyMismatch), errors.Is(err, pricing.ErrBadEntry):
			return status.Errorf(codes.FailedPrecondition, "%s: %v", field, le.Err)
		default:
			return fieldErr(field, le.Err.Error())
		}
	}
	if errors.Is(err, money.ErrUnknownCurrency) {
		return fieldErr("currency_code", "must be an ISO-4217 currency code such as USD")
	}
	if errors.Is(err, money.ErrOverflow) {
		return fieldErr("lines", "totals exceed the representable amount")
	}
	return status.Error(codes.Internal, "internal error")
}

func custRef(crm, erp string, set bool) customerRef { return customerRef{crm: crm, erp: erp, set: set} }

// PriceQuote prices every line of a quote.
func (p *Pricing) PriceQuote(ctx context.Context, r *pricingv1.PriceQuoteRequest) (*pricingv1.PriceQuoteResponse, error) {
	in := pricingInput{cust: custRef(r.GetCrmAccountId(), r.GetErpCustomerId(), r.Customer != nil), currency: r.GetCurrencyCode(), region: r.GetRegion()}
	for _, l := range r.GetLines() {
		in.lines = append(in.lines, pricing.Line{SKU: l.GetSku(), Quantity: l.GetQuantity()})
	}
	var v violations
	checkPricing(&v, in)
	if err := v.err(); err != nil {
		return nil, err
	}
	req, ci, err := p.request(ctx, in)
	if err != nil {
		return nil, err
	}
	q, err := pricing.Price(req)
	if err != nil {
		return nil, pricingErr(err, func(n int, f string) string { return fmt.Sprintf("lines[%d].%s", n-1, f) })
	}
	asOf := q.AsOf
	if ci.AsOf.After(asOf) {
		asOf = ci.AsOf
	}
	// The answer's Money values and lines come from one allocation each
	// rather than one per value: this is the gateway's hottest answer.
	mp := newMoneys(q.Currency, 3+5*len(q.Lines))
	lines := make([]pricingv1.PricedLine, len(q.Lines))
	out := &pricingv1.PriceQuoteResponse{
		ErpCustomerId: req.CustomerID, CurrencyCode: q.Currency, Region: in.region,
		Subtotal: mp.of(q.Subtotal), TaxTotal: mp.of(q.TaxTotal), GrandTotal: mp.of(q.GrandTotal),
		PriceBookVersion: q.PriceBookVersion, Freshness: freshness(asOf, p.now()),
		Lines: make([]*pricingv1.PricedLine, len(q.Lines)),
	}
	for i, l := range q.Lines {
		pl := &lines[i]
		pl.LineNumber, pl.Sku, pl.Quantity, pl.ListPrice = int32(l.Line), l.SKU, l.Quantity, mp.of(l.ListPrice)
		pl.CustomerDiscountBps, pl.PriceBookId, pl.NetUnitPrice = l.DiscountBps, l.PriceBookID, mp.of(l.NetUnitPrice)
		pl.LineTotal, pl.TaxRateBps, pl.Tax = mp.of(l.LineTotal), l.TaxRateBps, mp.of(l.Tax)
		if l.Tier != nil {
			pl.VolumeTier = &pricingv1.VolumeTier{MinQuantity: l.Tier.MinQuantity, UnitPrice: mp.of(l.Tier.UnitPrice)}
		}
		out.Lines[i] = pl
	}
	return out, nil
}

// ValidatePrices compares quoted unit prices with the computed ones.
func (p *Pricing) ValidatePrices(ctx context.Context, r *pricingv1.ValidatePricesRequest) (*pricingv1.ValidatePricesResponse, error) {
	in := pricingInput{cust: custRef(r.GetCrmAccountId(), r.GetErpCustomerId(), r.Customer != nil), currency: r.GetCurrencyCode(), region: r.GetRegion()}
	quoted := make([]pricing.Quoted, 0, len(r.GetLines()))
	var v violations
	for i, l := range r.GetLines() {
		in.lines = append(in.lines, pricing.Line{SKU: l.GetSku(), Quantity: l.GetQuantity()})
		qp := l.GetQuotedUnitPrice()
		if qp == nil {
			v.add(fmt.Sprintf("lines[%d].quoted_unit_price", i), "is required")
		} else if qp.GetCurrencyCode() != r.GetCurrencyCode() {
			v.add(fmt.Sprintf("lines[%d].quoted_unit_price.currency_code", i), "must equal currency_code")
		} else if qp.GetUnitsMinor() < 0 {
			v.add(fmt.Sprintf("lines[%d].quoted_unit_price.units_minor", i), "must not be negative")
		}
		quoted = append(quoted, pricing.Quoted{SKU: l.GetSku(), Quantity: l.GetQuantity(), UnitPrice: money.Amount{Currency: qp.GetCurrencyCode(), Minor: qp.GetUnitsMinor()}})
	}
	checkPricing(&v, in)
	if r.GetToleranceMinor() < 0 {
		v.add("tolerance_minor", "must not be negative")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	req, ci, err := p.request(ctx, in)
	if err != nil {
		return nil, err
	}
	vs, q, err := pricing.Validate(req, quoted, r.GetToleranceMinor())
	if err != nil {
		return nil, pricingErr(err, func(n int, f string) string { return fmt.Sprintf("lines[%d].%s", n-1, f) })
	}
	asOf := q.AsOf
	if ci.AsOf.After(asOf) {
		asOf = ci.AsOf
	}
	out := &pricingv1.ValidatePricesResponse{Valid: len(vs) == 0, PriceBookVersion: q.PriceBookVersion, Freshness: freshness(asOf, p.now())}
	for _, x := range vs {
		out.Violations = append(out.Violations, &pricingv1.PriceViolation{
			LineNumber: int32(x.Line), Sku: x.SKU, QuotedUnitPrice: moneyPB(q.Currency, x.Quoted),
			ComputedUnitPrice: moneyPB(q.Currency, x.Computed), Difference: moneyPB(q.Currency, x.Difference),
		})
	}
	return out, nil
}
