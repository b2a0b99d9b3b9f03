package saga

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// maxDecided bounds the decision ids a saga remembers for idempotency.
const maxDecided = 64

// OnDecision applies an operator's decision on one of the saga's exceptions.
//
// A decision already applied (same decision_id) or on an exception that is
// no longer open is a no-op. One the exception does not accept (an action
// outside its allowed actions, a missing parameter, an approval missing)
// changes nothing but publishes the exception back OPEN with the reason, so
// the operator sees why. Otherwise the exception moves on, naming the
// decision: RESOLVED or CLOSED when the action settles it at once, RETRYING
// when it waits for an answer (ERP, the gateway), which then settles it
// (RESOLVED, or OPEN again with the new reason).
func (s *Saga) OnDecision(d contracts.Decision, at time.Time, pol Policy) Outputs {
	var out Outputs
	if d.DecisionID != "" && slices.Contains(s.Decided, d.DecisionID) {
		out.Ignored = fmt.Sprintf("decision %s already applied", d.DecisionID)
		return out
	}
	category, open := s.Open[d.ExceptionID]
	if !open {
		out.Ignored = fmt.Sprintf("decision %s on exception %s that is not open", d.Action, d.ExceptionID)
		return out
	}
	if _, retrying := s.Retrying[d.ExceptionID]; retrying {
		out.Ignored = fmt.Sprintf("decision %s on exception %s that is RETRYING (waiting for the answer to decision %s)", d.Action, d.ExceptionID, s.Retrying[d.ExceptionID])
		return out
	}
	s.remember(d.DecisionID)
	if problem := s.refusal(d, category, pol); problem != "" {
		s.settle(&out, d.ExceptionID, contracts.ExceptionStatusOpen, at, d.DecisionID, "decision refused: "+problem)
		return out
	}
	id, who := d.ExceptionID, d.Actor
	rej, isRejection := s.Rejections[id]
	switch {
	case d.Action == contracts.DecisionActionResolve || d.Action == contracts.DecisionActionDismiss:
		status := contracts.ExceptionStatusResolved
		if d.Action == contracts.DecisionActionDismiss {
			status = contracts.ExceptionStatusClosed
		}
		s.settle(&out, id, status, at, d.DecisionID, strings.ToLower(d.Action)+" by "+who+" without a change")
	case isRejection && d.Action == contracts.DecisionActionRetry:
		s.settle(&out, id, contracts.ExceptionStatusRetrying, at, d.DecisionID, fmt.Sprintf("resubmitted to ERP as revision %d by %s", s.revision()+1, who))
		s.resubmit(&out, at, pol, fmt.Sprintf("resubmitted as revision %d after a fix (retry by %s)", s.revision()+1, who), id)
	case isRejection && d.Action == contracts.DecisionActionOverride:
		if !slices.Contains(s.Overrides, rej.Reason) {
			s.Overrides = append(s.Overrides, rej.Reason)
		}
		s.settle(&out, id, contracts.ExceptionStatusRetrying, at, d.DecisionID, fmt.Sprintf("%s overridden by %s, approved by %s; resubmitted as revision %d", rej.Reason, who, strings.Join(d.ApprovedBy, ", "), s.revision()+1))
		s.resubmit(&out, at, pol, fmt.Sprintf("resubmitted as revision %d overriding %s (by %s, approved by %s)", s.revision()+1, rej.Reason, who, strings.Join(d.ApprovedBy, ", ")), id)
	case isRejection && d.Action == contracts.DecisionActionCancel:
		s.cancelLine(&out, at, d, rej)
	case d.Action == contracts.DecisionActionCancel && s.preSubmission():
		s.settle(&out, id, contracts.ExceptionStatusClosed, at, d.DecisionID, "order cancelled by "+who)
		s.closeAll(&out, contracts.ExceptionStatusClosed, at)
		s.endBeforeERP(&out, contracts.OrderStateCancelled, "cancelled by "+who, id)
	case category == contracts.ExceptionCategoryPriceReview && d.Action == contracts.DecisionActionApprovePrice:
		s.PriceApproved = true
		s.settle(&out, id, contracts.ExceptionStatusResolved, at, d.DecisionID, "quoted prices approved by "+who)
		s.startValidation(&out, "approve_price by "+who)
	case category == contracts.ExceptionCategoryPriceReview && d.Action == contracts.DecisionActionRequote:
		s.settle(&out, id, contracts.ExceptionStatusResolved, at, d.DecisionID, "quote sent back to sales by "+who)
		s.closeAll(&out, contracts.ExceptionStatusClosed, at)
		s.endBeforeERP(&out, contracts.OrderStateCancelled, "sent back to sales for a new quote version by "+who, id)
	case (category == contracts.ExceptionCategoryPriceReview || category == contracts.ExceptionCategoryCreditHold) && d.Action == contracts.DecisionActionRetry:
		s.settle(&out, id, contracts.ExceptionStatusRetrying, at, d.DecisionID, "validation retried by "+who)
		s.startValidation(&out, strings.ToLower(category)+" retry by "+who)
	case category == contracts.ExceptionCategoryCreditHold && d.Action == contracts.DecisionActionReleaseHold:
		s.CreditRelease = who
		note := "credit hold released by " + who
		if len(d.ApprovedBy) > 0 {
			note += ", approved by " + strings.Join(d.ApprovedBy, ", ")
		}
		s.settle(&out, id, contracts.ExceptionStatusResolved, at, d.DecisionID, note)
		s.submit(&out, at, pol, note)
	case category == contracts.ExceptionCategoryCreditHold && d.Action == contracts.DecisionActionReject:
		s.settle(&out, id, contracts.ExceptionStatusResolved, at, d.DecisionID, "order refused on credit by "+who)
		s.closeAll(&out, contracts.ExceptionStatusClosed, at)
		s.endBeforeERP(&out, contracts.OrderStateRejected, "credit refused by "+who, id)
	case category == contracts.ExceptionCategoryERPTimeout && d.Action == contracts.DecisionActionRetry:
		s.settle(&out, id, contracts.ExceptionStatusRetrying, at, d.DecisionID, "resubmitted by "+who)
		s.Attempt++
		s.Acked = false
		s.Deadline = next(at, pol.ERPAckSLA)
		out.Commands = append(out.Commands, s.command())
	default:
		// refusal() let through an action this switch does not carry out:
		// a bug, reported like a refusal rather than dropped.
		s.settle(&out, id, contracts.ExceptionStatusOpen, at, d.DecisionID, fmt.Sprintf("decision refused: %s is not carried out for a %s exception while the order is %s", d.Action, category, s.State))
	}
	return out
}

