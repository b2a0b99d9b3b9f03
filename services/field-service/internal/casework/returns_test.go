package casework

import (
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
	"github.com/isthmus/isthmus/services/field-service/internal/settle"
)

var (
	rpolicy = func() Policy {
		p := policy
		p.Returns = returns.Policy{WindowDays: 30, RestockingFeeBps: 1000}
		return p
	}()
	eur = func(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "EUR"} }
	// The installed base: two pumps of E-1 bought 10 days ago, one of E-2.
	installed = map[string]returns.Asset{
		"P-1": {Serial: "P-1", SKU: "PUMP", ERPCustomerID: "E-1", Status: "INSTALLED", Installed: t0.Add(-10 * 24 * time.Hour)},
		"P-2": {Serial: "P-2", SKU: "PUMP", ERPCustomerID: "E-1", Status: "INSTALLED", Installed: t0.Add(-10 * 24 * time.Hour)},
		"P-9": {Serial: "P-9", SKU: "PUMP", ERPCustomerID: "E-2", Status: "INSTALLED", Installed: t0.Add(-10 * 24 * time.Hour)},
	}
)

// rmaCase asks to return pumps (serials, 100.00 each, defective) and
// four subscription seats (bought 5 days ago, not needed).
func rmaCase(status string, serials ...string) contracts.Case {
	bought := t0.Add(-5 * 24 * time.Hour)
	c := contracts.Case{CaseID: "RMA-1", AccountID: "ACC-1", ERPCustomerID: ptr("E-1"), ServiceType: contracts.ServiceTypeInspection,
		Status: status, OpenedAt: t0, Priority: contracts.SeverityMedium, SLATier: "STANDARD",
		ReturnRequest: &contracts.ReturnRequest{OrderID: ptr("ORD-7"), Currency: "EUR", Lines: []contracts.ReturnRequestLine{
			{SKU: "PUMP", Quantity: int64(len(serials)), Serials: serials, UnitPrice: eur(10000), Reason: contracts.ReturnReasonDefective},
			{SKU: "SEATS", Quantity: 4, UnitPrice: eur(2500), Reason: contracts.ReturnReasonNotNeeded, PurchasedAt: &bought, Subscription: true},
		}}}
	return c
}

func rstatus(st string, cmd string, lines ...contracts.ReturnLineStatus) contracts.ReturnStatus {
	v := contracts.ReturnStatus{ReturnID: "RMA-1", Status: st, RmaNumber: ptr("RMA77"), Lines: lines}
	if cmd != "" {
		v.CommandID = &cmd
	}
	return v
}

func returnEvents(out Outputs) string {
	var s []string
	for _, u := range out.Updates {
		s = append(s, u.Event)
	}
	for _, r := range out.Returns {
		s = append(s, "cmd:"+r.Action)
	}
	for _, j := range out.Journals {
		s = append(s, "journal:"+j.Kind)
	}
	for _, e := range out.Exceptions {
		s = append(s, "exception:"+e.Category+":"+e.Status)
	}
	return strings.Join(s, ",")
}

// requested opens the return and decides it against the installed base.
func requested(t *testing.T, serials ...string) (*Case, Outputs) {
	t.Helper()
	in := rmaCase("OPEN", serials...)
	if bad := Validate(in); bad != "" {
		t.Fatalf("Validate: %s", bad)
	}
	c, out := Open(in, "corr-r")
	if c == nil || !c.IsReturn() || !out.Check || c.Stage != Checking {
		t.Fatalf("Open: %+v %+v", c, out)
	}
	return c, c.OnAssets(installed, t0, rpolicy)
}

