package api

import (
	"context"
	"encoding/json"
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
	vals, err := d.Store.Get(ctx, readmodel.Lookup{Model: readmodel.Xref, Fields: []string{readmodel.XrefField("CRM", c.crm)}})
	if err != nil {
		return "", storeErr(ctx, d.Log, err)
	}
	if vals[0][0] == nil {
		return "", status.Errorf(codes.NotFound, "CRM account %s is not linked to an ERP customer", c.crm)
	}
	var x readmodel.XrefInfo
	if err := json.Unmarshal(vals[0][0], &x); err != nil {
		return "", d.corrupt(ctx, readmodel.Xref, err)
	}
	if len(x.ERPIDs) == 0 {
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

func freshness(asOf, now time.Time) *typev1.Freshness {
	if asOf.IsZero() {
		return nil
	}
	return &typev1.Freshness{AsOf: timestamppb.New(asOf), Lag: durationpb.New(max(now.Sub(asOf), 0))}
}

func decode[T any](ctx context.Context, d *Deps, m readmodel.Model, raw []byte) (*T, error) {
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, d.corrupt(ctx, m, err)
	}
	return v, nil
}
