//go:build integration

package quotetoorder_test

import (
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// exceptionsOfOrder returns the exceptions naming an order id.
func (e *env) exceptionsOfOrder(order string) []contracts.OperationalException {
	var out []contracts.OperationalException
	for _, x := range e.exceptions() {
		if x.EntityIds["order_id"] == order {
			out = append(out, x)
		}
	}
	return out
}

// TestUnknownOrderStatus: an ERP status for an order quote-to-order never
// created is parked, then raised as an exception with its source offsets
// after the grace period; a status that arrives before its order's quote is
// applied to the saga when it appears and raises nothing; a DISMISS decision
// closes the exception.
func TestUnknownOrderStatus(t *testing.T) {
	e := newEnv(t, erpCustomer{id: "100042", account: "A-1", xref: true})
	const grace = 3 * time.Second
	e.envVars["ISTHMUS_QUOTE_TO_ORDER_UNKNOWN_STATUS_GRACE"] = grace.String()
	e.runService()

	ghost := contracts.OrderStatus{Metadata: meta("Q-GHOST"), OrderID: "Q-GHOST", Status: contracts.ErpOrderStateAccepted, ERPOrderID: ptr("SO-GHOST")}
	ghost.Metadata.SourceSystem = contracts.SourceSystemERP
	sent := time.Now()
	e.in().Value(contracts.TopicERPOrderStatusV1, "Q-GHOST", &ghost)
	ghost.Status = contracts.ErpOrderStateShipped
	e.in().Value(contracts.TopicERPOrderStatusV1, "Q-GHOST", &ghost)
	early := contracts.OrderStatus{Metadata: meta("Q-EARLY"), OrderID: "Q-EARLY", Status: contracts.ErpOrderStateReceived}
	e.in().Value(contracts.TopicERPOrderStatusV1, "Q-EARLY", &early)
	e.in().Value(contracts.TopicCRMQuoteV1, "Q-EARLY", newQuote("Q-EARLY", "A-1", "SKU-1"))

	var ex contracts.OperationalException
	testinfra.Eventually(t, 45*time.Second, "an exception for the ERP statuses of the unknown order Q-GHOST", func() bool {
		l := e.exceptionsOfOrder("Q-GHOST")
		if len(l) > 0 {
			ex = l[0]
		}
		return len(l) > 0
	})
	if waited := time.Since(sent); waited < grace {
		t.Errorf("exception raised after %v, before the %v grace period", waited, grace)
	}
	if ex.Status != contracts.ExceptionStatusOpen || ex.OwnerService != quotetoorderName || ex.Context["statuses"] != "ACCEPTED,SHIPPED" ||
		ex.EntityIds["erp_order_id"] != "SO-GHOST" || strings.Count(ex.Context["source_offsets"], e.prefix+contracts.TopicERPOrderStatusV1) != 2 {
		t.Fatalf("exception %+v", ex)
	}
	t.Logf("exception %s: %s; sources %s", ex.ExceptionID, ex.Summary, ex.Context["source_offsets"])

	// The early status met its order: the order goes its way, no exception.
	e.waitState("Q-EARLY", contracts.OrderStateInvoiced, 60*time.Second)
	if l := e.exceptionsOfOrder("Q-EARLY"); len(l) > 0 {
		t.Errorf("exceptions for Q-EARLY, whose status arrived before its quote: %+v", l)
	}

	// An operator dismisses the exception: it is closed.
	e.in().Value(contracts.TopicOpsDecisionsV1, ex.ExceptionID, &contracts.Decision{Metadata: meta("D-1"), DecisionID: "D-GHOST", ExceptionID: ex.ExceptionID,
		OwnerService: quotetoorderName, Action: contracts.DecisionActionDismiss, Actor: "it"})
	if !testinfra.Within(30*time.Second, func() bool {
		l := e.exceptionsOfOrder("Q-GHOST")
		last := l[len(l)-1]
		return last.ExceptionID == ex.ExceptionID && last.Status == contracts.ExceptionStatusClosed
	}) {
		t.Fatalf("exception %s not closed after DISMISS: %+v", ex.ExceptionID, e.exceptionsOfOrder("Q-GHOST"))
	}
	if len(e.exceptionsOfOrder("Q-GHOST")) != 2 {
		t.Errorf("exceptions of Q-GHOST: %+v, want the OPEN one and its CLOSED update", e.exceptionsOfOrder("Q-GHOST"))
	}
	if n := e.dlq(); n != 0 {
		t.Errorf("%d records on the DLQ", n)
	}
}

const quotetoorderName = "quote-to-order"
