// Package casework is field-service's domain: one service case from CRM
// through the entitlement verdict, the ERP service order and its progress,
// to the settlement of its cost (charged to the customer, claimed from the
// manufacturer, or absorbed by a service contract) with balanced journals.
// Pure: a Case and an input in, the changed Case and its Outputs out; the
// processor handler stores the Case and emits the outputs in one
// transaction.
//
// The service order id is the case id (one service order per case), so a
// case and its ERP statuses are keyed alike and live on one partition.
package casework

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/ledger"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
	"github.com/isthmus/isthmus/services/field-service/internal/settle"
)

// Owner is the service name exceptions and decisions carry.
const Owner = "field-service"

// Ops is field-service as the owner of its exceptions: ids
// "fsv:<n>:<category>:<case id>", queue service-ops unless the category or
// the case says otherwise.
var Ops = ops.Owner{Service: Owner, Code: "fsv", Queue: contracts.ExceptionQueueServiceOps, Source: contracts.SourceSystemFieldService}

// Stages of a case.
const (
	// Checking: the entitlement verdict is asked from the gateway (again
	// at Deadline while the asset is unknown to it).
	Checking = "CHECKING"
	// NotEntitled: nothing covers the work; an operator decides (sales-ops).
	NotEntitled = "NOT_ENTITLED"
	// Ordered: the ERP service order is open.
	Ordered = "ORDERED"
	// Cancelling: the case was withdrawn; ERP is asked to cancel the order.
	Cancelling = "CANCELLING"
	// Claimed: the work is done and a warranty claim is with the
	// manufacturer.
	Claimed = "CLAIMED"
	// ClaimRejected: the manufacturer refused the claim; finance-ops decides
	// who pays.
	ClaimRejected = "CLAIM_REJECTED"
	// Settled: the cost is settled (journals sent); final.
	Settled = "SETTLED"
	// Cancelled: withdrawn before the work was done; final.
	Cancelled = "CANCELLED"
	// Refused: not done (refused after NOT_ENTITLED, or ERP rejected the
	// service order); final.
	Refused = "REFUSED"
)

// Final tells whether a stage ends the case.
func Final(stage string) bool {
	return stage == Settled || stage == Cancelled || stage == Refused || stage == Credited
}

// Policy is the service's configuration of the domain.
type Policy struct {
	// MarkupBps is added to the cost of billable work (basis points).
	MarkupBps int64
	Accounts  settle.Accounts
	// AssetChecks is how many times an asset or customer unknown to the
	// gateway is checked (AssetRecheck apart, in stream time) before the
	// case is raised as not entitled.
	AssetChecks  int
	AssetRecheck time.Duration
	// MaxReposts bounds reposts of a settlement journal ERP rejected
	// because its period was closed.
	MaxReposts int
	// Returns is the return policy.
	Returns returns.Policy
}

// Verdict is the gateway's entitlement answer for the case.
type Verdict struct {
	Coverage      string `json:"coverage"` // contracts.Coverage*
	Reason        string `json:"reason"`
	Message       string `json:"message,omitempty"`
	ContractID    string `json:"contract_id,omitempty"`
	ResponseHours int    `json:"response_hours,omitempty"`
	Provider      string `json:"provider,omitempty"` // warranty provider
	ERPCustomerID string `json:"erp_customer_id,omitempty"`
	SKU           string `json:"sku,omitempty"`
	// Unknown: the gateway does not know the asset or the customer (yet).
	Unknown bool `json:"unknown,omitempty"`
}

// Booked is a settlement journal sent to ERP and what became of it.
type Booked struct {
	Journal settle.Journal `json:"journal"`
	Attempt int            `json:"attempt,omitempty"`
	Status  string         `json:"status"` // SENT, POSTED, REJECTED
	Posting time.Time      `json:"posting"`
}

