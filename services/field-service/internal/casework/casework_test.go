package casework

import (
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/field-service/internal/settle"
)

var (
	t0     = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	policy = Policy{MarkupBps: 2500, Accounts: settle.DefaultAccounts, AssetChecks: 3, AssetRecheck: 30 * time.Second, MaxReposts: 2}
	usd    = func(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }
	parts  = []contracts.PartUsed{{SKU: "KIT-SEAL", Quantity: 1, UnitCost: usd(4900)}, {SKU: "IMPELLER-100", Quantity: 2, UnitCost: usd(21500)}}
)

func crmCase(status string) contracts.Case {
	return contracts.Case{CaseID: "CASE-1", AccountID: "ACC-1", Serial: "SN-1", ServiceType: contracts.ServiceTypeRepair, Symptom: ptr("leaks"),
		Priority: contracts.SeverityHigh, SLATier: "STANDARD", Status: status, OpenedAt: t0}
}

func status(s string) contracts.ServiceOrderStatus {
	v := contracts.ServiceOrderStatus{ServiceOrderID: "CASE-1", CaseID: "CASE-1", Status: s, ERPServiceOrderID: ptr("SO123"), Parts: []contracts.PartUsed{}}
	switch s {
	case contracts.ServiceOrderStatePartUnavailable:
		v.Message = ptr("part IMPELLER-100 on back order")
	case contracts.ServiceOrderStatePartsIssued:
		v.Parts = parts
	case contracts.ServiceOrderStateCompleted:
		v.Parts, v.LabourMinutes, v.LabourCost, v.Resolution = parts, 90, &contracts.Money{AmountMinor: 14250, Currency: "USD"}, ptr("repair done")
		total := usd(4900 + 43000 + 14250)
		v.TotalCost = &total
	case contracts.ServiceOrderStateClaimAccepted, contracts.ServiceOrderStateClaimRejected:
		v.ClaimID = ptr("CASE-1/claim")
		v.Message = ptr("misuse found")
	}
	return v
}

// opened is a case checked with verdict v.
func opened(t *testing.T, v Verdict) (*Case, Outputs) {
	t.Helper()
	c, out := Open(crmCase("OPEN"), "corr-1")
	if c == nil || !out.Check || c.Stage != Checking {
		t.Fatalf("Open: %+v %+v", c, out)
	}
	return c, c.OnVerdict(v, t0, policy)
}

func events(out Outputs) string {
	var s []string
	for _, u := range out.Updates {
		e := u.Event
		if u.ServiceOrderStatus != nil {
			e += ":" + *u.ServiceOrderStatus
		}
		s = append(s, e)
	}
	return strings.Join(s, ",")
}

// balanced checks every journal and returns the net debit per account.
func balanced(t *testing.T, js []contracts.JournalCommand) map[string]int64 {
	t.Helper()
	net := map[string]int64{}
	for _, j := range js {
		var dr, cr int64
		for _, l := range j.Lines {
			dr += l.Debit.AmountMinor
			cr += l.Credit.AmountMinor
			net[l.Account] += l.Debit.AmountMinor - l.Credit.AmountMinor
			if l.Debit.Currency != j.Currency || l.Credit.Currency != j.Currency {
				t.Errorf("journal %s line %d not in %s", j.JournalCommandID, l.LineNumber, j.Currency)
			}
		}
		if dr != cr || dr == 0 {
			t.Errorf("journal %s: debits %d, credits %d", j.JournalCommandID, dr, cr)
		}
		if j.ContractID != "" || !strings.HasPrefix(j.JournalCommandID, "FS/") {
			t.Errorf("journal %s: contract_id %q", j.JournalCommandID, j.ContractID)
		}
	}
	return net
}

const cost = int64(4900 + 43000 + 14250)

