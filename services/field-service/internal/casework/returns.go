package casework

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
	"github.com/isthmus/isthmus/services/field-service/internal/settle"
)

// Stages of a return case (besides Checking, Refused and Cancelled).
const (
	// Returning: the return order is requested from or open in ERP, until
	// inspection.
	Returning = "RETURNING"
	// Crediting: inspection accepted units; the credit memo is requested.
	Crediting = "CREDITING"
	// ReturnHeld: ERP rejected the return order or the credit; an operator
	// decides (sales-ops for the order, finance-ops for the credit).
	ReturnHeld = "RETURN_HELD"
	// Credited: the credit memo is issued and its journal sent; final.
	Credited = "CREDITED"
)

// Return is a return case's RMA: what was asked, what the policy allowed,
// and how ERP's return order went. The return id is the case id.
type Return struct {
	OrderID   string                   `json:"order_id,omitempty"`
	Currency  string                   `json:"currency"`
	Lines     []returns.Line           `json:"lines"`
	Decisions []returns.Decision       `json:"decisions,omitempty"` // the policy's, per line
	Assets    map[string]returns.Asset `json:"assets,omitempty"`
	RMA       string                   `json:"rma,omitempty"`
	// Progress: ERP's latest per-line quantities, by line number.
	Progress   map[int]contracts.ReturnLineStatus `json:"progress,omitempty"`
	Credit     *returns.Credit                    `json:"credit,omitempty"` // due after inspection
	CreditMemo string                             `json:"credit_memo,omitempty"`
	// Pending: the action of the command ERP has not answered yet
	// (CREATE, CANCEL, CREDIT), and its id.
	Pending   string `json:"pending,omitempty"`
	PendingID string `json:"pending_id,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"` // CRM withdrew the case; cancel asked
	Received  bool   `json:"received,omitempty"`  // ERP received the goods
}

// IsReturn tells whether the case is a return (RMA).
func (c *Case) IsReturn() bool { return c.Return != nil }

// ValidateReturn names what is wrong with a CRM return request, or "".
func ValidateReturn(in contracts.Case) string {
	r := in.ReturnRequest
	var bad []string
	if in.CaseID == "" {
		bad = append(bad, "case_id is empty")
	}
	if contracts.Deref(in.ERPCustomerID) == "" {
		bad = append(bad, "erp_customer_id is empty (a return is opened for an ERP customer)")
	}
	if in.Status == "" || in.Status == "UNKNOWN" {
		bad = append(bad, "status is UNKNOWN")
	}
	if msg := returns.Validate(r.Currency, r.Lines); msg != "" {
		bad = append(bad, msg)
	}
	return strings.Join(bad, "; ")
}

// openReturn starts a return case: its serials are looked up in the
// installed base (Outputs.Check) unless it names none.
func openReturn(in contracts.Case, correlation string) (*Case, Outputs) {
	c := &Case{CaseID: in.CaseID, AccountID: in.AccountID, ERPCustomerID: contracts.Deref(in.ERPCustomerID), Serial: in.Serial,
		SKU: contracts.Deref(in.SKU), ServiceType: in.ServiceType, Symptom: contracts.Deref(in.Symptom), Priority: in.Priority,
		SLATier: in.SLATier, OpenedAt: in.OpenedAt.UTC(), Correlation: correlation, Stage: Checking,
		Return: &Return{OrderID: contracts.Deref(in.ReturnRequest.OrderID), Currency: in.ReturnRequest.Currency, Lines: returns.Lines(in.ReturnRequest.Lines)}}
	return c, Outputs{Check: true}
}

// Serials are the serials the return's policy check looks up.
func (c *Case) Serials() []string {
	if c.Return == nil {
		return nil
	}
	return returns.Serials(c.Return.Lines)
}