// Case is one service case's state.
type Case struct {
	CaseID        string    `json:"case_id"`
	AccountID     string    `json:"account_id"`
	ERPCustomerID string    `json:"erp_customer_id,omitempty"`
	Serial        string    `json:"serial"`
	SKU           string    `json:"sku,omitempty"`
	ServiceType   string    `json:"service_type"`
	Symptom       string    `json:"symptom,omitempty"`
	Priority      string    `json:"priority"`
	SLATier       string    `json:"sla_tier"`
	OpenedAt      time.Time `json:"opened_at"`
	Correlation   string    `json:"correlation"`

	Stage    string    `json:"stage"`
	Verdict  *Verdict  `json:"verdict,omitempty"`
	Checks   int       `json:"checks,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	// Billable: an operator decided the customer pays (override of a
	// not-entitled verdict or of a rejected warranty claim).
	Billable bool `json:"billable,omitempty"`

	ERPOrderID string               `json:"erp_order_id,omitempty"`
	Applied    []string             `json:"applied,omitempty"` // ERP statuses applied, once each
	Parts      []contracts.PartUsed `json:"parts,omitempty"`
	Work       *settle.Work         `json:"work,omitempty"`
	Resolution string               `json:"resolution,omitempty"`
	ClaimID    string               `json:"claim_id,omitempty"`
	Journals   []Booked             `json:"journals,omitempty"`
	// Exceptions: exception id → its category and status.
	Exceptions map[string]Exception `json:"exceptions,omitempty"`
	Decisions  []string             `json:"decisions,omitempty"` // applied decision ids
	Commands   int                  `json:"commands,omitempty"`  // service order or return commands sent
	// Return is set on a return (RMA) case.
	Return *Return `json:"return,omitempty"`
}

// Exception is the case's record of one exception it raised.
type Exception struct {
	Category string `json:"category"`
	Status   string `json:"status"`
	Queue    string `json:"queue,omitempty"`
}

// Outputs are what one input makes the case send.
type Outputs struct {
	Updates  []contracts.CaseUpdate
	Orders   []contracts.ServiceOrderCommand
	Claims   []contracts.WarrantyClaimCommand
	Returns  []contracts.ReturnCommand
	Journals []contracts.JournalCommand
	// Exceptions raised or updated; the handler builds their events
	// (Ops.Event).
	Exceptions []ops.Exception
	// Check asks the handler for the entitlement verdict (OnVerdict) or,
	// for a return, the installed base's view of its serials (OnAssets).
	Check   bool
	Ignored string
}

// tierHours is the response time promised by an SLA tier.
var tierHours = map[string]int{"BASIC": 72, "STANDARD": 24, "PREMIUM": 4}

// Open starts a case from CRM's OPEN record; nil when the record does not
// open one (withdrawn or closed before field-service saw it).
func Open(in contracts.Case, correlation string) (*Case, Outputs) {
	if in.Status != "OPEN" {
		return nil, Outputs{Ignored: "case " + strings.ToLower(in.Status) + " before it was opened here"}
	}
	if in.ReturnRequest != nil {
		return openReturn(in, correlation)
	}
	c := &Case{CaseID: in.CaseID, AccountID: in.AccountID, ERPCustomerID: contracts.Deref(in.ERPCustomerID), Serial: in.Serial,
		SKU: contracts.Deref(in.SKU), ServiceType: in.ServiceType, Symptom: contracts.Deref(in.Symptom), Priority: in.Priority,
		SLATier: in.SLATier, OpenedAt: in.OpenedAt.UTC(), Correlation: correlation, Stage: Checking}
	return c, Outputs{Check: true}
}

// Validate names what is wrong with a CRM case record, or "".
func Validate(in contracts.Case) string {
	if in.ReturnRequest != nil {
		return ValidateReturn(in)
	}
	var bad []string
	if in.CaseID == "" {
		bad = append(bad, "case_id is empty")
	}
	if in.AccountID == "" && contracts.Deref(in.ERPCustomerID) == "" {
		bad = append(bad, "neither account_id nor erp_customer_id is set")
	}
	if in.Serial == "" {
		bad = append(bad, "serial is empty")
	}
	if in.ServiceType == "" || in.ServiceType == contracts.ServiceTypeUnknown {
		bad = append(bad, "service_type is UNKNOWN")
	}
	if in.Status == "" || in.Status == "UNKNOWN" {
		bad = append(bad, "status is UNKNOWN")
	}
	return strings.Join(bad, "; ")
}

// OnCase applies a later CRM record of an existing case: CANCELLED
// withdraws it (the service order is cancelled if open); other changes are
// CRM's own (priority, symptom) and change nothing here.
func (c *Case) OnCase(in contracts.Case, at time.Time) Outputs {
	if c.IsReturn() {
		return c.onReturnCase(in)
	}
	if in.Status != "CANCELLED" {
		return Outputs{Ignored: "case record " + in.Status + " changes nothing in stage " + c.Stage}
	}
	switch c.Stage {
	case Checking, NotEntitled:
		c.Stage, c.Deadline = Cancelled, time.Time{}
		out := Outputs{Updates: []contracts.CaseUpdate{c.update(contracts.CaseEventCancelled, "case withdrawn before a service order was opened")}}
		c.resolveAll(&out, at, "", "case withdrawn")
		return out
	case Ordered:
		c.Stage = Cancelling
		c.Commands++
		return Outputs{Orders: []contracts.ServiceOrderCommand{c.order(contracts.ServiceOrderActionCancel, at)}}
	}
	return Outputs{Ignored: "case withdrawn in stage " + c.Stage + ": nothing to cancel"}
}

// OnVerdict applies the entitlement verdict asked for by Outputs.Check.
func (c *Case) OnVerdict(v Verdict, at time.Time, p Policy) Outputs {
	if c.Stage != Checking || c.IsReturn() {
		return Outputs{Ignored: "verdict in stage " + c.Stage}
	}
	c.Checks++
	if v.Unknown && c.Checks < p.AssetChecks {
		c.Deadline = at.Add(p.AssetRecheck)
		return Outputs{Ignored: "asset or customer not known to the gateway yet; checked again at " + c.Deadline.Format(time.RFC3339)}
	}
	c.Deadline = time.Time{}
	vv := v
	c.Verdict = &vv
	if v.ERPCustomerID != "" && c.ERPCustomerID == "" {
		c.ERPCustomerID = v.ERPCustomerID
	}
	if v.SKU != "" {
		c.SKU = v.SKU
	}
	out := Outputs{Updates: []contracts.CaseUpdate{c.update(contracts.CaseEventEntitlement, v.Message)}}
	if v.Coverage == contracts.CoverageNotEntitled || v.Unknown {
		c.Stage = NotEntitled
		if v.Unknown {
			c.Verdict.Coverage, c.Verdict.Reason = contracts.CoverageNotEntitled, "ASSET_UNKNOWN"
			c.Verdict.Message = fmt.Sprintf("asset %s or its customer is not in the installed base after %d checks", c.Serial, c.Checks)
			out.Updates[0] = c.update(contracts.CaseEventEntitlement, c.Verdict.Message)
		}
		out.Exceptions = append(out.Exceptions, c.raise(contracts.ExceptionCategoryNotEntitled, "", contracts.SeverityMedium,
			fmt.Sprintf("Case %s: %s", c.CaseID, c.Verdict.Message),
			"Agree a billable service with the customer (OVERRIDE), check again after fixing the contract or installed base (RETRY), or refuse the case (CANCEL).",
			[]string{contracts.DecisionActionOverride, contracts.DecisionActionRetry, contracts.DecisionActionCancel}, at, map[string]string{"reason": c.Verdict.Reason}))
		return out
	}
	c.placeOrder(&out, at)
	return out
}

func (c *Case) placeOrder(out *Outputs, at time.Time) {
	c.Stage = Ordered
	c.Commands++
	out.Orders = append(out.Orders, c.order(contracts.ServiceOrderActionCreate, at))
	u := c.update(contracts.CaseEventWorkOrder, "service order requested from ERP")
	u.ServiceOrderStatus = ptr("REQUESTED")
	out.Updates = append(out.Updates, u)
}

// Coverage is who pays for the work now.
func (c *Case) Coverage() string {
	switch {
	case c.Billable:
		return contracts.CoverageBillable
	case c.Verdict != nil:
		return c.Verdict.Coverage
	}
	return contracts.CoverageUnknown
}

// RespondBy is when the case must be answered on site: the covering
// contract's response time, else the SLA tier's.
func (c *Case) RespondBy() time.Time {
	h := tierHours[c.SLATier]
	if c.Verdict != nil && c.Verdict.ResponseHours > 0 && c.Coverage() == contracts.CoverageServiceContract {
		h = c.Verdict.ResponseHours
	}
	if h == 0 {
		h = tierHours["STANDARD"]
	}
	return c.OpenedAt.Add(time.Duration(h) * time.Hour)
}

func (c *Case) order(action string, at time.Time) contracts.ServiceOrderCommand {
	cmd := contracts.ServiceOrderCommand{CommandID: c.CaseID + "/" + strings.ToLower(action) + "/" + strconv.Itoa(c.Commands), Action: action,
		ServiceOrderID: c.CaseID, CaseID: c.CaseID, ERPCustomerID: c.ERPCustomerID, Serial: c.Serial, SKU: c.SKU, ServiceType: c.ServiceType,
		Coverage: c.Coverage(), Priority: c.Priority, Symptom: opt(c.Symptom)}
	if c.Coverage() == contracts.CoverageServiceContract {
		cmd.ContractID = opt(c.Verdict.ContractID)
	}
	rb := c.RespondBy()
	cmd.RespondBy = &rb
	return cmd
}

// OnStatus applies an ERP service order status (each status once; a
// repeated one changes nothing).
func (c *Case) OnStatus(st contracts.ServiceOrderStatus, at time.Time, p Policy) Outputs {
	if st.ERPServiceOrderID != nil && *st.ERPServiceOrderID != "" {
		c.ERPOrderID = *st.ERPServiceOrderID
	}
	key := st.Status
	if st.ClaimID != nil && (st.Status == contracts.ServiceOrderStateClaimAccepted || st.Status == contracts.ServiceOrderStateClaimRejected) {
		key += "/" + *st.ClaimID
	}
	if slices.Contains(c.Applied, key) {
		return Outputs{Ignored: "ERP status " + key + " already applied"}
	}
	if Final(c.Stage) && st.Status != contracts.ServiceOrderStateClaimAccepted {
		return Outputs{Ignored: "ERP status " + st.Status + " after the case ended (" + c.Stage + ")"}
	}
	c.Applied = append(c.Applied, key)
	var out Outputs
	wo := func(msg string) contracts.CaseUpdate {
		u := c.update(contracts.CaseEventWorkOrder, msg)
		u.ServiceOrderStatus = ptr(st.Status)
		u.Technician, u.ScheduledFor = st.Technician, st.ScheduledFor
		return u
	}
	switch st.Status {
	case contracts.ServiceOrderStateCreated:
		out.Updates = append(out.Updates, wo("service order "+c.ERPOrderID+" opened in ERP"))
	case contracts.ServiceOrderStateScheduled:
		out.Updates = append(out.Updates, wo("technician scheduled"))
	case contracts.ServiceOrderStatePartUnavailable:
		msg := contracts.Deref(st.Message)
		out.Updates = append(out.Updates, wo("waiting for a part: "+msg))
		out.Exceptions = append(out.Exceptions, c.raise(contracts.ExceptionCategoryPartUnavailable, "", severityOf(c.Priority),
			fmt.Sprintf("Case %s: service order %s waits for a part (%s)", c.CaseID, c.ERPOrderID, msg),
			"Expedite the part or source it elsewhere; the exception resolves itself when the parts are issued. CANCEL cancels the service order.",
			[]string{contracts.DecisionActionCancel, contracts.DecisionActionDismiss}, at, map[string]string{"erp_message": msg}))
	case contracts.ServiceOrderStatePartsIssued:
		c.Parts = st.Parts
		u := wo("parts issued")
		u.Parts = st.Parts
		out.Updates = append(out.Updates, u)
		c.resolve(&out, contracts.ExceptionCategoryPartUnavailable, at, "", "parts issued")
	case contracts.ServiceOrderStateCompleted:
		c.complete(&out, st, at, p)
	case contracts.ServiceOrderStateCancelled:
		if c.Stage == Ordered || c.Stage == Cancelling {
			c.Stage = Cancelled
			out.Updates = append(out.Updates, c.update(contracts.CaseEventCancelled, "service order cancelled in ERP"))
			c.resolveAll(&out, at, "", "service order cancelled")
		}
	case contracts.ServiceOrderStateRejected:
		c.Stage = Refused
		msg := contracts.Deref(st.Message)
		u := c.update(contracts.CaseEventRefused, "ERP refused the service order: "+msg)
		u.Reason = ptr("ERP_REJECTED")
		out.Updates = append(out.Updates, u)
		c.resolveAll(&out, at, "", "service order refused by ERP")
	case contracts.ServiceOrderStateClaimAccepted:
		if c.Stage != Claimed {
			return Outputs{Ignored: "claim accepted in stage " + c.Stage}
		}
		c.book(&out, func() (settle.Journal, error) { return settle.RecoveryJournal(p.Accounts, *c.Work, c.Work.Total()) }, at)
		c.settled(&out, "warranty claim "+c.ClaimID+" accepted: the manufacturer pays", nil)
	case contracts.ServiceOrderStateClaimRejected:
		if c.Stage != Claimed {
			return Outputs{Ignored: "claim rejected in stage " + c.Stage}
		}
		c.Stage = ClaimRejected
		msg := contracts.Deref(st.Message)
		u := c.update(contracts.CaseEventResolved, "warranty claim rejected: "+msg)
		out.Updates = append(out.Updates, u)
		out.Exceptions = append(out.Exceptions, c.raise(contracts.ExceptionCategoryWarrantyClaimRejected, "", contracts.SeverityMedium,
			fmt.Sprintf("Case %s: warranty claim %s for %s rejected (%s)", c.CaseID, c.ClaimID, money(c.Work.Total(), c.Work.Currency), msg),
			"Charge the customer for the work (OVERRIDE) or absorb the cost as goodwill (RESOLVE).",
			[]string{contracts.DecisionActionOverride, contracts.DecisionActionResolve}, at, map[string]string{"claim_id": c.ClaimID, "erp_message": msg, "amount_minor": strconv.FormatInt(c.Work.Total(), 10), "currency": c.Work.Currency}))
	default:
		return Outputs{Ignored: "ERP status " + st.Status + " not handled"}
	}
	return out
}

// complete records the work's cost, tells CRM, books the cost and settles
// by coverage.
func (c *Case) complete(out *Outputs, st contracts.ServiceOrderStatus, at time.Time, p Policy) {
	if c.Stage != Ordered && c.Stage != Cancelling {
		out.Ignored = "completed in stage " + c.Stage
		return
	}
	w := settle.Work{ServiceOrderID: c.CaseID}
	w.Parts, w.Labour, w.Currency = contracts.ServiceOrderWork(&st)
	c.Work, c.Parts, c.Resolution = &w, st.Parts, contracts.Deref(st.Resolution)
	u := c.update(contracts.CaseEventResolved, "work completed")
	u.ServiceOrderStatus = ptr(st.Status)
	u.Parts, u.Resolution = st.Parts, st.Resolution
	u.Cost = &contracts.Money{AmountMinor: w.Total(), Currency: w.Currency}
	out.Updates = append(out.Updates, u)
	if w.Total() == 0 {
		c.settled(out, "completed without cost", nil)
		return
	}
	switch cov := c.Coverage(); cov {
	case contracts.CoverageWarranty:
		c.book(out, func() (settle.Journal, error) { return settle.CostJournal(p.Accounts, w, settle.CentreWarranty) }, at)
		c.Stage = Claimed
		c.ClaimID = c.CaseID + "/claim"
		out.Claims = append(out.Claims, contracts.WarrantyClaimCommand{CommandID: c.ClaimID + "/1", ClaimID: c.ClaimID, ServiceOrderID: c.CaseID,
			CaseID: c.CaseID, Serial: c.Serial, SKU: c.SKU, Provider: opt(c.Verdict.Provider), Parts: nonNil(st.Parts),
			LabourCost: contracts.Money{AmountMinor: w.Labour, Currency: w.Currency}, Amount: contracts.Money{AmountMinor: w.Total(), Currency: w.Currency},
			Failure: opt(c.Symptom)})
	case contracts.CoverageServiceContract:
		c.book(out, func() (settle.Journal, error) { return settle.CostJournal(p.Accounts, w, c.Verdict.ContractID) }, at)
		c.settled(out, "cost absorbed by service contract "+c.Verdict.ContractID, nil)
	default: // BILLABLE, or overridden
		c.book(out, func() (settle.Journal, error) { return settle.CostJournal(p.Accounts, w, settle.CentreBillable) }, at)
		c.charge(out, at, p)
	}
}

func (c *Case) charge(out *Outputs, at time.Time, p Policy) {
	amount := settle.ChargeAmount(*c.Work, p.MarkupBps)
	c.book(out, func() (settle.Journal, error) { return settle.ChargeJournal(p.Accounts, *c.Work, amount) }, at)
	c.settled(out, "charged to the customer", &contracts.Money{AmountMinor: amount, Currency: c.Work.Currency})
}

func (c *Case) settled(out *Outputs, msg string, charge *contracts.Money) {
	c.Stage = Settled
	u := c.update(contracts.CaseEventSettled, msg)
	if c.Work != nil {
		u.Cost = &contracts.Money{AmountMinor: c.Work.Total(), Currency: c.Work.Currency}
	}
	u.Charge = charge
	out.Updates = append(out.Updates, u)
}

// book adds a journal (unless an earlier input booked one of its kind).
func (c *Case) book(out *Outputs, build func() (settle.Journal, error), at time.Time) {
	j, err := build()
	if err != nil {
		out.Ignored = err.Error()
		return
	}
	for _, b := range c.Journals {
		if b.Journal.Kind == j.Kind {
			return
		}
	}
	b := Booked{Journal: j, Status: "SENT", Posting: day(at)}
	c.Journals = append(c.Journals, b)
	out.Journals = append(out.Journals, c.journalCommand(b))
}

func (c *Case) journalCommand(b Booked) contracts.JournalCommand {
	j := b.Journal
	cmd := contracts.JournalCommand{JournalCommandID: settle.ID(c.CaseID, j.Kind, b.Attempt), Kind: string(j.Kind), ContractID: "",
		PostingDate: b.Posting, Currency: j.Currency, Description: j.Text + " (case " + c.CaseID + ")", Lines: ledger.CommandLines(j.Currency, j.Lines, nil)}
	if j.Kind == settle.Charge || j.Kind == settle.Credit { // the customer's receivable
		cmd.ERPCustomerID = opt(c.ERPCustomerID)
	}
	return cmd
}

// OnJournal applies ERP's answer to one of the case's journals: a period
// closed is reposted on the first day of the next month (at most
// MaxReposts times); another rejection goes to finance-ops.
func (c *Case) OnJournal(v contracts.Journal, at time.Time, p Policy) Outputs {
	i := slices.IndexFunc(c.Journals, func(b Booked) bool { return settle.ID(c.CaseID, b.Journal.Kind, b.Attempt) == v.JournalCommandID })
	if i < 0 {
		return Outputs{Ignored: "answer for journal " + v.JournalCommandID + ", not the case's current one"}
	}
	b := &c.Journals[i]
	if b.Status != "SENT" {
		return Outputs{Ignored: "journal " + v.JournalCommandID + " already " + b.Status}
	}
	b.Status = v.Status
	var out Outputs
	if v.Status != contracts.JournalStatusRejected {
		return out
	}
	code := contracts.Deref(v.RejectionCode)
	if code == "PERIOD_CLOSED" && b.Attempt < p.MaxReposts {
		b.Attempt++
		b.Status = "SENT"
		y, m, _ := b.Posting.Date()
		b.Posting = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
		out.Journals = append(out.Journals, c.journalCommand(*b))
		return out
	}
	out.Exceptions = append(out.Exceptions, c.raise(contracts.ExceptionCategoryJournalRejected, "", contracts.SeverityHigh,
		fmt.Sprintf("Case %s: ERP rejected settlement journal %s (%s)", c.CaseID, v.JournalCommandID, code),
		"Fix the cause in ERP and post the journal again (REPOST), or post it by hand and close (RESOLVE).",
		[]string{contracts.DecisionActionRepost, contracts.DecisionActionResolve}, at,
		map[string]string{"journal_command_id": v.JournalCommandID, "rejection_code": code, "erp_message": contracts.Deref(v.ERPMessage), "kind": string(b.Journal.Kind)}))
	return out
}

// OnTick checks the entitlement again when the asset was unknown.
func (c *Case) OnTick(now time.Time) Outputs {
	if c.Stage != Checking || c.Deadline.IsZero() || now.Before(c.Deadline) {
		return Outputs{Ignored: "nothing due"}
	}
	c.Deadline = time.Time{}
	return Outputs{Check: true}
}

// OnDecision applies an operator's decision on one of the case's
// exceptions, once per decision id.
func (c *Case) OnDecision(d contracts.Decision, at time.Time, p Policy) Outputs {
	if slices.Contains(c.Decisions, d.DecisionID) {
		return Outputs{Ignored: "decision " + d.DecisionID + " already applied"}
	}
	c.Decisions = append(c.Decisions, d.DecisionID)
	ex, ok := c.Exceptions[d.ExceptionID]
	var out Outputs
	refuse := func(why string) Outputs {
		out.Exceptions = append(out.Exceptions, c.exceptionUpdate(d.ExceptionID, ex.Category, contracts.ExceptionStatusOpen, d.DecisionID, at, "decision "+d.Action+" refused: "+why))
		return out
	}
	if !ok {
		return Outputs{Ignored: "decision for exception " + d.ExceptionID + ", not one of case " + c.CaseID}
	}
	if ex.Status != contracts.ExceptionStatusOpen {
		return refuse("the exception is already " + strings.ToLower(ex.Status))
	}
	resolved := func(msg string) {
		c.Exceptions[d.ExceptionID] = Exception{Category: ex.Category, Status: contracts.ExceptionStatusResolved, Queue: ex.Queue}
		out.Exceptions = append(out.Exceptions, c.exceptionUpdate(d.ExceptionID, ex.Category, contracts.ExceptionStatusResolved, d.DecisionID, at, msg))
	}
	switch ex.Category {
	case contracts.ExceptionCategoryERPRejection:
		if !c.IsReturn() {
			return refuse("not a return")
		}
		if why := c.onReturnDecision(d.Action, resolved, &out); why != "" {
			return refuse(why)
		}
	case contracts.ExceptionCategoryNotEntitled:
		if c.Stage != NotEntitled {
			return refuse("the case is " + c.Stage)
		}
		switch d.Action {
		case contracts.DecisionActionOverride:
			c.Billable = true
			resolved("the customer pays: service order opened as billable")
			c.placeOrder(&out, at)
		case contracts.DecisionActionRetry:
			c.Stage, c.Checks, c.Verdict = Checking, 0, nil
			c.Exceptions[d.ExceptionID] = Exception{Category: ex.Category, Status: contracts.ExceptionStatusRetrying, Queue: ex.Queue}
			out.Exceptions = append(out.Exceptions, c.exceptionUpdate(d.ExceptionID, ex.Category, contracts.ExceptionStatusRetrying, d.DecisionID, at, "entitlement checked again"))
			out.Check = true
		case contracts.DecisionActionCancel:
			c.Stage = Refused
			resolved("case refused")
			u := c.update(contracts.CaseEventRefused, "not entitled: "+c.Verdict.Message)
			out.Updates = append(out.Updates, u)
		default:
			return refuse("not an action for " + ex.Category)
		}
	case contracts.ExceptionCategoryPartUnavailable:
		switch d.Action {
		case contracts.DecisionActionDismiss, contracts.DecisionActionResolve:
			resolved("acknowledged")
		case contracts.DecisionActionCancel:
			if c.Stage != Ordered {
				return refuse("the case is " + c.Stage)
			}
			resolved("service order cancelled")
			c.Stage = Cancelling
			c.Commands++
			out.Orders = append(out.Orders, c.order(contracts.ServiceOrderActionCancel, at))
		default:
			return refuse("not an action for " + ex.Category)
		}
	case contracts.ExceptionCategoryWarrantyClaimRejected:
		if c.Stage != ClaimRejected {
			return refuse("the case is " + c.Stage)
		}
		switch d.Action {
		case contracts.DecisionActionOverride:
			c.Billable = true
			resolved("the customer is charged")
			c.charge(&out, at, p)
		case contracts.DecisionActionResolve:
			resolved("cost absorbed as goodwill")
			c.settled(&out, "warranty claim rejected; cost absorbed as goodwill", nil)
		default:
			return refuse("not an action for " + ex.Category)
		}
	case contracts.ExceptionCategoryJournalRejected:
		switch d.Action {
		case contracts.DecisionActionRepost:
			for i := range c.Journals {
				b := &c.Journals[i]
				if b.Status == contracts.JournalStatusRejected {
					b.Attempt++
					b.Status = "SENT"
					b.Posting = day(at)
					out.Journals = append(out.Journals, c.journalCommand(*b))
				}
			}
			resolved("journal posted again")
		case contracts.DecisionActionResolve:
			resolved("posted by hand")
		default:
			return refuse("not an action for " + ex.Category)
		}
	default:
		return refuse("unknown category " + ex.Category)
	}
	return out
}

// ExceptionID is the id of the n-th exception of category on a case.
func ExceptionID(caseID, category string, n int) string {
	return Ops.ExceptionID(strconv.Itoa(n), category, caseID)
}

// CaseOfException is the case an exception id names.
func CaseOfException(id string) (string, bool) {
	parts, ok := Ops.Parts(id, 3)
	if !ok {
		return "", false
	}
	return parts[2], true
}

// raise records a new OPEN exception of category on the case. queue ""
// is the category's queue (Ops.QueueOf); an ERP rejection names the queue
// of the step ERP refused.
func (c *Case) raise(category, queue, severity, summary, action string, allowed []string, at time.Time, ctx map[string]string) ops.Exception {
	n := 1
	for id, e := range c.Exceptions {
		if e.Category == category && Ops.Owns(id) {
			n++
		}
	}
	id := ExceptionID(c.CaseID, category, n)
	if queue == "" {
		queue = Ops.QueueOf(category)
	}
	if c.Exceptions == nil {
		c.Exceptions = map[string]Exception{}
	}
	c.Exceptions[id] = Exception{Category: category, Status: contracts.ExceptionStatusOpen, Queue: queue}
	ids := map[string]string{"case_id": c.CaseID, "serial": c.Serial, "crm_account_id": c.AccountID}
	if c.ERPCustomerID != "" {
		ids["erp_customer_id"] = c.ERPCustomerID
	}
	if c.ERPOrderID != "" {
		ids["erp_service_order_id"] = c.ERPOrderID
	}
	full := map[string]string{"stage": c.Stage, "service_type": c.ServiceType, "priority": c.Priority, "sla_tier": c.SLATier, "coverage": c.Coverage(), "respond_by": c.RespondBy().Format(time.RFC3339)}
	for k, v := range ctx {
		full[k] = v
	}
	return ops.Exception{ID: id, Category: category, Queue: queue, Severity: severity, Status: contracts.ExceptionStatusOpen,
		Summary: summary, Entities: ids, Context: full, Suggested: action, Allowed: allowed}
}

// exceptionUpdate is a new status of one of the case's exceptions (the
// outcome of decision, when there is one).
func (c *Case) exceptionUpdate(id, category, status, decision string, at time.Time, msg string) ops.Exception {
	return ops.Exception{ID: id, Category: category, Queue: c.Exceptions[id].Queue, Severity: contracts.SeverityLow, Status: status,
		Summary: fmt.Sprintf("Case %s: %s", c.CaseID, msg), Entities: map[string]string{"case_id": c.CaseID, "serial": c.Serial},
		Context: map[string]string{"stage": c.Stage, "outcome": msg}, Decision: decision}
}

// resolve closes the case's open exceptions of category (the cause went
// away).
func (c *Case) resolve(out *Outputs, category string, at time.Time, decision, msg string) {
	for _, id := range slices.Sorted(maps.Keys(c.Exceptions)) {
		e := c.Exceptions[id]
		if (category == "" || e.Category == category) && (e.Status == contracts.ExceptionStatusOpen || e.Status == contracts.ExceptionStatusRetrying) {
			c.Exceptions[id] = Exception{Category: e.Category, Status: contracts.ExceptionStatusResolved, Queue: e.Queue}
			out.Exceptions = append(out.Exceptions, c.exceptionUpdate(id, e.Category, contracts.ExceptionStatusResolved, decision, at, msg))
		}
	}
}

func (c *Case) resolveAll(out *Outputs, at time.Time, decision, msg string) {
	c.resolve(out, "", at, decision, msg)
}

// OpenExceptions counts the case's exceptions still open.
func (c *Case) OpenExceptions() int {
	n := 0
	for _, e := range c.Exceptions {
		if e.Status == contracts.ExceptionStatusOpen || e.Status == contracts.ExceptionStatusRetrying {
			n++
		}
	}
	return n
}

func (c *Case) update(event, msg string) contracts.CaseUpdate {
	u := contracts.CaseUpdate{CaseID: c.CaseID, Event: event, Coverage: c.Coverage(), Parts: []contracts.PartUsed{}, Message: opt(msg)}
	if c.Verdict != nil {
		u.Reason = opt(c.Verdict.Reason)
		if c.Coverage() == contracts.CoverageServiceContract {
			u.ContractID = opt(c.Verdict.ContractID)
		}
	}
	if c.Stage != Checking && c.Stage != NotEntitled || c.Commands > 0 {
		u.ServiceOrderID = opt(c.CaseID)
	}
	u.ERPServiceOrderID = opt(c.ERPOrderID)
	rb := c.RespondBy()
	u.RespondBy = &rb
	return u
}

func severityOf(priority string) string {
	switch priority {
	case contracts.SeverityCritical, contracts.SeverityHigh:
		return contracts.SeverityHigh
	}
	return contracts.SeverityMedium
}

func money(minor int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, currency)
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptr(s string) *string { return &s }

func nonNil(p []contracts.PartUsed) []contracts.PartUsed {
	if p == nil {
		return []contracts.PartUsed{}
	}
	return p
}