func TestReturnCreditedInFull(t *testing.T) {
	c, out := requested(t, "P-1", "P-2")
	if got := returnEvents(out); got != "RETURN_REQUESTED,cmd:CREATE" || c.Stage != Returning {
		t.Fatalf("requested: %s in %s", got, c.Stage)
	}
	create := out.Returns[0]
	if create.ReturnID != "RMA-1" || create.ERPCustomerID != "E-1" || contracts.Deref(create.OrderID) != "ORD-7" || len(create.Lines) != 2 ||
		create.Lines[0].Quantity != 2 || len(create.Lines[0].Serials) != 2 || create.Lines[1].Quantity != 4 || create.Lines[1].LineNumber != 2 {
		t.Fatalf("CREATE: %+v", create)
	}
	steps := []struct {
		st   contracts.ReturnStatus
		want string
	}{
		{rstatus(contracts.ReturnStateCreated, create.CommandID), "RETURN_AUTHORIZED"},
		{rstatus(contracts.ReturnStateCreated, create.CommandID), ""}, // repeated
		{rstatus(contracts.ReturnStateReceived, "", contracts.ReturnLineStatus{LineNumber: 1, SKU: "PUMP", Received: 2}, contracts.ReturnLineStatus{LineNumber: 2, SKU: "SEATS", Received: 4}), "RETURN_RECEIVED"},
		{rstatus(contracts.ReturnStateInspected, "", contracts.ReturnLineStatus{LineNumber: 1, SKU: "PUMP", Received: 2, Accepted: 2}, contracts.ReturnLineStatus{LineNumber: 2, SKU: "SEATS", Received: 4, Accepted: 4}),
			"RETURN_INSPECTED,cmd:CREDIT"},
	}
	var credit contracts.ReturnCommand
	for _, s := range steps {
		out := c.OnReturnStatus(s.st, t0, rpolicy)
		if got := returnEvents(out); got != s.want {
			t.Fatalf("%s: %s, want %s", s.st.Status, got, s.want)
		}
		if len(out.Returns) > 0 {
			credit = out.Returns[0]
		}
	}
	// 2 pumps × 100.00 (defective: no fee) + 4 seats × 25.00 less 10 %.
	if credit.CreditAmount == nil || credit.CreditAmount.AmountMinor != 20000+9000 || c.Stage != Crediting {
		t.Fatalf("CREDIT %+v in %s", credit.CreditAmount, c.Stage)
	}
	st := rstatus(contracts.ReturnStateCredited, credit.CommandID)
	st.CreditMemoID, st.CreditAmount = ptr("CM1"), &contracts.Money{AmountMinor: 29000, Currency: "EUR"}
	out = c.OnReturnStatus(st, t0, rpolicy)
	if got := returnEvents(out); got != "RETURN_CREDITED,journal:CREDIT" || c.Stage != Credited || !Final(c.Stage) {
		t.Fatalf("credited: %s in %s", returnEvents(out), c.Stage)
	}
	net := balanced(t, out.Journals)
	a := settle.DefaultAccounts
	if net[a.SalesReturns] != 20000 || net[a.DeferredRevenue] != 9000 || net[a.Receivable] != -29000 {
		t.Errorf("credit journal effect %v", net)
	}
	u := out.Updates[0]
	if contracts.Deref(u.CreditMemoID) != "CM1" || contracts.Deref(u.OrderID) != "ORD-7" || u.Credit.AmountMinor != 29000 || contracts.Deref(u.RmaNumber) != "RMA77" || u.ReturnLines[0].Accepted != 2 {
		t.Errorf("RETURN_CREDITED update %+v", u)
	}
	// The journal's answer is the case's, as for service cases.
	if o := c.OnJournal(contracts.Journal{JournalCommandID: out.Journals[0].JournalCommandID, Status: contracts.JournalStatusPosted}, t0, rpolicy); o.Ignored != "" {
		t.Errorf("journal answer ignored: %s", o.Ignored)
	}
}

func TestReturnPartial(t *testing.T) {
	// P-9 is another customer's: the policy refuses it; inspection
	// refuses one seat.
	c, out := requested(t, "P-1", "P-9")
	if returnEvents(out) != "RETURN_REQUESTED,cmd:CREATE" {
		t.Fatalf("requested: %s", returnEvents(out))
	}
	u := out.Updates[0]
	if l := u.ReturnLines[0]; l.Requested != 2 || l.Authorised != 1 || l.Refused != 1 || contracts.Deref(l.Reason) != returns.AssetNotOwned {
		t.Errorf("line 1 %+v", l)
	}
	if got := out.Returns[0].Lines[0]; got.Quantity != 1 || len(got.Serials) != 1 || got.Serials[0] != "P-1" {
		t.Errorf("CREATE line 1 %+v", got)
	}
	c.OnReturnStatus(rstatus(contracts.ReturnStateCreated, out.Returns[0].CommandID), t0, rpolicy)
	out = c.OnReturnStatus(rstatus(contracts.ReturnStateInspected, "",
		contracts.ReturnLineStatus{LineNumber: 1, SKU: "PUMP", Received: 1, Accepted: 1},
		contracts.ReturnLineStatus{LineNumber: 2, SKU: "SEATS", Received: 4, Accepted: 3, Refused: 1, RefusalReason: ptr("seal broken")}), t0, rpolicy)
	if out.Returns[0].CreditAmount.AmountMinor != 10000+6750 {
		t.Errorf("credit %d, want 16750", out.Returns[0].CreditAmount.AmountMinor)
	}
	if l := out.Updates[0].ReturnLines[1]; l.Accepted != 3 || l.Refused != 1 || contracts.Deref(l.Reason) != "seal broken" {
		t.Errorf("inspected line 2 %+v", l)
	}
}