// OnAssets applies the installed base's view of the return's serials (a
// serial missing from assets is unknown to the gateway): unknown serials
// are looked up again (AssetChecks times, AssetRecheck apart) before the
// policy decides without them.
func (c *Case) OnAssets(assets map[string]returns.Asset, at time.Time, p Policy) Outputs {
	if c.Stage != Checking || c.Return == nil {
		return Outputs{Ignored: "assets in stage " + c.Stage}
	}
	c.Checks++
	unknown := 0
	for _, s := range c.Serials() {
		if _, ok := assets[s]; !ok {
			unknown++
		}
	}
	if unknown > 0 && c.Checks < p.AssetChecks {
		c.Deadline = at.Add(p.AssetRecheck)
		return Outputs{Ignored: fmt.Sprintf("%d serial(s) not known to the gateway yet; looked up again at %s", unknown, c.Deadline.Format(time.RFC3339))}
	}
	c.Deadline = time.Time{}
	r := c.Return
	r.Assets = assets
	r.Decisions = returns.Decide(p.Returns, c.ERPCustomerID, c.OpenedAt, r.Lines, assets)
	var out Outputs
	if returns.Authorised(r.Decisions) == 0 {
		c.Stage = Refused
		u := c.returnUpdate(contracts.CaseEventRefused, "return refused: "+c.refusals())
		u.Reason = opt(r.Decisions[0].Reason)
		out.Updates = append(out.Updates, u)
		return out
	}
	msg := "return order requested from ERP"
	if refused := c.refusals(); refused != "" {
		msg += "; refused in part: " + refused
	}
	out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventReturnRequested, msg))
	c.Stage = Returning
	out.Returns = append(out.Returns, c.returnCommand(contracts.ReturnActionCreate))
	return out
}

// refusals describes the policy's refusals, one clause per refused line.
func (c *Case) refusals() string {
	var parts []string
	for _, d := range c.Return.Decisions {
		if d.Refused > 0 {
			parts = append(parts, fmt.Sprintf("line %d: %d unit(s) %s (%s)", d.Number, d.Refused, d.Reason, d.Message))
		}
	}
	return strings.Join(parts, "; ")
}

func (c *Case) returnCommand(action string) contracts.ReturnCommand {
	r := c.Return
	c.Commands++
	id := c.CaseID + "/" + strings.ToLower(action) + "/" + strconv.Itoa(c.Commands)
	r.Pending, r.PendingID = action, id
	cmd := contracts.ReturnCommand{CommandID: id, Action: action, ReturnID: c.CaseID, ERPCustomerID: c.ERPCustomerID,
		OrderID: opt(r.OrderID), CaseID: opt(c.CaseID), Currency: r.Currency, Lines: []contracts.ReturnLine{}}
	switch action {
	case contracts.ReturnActionCreate:
		for i, l := range r.Lines {
			d := r.Decisions[i]
			if d.Authorised == 0 {
				continue
			}
			cmd.Lines = append(cmd.Lines, contracts.ReturnLine{LineNumber: l.Number, OrderLineNumber: l.OrderLine, SKU: l.SKU, Quantity: d.Authorised,
				Serials: append([]string{}, d.Serials...), UnitPrice: contracts.Money{AmountMinor: l.UnitPrice, Currency: r.Currency}, Reason: opt(l.Reason)})
		}
	case contracts.ReturnActionCredit:
		cmd.CreditAmount = &contracts.Money{AmountMinor: r.Credit.Total(), Currency: r.Currency}
	}
	return cmd
}