// refusal says why the saga cannot carry out d ("" when it can).
func (s *Saga) refusal(d contracts.Decision, category string, pol Policy) string {
	allowed := s.Allowed[d.ExceptionID]
	if !slices.Contains(allowed, d.Action) {
		return fmt.Sprintf("%s is not an allowed action for this %s exception (allowed: %s)", d.Action, category, strings.Join(allowed, ", "))
	}
	rej, isRejection := s.Rejections[d.ExceptionID]
	approved := func() string {
		if len(d.ApprovedBy) == 0 {
			return fmt.Sprintf("%s needs the approval of a second person (approved_by is empty)", d.Action)
		}
		if slices.Contains(d.ApprovedBy, d.Actor) {
			return fmt.Sprintf("%s: the actor %s cannot approve their own decision", d.Action, d.Actor)
		}
		return ""
	}
	switch {
	case isRejection && (d.Action == contracts.DecisionActionRetry || d.Action == contracts.DecisionActionOverride):
		if s.State != contracts.OrderStateRejected && s.State != contracts.OrderStatePartiallyRejected {
			return fmt.Sprintf("the order is %s; a resubmission is only possible while it is REJECTED or PARTIALLY_REJECTED (create a new quote for the rejected lines)", s.State)
		}
		if d.Action == contracts.DecisionActionOverride {
			if !Overridable(rej.Reason) {
				return fmt.Sprintf("a %s rejection cannot be overridden", rej.Reason)
			}
			return approved()
		}
	case isRejection && d.Action == contracts.DecisionActionCancel:
		v, ok := d.Parameters["line_id"]
		if !ok || strings.TrimSpace(v) == "" {
			return fmt.Sprintf("CANCEL needs the parameter line_id (one of %s)", joinInts(rej.Lines))
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || !slices.Contains(rej.Lines, n) {
			return fmt.Sprintf("line_id %q is not a rejected line of this exception (one of %s)", v, joinInts(rej.Lines))
		}
	case category == contracts.ExceptionCategoryCreditHold && d.Action == contracts.DecisionActionReleaseHold:
		if s.State != contracts.OrderStateCreditHold {
			return "the order is " + s.State + ", not on credit hold"
		}
		if s.Quote.Total.AmountMinor > pol.ReleaseApprovalAbove {
			return approved()
		}
	case (category == contracts.ExceptionCategoryCreditHold && d.Action != contracts.DecisionActionResolve && d.Action != contracts.DecisionActionDismiss && s.State != contracts.OrderStateCreditHold) ||
		(category == contracts.ExceptionCategoryPriceReview && d.Action != contracts.DecisionActionResolve && d.Action != contracts.DecisionActionDismiss && s.State != contracts.OrderStatePriceReview):
		return fmt.Sprintf("the order is %s; %s no longer applies", s.State, d.Action)
	case category == contracts.ExceptionCategoryERPTimeout && d.Action == contracts.DecisionActionRetry && s.State != contracts.OrderStateSubmitted:
		return "the order is " + s.State + "; ERP has answered"
	}
	return ""
}

// cancelLine cancels one rejected line (parameter line_id, checked by
// refusal). The exception is resolved when none of its lines is left; when
// no rejected line is left at all, the order is what ERP accepted (ACCEPTED)
// or, with no line left, CANCELLED. ERP already refused the line: nothing
// is sent to it.
func (s *Saga) cancelLine(out *Outputs, at time.Time, d contracts.Decision, rej Rejection) {
	n, _ := strconv.Atoi(strings.TrimSpace(d.Parameters["line_id"]))
	id := d.ExceptionID
	if !slices.Contains(s.CancelledLines, n) {
		s.CancelledLines = append(s.CancelledLines, n)
		sort.Ints(s.CancelledLines)
	}
	rej.Lines = slices.DeleteFunc(slices.Clone(rej.Lines), func(l int) bool { return l == n })
	if len(rej.Lines) > 0 {
		s.Rejections[id] = rej
		s.settle(out, id, contracts.ExceptionStatusOpen, at, d.DecisionID, fmt.Sprintf("line %d cancelled by %s; line(s) %s still rejected", n, d.Actor, joinInts(rej.Lines)))
		return
	}
	s.settle(out, id, contracts.ExceptionStatusResolved, at, d.DecisionID, fmt.Sprintf("line %d cancelled by %s", n, d.Actor))
	if len(s.Rejections) > 0 {
		return
	}
	if len(s.orderLines()) == 0 {
		out.Release = s.reservation()
		s.Deadline = time.Time{}
		s.transition(out, contracts.OrderStateCancelled, "every line cancelled by "+d.Actor, id)
		return
	}
	if s.State == contracts.OrderStatePartiallyRejected {
		s.transition(out, contracts.OrderStateAccepted, fmt.Sprintf("rejected line(s) cancelled by %s; the accepted lines stand", d.Actor), id)
	}
}

// endBeforeERP ends a saga that has not reached ERP (cancelled, refused).
func (s *Saga) endBeforeERP(out *Outputs, to, reason, exceptionID string) {
	out.Release = s.reservation()
	s.Deadline = time.Time{}
	s.transition(out, to, reason, exceptionID)
}

// resubmit sends the next revision of the order to ERP.
func (s *Saga) resubmit(out *Outputs, at time.Time, pol Policy, reason, exceptionID string) {
	s.Revision = s.revision() + 1
	s.Submitted, s.Acked, s.Attempt = true, false, 1
	s.Deadline = next(at, pol.ERPAckSLA)
	s.transition(out, contracts.OrderStateSubmitted, reason, exceptionID)
	out.Commands = append(out.Commands, s.command())
}

func (s *Saga) revision() int { return max(1, s.Revision) }

func (s *Saga) remember(decisionID string) {
	if decisionID == "" {
		return
	}
	s.Decided = append(s.Decided, decisionID)
	if len(s.Decided) > maxDecided {
		s.Decided = s.Decided[len(s.Decided)-maxDecided:]
	}
}

// orderLines are the quote's lines an operator has not cancelled.
func (s *Saga) orderLines() []contracts.OrderLine {
	lines := OrderLines(s.Quote)
	if len(s.CancelledLines) == 0 {
		return lines
	}
	return slices.DeleteFunc(lines, func(l contracts.OrderLine) bool { return slices.Contains(s.CancelledLines, l.LineNumber) })
}

// CommandRevision is the order revision an order command id names (1 for
// ids without one).
func CommandRevision(commandID string) int {
	parts := strings.Split(commandID, ":")
	if len(parts) < 4 {
		return 1
	}
	if r, ok := strings.CutPrefix(parts[len(parts)-2], "r"); ok {
		if n, err := strconv.Atoi(r); err == nil && n > 0 {
			return n
		}
	}
	return 1
}
