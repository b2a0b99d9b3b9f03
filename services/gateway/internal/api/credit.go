package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/services/gateway/internal/auth"
	"github.com/isthmus/isthmus/services/gateway/internal/credit"
	"github.com/isthmus/isthmus/services/gateway/internal/money"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
	"github.com/isthmus/isthmus/services/gateway/internal/reservation"
)

// Credit implements isthmus.credit.v1.CreditService.
type Credit struct {
	creditv1.UnimplementedCreditServiceServer
	*Deps
	Reservations *reservation.Store
	Policy       credit.Policy
	TTL          time.Duration // reservation lifetime
}

// IdempotencyHeader is the metadata key (REST header Idempotency-Key).
const IdempotencyHeader = "idempotency-key"

// Reservation compare-and-set attempts under contention, with a short backoff.
const maxCASAttempts = 25

var casBackoff = retry.Policy{Base: time.Millisecond, Max: 20 * time.Millisecond}

func idempotencyKey(ctx context.Context, r *creditv1.CheckCreditRequest) (string, error) {
	k := r.GetIdempotencyKey()
	if hs := metadata.ValueFromIncomingContext(ctx, IdempotencyHeader); len(hs) > 0 {
		if k != "" && k != hs[0] {
			return "", fieldErr("idempotency_key", "differs from the Idempotency-Key header")
		}
		k = hs[0]
	}
	if k != "" && (len(k) > 255 || strings.ContainsAny(k, "\r\n")) {
		return "", fieldErr("idempotency_key", "must be at most 255 characters on one line")
	}
	return k, nil
}

// CheckCredit decides on an amount and optionally reserves it.
func (c *Credit) CheckCredit(ctx context.Context, r *creditv1.CheckCreditRequest) (*creditv1.CheckCreditResponse, error) {
	cref := custRef(r.GetCrmAccountId(), r.GetErpCustomerId(), r.Customer != nil)
	var v violations
	checkCustomer(&v, cref)
	if r.GetAmount() == nil {
		v.add("amount", "is required")
	} else {
		checkCurrency(&v, "amount.currency_code", r.GetAmount().GetCurrencyCode())
		if r.GetAmount().GetUnitsMinor() <= 0 {
			v.add("amount.units_minor", "must be positive")
		}
	}
	if r.GetOrderId() != "" {
		checkID(&v, "order_id", r.GetOrderId())
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	key, err := idempotencyKey(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.GetReserve() && !auth.FromContext(ctx).Has(auth.ScopeCreditReserve) {
		return nil, status.Errorf(codes.PermissionDenied, "token lacks scope %s", auth.ScopeCreditReserve)
	}
	cust, err := c.resolve(ctx, cref)
	if err != nil {
		return nil, err
	}
	vals, err := c.values(ctx, readmodel.Lookup{Model: readmodel.Credit, Fields: []string{cust}})
	if err != nil {
		return nil, err
	}
	acct := as[credit.Account](vals[0][0])
	if acct == nil {
		return nil, status.Errorf(codes.NotFound, "ERP customer %s has no credit account", cust)
	}
	amount := money.Amount{Currency: r.GetAmount().GetCurrencyCode(), Minor: r.GetAmount().GetUnitsMinor()}

	// The idempotency key is scoped to the caller and bound to the request.
	scoped, reqHash := "", ""
	if key != "" && r.GetReserve() {
		subject := ""
		if p := auth.FromContext(ctx); p != nil {
			subject = p.Subject
		}
		sum := sha256.Sum256([]byte(subject + "\x00" + key))
		scoped = hex.EncodeToString(sum[:16])
		canon, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&creditv1.CheckCreditRequest{
			Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: cust}, Amount: r.GetAmount(), Reserve: true, OrderId: r.GetOrderId(),
		})
		h := sha256.Sum256(canon)
		reqHash = hex.EncodeToString(h[:])
	}
	in := reserveInput{req: r, cust: cust, acct: acct, amount: amount, scoped: scoped, reqHash: reqHash}
	if r.GetReserve() {
		// This replica's last view of the customer's reservations: one round trip
		// (the commit) when it still holds; otherwise decide on a fresh snapshot.
		if reserved, version, ok := c.Reservations.Known(cust); ok {
			if out, done, err := c.decide(ctx, in, reserved, version, c.now(), true); done {
				return out, err
			}
		}
	}
	for attempt := range maxCASAttempts {
		if attempt > 0 {
			if err := retry.Sleep(ctx, casBackoff.Delay(attempt)); err != nil {
				return nil, storeErr(ctx, c.Log, err)
			}
		}
		now := c.now()
		reserved, version, replay, err := c.Reservations.Snapshot(ctx, cust, scoped, now)
		if err != nil {
			return nil, storeErr(ctx, c.Log, err)
		}
		if replay != nil {
			return c.replay(replay, reqHash)
		}
		if out, done, err := c.decide(ctx, in, reserved, version, now, false); done {
			return out, err
		}
	}
	return nil, status.Error(codes.Aborted, "too many concurrent reservations for the customer; retry")
}