func TestSettlementByCoverage(t *testing.T) {
	a := settle.DefaultAccounts
	charge := cost + (cost*2500+5000)/10000
	for _, tt := range []struct {
		name      string
		verdict   Verdict
		after     []string // ERP statuses after COMPLETED
		stage     string
		events    string // case updates from COMPLETED on
		net       map[string]int64
		claims    int
		chargeOut int64
	}{
		{name: "billable: cost booked, customer charged with the markup",
			verdict: Verdict{Coverage: contracts.CoverageBillable, Reason: "NO_COVERAGE"}, stage: Settled, events: "RESOLVED:COMPLETED,SETTLED",
			net: map[string]int64{a.CostOfService: cost, a.Receivable: charge, a.ServiceRevenue: -charge, a.PartsInventory: -47900, a.AccruedLabour: -14250}, chargeOut: charge},
		{name: "service contract: cost absorbed in the contract's cost centre",
			verdict: Verdict{Coverage: contracts.CoverageServiceContract, Reason: "CONTRACT_ACTIVE", ContractID: "SUB-9", ResponseHours: 8}, stage: Settled, events: "RESOLVED:COMPLETED,SETTLED",
			net: map[string]int64{a.CostOfService: cost, a.Receivable: 0, a.ServiceRevenue: 0}},
		{name: "warranty: cost booked and claimed; accepted claim refunds it",
			verdict: Verdict{Coverage: contracts.CoverageWarranty, Reason: "WARRANTY_ACTIVE", Provider: "OEM"}, after: []string{contracts.ServiceOrderStateClaimAccepted},
			stage: Settled, events: "RESOLVED:COMPLETED,SETTLED", claims: 1,
			net: map[string]int64{a.CostOfService: 0, a.WarrantyReceivable: cost, a.Receivable: 0}},
		{name: "warranty: rejected claim waits for finance-ops",
			verdict: Verdict{Coverage: contracts.CoverageWarranty, Reason: "WARRANTY_ACTIVE"}, after: []string{contracts.ServiceOrderStateClaimRejected},
			stage: ClaimRejected, events: "RESOLVED:COMPLETED,RESOLVED", claims: 1,
			net: map[string]int64{a.CostOfService: cost, a.WarrantyReceivable: 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, out := opened(t, tt.verdict)
			if c.Stage != Ordered || len(out.Orders) != 1 || events(out) != "ENTITLEMENT,WORK_ORDER:REQUESTED" {
				t.Fatalf("after verdict: stage %s, %d orders, updates %s", c.Stage, len(out.Orders), events(out))
			}
			o := out.Orders[0]
			if o.Action != contracts.ServiceOrderActionCreate || o.ServiceOrderID != "CASE-1" || o.Coverage != tt.verdict.Coverage || o.CommandID != "CASE-1/create/1" {
				t.Fatalf("order %+v", o)
			}
			wantRespond := t0.Add(24 * time.Hour)
			if tt.verdict.Coverage == contracts.CoverageServiceContract {
				wantRespond = t0.Add(8 * time.Hour)
				if contracts.Deref(o.ContractID) != "SUB-9" {
					t.Errorf("contract id %v", o.ContractID)
				}
			}
			if !o.RespondBy.Equal(wantRespond) {
				t.Errorf("respond by %v, want %v", o.RespondBy, wantRespond)
			}
			for _, s := range []string{contracts.ServiceOrderStateCreated, contracts.ServiceOrderStateScheduled, contracts.ServiceOrderStatePartsIssued} {
				if o := c.OnStatus(status(s), t0, policy); len(o.Updates) != 1 || o.Updates[0].Event != contracts.CaseEventWorkOrder {
					t.Fatalf("%s: %+v", s, o)
				}
			}
			done := c.OnStatus(status(contracts.ServiceOrderStateCompleted), t0.Add(time.Hour), policy)
			journals, claims, ups := done.Journals, done.Claims, done
			for _, s := range tt.after {
				o := c.OnStatus(status(s), t0.Add(2*time.Hour), policy)
				journals = append(journals, o.Journals...)
				claims = append(claims, o.Claims...)
				ups.Updates = append(ups.Updates, o.Updates...)
				ups.Exceptions = append(ups.Exceptions, o.Exceptions...)
			}
			if c.Stage != tt.stage || events(ups) != tt.events || len(claims) != tt.claims {
				t.Fatalf("stage %s, updates %s, %d claims; want %s, %s, %d", c.Stage, events(ups), len(claims), tt.stage, tt.events, tt.claims)
			}
			net := balanced(t, journals)
			for acct, want := range tt.net {
				if net[acct] != want {
					t.Errorf("%s: net %d, want %d", acct, net[acct], want)
				}
			}
			if tt.claims == 1 {
				cl := claims[0]
				if cl.Amount.AmountMinor != cost || cl.LabourCost.AmountMinor != 14250 || len(cl.Parts) != 2 || cl.ServiceOrderID != "CASE-1" {
					t.Errorf("claim %+v", cl)
				}
			}
			last := ups.Updates[len(ups.Updates)-1]
			if tt.chargeOut > 0 && (last.Charge == nil || last.Charge.AmountMinor != tt.chargeOut) {
				t.Errorf("charge %+v, want %d", last.Charge, tt.chargeOut)
			}
			if tt.stage == ClaimRejected {
				if len(ups.Exceptions) != 1 || ups.Exceptions[0].Queue != contracts.ExceptionQueueFinanceOps || ups.Exceptions[0].Category != contracts.ExceptionCategoryWarrantyClaimRejected {
					t.Errorf("exceptions %+v", ups.Exceptions)
				}
			}
			// Every status again: nothing changes.
			for _, s := range append([]string{contracts.ServiceOrderStateCompleted, contracts.ServiceOrderStatePartsIssued}, tt.after...) {
				if o := c.OnStatus(status(s), t0.Add(3*time.Hour), policy); o.Ignored == "" || len(o.Updates)+len(o.Journals)+len(o.Claims) > 0 {
					t.Errorf("repeated %s changed the case: %+v", s, o)
				}
			}
		})
	}
}

