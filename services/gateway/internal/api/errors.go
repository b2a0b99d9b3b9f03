// Package api implements the gateway's gRPC services over the read models: input
// validation with field violations, customer resolution, freshness, reservations.
package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// violations collects field violations for one InvalidArgument error.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, desc string) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	return invalid(v...)
}

func invalid(fv ...*errdetails.BadRequest_FieldViolation) error {
	st := status.New(codes.InvalidArgument, "invalid request: "+fv[0].Field+": "+fv[0].Description)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: fv}); err == nil {
		return d.Err()
	}
	return st.Err()
}

func fieldErr(field, desc string) error {
	return invalid(&errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

// RetryAfter is the hint given with UNAVAILABLE while a read model catches up.
const RetryAfter = time.Second

// Unavailable returns UNAVAILABLE with a RetryInfo detail.
func Unavailable(msg string, after time.Duration) error {
	st := status.New(codes.Unavailable, msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}); err == nil {
		return d.Err()
	}
	return st.Err()
}

// storeErr turns a read-model or Redis failure into a status without internals.
func storeErr(ctx context.Context, log *slog.Logger, err error) error {
	var nr *readmodel.NotReadyError
	switch {
	case errors.As(err, &nr):
		return Unavailable("read models are catching up with ERP; retry shortly", RetryAfter)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, "read model store failed", "err", err)
	return Unavailable("read models temporarily unavailable; retry shortly", RetryAfter)
}
