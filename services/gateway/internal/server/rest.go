package server

import (
	"context"

	"google.golang.org/grpc"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	servicev1 "github.com/isthmus/isthmus/pkg/api/isthmus/service/v1"
)

// The REST face calls the service implementations in process (grpc-gateway's
// Register...HandlerServer): JSON is decoded straight into the request message and
// the response message encoded straight to JSON, with no gRPC encoding, HTTP/2
// framing or second server in between. grpc-gateway runs no gRPC interceptors on
// that path, so these wrappers run the same chain (recovery, metrics and tracing,
// auth and scopes, rate limits) under the gRPC method name; the metadata the chain
// reads (authorization, traceparent, idempotency-key) is what grpc-gateway puts on
// the incoming context.

// chainUnary composes interceptors, the first outermost.
func chainUnary(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		for i := len(ics) - 1; i >= 0; i-- {
			ic, next := ics[i], h
			h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
		}
		return h(ctx, req)
	}
}

// invoke runs handler h for method behind the interceptor chain ic.
func invoke[Req, Resp any](ctx context.Context, ic grpc.UnaryServerInterceptor, method string, req Req, h func(context.Context, Req) (Resp, error)) (Resp, error) {
	out, err := ic(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, r any) (any, error) {
		return h(ctx, r.(Req))
	})
	if err != nil {
		var zero Resp
		return zero, err
	}
	return out.(Resp), nil
}

type restPricing struct {
	pricingv1.UnimplementedPricingServiceServer
	s  pricingv1.PricingServiceServer
	ic grpc.UnaryServerInterceptor
}

func (r restPricing) PriceQuote(ctx context.Context, req *pricingv1.PriceQuoteRequest) (*pricingv1.PriceQuoteResponse, error) {
	return invoke(ctx, r.ic, pricingv1.PricingService_PriceQuote_FullMethodName, req, r.s.PriceQuote)
}

func (r restPricing) ValidatePrices(ctx context.Context, req *pricingv1.ValidatePricesRequest) (*pricingv1.ValidatePricesResponse, error) {
	return invoke(ctx, r.ic, pricingv1.PricingService_ValidatePrices_FullMethodName, req, r.s.ValidatePrices)
}

type restCredit struct {
	creditv1.UnimplementedCreditServiceServer
	s  creditv1.CreditServiceServer
	ic grpc.UnaryServerInterceptor
}

func (r restCredit) CheckCredit(ctx context.Context, req *creditv1.CheckCreditRequest) (*creditv1.CheckCreditResponse, error) {
	return invoke(ctx, r.ic, creditv1.CreditService_CheckCredit_FullMethodName, req, r.s.CheckCredit)
}

func (r restCredit) ReleaseReservation(ctx context.Context, req *creditv1.ReleaseReservationRequest) (*creditv1.ReleaseReservationResponse, error) {
	return invoke(ctx, r.ic, creditv1.CreditService_ReleaseReservation_FullMethodName, req, r.s.ReleaseReservation)
}

type restAvailability struct {
	inventoryv1.UnimplementedAvailabilityServiceServer
	s  inventoryv1.AvailabilityServiceServer
	ic grpc.UnaryServerInterceptor
}

func (r restAvailability) Check(ctx context.Context, req *inventoryv1.CheckRequest) (*inventoryv1.CheckResponse, error) {
	return invoke(ctx, r.ic, inventoryv1.AvailabilityService_Check_FullMethodName, req, r.s.Check)
}

type restCustomer struct {
	customerv1.UnimplementedCustomerServiceServer
	s  customerv1.CustomerServiceServer
	ic grpc.UnaryServerInterceptor
}

func (r restCustomer) CheckDuplicate(ctx context.Context, req *customerv1.CheckDuplicateRequest) (*customerv1.CheckDuplicateResponse, error) {
	return invoke(ctx, r.ic, customerv1.CustomerService_CheckDuplicate_FullMethodName, req, r.s.CheckDuplicate)
}

func (r restCustomer) ValidateAccount(ctx context.Context, req *customerv1.ValidateAccountRequest) (*customerv1.ValidateAccountResponse, error) {
	return invoke(ctx, r.ic, customerv1.CustomerService_ValidateAccount_FullMethodName, req, r.s.ValidateAccount)
}

type restEntitlement struct {
	servicev1.UnimplementedEntitlementServiceServer
	s  servicev1.EntitlementServiceServer
	ic grpc.UnaryServerInterceptor
}

func (r restEntitlement) CheckEntitlement(ctx context.Context, req *servicev1.CheckEntitlementRequest) (*servicev1.CheckEntitlementResponse, error) {
	return invoke(ctx, r.ic, servicev1.EntitlementService_CheckEntitlement_FullMethodName, req, r.s.CheckEntitlement)
}

func (r restEntitlement) LookupAsset(ctx context.Context, req *servicev1.LookupAssetRequest) (*servicev1.LookupAssetResponse, error) {
	return invoke(ctx, r.ic, servicev1.EntitlementService_LookupAsset_FullMethodName, req, r.s.LookupAsset)
}
