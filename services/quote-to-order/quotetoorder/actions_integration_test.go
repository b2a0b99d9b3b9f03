//go:build integration

package quotetoorder_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
)

// decide publishes an operator's decision on ops.decisions.v1 (what the
// operations API does once it has checked the person's role).
func (e *env) decide(exceptionID, decisionID, action string, params map[string]string, approvedBy ...string) {
	e.t.Helper()
	if params == nil {
		params = map[string]string{}
	}
	e.in().Value(contracts.TopicOpsDecisionsV1, exceptionID, &contracts.Decision{Metadata: meta(decisionID), DecisionID: decisionID, ExceptionID: exceptionID,
		OwnerService: quotetoorder.Name, Action: action, Actor: "ops@example.com", ApprovedBy: append([]string{}, approvedBy...), Parameters: params})
}

// waitException waits for an update of the exception with the status that
// answers the decision and returns it.
func (e *env) waitException(exceptionID, decisionID, status string, within time.Duration) contracts.OperationalException {
	e.t.Helper()
	var found contracts.OperationalException
	if !testinfra.Within(within, func() bool {
		for _, x := range e.exceptions() {
			if x.ExceptionID == exceptionID && x.Status == status && x.DecisionID != nil && *x.DecisionID == decisionID {
				found = x
				return true
			}
		}
		return false
	}) {
		e.t.Fatalf("exception %s: updates %v, want %s answering %s", exceptionID, testinfra.ExceptionUpdates(e.exceptions(), exceptionID), status, decisionID)
	}
	return found
}

// settled waits a moment and fails if a repeated decision changed anything:
// the order's states, commands and the exception's updates stay as they are.
func (e *env) settled(t *testing.T, order, exceptionID string) {
	t.Helper()
	snapshot := func() string {
		e.mu.Lock()
		n := len(e.commands[order])
		e.mu.Unlock()
		return fmt.Sprintf("states %v commands %d updates %v", e.states(order), n, testinfra.ExceptionUpdates(e.exceptions(), exceptionID))
	}
	before := snapshot()
	time.Sleep(3 * time.Second)
	if after := snapshot(); after != before {
		t.Errorf("a repeated decision changed the order: before %s, after %s", before, after)
	}
}

func (e *env) revisions(order string) []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []int
	for _, c := range e.commands[order] {
		out = append(out, c.Revision)
	}
	return out
}

func (e *env) onlyException(t *testing.T, quote, category string) contracts.OperationalException {
	t.Helper()
	x := e.exceptionsOf(quote)
	if len(x) == 0 || x[0].Category != category || x[0].Status != contracts.ExceptionStatusOpen {
		t.Fatalf("exceptions of %s %+v, want an OPEN %s", quote, x, category)
	}
	return x[0]
}

