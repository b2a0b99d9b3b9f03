package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/money"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Deps is what the services share.
type Deps struct {
	Store *readmodel.Store
	Log   *slog.Logger
	Now   func() time.Time // default time.Now
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

const (
	maxLines = 500
	maxIDLen = 128
	maxQty   = 1_000_000_000
)

var idPattern = regexp.MustCompile(`^[\x21-\x7e]+$`) // printable ASCII, no spaces

func checkID(v *violations, field, val string) {
	switch {
	case val == "":
		v.add(field, "must not be empty")
	case len(val) > maxIDLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", maxIDLen))
	case !idPattern.MatchString(val):
		v.add(field, "must be printable ASCII without spaces")
	}
}

func checkCurrency(v *violations, field, code string) {
	if _, err := money.MinorUnits(code); err != nil {
		v.add(field, "must be an ISO-4217 currency code such as USD")
	}
}

// customerRef is the oneof customer of a request.
type customerRef struct {
	crm, erp string
	set      bool
}

func checkCustomer(v *violations, c customerRef) {
	switch {
	case !c.set:
		v.add("customer", "set crm_account_id or erp_customer_id")
	case c.crm != "":
		checkID(v, "crm_account_id", c.crm)
	default:
		checkID(v, "erp_customer_id", c.erp)
	}
}

// resolve returns the ERP customer id of a reference (CRM ids through mdm.xref.v1).
func (d *Deps) resolve(ctx context.Context, c customerRef) (string, error) {
	if c.crm == "" {
		return c.erp, nil
	}
	vals, err := d.values(ctx, readmodel.Lookup{Model: readmodel.Xref, Fields: []string{readmodel.XrefField("CRM", c.crm)}})
	if err != nil {
		return "", err
	}
	x := as[readmodel.XrefInfo](vals[0][0])
	if x == nil || len(x.ERPIDs) == 0 {
		return "", status.Errorf(codes.NotFound, "CRM account %s is not linked to an ERP customer", c.crm)
	}
	return x.ERPIDs[0], nil
}

func (d *Deps) corrupt(ctx context.Context, m readmodel.Model, err error) error {
	d.Log.ErrorContext(ctx, "undecodable read model entry", "model", m, "err", err)
	return status.Error(codes.Internal, "internal error")
}

func moneyPB(currency string, minor int64) *typev1.Money {
	return &typev1.Money{CurrencyCode: currency, UnitsMinor: minor}
}

// moneys hands out the Money values of one answer, all in one currency, from
// one allocation.
type moneys struct {
	currency string
	free     []typev1.Money
}

func newMoneys(currency string, n int) *moneys {
	return &moneys{currency: currency, free: make([]typev1.Money, n)}
}

func (s *moneys) of(minor int64) *typev1.Money {
	if len(s.free) == 0 {
		return moneyPB(s.currency, minor)
	}
	m := &s.free[0]
	s.free = s.free[1:]
	m.CurrencyCode, m.UnitsMinor = s.currency, minor
	return m
}

func freshness(asOf, now time.Time) *typev1.Freshness {
	if asOf.IsZero() {
		return nil
	}
	return &typev1.Freshness{AsOf: timestamppb.New(asOf), Lag: durationpb.New(max(now.Sub(asOf), 0))}
}

// values reads decoded read-model values (readmodel.Store.Values: from memory in the
// gateway), mapping store errors to statuses.
func (d *Deps) values(ctx context.Context, lookups ...readmodel.Lookup) ([][]any, error) {
	return d.valuesIn(ctx, d.Store, lookups...)
}

// valuesIn is values from another store (one without mirror).
func (d *Deps) valuesIn(ctx context.Context, store *readmodel.Store, lookups ...readmodel.Lookup) ([][]any, error) {
	vals, err := store.Values(ctx, lookups...)
	if err != nil {
		var ce *readmodel.CorruptError
		if errors.As(err, &ce) {
			return nil, d.corrupt(ctx, ce.Model, err)
		}
		return nil, storeErr(ctx, d.Log, err)
	}
	return vals, nil
}

// as is a read-model value as *T (nil when absent). The value is shared by every
// request: read it, never modify it.
func as[T any](v any) *T {
	t, _ := v.(*T)
	return t
}
