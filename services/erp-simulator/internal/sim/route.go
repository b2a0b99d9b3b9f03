package sim

import (
	"context"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/flowmode"
)

// Routing (docs/erp-simulator.md, "The new ERP path"): the simulator is the
// new path (contracts.ErpPathNew) of the customers and orders flows. Its
// role for a command is flowmode.RoleOf(the flow's mode at the command's
// record timestamp, ErpPathNew):
//
//   - Authoritative (NEW, also with no mode recorded): it answers as it
//     always has and reports each customer answer and each order status
//     that is a decision (flowmode.Decided) on erp.path-results.v1 in the
//     same emission;
//   - Shadow (SHADOW): it works the command in its state, on the same
//     timers, but emits only those reports: no erp.* answer, credit,
//     invoice, shipment or installed-base change;
//   - Off (LEGACY): it emits nothing.
//
// An order's role is fixed by its first command and kept in its state
// (orderState.Mode), so its cancel and revisions stay on the path that has
// it; a customer command is routed by its own time. A mode the source
// cannot tell yet fails the command retriably (errs.ReasonRoutingUnknown):
// it waits, it is never routed on a guess.

// mode is the flow's mode at t.
func (s *Sim) mode(ctx context.Context, flow string, t time.Time) (string, error) {
	return s.s.Modes.At(ctx, flow, t)
}

// role is the simulator's role for the order, fixed by its first command.
func (st *orderState) role() flowmode.Role { return flowmode.RoleOf(st.mode(), contracts.ErpPathNew) }

// mode is the orders flow's mode at the order's first command (NEW for an
// order of a release before routing: it answered them all).
func (st *orderState) mode() string {
	if st.Mode == "" {
		return flowmode.Default
	}
	return st.Mode
}

// orderAnswer is what the simulator emits for status v of the order under
// its role: authoritative, the status, and its path result when it is a
// decision (flowmode.Decided: accepted, partially rejected, rejected,
// cancelled; not shipped or invoiced); shadow, only that path result; off,
// nothing.
func orderAnswer(st *orderState, v *contracts.OrderStatus) []pending {
	role := st.role()
	var out []pending
	if role == flowmode.Authoritative {
		out = append(out, record(contracts.TopicERPOrderStatusV1, v.OrderID, v))
	}
	if flowmode.Decided(v.Status) && role != flowmode.Off {
		r := flowmode.OrderResult(contracts.ErpPathNew, st.mode(), role == flowmode.Authoritative, v, resultMeta(v.Metadata))
		out = append(out, record(contracts.TopicERPPathResultsV1, flowmode.ResultKey(flowmode.Orders, v.OrderID), &r))
	}
	return out
}

// customerRoute is the simulator's role for one customer command.
type customerRoute struct {
	mode    string
	role    flowmode.Role
	created bool // the first answer for the golden id on this path
}

// customerResult is the path result of customer answer c.
func customerResult(r customerRoute, c *contracts.Customer) pending {
	v := flowmode.CustomerResult(contracts.ErpPathNew, r.mode, r.role == flowmode.Authoritative, c, r.created, resultMeta(c.Metadata))
	return record(contracts.TopicERPPathResultsV1, flowmode.ResultKey(flowmode.Customers, v.EntityID), &v)
}

// resultMeta is the metadata of the path result of an answer with
// metadata md: its own id derived from the answer's, in the same
// correlation, caused by the same command.
func resultMeta(md contracts.EventMetadata) contracts.EventMetadata {
	md.EventID = event.ID(md.EventID, "path-result")
	return md
}
