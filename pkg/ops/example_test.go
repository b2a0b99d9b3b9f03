package ops_test

import (
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/ops"
)

// An owner raises an exception and later closes it: one id scheme, one
// builder; the closed update allows no more actions.
func ExampleOwner_Event() {
	desk := ops.Owner{Service: "quote-to-order", Code: "qto", Queue: contracts.ExceptionQueueSalesOps, Source: contracts.SourceSystemQuoteToOrder}
	id := desk.ExceptionID("1", "2", "Q-100")
	md := event.Metadata(event.ID("example", "raise"), "corr-Q-100", "", desk.Source, time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC))
	held := desk.Event(ops.Exception{ID: id, Category: contracts.ExceptionCategoryCreditHold, Severity: "high",
		Summary: "order Q-100 over the credit limit", Allowed: []string{contracts.DecisionActionReleaseHold, contracts.DecisionActionReject}}, md)
	fmt.Println(held.ExceptionID, held.Queue, held.Severity, held.Status, held.AllowedActions)
	closed := desk.Event(ops.Exception{ID: id, Category: held.Category, Status: contracts.ExceptionStatusResolved, Summary: "released", Decision: "d-1"}, md)
	fmt.Println(closed.Status, closed.AllowedActions, *closed.DecisionID)
	parts, _ := desk.Parts(id, 3)
	fmt.Println(parts[2])
	// Output:
	// qto:1:2:Q-100 FINANCE_OPS HIGH OPEN [RELEASE_HOLD REJECT]
	// RESOLVED [] d-1
	// Q-100
}