// OnReturnStatus applies ERP's return status (each status once per
// command it answers; a repeat changes nothing).
func (c *Case) OnReturnStatus(st contracts.ReturnStatus, at time.Time, p Policy) Outputs {
	r := c.Return
	if r == nil {
		return Outputs{Ignored: "return status for a service case"}
	}
	key := st.Status + "/" + contracts.Deref(st.CommandID)
	if slices.Contains(c.Applied, key) {
		return Outputs{Ignored: "ERP return status " + key + " already applied"}
	}
	if Final(c.Stage) {
		return Outputs{Ignored: "ERP return status " + st.Status + " after the case ended (" + c.Stage + ")"}
	}
	c.Applied = append(c.Applied, key)
	if rma := contracts.Deref(st.RmaNumber); rma != "" {
		r.RMA = rma
	}
	answers := contracts.Deref(st.CommandID)
	if answers != "" && answers == r.PendingID {
		r.Pending, r.PendingID = "", ""
	}
	if r.Progress == nil {
		r.Progress = map[int]contracts.ReturnLineStatus{}
	}
	for _, l := range st.Lines {
		r.Progress[l.LineNumber] = l
	}
	msg := contracts.Deref(st.Message)
	var out Outputs
	// An answer to a CANCEL that is not CANCELLED: ERP keeps the return
	// (the goods are on their way or in); the flow goes on.
	if strings.Contains(answers, "/cancel/") && st.Status != contracts.ReturnStateCancelled {
		r.Withdrawn = false
		out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventReturnAuthorized, "withdrawal too late, the return goes on: "+msg))
		return out
	}
	switch st.Status {
	case contracts.ReturnStateCreated:
		out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventReturnAuthorized, "return authorised: RMA "+r.RMA))
	case contracts.ReturnStateReceived:
		r.Received = true
		out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventReturnReceived, "goods received"))
	case contracts.ReturnStateInspected:
		if c.Stage != Returning {
			return Outputs{Ignored: "inspected in stage " + c.Stage}
		}
		accepted := map[int]int64{}
		for n, l := range r.Progress {
			accepted[n] = l.Accepted
		}
		credit := returns.CreditFor(r.Lines, r.Decisions, accepted)
		r.Credit = &credit
		u := c.returnUpdate(contracts.CaseEventReturnInspected, "inspected")
		if credit.Total() == 0 {
			c.Stage = Refused
			u = c.returnUpdate(contracts.CaseEventRefused, "inspection accepted no unit: nothing to credit")
			u.Reason = ptr(returns.InspectionRefused)
			out.Updates = append(out.Updates, u)
			return out
		}
		u.Credit = &contracts.Money{AmountMinor: credit.Total(), Currency: r.Currency}
		out.Updates = append(out.Updates, u)
		c.Stage = Crediting
		out.Returns = append(out.Returns, c.returnCommand(contracts.ReturnActionCredit))
	case contracts.ReturnStateCredited:
		if c.Stage != Crediting && c.Stage != ReturnHeld {
			return Outputs{Ignored: "credited in stage " + c.Stage}
		}
		c.credited(&out, st, at, p, "credit memo "+contracts.Deref(st.CreditMemoID)+" issued")
		c.resolveAll(&out, at, "", "credit memo issued")
	case contracts.ReturnStateCancelled:
		c.Stage = Cancelled
		out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventCancelled, "return order cancelled in ERP"))
		c.resolveAll(&out, at, "", "return cancelled")
	case contracts.ReturnStateRejected:
		queue, what, actions := contracts.ExceptionQueueSalesOps, "the return order", []string{contracts.DecisionActionRetry, contracts.DecisionActionCancel}
		suggested := "Fix the customer or the goods in ERP and ask again (RETRY), or refuse the return (CANCEL)."
		if c.Stage == Crediting {
			queue, what, actions = contracts.ExceptionQueueFinanceOps, "the credit memo", []string{contracts.DecisionActionRetry, contracts.DecisionActionResolve}
			suggested = "Ask for the credit memo again once ERP can issue it (RETRY), or issue it by hand and close (RESOLVE)."
		}
		c.Stage = ReturnHeld
		out.Updates = append(out.Updates, c.returnUpdate(contracts.CaseEventReturnRequested, "ERP refused "+what+": "+msg))
		out.Exceptions = append(out.Exceptions, c.raise(contracts.ExceptionCategoryERPRejection, queue, contracts.SeverityMedium,
			fmt.Sprintf("Case %s: ERP refused %s of return %s (%s)", c.CaseID, what, c.CaseID, msg), suggested, actions, at,
			map[string]string{"erp_message": msg, "rma_number": r.RMA, "answered": answers}))
	default:
		return Outputs{Ignored: "ERP return status " + st.Status + " not handled"}
	}
	return out
}

// credited ends the return: the credit journal (when a memo was issued
// through ERP) and CRM told.
func (c *Case) credited(out *Outputs, st contracts.ReturnStatus, at time.Time, p Policy, msg string) {
	r := c.Return
	c.Stage = Credited
	r.CreditMemo = contracts.Deref(st.CreditMemoID)
	credit := *r.Credit
	if st.CreditAmount != nil && st.CreditAmount.AmountMinor != credit.Total() {
		// ERP is the book of record: book what it credited, in the
		// same split between goods and subscriptions.
		credit = split(credit, st.CreditAmount.AmountMinor)
	}
	c.book(out, func() (settle.Journal, error) {
		return settle.CreditJournal(p.Accounts, c.CaseID, r.Currency, credit.Goods, credit.Subscriptions)
	}, at)
	u := c.returnUpdate(contracts.CaseEventReturnCredited, msg)
	u.CreditMemoID = opt(r.CreditMemo)
	u.Credit = &contracts.Money{AmountMinor: credit.Total(), Currency: r.Currency}
	out.Updates = append(out.Updates, u)
}

// split scales a credit to total, keeping its goods/subscriptions ratio.
func split(c returns.Credit, total int64) returns.Credit {
	if c.Total() == 0 {
		return returns.Credit{Goods: total}
	}
	subs := c.Subscriptions * total / c.Total()
	return returns.Credit{Goods: total - subs, Subscriptions: subs}
}

