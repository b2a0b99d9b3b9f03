package saga

import (
	"slices"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// returnStates maps a return's case update (field-service, on
// crm.case-updates.v1) onto the order's lifecycle state that reports it.
var returnStates = map[string]string{
	contracts.CaseEventReturnAuthorized: contracts.OrderStateReturnAuthorized,
	contracts.CaseEventReturnReceived:   contracts.OrderStateReturnReceived,
	contracts.CaseEventReturnCredited:   contracts.OrderStateReturnCredited,
	contracts.CaseEventRefused:          contracts.OrderStateReturnRefused,
	contracts.CaseEventCancelled:        contracts.OrderStateReturnCancelled,
}

// ReturnState is the lifecycle state reporting a case update about a
// return of an order's goods, or "" when the update is not one (not about
// an order, not a return, or a step the order's lifecycle does not show).
func ReturnState(u contracts.CaseUpdate) string {
	if contracts.Deref(u.OrderID) == "" || len(u.ReturnLines) == 0 {
		return ""
	}
	return returnStates[u.Event]
}

// maxReturnSteps bounds the return steps remembered per order.
const maxReturnSteps = 64

// OnReturn reports a step of a return of the order's goods on its
// lifecycle, once per return and state. The order's own state is not
// changed: the event's previous_state carries it, and the order's next
// transition continues from it.
func (s *Saga) OnReturn(u contracts.CaseUpdate) Outputs {
	state := ReturnState(u)
	if state == "" {
		return Outputs{Ignored: "case update " + u.Event + " is not a return step of the order"}
	}
	key := u.CaseID + "/" + state
	if slices.Contains(s.ReturnSteps, key) {
		return Outputs{Ignored: "return step " + key + " already reported"}
	}
	s.ReturnSteps = append(s.ReturnSteps, key)
	if len(s.ReturnSteps) > maxReturnSteps {
		s.ReturnSteps = s.ReturnSteps[len(s.ReturnSteps)-maxReturnSteps:]
	}
	ev := s.lifecycle(s.State, contracts.Deref(u.Message), "")
	ev.State = state
	step := &contracts.ReturnStep{ReturnID: u.CaseID, RmaNumber: u.RmaNumber, CreditMemoID: u.CreditMemoID}
	for _, l := range u.ReturnLines {
		step.UnitsRequested += l.Requested
		step.UnitsAccepted += l.Accepted
	}
	if state == contracts.OrderStateReturnCredited && u.Credit != nil {
		c := *u.Credit
		step.Credit = &c
	}
	ev.ReturnStep = step
	ev.InvoiceID = nil
	return Outputs{Lifecycle: []contracts.OrderLifecycle{ev}}
}
