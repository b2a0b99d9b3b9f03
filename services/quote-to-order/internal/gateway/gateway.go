// Package gateway validates an order with the Isthmus gateway's gRPC APIs
// (PricingService, CreditService, AvailabilityService) and turns the answers
// into a saga.Validation. Transport failures and an unready gateway are
// errs.Retriable (the processor retries, the order stays VALIDATING); the
// gateway refusing the quote's content is a saga.Problem (the order is
// rejected with an exception).
package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// Options configure the client.
type Options struct {
	// Timeout bounds one validation's gateway calls (default 2s).
	Timeout time.Duration
	// ToleranceMinor is the allowed unit-price difference in minor units.
	ToleranceMinor int64
	// Sites maps a pricing region to the availability site; DefaultSite
	// is used for other regions.
	Sites       map[string]string
	DefaultSite string
	// Observe, when set, receives the gateway time of each validation.
	Observe func(time.Duration)
}

// Client validates orders with the gateway.
type Client struct {
	opts    Options
	pricing pricingv1.PricingServiceClient
	credit  creditv1.CreditServiceClient
	avail   inventoryv1.AvailabilityServiceClient
}

// New validates through conn (pkg/gatewayclient's connection: bearer token,
// TLS and reconnect pacing).
func New(conn grpc.ClientConnInterface, o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	return &Client{opts: o, pricing: pricingv1.NewPricingServiceClient(conn),
		credit: creditv1.NewCreditServiceClient(conn), avail: inventoryv1.NewAvailabilityServiceClient(conn)}
}

// Validate runs validation round s.Round of s.Version: prices, tax and
// availability in parallel, then (unless prices need review) the reserving
// credit check for the grand total.
func (c *Client) Validate(ctx context.Context, s *saga.Saga) (saga.Validation, error) {
	start := time.Now()
	defer func() {
		if c.opts.Observe != nil {
			c.opts.Observe(time.Since(start))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	q := s.Quote
	v := saga.Validation{Version: s.Version, Round: s.Round}

	vreq := &pricingv1.ValidatePricesRequest{Customer: &pricingv1.ValidatePricesRequest_ErpCustomerId{ErpCustomerId: s.ERPCustomerID},
		CurrencyCode: q.Currency, Region: q.Region, ToleranceMinor: c.opts.ToleranceMinor}
	preq := &pricingv1.PriceQuoteRequest{Customer: &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: s.ERPCustomerID},
		CurrencyCode: q.Currency, Region: q.Region}
	for _, l := range q.Lines {
		vreq.Lines = append(vreq.Lines, &pricingv1.QuotedLine{Sku: l.SKU, Quantity: l.Quantity, QuotedUnitPrice: pb(l.UnitPrice)})
		preq.Lines = append(preq.Lines, &pricingv1.QuoteLine{Sku: l.SKU, Quantity: l.Quantity})
	}
	var (
		wg         sync.WaitGroup
		vres       *pricingv1.ValidatePricesResponse
		pres       *pricingv1.PriceQuoteResponse
		verr, perr error
		mu         sync.Mutex
		availErr   error
		shortfalls = map[int]string{}
	)
	wg.Add(2)
	go func() { defer wg.Done(); vres, verr = c.pricing.ValidatePrices(ctx, vreq) }()
	go func() { defer wg.Done(); pres, perr = c.pricing.PriceQuote(ctx, preq) }()
	site := c.opts.DefaultSite
	if s, ok := c.opts.Sites[q.Region]; ok {
		site = s
	}
	for i, l := range q.Lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.avail.Check(ctx, &inventoryv1.CheckRequest{Sku: l.SKU, Quantity: l.Quantity, Site: site})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && !r.GetAvailable():
				shortfalls[i] = fmt.Sprintf("line %d %s (%d of %d at %s)", l.LineNumber, l.SKU, r.GetAvailableToPromise(), l.Quantity, site)
			case status.Code(err) == codes.NotFound:
				shortfalls[i] = fmt.Sprintf("line %d %s (no stock record at %s)", l.LineNumber, l.SKU, site)
			case err != nil && availErr == nil:
				availErr = err
			}
		}()
	}
	wg.Wait()
	for _, err := range []error{verr, perr, availErr} {
		if err == nil {
			continue
		}
		if p := problem(err); p != nil {
			v.Invalid = p
			return v, nil
		}
		return v, classify("pricing/availability", err)
	}
	for i := range q.Lines {
		if sf, ok := shortfalls[i]; ok {
			v.Shortfalls = append(v.Shortfalls, sf)
		}
	}
	po := &contracts.PricingOutcome{Valid: vres.GetValid(), NetTotal: money(pres.GetSubtotal(), q.Currency), TaxTotal: money(pres.GetTaxTotal(), q.Currency), Violations: []string{}}
	if n := vres.GetPriceBookVersion(); n > 0 {
		pbv := strconv.FormatInt(n, 10)
		po.PriceBookVersion = &pbv
	}
	for _, x := range vres.GetViolations() {
		po.Violations = append(po.Violations, fmt.Sprintf("line %d %s: quoted %d, price book %d %s", x.GetLineNumber(), x.GetSku(),
			x.GetQuotedUnitPrice().GetUnitsMinor(), x.GetComputedUnitPrice().GetUnitsMinor(), x.GetComputedUnitPrice().GetCurrencyCode()))
	}
	v.Pricing = po
	if !po.Valid && !s.PriceApproved {
		return v, nil
	}
	amount := pres.GetGrandTotal()
	if amount == nil {
		return v, errs.Retriablef(errs.ReasonGatewayIncomplete, "PriceQuote returned no grand total")
	}
	cres, err := c.credit.CheckCredit(ctx, &creditv1.CheckCreditRequest{
		Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: s.ERPCustomerID},
		Amount:   amount, Reserve: true, OrderId: saga.OrderID(s.QuoteID), IdempotencyKey: s.CreditIdempotencyKey(),
	})
	if err != nil {
		if p := problem(err); p != nil {
			v.Invalid = p
			return v, nil
		}
		return v, classify("credit", err)
	}
	co := &contracts.CreditOutcome{Decision: decision(cres.GetDecision()), Reasons: []string{}}
	if a := cres.GetAvailableCredit(); a != nil {
		m := money(a, a.GetCurrencyCode())
		co.AvailableCredit = &m
	}
	if r := cres.GetReservation(); r != nil && r.GetReservationId() != "" {
		id := r.GetReservationId()
		co.ReservationID = &id
	}
	for _, r := range cres.GetReasons() {
		co.Reasons = append(co.Reasons, r.GetCode()+": "+r.GetMessage())
	}
	v.Credit = co
	return v, nil
}