// TestOperatorActions: for each exception kind quote-to-order raises, each
// allowed action drives the order forward exactly once, a refused decision
// comes back OPEN with the reason, and a repeated decision is a no-op.
func TestOperatorActions(t *testing.T) {
	e := newEnv(t,
		erpCustomer{id: "100042", account: "A-1", xref: true},
		erpCustomer{id: "100053", account: "A-HOLD4", hold: true, xref: true},
	)
	e.runService()
	const long = 60 * time.Second

	t.Run("export control: RETRY before the fix, then after it: revision 3 ACCEPTED", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-EXP", newQuote("Q-A-EXP", "A-1", "SKU-1", "EXP-1"))
		e.waitState("Q-A-EXP", contracts.OrderStatePartiallyRejected, long)
		x := e.onlyException(t, "Q-A-EXP", contracts.ExceptionCategoryExportControl)
		for _, a := range []string{contracts.DecisionActionRetry, contracts.DecisionActionCancel, contracts.DecisionActionOverride} {
			if !slices.Contains(x.AllowedActions, a) {
				t.Errorf("allowed actions %v lack %s", x.AllowedActions, a)
			}
		}
		// Nothing fixed yet: ERP rejects revision 2 again, the exception
		// goes RETRYING, then OPEN again with ERP's new answer.
		e.decide(x.ExceptionID, "exp-1", contracts.DecisionActionRetry, nil)
		again := e.waitException(x.ExceptionID, "exp-1", contracts.ExceptionStatusOpen, long)
		if !strings.Contains(again.Context["outcome"], "rejected order revision 2 again") {
			t.Errorf("reopened exception context %v", again.Context)
		}
		// Trade compliance obtains the licence; RETRY gives revision 3,
		// which ERP accepts.
		e.mu.Lock()
		e.fixed["Q-A-EXP"] = true
		e.mu.Unlock()
		e.decide(x.ExceptionID, "exp-2", contracts.DecisionActionRetry, nil)
		e.waitException(x.ExceptionID, "exp-2", contracts.ExceptionStatusResolved, long)
		got := e.waitState("Q-A-EXP", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,PARTIALLY_REJECTED,SUBMITTED,PARTIALLY_REJECTED,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		if u := join(testinfra.ExceptionUpdates(e.exceptions(), x.ExceptionID)); u != "OPEN/,RETRYING/exp-1,OPEN/exp-1,RETRYING/exp-2,RESOLVED/exp-2" {
			t.Errorf("exception updates %s", u)
		}
		if r := e.revisions("Q-A-EXP"); fmt.Sprint(r) != "[1 2 3]" {
			t.Errorf("order revisions %v, want [1 2 3]", r)
		}
		e.decide(x.ExceptionID, "exp-2", contracts.DecisionActionRetry, nil) // same decision again
		e.decide(x.ExceptionID, "exp-3", contracts.DecisionActionRetry, nil) // same action on a settled exception
		e.settled(t, "Q-A-EXP", x.ExceptionID)
	})

	t.Run("export control: OVERRIDE needs a second person, then resubmits overriding", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-OVR", newQuote("Q-A-OVR", "A-1", "EXP-1"))
		e.waitState("Q-A-OVR", contracts.OrderStateRejected, long)
		x := e.onlyException(t, "Q-A-OVR", contracts.ExceptionCategoryExportControl)
		e.decide(x.ExceptionID, "ovr-1", contracts.DecisionActionOverride, nil)
		if r := e.waitException(x.ExceptionID, "ovr-1", contracts.ExceptionStatusOpen, long); !strings.Contains(r.Context["outcome"], "approved_by is empty") {
			t.Errorf("refusal %v", r.Context)
		}
		e.decide(x.ExceptionID, "ovr-2", contracts.DecisionActionOverride, nil, "compliance-lead@example.com")
		e.waitException(x.ExceptionID, "ovr-2", contracts.ExceptionStatusResolved, long)
		got := e.waitState("Q-A-OVR", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,REJECTED,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.mu.Lock()
		last := e.commands["Q-A-OVR"][len(e.commands["Q-A-OVR"])-1]
		e.mu.Unlock()
		if last.Revision != 2 || fmt.Sprint(last.Overrides) != "[EXPORT_CONTROL]" {
			t.Errorf("override command revision %d overrides %v", last.Revision, last.Overrides)
		}
		e.decide(x.ExceptionID, "ovr-2", contracts.DecisionActionOverride, nil, "compliance-lead@example.com")
		e.settled(t, "Q-A-OVR", x.ExceptionID)
	})

	t.Run("tax configuration: CANCEL needs line_id; cancelling the line leaves the accepted order", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-TAX", newQuote("Q-A-TAX", "A-1", "SKU-1", "TAX-1"))
		e.waitState("Q-A-TAX", contracts.OrderStatePartiallyRejected, long)
		x := e.onlyException(t, "Q-A-TAX", contracts.ExceptionCategoryTaxConfiguration)
		e.decide(x.ExceptionID, "tax-1", contracts.DecisionActionCancel, nil)
		if r := e.waitException(x.ExceptionID, "tax-1", contracts.ExceptionStatusOpen, long); !strings.Contains(r.Context["outcome"], "line_id") {
			t.Errorf("refusal %v", r.Context)
		}
		e.decide(x.ExceptionID, "tax-2", contracts.DecisionActionCancel, map[string]string{"line_id": "2"})
		e.waitException(x.ExceptionID, "tax-2", contracts.ExceptionStatusResolved, long)
		got := e.waitState("Q-A-TAX", contracts.OrderStateAccepted, long)
		if want := "RECEIVED,VALIDATING,SUBMITTED,PARTIALLY_REJECTED,ACCEPTED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.decide(x.ExceptionID, "tax-2", contracts.DecisionActionCancel, map[string]string{"line_id": "2"})
		e.settled(t, "Q-A-TAX", x.ExceptionID)
		if r := e.revisions("Q-A-TAX"); fmt.Sprint(r) != "[1]" {
			t.Errorf("order revisions %v: cancelling a rejected line sends nothing to ERP", r)
		}
	})

	t.Run("credit hold: REJECT refuses the order once", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-REJ", newQuote("Q-A-REJ", "A-HOLD4", "SKU-2"))
		e.waitState("Q-A-REJ", contracts.OrderStateCreditHold, long)
		x := e.onlyException(t, "Q-A-REJ", contracts.ExceptionCategoryCreditHold)
		if !slices.Contains(x.AllowedActions, contracts.DecisionActionReleaseHold) || !slices.Contains(x.AllowedActions, contracts.DecisionActionReject) {
			t.Errorf("allowed actions %v", x.AllowedActions)
		}
		e.decide(x.ExceptionID, "rej-1", contracts.DecisionActionReject, nil)
		e.waitException(x.ExceptionID, "rej-1", contracts.ExceptionStatusResolved, long)
		got := e.waitState("Q-A-REJ", contracts.OrderStateRejected, long)
		if want := "RECEIVED,VALIDATING,CREDIT_HOLD,REJECTED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.decide(x.ExceptionID, "rej-1", contracts.DecisionActionReject, nil)
		e.decide(x.ExceptionID, "rej-2", contracts.DecisionActionReleaseHold, nil, "cfo@example.com")
		e.settled(t, "Q-A-REJ", x.ExceptionID)
		if held := e.gw.reservations("100053"); len(held) != 0 {
			t.Errorf("gateway still holds %v for a refused order", held)
		}
	})

	priced := func(id string) *contracts.Quote {
		q := newQuote(id, "A-1", "SKU-1")
		q.Lines[0].UnitPrice, q.Lines[0].LineTotal, q.Total = usd(400), usd(800), usd(800) // below the price book's 4.50
		return q
	}
	t.Run("price review: APPROVE_PRICE submits once", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-PRC", priced("Q-A-PRC"))
		e.waitState("Q-A-PRC", contracts.OrderStatePriceReview, long)
		x := e.onlyException(t, "Q-A-PRC", contracts.ExceptionCategoryPriceReview)
		e.decide(x.ExceptionID, "prc-1", contracts.DecisionActionApprovePrice, nil)
		e.waitException(x.ExceptionID, "prc-1", contracts.ExceptionStatusResolved, long)
		got := e.waitState("Q-A-PRC", contracts.OrderStateInvoiced, long)
		if want := "RECEIVED,VALIDATING,PRICE_REVIEW,VALIDATING,SUBMITTED,ACCEPTED,SHIPPED,INVOICED"; join(got) != want {
			t.Fatalf("states %s, want %s", join(got), want)
		}
		e.decide(x.ExceptionID, "prc-1", contracts.DecisionActionApprovePrice, nil)
		e.settled(t, "Q-A-PRC", x.ExceptionID)
	})

	t.Run("price review: REQUOTE sends the quote back to sales", func(t *testing.T) {
		e.t = t
		e.in().Value(contracts.TopicCRMQuoteV1, "Q-A-RQ", priced("Q-A-RQ"))
		e.waitState("Q-A-RQ", contracts.OrderStatePriceReview, long)
		x := e.onlyException(t, "Q-A-RQ", contracts.ExceptionCategoryPriceReview)
		e.decide(x.ExceptionID, "rq-1", contracts.DecisionActionRequote, nil)
		e.waitException(x.ExceptionID, "rq-1", contracts.ExceptionStatusResolved, long)
		if got := e.waitState("Q-A-RQ", contracts.OrderStateCancelled, long); join(got) != "RECEIVED,VALIDATING,PRICE_REVIEW,CANCELLED" {
			t.Fatalf("states %s", join(got))
		}
		e.decide(x.ExceptionID, "rq-1", contracts.DecisionActionRequote, nil)
		e.settled(t, "Q-A-RQ", x.ExceptionID)
	})
}