func TestReturnRefused(t *testing.T) {
	t.Run("by the policy", func(t *testing.T) {
		in := rmaCase("OPEN", "P-9")
		in.ReturnRequest.Lines = in.ReturnRequest.Lines[:1]
		c, _ := Open(in, "corr")
		out := c.OnAssets(installed, t0, rpolicy)
		if returnEvents(out) != "REFUSED" || c.Stage != Refused || contracts.Deref(out.Updates[0].Reason) != returns.AssetNotOwned {
			t.Fatalf("%s in %s: %+v", returnEvents(out), c.Stage, out.Updates)
		}
	})
	t.Run("by inspection", func(t *testing.T) {
		c, out := requested(t, "P-1")
		c.OnReturnStatus(rstatus(contracts.ReturnStateCreated, out.Returns[0].CommandID), t0, rpolicy)
		out = c.OnReturnStatus(rstatus(contracts.ReturnStateInspected, "",
			contracts.ReturnLineStatus{LineNumber: 1, Received: 1, Refused: 1}, contracts.ReturnLineStatus{LineNumber: 2, Received: 4, Refused: 4}), t0, rpolicy)
		if returnEvents(out) != "REFUSED" || c.Stage != Refused || contracts.Deref(out.Updates[0].Reason) != returns.InspectionRefused {
			t.Fatalf("%s in %s", returnEvents(out), c.Stage)
		}
	})
	t.Run("serials unknown to the gateway are looked up again first", func(t *testing.T) {
		in := rmaCase("OPEN", "P-NEW")
		in.ReturnRequest.Lines = in.ReturnRequest.Lines[:1]
		c, _ := Open(in, "corr")
		for i := 1; i < rpolicy.AssetChecks; i++ {
			if out := c.OnAssets(installed, t0, rpolicy); out.Ignored == "" || c.Deadline.IsZero() {
				t.Fatalf("check %d decided early: %+v", i, out)
			}
			if out := c.OnTick(c.Deadline); !out.Check {
				t.Fatalf("tick does not look up again")
			}
		}
		out := c.OnAssets(installed, t0, rpolicy)
		if c.Stage != Refused || contracts.Deref(out.Updates[0].Reason) != returns.AssetUnknown || !c.Deadline.IsZero() {
			t.Fatalf("%s in %s", returnEvents(out), c.Stage)
		}
	})
}

func TestReturnWithdrawn(t *testing.T) {
	t.Run("before ERP receives the goods", func(t *testing.T) {
		c, _ := requested(t, "P-1")
		out := c.OnCase(rmaCase("CANCELLED", "P-1"), t0)
		if returnEvents(out) != "cmd:CANCEL" {
			t.Fatalf("withdrawn: %s", returnEvents(out))
		}
		if again := c.OnCase(rmaCase("CANCELLED", "P-1"), t0); len(again.Returns) != 0 {
			t.Errorf("a second withdrawal cancels again")
		}
		out = c.OnReturnStatus(rstatus(contracts.ReturnStateCancelled, out.Returns[0].CommandID), t0, rpolicy)
		if returnEvents(out) != "CANCELLED" || c.Stage != Cancelled {
			t.Fatalf("cancelled: %s in %s", returnEvents(out), c.Stage)
		}
	})
	t.Run("ERP has the goods already", func(t *testing.T) {
		c, out := requested(t, "P-1")
		create := out.Returns[0].CommandID
		c.OnReturnStatus(rstatus(contracts.ReturnStateCreated, create), t0, rpolicy)
		out = c.OnCase(rmaCase("CANCELLED", "P-1"), t0)
		cancel := out.Returns[0].CommandID
		// ERP receives before it sees the CANCEL, then refuses it.
		c.OnReturnStatus(rstatus(contracts.ReturnStateReceived, "", contracts.ReturnLineStatus{LineNumber: 1, Received: 1}), t0, rpolicy)
		st := rstatus(contracts.ReturnStateReceived, cancel)
		st.Message = ptr("CANCEL_REFUSED: the return is received")
		out = c.OnReturnStatus(st, t0, rpolicy)
		if c.Stage != Returning || c.Return.Withdrawn || len(out.Updates) != 1 || !strings.Contains(contracts.Deref(out.Updates[0].Message), "too late") {
			t.Fatalf("refused cancel: %s in %s", returnEvents(out), c.Stage)
		}
	})
	t.Run("before the policy check", func(t *testing.T) {
		c, _ := Open(rmaCase("OPEN", "P-1"), "corr")
		if out := c.OnCase(rmaCase("CANCELLED", "P-1"), t0); returnEvents(out) != "CANCELLED" || c.Stage != Cancelled {
			t.Fatalf("%s in %s", returnEvents(out), c.Stage)
		}
	})
}