// Release gives a credit reservation back; an unknown or expired one is fine.
func (c *Client) Release(ctx context.Context, reservationID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.credit.ReleaseReservation(ctx, &creditv1.ReleaseReservationRequest{ReservationId: reservationID})
	if err == nil || status.Code(err) == codes.NotFound {
		return nil
	}
	if problem(err) != nil {
		return nil
	}
	return classify("release-reservation", err)
}

func decision(d creditv1.Decision) string {
	switch d {
	case creditv1.Decision_DECISION_APPROVED:
		return contracts.CreditDecisionApproved
	case creditv1.Decision_DECISION_HOLD:
		return contracts.CreditDecisionHold
	case creditv1.Decision_DECISION_REJECTED:
		return contracts.CreditDecisionRejected
	}
	return contracts.CreditDecisionUnknown
}

func pb(m contracts.Money) *typev1.Money {
	return &typev1.Money{CurrencyCode: m.Currency, UnitsMinor: m.AmountMinor}
}

func money(m *typev1.Money, def string) contracts.Money {
	if m == nil {
		return contracts.Money{Currency: def}
	}
	return contracts.Money{AmountMinor: m.GetUnitsMinor(), Currency: m.GetCurrencyCode()}
}

// classify makes every other gateway failure retriable: unavailable, slow,
// overloaded (rate limited), unauthenticated (a configuration fault an
// operator fixes) — the order waits, never skips validation.
func classify(call string, err error) error {
	return errs.Retriable(errs.GatewayStatus(status.Code(err)), fmt.Errorf("gateway %s: %w", call, err))
}

// problem maps the gateway refusing the request's content to a Problem,
// or nil for transient failures.
func problem(err error) *saga.Problem {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange:
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		// The gateway cannot validate this quote (a corrupt read-model
		// entry, a bug). Waiting would stall every quote behind it on the
		// partition; the quote goes to a person instead, unvalidated and
		// unsubmitted.
		return &saga.Problem{Category: contracts.ExceptionCategoryOther, Reason: "gateway_error",
			Message: "gateway: " + st.Code().String() + ": " + st.Message(),
			Action:  "The gateway could not validate this quote; check its logs and read models, then accept a new quote version."}
	default:
		return nil
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField()+": "+fv.GetDescription())
			}
		}
	}
	text := strings.ToLower(strings.Join(append(fields, st.Message()), " "))
	msg := st.Message()
	if len(fields) > 0 {
		msg = strings.Join(fields, "; ")
	}
	switch {
	case strings.Contains(text, "tax"):
		return &saga.Problem{Category: contracts.ExceptionCategoryTaxConfiguration, Reason: "tax_configuration",
			Message: "gateway: " + msg, Action: "Fix the tax configuration of the product or customer in ERP, then accept a new quote version."}
	case strings.Contains(text, "sku") || strings.Contains(text, "no active price") || strings.Contains(text, "product"):
		return &saga.Problem{Category: contracts.ExceptionCategoryInvalidMasterData, Reason: "unknown_sku",
			Message: "gateway: " + msg, Action: "Create the product and its price in the ERP price book for the region and currency, or correct the SKU on the quote."}
	case strings.Contains(text, "customer"):
		return &saga.Problem{Category: contracts.ExceptionCategoryInvalidMasterData, Reason: "unknown_customer",
			Message: "gateway: " + msg, Action: "Complete the customer's ERP master data (credit, pricing), then accept a new quote version."}
	case strings.Contains(text, "currency"):
		return &saga.Problem{Category: contracts.ExceptionCategoryInvalidInput, Reason: "currency",
			Message: "gateway: " + msg, Action: "Quote in the customer's price-book and credit currency."}
	}
	return &saga.Problem{Category: contracts.ExceptionCategoryInvalidInput, Reason: "gateway_refused",
		Message: "gateway: " + msg, Action: "Correct the quote and accept a new version."}
}