func TestClaimRejectedDecisions(t *testing.T) {
	for _, tt := range []struct {
		action string
		net    int64 // receivable afterwards
		final  string
	}{
		{contracts.DecisionActionOverride, cost + (cost*2500+5000)/10000, contracts.CaseEventSettled},
		{contracts.DecisionActionResolve, 0, contracts.CaseEventSettled},
	} {
		t.Run(tt.action, func(t *testing.T) {
			c, _ := opened(t, Verdict{Coverage: contracts.CoverageWarranty})
			c.OnStatus(status(contracts.ServiceOrderStateCompleted), t0, policy)
			rej := c.OnStatus(status(contracts.ServiceOrderStateClaimRejected), t0, policy)
			ex := rej.Exceptions[0].ID
			out := c.OnDecision(contracts.Decision{DecisionID: "D1", ExceptionID: ex, OwnerService: Owner, Action: tt.action}, t0, policy)
			if c.Stage != Settled || len(out.Updates) != 1 || out.Updates[0].Event != tt.final {
				t.Fatalf("stage %s, updates %s", c.Stage, events(out))
			}
			if len(out.Exceptions) != 1 || out.Exceptions[0].Status != contracts.ExceptionStatusResolved || out.Exceptions[0].Decision != "D1" {
				t.Fatalf("exception update %+v", out.Exceptions)
			}
			if got := balanced(t, out.Journals)[settle.DefaultAccounts.Receivable]; got != tt.net {
				t.Errorf("receivable %d, want %d", got, tt.net)
			}
			if again := c.OnDecision(contracts.Decision{DecisionID: "D1", ExceptionID: ex, OwnerService: Owner, Action: tt.action}, t0, policy); again.Ignored == "" {
				t.Errorf("decision applied twice: %+v", again)
			}
		})
	}
}

func TestNotEntitled(t *testing.T) {
	for _, tt := range []struct {
		action, stage, events string
		check                 bool
		orders                int
		status                string
	}{
		{contracts.DecisionActionOverride, Ordered, "WORK_ORDER:REQUESTED", false, 1, contracts.ExceptionStatusResolved},
		{contracts.DecisionActionCancel, Refused, "REFUSED", false, 0, contracts.ExceptionStatusResolved},
		{contracts.DecisionActionRetry, Checking, "", true, 0, contracts.ExceptionStatusRetrying},
		{contracts.DecisionActionRepost, NotEntitled, "", false, 0, contracts.ExceptionStatusOpen}, // not an action for it
	} {
		t.Run(tt.action, func(t *testing.T) {
			c, out := opened(t, Verdict{Coverage: contracts.CoverageNotEntitled, Reason: "ASSET_NOT_OWNED", Message: "asset SN-1 belongs to another customer"})
			if c.Stage != NotEntitled || len(out.Orders) != 0 || len(out.Exceptions) != 1 {
				t.Fatalf("stage %s, %+v", c.Stage, out)
			}
			ex := out.Exceptions[0]
			if ex.Queue != contracts.ExceptionQueueSalesOps || ex.Category != contracts.ExceptionCategoryNotEntitled || ex.Context["reason"] != "ASSET_NOT_OWNED" {
				t.Fatalf("exception %+v", ex)
			}
			if id, ok := CaseOfException(ex.ID); !ok || id != "CASE-1" {
				t.Fatalf("CaseOfException(%q) = %q, %v", ex.ID, id, ok)
			}
			d := c.OnDecision(contracts.Decision{DecisionID: "D-" + tt.action, ExceptionID: ex.ID, OwnerService: Owner, Action: tt.action}, t0, policy)
			if c.Stage != tt.stage || events(d) != tt.events || d.Check != tt.check || len(d.Orders) != tt.orders {
				t.Fatalf("stage %s, updates %q, check %v, %d orders", c.Stage, events(d), d.Check, len(d.Orders))
			}
			if len(d.Exceptions) != 1 || d.Exceptions[0].Status != tt.status {
				t.Fatalf("exception update %+v", d.Exceptions)
			}
			if tt.orders == 1 && d.Orders[0].Coverage != contracts.CoverageBillable {
				t.Errorf("override order coverage %s", d.Orders[0].Coverage)
			}
		})
	}
}