type reserveInput struct {
	req             *creditv1.CheckCreditRequest
	cust            string
	acct            *credit.Account
	amount          money.Amount
	scoped, reqHash string
}

// decide decides on the reservations (reserved, version) and, when asked and
// approved, commits the reservation. done is false when the caller must decide
// again on a fresh snapshot: the reservations changed meanwhile, or (guess) the
// figures were this replica's last view and the answer is not a committed
// reservation — only a commit proves a view current.
func (c *Credit) decide(ctx context.Context, in reserveInput, reserved int64, version string, now time.Time, guess bool) (*creditv1.CheckCreditResponse, bool, error) {
	r := in.req
	res, err := credit.Decide(*in.acct, reserved, in.amount, c.Policy)
	if err != nil {
		if guess {
			return nil, false, nil
		}
		return nil, true, decideErr(err)
	}
	out := c.response(in.cust, in.acct, res, now)
	if !r.GetReserve() || res.Decision != credit.Approved {
		return out, !guess, nil
	}
	rs := reservation.Reservation{ID: reservation.NewID(in.cust), Customer: in.cust, Amount: in.amount, OrderID: r.GetOrderId(), CreatedAt: now, ExpiresAt: now.Add(c.TTL)}
	out.Reservation = &creditv1.Reservation{ReservationId: rs.ID, Amount: r.GetAmount(), OrderId: rs.OrderID, ExpiresAt: timestamppb.New(rs.ExpiresAt)}
	var stored []byte
	if in.scoped != "" {
		b, err := proto.Marshal(out)
		if err != nil {
			return nil, true, status.Error(codes.Internal, "internal error")
		}
		stored = append([]byte(in.reqHash+"|"), b...)
	}
	err = c.Reservations.Commit(ctx, version, rs, in.scoped, stored)
	var rp *reservation.ReplayError
	switch {
	case errors.As(err, &rp):
		out, err := c.replay(rp.Stored, in.reqHash)
		return out, true, err
	case errors.Is(err, reservation.ErrConflict):
		return nil, false, nil
	case err != nil:
		return nil, true, storeErr(ctx, c.Log, err)
	}
	return out, true, nil
}

func (c *Credit) replay(stored []byte, reqHash string) (*creditv1.CheckCreditResponse, error) {
	h, body, ok := strings.Cut(string(stored), "|")
	if !ok {
		return nil, status.Error(codes.Internal, "internal error")
	}
	if h != reqHash {
		return nil, status.Error(codes.FailedPrecondition, "idempotency key was used with a different request")
	}
	out := &creditv1.CheckCreditResponse{}
	if err := proto.Unmarshal([]byte(body), out); err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	return out, nil
}

func decideErr(err error) error {
	switch {
	case errors.Is(err, money.ErrCurrencyMismatch):
		return fieldErr("amount.currency_code", "must be the customer's credit currency: "+err.Error())
	case errors.Is(err, credit.ErrInvalidAmount):
		return fieldErr("amount.units_minor", "must be positive")
	case errors.Is(err, money.ErrOverflow):
		return fieldErr("amount.units_minor", "too large")
	}
	return status.Error(codes.Internal, "internal error")
}

func (c *Credit) response(cust string, a *credit.Account, res credit.Result, now time.Time) *creditv1.CheckCreditResponse {
	cur := a.Currency
	out := &creditv1.CheckCreditResponse{
		ErpCustomerId:   cust,
		Decision:        creditv1.Decision(res.Decision),
		CreditLimit:     moneyPB(cur, res.Limit),
		AvailableCredit: moneyPB(cur, res.Available),
		Exposure: &creditv1.Exposure{
			AccountsReceivable: moneyPB(cur, res.AR), OpenOrders: moneyPB(cur, res.OpenOrders), Reservations: moneyPB(cur, res.Reservations),
		},
		Freshness: freshness(a.AsOf, now),
	}
	for _, rs := range res.Reasons {
		out.Reasons = append(out.Reasons, &creditv1.Reason{Code: rs.Code, Message: rs.Message})
	}
	return out
}

// ReleaseReservation gives reserved headroom back.
func (c *Credit) ReleaseReservation(ctx context.Context, r *creditv1.ReleaseReservationRequest) (*creditv1.ReleaseReservationResponse, error) {
	if _, err := reservation.CustomerOf(r.GetReservationId()); err != nil || len(r.GetReservationId()) > 512 {
		return nil, fieldErr("reservation_id", "is not a reservation id issued by CheckCredit")
	}
	ok, err := c.Reservations.Release(ctx, r.GetReservationId())
	if err != nil {
		return nil, storeErr(ctx, c.Log, err)
	}
	return &creditv1.ReleaseReservationResponse{Released: ok}, nil
}
