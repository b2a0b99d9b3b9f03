package bridge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// Decision actions billing-bridge carries out (ops.decisions.v1).
const (
	ActionRepost         = "REPOST"
	ActionRouteToFinance = "ROUTE_TO_FINANCE"
	ActionResolve        = "RESOLVE"
	ActionDismiss        = "DISMISS"
)

// AllowedActions are the decisions an exception of category accepts.
func AllowedActions(category string) []string {
	if category == CategoryJournalRejected {
		return []string{ActionRepost, ActionRouteToFinance, ActionResolve, ActionDismiss}
	}
	return []string{ActionResolve, ActionDismiss}
}

// Decision is an operator's decision on one of the contract's exceptions.
type Decision struct {
	ID          string `json:"id"`
	ExceptionID string `json:"exception_id"`
	Action      string `json:"action"`
	Actor       string `json:"actor"`
	// Category is the exception's category when the state does not know
	// the exception (one the adapter raised for a refused input).
	Category string `json:"category,omitempty"`
}

// maxDecided bounds the decision ids a contract remembers.
const maxDecided = 64

// ApplyDecision carries out an operator's decision at now (the decision's
// time). A decision already applied, or on an exception already RESOLVED
// or CLOSED, or RETRYING on an earlier decision, is a no-op
// (StatusDuplicate). An action the exception does not accept changes
// nothing and puts the exception back OPEN with the reason. Otherwise:
//
//   - REPOST (journal_rejected): the journal is reposted into the next open
//     period under a new id; the exception is RETRYING until ERP answers
//     (POSTED: RESOLVED; rejected: OPEN with the new reason). A repost
//     whose period has not opened yet is sent when it opens.
//   - ROUTE_TO_FINANCE (journal_rejected): finance posts it by hand; the
//     journal is MANUAL, the exception RESOLVED.
//   - RESOLVE, DISMISS: RESOLVED or CLOSED without a change.
func (b *Bridge) ApplyDecision(s *State, d Decision, now contract.Date) Outputs {
	if d.ID != "" && slices.Contains(s.Decided, d.ID) {
		return Outputs{Status: StatusDuplicate}
	}
	ex, known := s.Exceptions[d.ExceptionID]
	if known && (ex.Status == ExceptionResolved || ex.Status == ExceptionClosed || ex.Status == ExceptionRetrying) {
		return Outputs{Status: StatusDuplicate}
	}
	if d.ID != "" {
		s.Decided = append(s.Decided, d.ID)
		if len(s.Decided) > maxDecided {
			s.Decided = s.Decided[len(s.Decided)-maxDecided:]
		}
	}
	if !known {
		ex = ExceptionState{Category: d.Category, Status: ExceptionOpen}
		if ex.Category == "" {
			ex.Category = CategoryJournalRejected
		}
		if s.Exceptions == nil {
			s.Exceptions = map[string]ExceptionState{}
		}
		s.Exceptions[d.ExceptionID] = ex
	}
	out := Outputs{Status: StatusNoChange}
	refuse := func(why string) Outputs {
		out.Exceptions = append(out.Exceptions, s.update(d.ExceptionID, ExceptionOpen, d.ID, "decision refused: "+why))
		return out
	}
	allowed := AllowedActions(ex.Category)
	if !slices.Contains(allowed, d.Action) {
		return refuse(fmt.Sprintf("%s is not an allowed action for a %s exception (allowed: %s)", d.Action, ex.Category, strings.Join(allowed, ", ")))
	}
	switch d.Action {
	case ActionResolve:
		out.Exceptions = append(out.Exceptions, s.update(d.ExceptionID, ExceptionResolved, d.ID, "resolved by "+d.Actor+" without a change"))
	case ActionDismiss:
		out.Exceptions = append(out.Exceptions, s.update(d.ExceptionID, ExceptionClosed, d.ID, "dismissed by "+d.Actor))
	case ActionRepost, ActionRouteToFinance:
		j, ok := s.Journals[ex.Journal]
		if !known || !ok || j.Status != JournalRejected {
			return refuse(fmt.Sprintf("no rejected journal of contract %s for this exception", s.ContractID))
		}
		if d.Action == ActionRouteToFinance {
			j.Status = JournalManual
			s.Journals[ex.Journal] = j
			out.Exceptions = append(out.Exceptions, s.update(d.ExceptionID, ExceptionResolved, d.ID,
				fmt.Sprintf("journal %s routed to finance for manual posting by %s", ex.Journal, d.Actor)))
			return out
		}
		nj, r := b.repost(s, ex.Journal, now, j.Reason, d.ID)
		out.Reposts = append(out.Reposts, r)
		if !r.Scheduled {
			out.Journals = append(out.Journals, nj)
		}
		note := fmt.Sprintf("journal reposted by %s as %s, posting date %s", d.Actor, r.Journal, r.Date)
		if r.Scheduled {
			note += " (sent when the period opens)"
		}
		out.Exceptions = append(out.Exceptions, s.update(d.ExceptionID, ExceptionRetrying, d.ID, note))
		ex = s.Exceptions[d.ExceptionID]
		ex.Journal = r.Journal
		s.Exceptions[d.ExceptionID] = ex
	}
	return out
}