func TestUnknownAssetIsCheckedAgain(t *testing.T) {
	c, out := opened(t, Verdict{Unknown: true, Reason: "NOT_FOUND"})
	at := t0
	for i := 2; i <= policy.AssetChecks; i++ {
		if c.Stage != Checking || c.Deadline.IsZero() || len(out.Updates) > 0 {
			t.Fatalf("check %d: stage %s, deadline %v, %+v", i-1, c.Stage, c.Deadline, out)
		}
		if o := c.OnTick(at); o.Check {
			t.Fatal("tick before the deadline checks again")
		}
		at = c.Deadline
		if o := c.OnTick(at); !o.Check {
			t.Fatalf("tick at the deadline does not check: %+v", o)
		}
		out = c.OnVerdict(Verdict{Unknown: true}, at, policy)
	}
	if c.Stage != NotEntitled || len(out.Exceptions) != 1 || c.Verdict.Reason != "ASSET_UNKNOWN" || !c.Deadline.IsZero() {
		t.Fatalf("after %d checks: stage %s, %+v", policy.AssetChecks, c.Stage, out)
	}
	// Known on the next check: the asset arrived late.
	c2, out2 := opened(t, Verdict{Unknown: true})
	out2 = c2.OnVerdict(Verdict{Coverage: contracts.CoverageWarranty, Reason: "WARRANTY_ACTIVE", ERPCustomerID: "E-7", SKU: "PUMP-100"}, c2.Deadline, policy)
	if c2.Stage != Ordered || out2.Orders[0].ERPCustomerID != "E-7" || out2.Orders[0].SKU != "PUMP-100" {
		t.Fatalf("late asset: %s %+v", c2.Stage, out2.Orders)
	}
}

func TestCancel(t *testing.T) {
	// Before the order: cancelled at once.
	c, _ := opened(t, Verdict{Coverage: contracts.CoverageNotEntitled})
	out := c.OnCase(crmCase("CANCELLED"), t0)
	if c.Stage != Cancelled || events(out) != "CANCELLED" || len(out.Exceptions) != 1 || out.Exceptions[0].Status != contracts.ExceptionStatusResolved {
		t.Fatalf("cancel before order: %s %+v", c.Stage, out)
	}
	// With the order open: ERP cancels it first.
	c, _ = opened(t, Verdict{Coverage: contracts.CoverageBillable})
	c.OnStatus(status(contracts.ServiceOrderStatePartUnavailable), t0, policy)
	out = c.OnCase(crmCase("CANCELLED"), t0)
	if c.Stage != Cancelling || len(out.Orders) != 1 || out.Orders[0].Action != contracts.ServiceOrderActionCancel || out.Orders[0].CommandID != "CASE-1/cancel/2" {
		t.Fatalf("cancel with order: %s %+v", c.Stage, out)
	}
	out = c.OnStatus(status(contracts.ServiceOrderStateCancelled), t0, policy)
	if c.Stage != Cancelled || events(out) != "CANCELLED" || len(out.Exceptions) != 1 || c.OpenExceptions() != 0 {
		t.Fatalf("ERP cancelled: %s %+v", c.Stage, out)
	}
	// ERP completed before the cancel arrived: the work is settled.
	c, _ = opened(t, Verdict{Coverage: contracts.CoverageBillable})
	c.OnCase(crmCase("CANCELLED"), t0)
	out = c.OnStatus(status(contracts.ServiceOrderStateCompleted), t0, policy)
	if c.Stage != Settled || len(out.Journals) != 2 {
		t.Fatalf("completed while cancelling: %s %+v", c.Stage, out)
	}
	if o := c.OnCase(crmCase("CANCELLED"), t0); o.Ignored == "" {
		t.Errorf("cancel after settlement changed the case")
	}
}

