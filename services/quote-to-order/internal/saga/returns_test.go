package saga

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func TestOnReturn(t *testing.T) {
	s := &Saga{QuoteID: "Q-1", Version: 1, State: contracts.OrderStateInvoiced, Quote: quote(1), ERPOrderID: "SO1", InvoiceID: "INV1"}
	upd := func(event string, mut ...func(*contracts.CaseUpdate)) contracts.CaseUpdate {
		u := contracts.CaseUpdate{CaseID: "CASE-R", Event: event, OrderID: ptr("Q-1"), RmaNumber: ptr("RMA9"), Message: ptr("step"),
			ReturnLines: []contracts.ReturnLineUpdate{{LineNumber: 1, SKU: "SKU-1", Requested: 2, Accepted: 1}}}
		for _, m := range mut {
			m(&u)
		}
		return u
	}
	tests := []struct {
		name  string
		u     contracts.CaseUpdate
		state string // "" when ignored
	}{
		{"authorised", upd(contracts.CaseEventReturnAuthorized), contracts.OrderStateReturnAuthorized},
		{"authorised again (a later message on the case)", upd(contracts.CaseEventReturnAuthorized), ""},
		{"requested is not shown", upd(contracts.CaseEventReturnRequested), ""},
		{"received", upd(contracts.CaseEventReturnReceived), contracts.OrderStateReturnReceived},
		{"credited", upd(contracts.CaseEventReturnCredited, func(u *contracts.CaseUpdate) {
			u.Credit, u.CreditMemoID = &contracts.Money{AmountMinor: 450, Currency: "USD"}, ptr("CM1")
		}), contracts.OrderStateReturnCredited},
		{"a service case's update", upd(contracts.CaseEventSettled, func(u *contracts.CaseUpdate) { u.ReturnLines = nil }), ""},
		{"a return naming no order", upd(contracts.CaseEventReturnReceived, func(u *contracts.CaseUpdate) { u.CaseID, u.OrderID = "CASE-S", nil }), ""},
		{"another return of the order, refused", upd(contracts.CaseEventRefused, func(u *contracts.CaseUpdate) { u.CaseID = "CASE-T" }), contracts.OrderStateReturnRefused},
		{"another return, withdrawn", upd(contracts.CaseEventCancelled, func(u *contracts.CaseUpdate) { u.CaseID = "CASE-U" }), contracts.OrderStateReturnCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := s.OnReturn(tt.u)
			if tt.state == "" {
				if len(out.Lifecycle) != 0 || out.Ignored == "" {
					t.Fatalf("want ignored, got %+v", out)
				}
				return
			}
			if len(out.Lifecycle) != 1 {
				t.Fatalf("want one lifecycle event, got %+v", out)
			}
			ev := out.Lifecycle[0]
			if ev.State != tt.state || contracts.Deref(ev.PreviousState) != contracts.OrderStateInvoiced || ev.OrderID != "Q-1" || ev.InvoiceID != nil {
				t.Errorf("event state %s (previous %v), order %s, invoice %v", ev.State, contracts.Deref(ev.PreviousState), ev.OrderID, ev.InvoiceID)
			}
			r := ev.ReturnStep
			if r == nil || r.ReturnID != tt.u.CaseID || contracts.Deref(r.RmaNumber) != "RMA9" || r.UnitsRequested != 2 || r.UnitsAccepted != 1 {
				t.Fatalf("return step %+v", r)
			}
			if (tt.state == contracts.OrderStateReturnCredited) != (r.Credit != nil && r.Credit.AmountMinor == 450 && contracts.Deref(r.CreditMemoID) == "CM1") {
				t.Errorf("credit %+v memo %v", r.Credit, r.CreditMemoID)
			}
		})
	}
	if s.State != contracts.OrderStateInvoiced {
		t.Errorf("the order's own state moved to %s", s.State)
	}
}