// onReturnCase applies a later CRM record of a return case: CANCELLED
// withdraws it (before the goods are received).
func (c *Case) onReturnCase(in contracts.Case) Outputs {
	if in.Status != "CANCELLED" {
		return Outputs{Ignored: "case record " + in.Status + " changes nothing in stage " + c.Stage}
	}
	r := c.Return
	switch c.Stage {
	case Checking:
		c.Stage, c.Deadline = Cancelled, time.Time{}
		return Outputs{Updates: []contracts.CaseUpdate{c.returnUpdate(contracts.CaseEventCancelled, "return withdrawn before it was requested from ERP")}}
	case Returning:
		if r.Withdrawn {
			return Outputs{Ignored: "withdrawal already asked"}
		}
		if r.Received {
			return Outputs{Updates: []contracts.CaseUpdate{c.returnUpdate(contracts.CaseEventReturnReceived, "withdrawal too late: the goods are received")}}
		}
		r.Withdrawn = true
		return Outputs{Returns: []contracts.ReturnCommand{c.returnCommand(contracts.ReturnActionCancel)}}
	}
	return Outputs{Ignored: "return withdrawn in stage " + c.Stage + ": nothing to cancel"}
}

// onReturnDecision applies an operator's decision on a return's ERP
// rejection; it returns why the decision is refused ("" when applied).
func (c *Case) onReturnDecision(action string, resolved func(string), out *Outputs) string {
	if c.Stage != ReturnHeld {
		return "the case is " + c.Stage
	}
	r := c.Return
	creditStep := r.Credit != nil
	switch {
	case action == contracts.DecisionActionRetry && !creditStep:
		resolved("return order asked again")
		c.Stage = Returning
		out.Returns = append(out.Returns, c.returnCommand(contracts.ReturnActionCreate))
	case action == contracts.DecisionActionRetry && creditStep:
		resolved("credit memo asked again")
		c.Stage = Crediting
		out.Returns = append(out.Returns, c.returnCommand(contracts.ReturnActionCredit))
	case action == contracts.DecisionActionCancel && !creditStep:
		resolved("return refused")
		c.Stage = Refused
		u := c.returnUpdate(contracts.CaseEventRefused, "return refused after ERP rejected the return order")
		u.Reason = ptr("ERP_REJECTED")
		out.Updates = append(out.Updates, u)
	case action == contracts.DecisionActionResolve && creditStep:
		resolved("credit memo issued by hand")
		c.Stage = Credited
		u := c.returnUpdate(contracts.CaseEventReturnCredited, "credit memo issued by hand in ERP")
		u.Credit = &contracts.Money{AmountMinor: r.Credit.Total(), Currency: r.Currency}
		out.Updates = append(out.Updates, u)
	default:
		step := "return order"
		if creditStep {
			step = "credit memo"
		}
		return "not an action for a rejected " + step
	}
	return ""
}

// returnUpdate is a case update about the return, with its lines as they
// stand.
func (c *Case) returnUpdate(event, msg string) contracts.CaseUpdate {
	r := c.Return
	u := contracts.CaseUpdate{CaseID: c.CaseID, Event: event, Coverage: contracts.CoverageUnknown, Parts: []contracts.PartUsed{}, Message: opt(msg),
		RmaNumber: opt(r.RMA), OrderID: opt(r.OrderID), ReturnLines: make([]contracts.ReturnLineUpdate, 0, len(r.Lines))}
	for i, l := range r.Lines {
		lu := contracts.ReturnLineUpdate{LineNumber: l.Number, SKU: l.SKU, Requested: l.Quantity}
		if i < len(r.Decisions) {
			d := r.Decisions[i]
			lu.Authorised, lu.Refused = d.Authorised, d.Refused
			if d.Refused > 0 {
				lu.Reason = opt(d.Reason)
			}
		}
		if pr, ok := r.Progress[l.Number]; ok {
			lu.Received, lu.Accepted = pr.Received, pr.Accepted
			if pr.Refused > 0 {
				lu.Refused += pr.Refused
				if why := contracts.Deref(pr.RefusalReason); why != "" {
					lu.Reason = opt(why)
				} else if lu.Reason == nil {
					lu.Reason = ptr(returns.InspectionRefused)
				}
			}
		}
		u.ReturnLines = append(u.ReturnLines, lu)
	}
	return u
}
