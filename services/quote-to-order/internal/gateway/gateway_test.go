package gateway

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/isthmus/isthmus/pkg/errs"
)

// TestProblemOrWait: content refusals and gateway faults become a problem
// for a person; transient failures make the order wait.
func TestProblemOrWait(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string // "" = transient, the order waits
	}{
		{status.Error(codes.NotFound, "no active price for sku X in NA/USD"), "unknown_sku"},
		{status.Error(codes.InvalidArgument, "tax rate missing for region AR"), "tax_configuration"},
		{status.Error(codes.Internal, "internal error"), "gateway_error"},
		{status.Error(codes.Unimplemented, "unknown method"), "gateway_error"},
		{status.Error(codes.Unavailable, "read models catching up"), ""},
		{status.Error(codes.DeadlineExceeded, "slow"), ""},
		{status.Error(codes.ResourceExhausted, "rate limited"), ""},
		{status.Error(codes.Unauthenticated, "expired token"), ""},
		{errors.New("connection refused"), ""},
	} {
		p := problem(tc.err)
		switch {
		case tc.reason == "" && p != nil:
			t.Errorf("%v: problem %q, want the order to wait", tc.err, p.Reason)
		case tc.reason != "" && (p == nil || p.Reason != tc.reason):
			t.Errorf("%v: problem %+v, want reason %s", tc.err, p, tc.reason)
		}
		if tc.reason == "" && errs.ClassOf(classify("Validate", tc.err)) != errs.ClassRetriable {
			t.Errorf("%v: not retriable", tc.err)
		}
	}
}
