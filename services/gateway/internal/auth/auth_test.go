package auth

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/isthmus/isthmus/pkg/bearer"
)

// TestBridgedPrincipal: a call from the REST face takes the principal its
// HTTP check verified and checks only the method's scope; a gRPC call's
// context is never trusted for one, it needs its own token.
func TestBridgedPrincipal(t *testing.T) {
	v := &Verifier{Verifier: &bearer.Verifier{}}
	const quote = "/isthmus.pricing.v1.PricingService/PriceQuote"
	reader := WithPrincipal(context.Background(), &Principal{Subject: "crm", Scopes: []string{ScopePricingRead}})
	other := WithPrincipal(context.Background(), &Principal{Subject: "crm", Scopes: []string{ScopeCreditRead}})

	ctx, err := v.Authorize(reader, quote, true)
	if err != nil || FromContext(ctx).Subject != "crm" {
		t.Fatalf("REST call with a verified principal holding the scope: %v", err)
	}
	if _, err := v.Authorize(other, quote, true); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("REST call with a verified principal lacking the scope: %v, want PermissionDenied", err)
	}
	if _, err := v.Authorize(reader, "/isthmus.pricing.v1.PricingService/Unknown", true); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("REST call to a method without a scope: %v, want PermissionDenied", err)
	}
	if _, err := v.Authorize(reader, quote, false); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC call without a token but a principal in its context: %v, want Unauthenticated", err)
	}
}