func TestPartShortage(t *testing.T) {
	c, _ := opened(t, Verdict{Coverage: contracts.CoverageBillable})
	out := c.OnStatus(status(contracts.ServiceOrderStatePartUnavailable), t0, policy)
	if len(out.Exceptions) != 1 || out.Exceptions[0].Queue != contracts.ExceptionQueueServiceOps || out.Exceptions[0].Severity != contracts.SeverityHigh {
		t.Fatalf("shortage: %+v", out.Exceptions)
	}
	out = c.OnStatus(status(contracts.ServiceOrderStatePartsIssued), t0, policy)
	if len(out.Exceptions) != 1 || out.Exceptions[0].Status != contracts.ExceptionStatusResolved || c.OpenExceptions() != 0 || len(out.Updates[0].Parts) != 2 {
		t.Fatalf("parts issued: %+v", out)
	}
}

func TestJournalRejections(t *testing.T) {
	c, _ := opened(t, Verdict{Coverage: contracts.CoverageBillable})
	done := c.OnStatus(status(contracts.ServiceOrderStateCompleted), t0, policy)
	costID := done.Journals[0].JournalCommandID
	closed := func(id string) contracts.Journal {
		return contracts.Journal{JournalCommandID: id, Status: contracts.JournalStatusRejected, RejectionCode: ptr("PERIOD_CLOSED")}
	}
	if o := c.OnJournal(contracts.Journal{JournalCommandID: done.Journals[1].JournalCommandID, Status: contracts.JournalStatusPosted}, t0, policy); len(o.Journals)+len(o.Exceptions) > 0 {
		t.Fatalf("posted: %+v", o)
	}
	id := costID
	for i := 1; i <= policy.MaxReposts; i++ {
		o := c.OnJournal(closed(id), t0, policy)
		if len(o.Journals) != 1 || o.Journals[0].JournalCommandID != costID+"/r"+string(rune('0'+i)) {
			t.Fatalf("repost %d: %+v", i, o)
		}
		if want := time.Date(2026, time.Month(3+i), 1, 0, 0, 0, 0, time.UTC); !o.Journals[0].PostingDate.Equal(want) {
			t.Errorf("repost %d posting %v, want %v", i, o.Journals[0].PostingDate, want)
		}
		if o := c.OnJournal(closed(id), t0, policy); o.Ignored == "" {
			t.Errorf("answer to a superseded journal changed the case")
		}
		id = o.Journals[0].JournalCommandID
	}
	o := c.OnJournal(closed(id), t0, policy)
	if len(o.Journals) != 0 || len(o.Exceptions) != 1 || o.Exceptions[0].Category != contracts.ExceptionCategoryJournalRejected {
		t.Fatalf("after %d reposts: %+v", policy.MaxReposts, o)
	}
	d := c.OnDecision(contracts.Decision{DecisionID: "D9", ExceptionID: o.Exceptions[0].ID, OwnerService: Owner, Action: contracts.DecisionActionRepost}, t0, policy)
	if len(d.Journals) != 1 || !strings.HasSuffix(d.Journals[0].JournalCommandID, "/r3") {
		t.Fatalf("REPOST decision: %+v", d.Journals)
	}
}

func TestERPRejectsOrder(t *testing.T) {
	c, _ := opened(t, Verdict{Coverage: contracts.CoverageWarranty})
	st := status(contracts.ServiceOrderStateRejected)
	st.Message = ptr("REJECTED: a service order needs an asset serial")
	out := c.OnStatus(st, t0, policy)
	if c.Stage != Refused || events(out) != "REFUSED" || contracts.Deref(out.Updates[0].Reason) != "ERP_REJECTED" {
		t.Fatalf("%s %+v", c.Stage, out)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		mut  func(*contracts.Case)
		want string
	}{
		{func(*contracts.Case) {}, ""},
		{func(c *contracts.Case) { c.CaseID = "" }, "case_id is empty"},
		{func(c *contracts.Case) { c.AccountID = "" }, "neither account_id nor erp_customer_id"},
		{func(c *contracts.Case) { c.AccountID, c.ERPCustomerID = "", ptr("E-1") }, ""},
		{func(c *contracts.Case) { c.Serial = "" }, "serial is empty"},
		{func(c *contracts.Case) { c.ServiceType = contracts.ServiceTypeUnknown }, "service_type is UNKNOWN"},
		{func(c *contracts.Case) { c.Status = "UNKNOWN" }, "status is UNKNOWN"},
	} {
		c := crmCase("OPEN")
		tt.mut(&c)
		got := Validate(c)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Validate = %q, want %q", got, tt.want)
		}
	}
	if c, out := Open(crmCase("CANCELLED"), "x"); c != nil || out.Ignored == "" {
		t.Errorf("a case cancelled before it was seen opened one")
	}
}
