package credit

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

func TestDecide(t *testing.T) {
	base := Account{CustomerID: "C1", Currency: "USD", Limit: 100000, AR: 20000, OpenOrders: 30000, Status: "ACTIVE"}
	usd := func(v int64) money.Amount { return money.Amount{Currency: "USD", Minor: v} }
	tests := []struct {
		name      string
		acct      func(a *Account)
		reserved  int64
		amount    money.Amount
		policy    Policy
		want      Decision
		available int64
		codes     []string
		wantErr   error
	}{
		{name: "fits", amount: usd(40000), want: Approved, available: 50000},
		{name: "exactly the available credit", amount: usd(50000), want: Approved, available: 50000},
		{name: "one minor unit over the limit", amount: usd(50001), want: Rejected, available: 50000, codes: []string{ReasonOverLimit}},
		{name: "receivables count", acct: func(a *Account) { a.AR = 70000 }, amount: usd(1), want: Rejected, available: 0, codes: []string{ReasonOverLimit}},
		{name: "open orders count", acct: func(a *Account) { a.OpenOrders = 79999 }, amount: usd(2), want: Rejected, available: 1, codes: []string{ReasonOverLimit}},
		{name: "reservations count", reserved: 45000, amount: usd(6000), want: Rejected, available: 5000, codes: []string{ReasonOverLimit}},
		{name: "reservations leave room", reserved: 45000, amount: usd(5000), want: Approved, available: 5000},
		{name: "already over the limit", acct: func(a *Account) { a.AR = 120000 }, amount: usd(1), want: Rejected, available: -50000, codes: []string{ReasonOverLimit}},
		{name: "ERP hold flag", acct: func(a *Account) { a.Hold, a.HoldReason = true, "overdue 60 days" }, amount: usd(100), want: Hold, available: 50000, codes: []string{ReasonCreditHold}},
		{name: "ERP hold status", acct: func(a *Account) { a.Status = "HOLD" }, amount: usd(100), want: Hold, available: 50000, codes: []string{ReasonCreditHold}},
		{name: "hold and over limit rejects", acct: func(a *Account) { a.Hold = true }, amount: usd(60000), want: Rejected, available: 50000, codes: []string{ReasonCreditHold, ReasonOverLimit}},
		{name: "blocked", acct: func(a *Account) { a.Status = "BLOCKED" }, amount: usd(1), want: Rejected, available: 50000, codes: []string{ReasonBlocked}},
		{name: "within limit above hold threshold", amount: usd(45000), policy: Policy{HoldThresholdBps: 9000}, want: Hold, available: 50000, codes: []string{ReasonOverHoldThreshold}},
		{name: "at hold threshold", amount: usd(40000), policy: Policy{HoldThresholdBps: 9000}, want: Approved, available: 50000},
		{name: "currency mismatch", amount: money.Amount{Currency: "EUR", Minor: 1}, wantErr: money.ErrCurrencyMismatch},
		{name: "unknown currency", amount: money.Amount{Currency: "XXY", Minor: 1}, wantErr: money.ErrUnknownCurrency},
		{name: "zero amount", amount: usd(0), wantErr: ErrInvalidAmount},
		{name: "negative amount", amount: usd(-5), wantErr: ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			if tt.acct != nil {
				tt.acct(&a)
			}
			r, err := Decide(a, tt.reserved, tt.amount, tt.policy)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var codes []string
			for _, rs := range r.Reasons {
				codes = append(codes, rs.Code)
			}
			if r.Decision != tt.want || r.Available != tt.available {
				t.Errorf("decision %v available %d; want %v %d", r.Decision, r.Available, tt.want, tt.available)
			}
			if d := cmp.Diff(tt.codes, codes); d != "" {
				t.Errorf("reasons (-want +got):\n%s", d)
			}
			if r.Reservations != tt.reserved || r.AR != a.AR || r.OpenOrders != a.OpenOrders || r.Limit != a.Limit {
				t.Errorf("exposure breakdown = %+v", r)
			}
		})
	}
}