func TestReturnRejectedByERP(t *testing.T) {
	decide := func(c *Case, category, action string, n int) Outputs {
		return c.OnDecision(contracts.Decision{DecisionID: "d" + action + string(rune('0'+n)), ExceptionID: ExceptionID("RMA-1", category, n), Action: action, OwnerService: Owner}, t0, rpolicy)
	}
	t.Run("return order: retried, then cancelled", func(t *testing.T) {
		c, out := requested(t, "P-1")
		out = c.OnReturnStatus(rstatus(contracts.ReturnStateRejected, out.Returns[0].CommandID), t0, rpolicy)
		if returnEvents(out) != "RETURN_REQUESTED,exception:ERP_REJECTION:OPEN" || out.Exceptions[0].Queue != contracts.ExceptionQueueSalesOps || c.Stage != ReturnHeld {
			t.Fatalf("rejected: %s (%s) in %s", returnEvents(out), out.Exceptions[0].Queue, c.Stage)
		}
		out = decide(c, contracts.ExceptionCategoryERPRejection, contracts.DecisionActionRetry, 1)
		if returnEvents(out) != "cmd:CREATE,exception:ERP_REJECTION:RESOLVED" || c.Stage != Returning || out.Returns[0].CommandID != "RMA-1/create/2" {
			t.Fatalf("retry: %s in %s", returnEvents(out), c.Stage)
		}
		c.OnReturnStatus(rstatus(contracts.ReturnStateRejected, out.Returns[0].CommandID), t0, rpolicy)
		out = decide(c, contracts.ExceptionCategoryERPRejection, contracts.DecisionActionResolve, 2)
		if len(out.Exceptions) != 1 || out.Exceptions[0].Status != contracts.ExceptionStatusOpen || c.Stage != ReturnHeld {
			t.Fatalf("RESOLVE of a rejected return order must be refused: %s", returnEvents(out))
		}
		out = decide(c, contracts.ExceptionCategoryERPRejection, contracts.DecisionActionCancel, 2)
		if returnEvents(out) != "REFUSED,exception:ERP_REJECTION:RESOLVED" || c.Stage != Refused {
			t.Fatalf("cancel: %s in %s", returnEvents(out), c.Stage)
		}
	})
	t.Run("credit memo: finance-ops issues it by hand", func(t *testing.T) {
		c, out := requested(t, "P-1")
		c.OnReturnStatus(rstatus(contracts.ReturnStateCreated, out.Returns[0].CommandID), t0, rpolicy)
		out = c.OnReturnStatus(rstatus(contracts.ReturnStateInspected, "", contracts.ReturnLineStatus{LineNumber: 1, Received: 1, Accepted: 1}), t0, rpolicy)
		out = c.OnReturnStatus(rstatus(contracts.ReturnStateRejected, out.Returns[0].CommandID), t0, rpolicy)
		if out.Exceptions[0].Queue != contracts.ExceptionQueueFinanceOps {
			t.Fatalf("credit rejection goes to %s", out.Exceptions[0].Queue)
		}
		out = decide(c, contracts.ExceptionCategoryERPRejection, contracts.DecisionActionResolve, 1)
		if returnEvents(out) != "RETURN_CREDITED,exception:ERP_REJECTION:RESOLVED" || c.Stage != Credited || len(out.Journals) != 0 {
			t.Fatalf("resolve: %s in %s", returnEvents(out), c.Stage)
		}
	})
}

func TestValidateReturn(t *testing.T) {
	in := rmaCase("OPEN", "P-1")
	in.ERPCustomerID = nil
	in.ReturnRequest.Lines[0].Quantity = 3
	got := Validate(in)
	if !strings.Contains(got, "erp_customer_id is empty") || !strings.Contains(got, "1 serials for 3 units") {
		t.Errorf("Validate = %q", got)
	}
	// A return needs no serial on the case nor a service type.
	ok := rmaCase("OPEN", "P-1")
	ok.Serial, ok.ServiceType = "", contracts.ServiceTypeUnknown
	if got := Validate(ok); got != "" {
		t.Errorf("Validate = %q, want valid", got)
	}
}
