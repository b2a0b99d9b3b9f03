package quotetoorder

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// An ERP status for an order without saga state on its partition is parked
// in storeUnknown (the runtime has already forwarded records that sat on
// another partition than their key's, so this order is genuinely unknown
// here). The parked statuses are applied in order when the order's saga
// appears; once the oldest has waited the grace period (stream time) they
// are raised as one OperationalException with their source positions.

// parkedStatus is one ERP status waiting for its order.
type parkedStatus struct {
	Status      contracts.OrderStatus `json:"status"`
	Topic       string                `json:"topic"` // physical topic it was consumed from
	Origin      string                `json:"origin,omitempty"`
	Partition   int32                 `json:"partition"`
	Offset      int64                 `json:"offset"`
	EventID     string                `json:"event_id"`
	EventTimeMS int64                 `json:"event_time_ms"`
}

// parked is the value of storeUnknown for one order id.
type parked struct {
	SinceMS  int64          `json:"since_ms"` // event time of the first parked status
	Statuses []parkedStatus `json:"statuses"`
}

// park keeps a status for an order this partition does not know.
func (h *Handler) park(ctx context.Context, m *processor.Message, st contracts.OrderStatus) error {
	p, err := unknown.Load(m, st.OrderID)
	if err != nil {
		return err
	}
	at := m.EventTime()
	if p == nil {
		p = &parked{SinceMS: at.UnixMilli()}
	}
	ps := parkedStatus{Status: st, Topic: m.Record.Topic, Partition: m.Partition(), Offset: m.Record.Offset,
		EventID: m.EventID(), EventTimeMS: at.UnixMilli()}
	if o, ok := m.Header(processor.HeaderOriginTopic); ok {
		ps.Origin = o
	}
	for _, q := range p.Statuses {
		if q.EventID == ps.EventID {
			return nil // the same record again (a retried batch re-reads state)
		}
	}
	p.Statuses = append(p.Statuses, ps)
	if err := unknown.Put(m, st.OrderID, *p); err != nil {
		return err
	}
	m.Logger().InfoContext(ctx, "ERP status for an unknown order parked", "order_id", st.OrderID, "status", st.Status,
		"parked", len(p.Statuses), "grace", h.UnknownStatusGrace)
	return nil
}

// unpark applies an order's parked statuses, oldest first, to its saga
// (which has just appeared) and forgets them.
func (h *Handler) unpark(ctx context.Context, m *processor.Message, s *saga.Saga) error {
	p, err := unknown.Load(m, s.QuoteID)
	if err != nil || p == nil {
		return err
	}
	for _, ps := range p.Statuses {
		at := time.UnixMilli(ps.EventTimeMS)
		out := s.OnERPStatus(ps.Status, at)
		if err := h.apply(ctx, m, s, out, at, ps.EventID); err != nil {
			return err
		}
	}
	unknown.Delete(m, s.QuoteID)
	m.Logger().InfoContext(ctx, "parked ERP statuses applied", "order_id", s.QuoteID, "statuses", len(p.Statuses))
	return nil
}

// tickUnknown re-checks the partition's parked statuses: applied when the
// order has appeared, raised as an exception once the grace period is over.
func (h *Handler) tickUnknown(ctx context.Context, m *processor.Message, now time.Time) error {
	var ids []string
	m.Range(unknown.Name(), func(k string, _ []byte) bool { ids = append(ids, k); return true })
	for _, id := range ids {
		s, err := orders.Load(m, id)
		if err != nil {
			return err
		}
		if s != nil {
			if err := h.unpark(ctx, m, s); err != nil {
				return err
			}
			continue
		}
		p, err := unknown.Load(m, id)
		if err != nil {
			return err
		}
		if p == nil || now.Sub(time.UnixMilli(p.SinceMS)) < h.UnknownStatusGrace {
			continue
		}
		ex := unknownOrderException(id, p, now, h.UnknownStatusGrace)
		if err := ops.Emit(m, &ex); err != nil {
			return err
		}
		unknown.Delete(m, id)
		m.Logger().WarnContext(ctx, "ERP statuses for an unknown order raised as an exception", "order_id", id,
			"statuses", len(p.Statuses), "exception_id", ex.ExceptionID)
	}
	return nil
}

// unknownOrderException is the exception for an order's statuses still
// unknown after the grace period. Its id has the form of the saga's
// exception ids (version 0: no quote version; sequence: offset of the first
// status), so decisions on it are routed to the order's partition.
func unknownOrderException(orderID string, p *parked, now time.Time, grace time.Duration) contracts.OperationalException {
	first := p.Statuses[0]
	statuses := make([]string, 0, len(p.Statuses))
	sources := make([]string, 0, len(p.Statuses))
	for _, ps := range p.Statuses {
		statuses = append(statuses, ps.Status.Status)
		src := fmt.Sprintf("%s/%d@%d", ps.Topic, ps.Partition, ps.Offset)
		if ps.Origin != "" {
			src += " (from " + ps.Origin + ")"
		}
		sources = append(sources, src)
	}
	ctx := map[string]string{
		"order_id": orderID, "status": p.Statuses[len(p.Statuses)-1].Status.Status, "statuses": strings.Join(statuses, ","),
		"source_offsets": strings.Join(sources, ","), "first_event_time": time.UnixMilli(p.SinceMS).UTC().Format(time.RFC3339Nano),
		"grace": grace.String(), "parked": strconv.Itoa(len(p.Statuses)),
	}
	ids := map[string]string{"order_id": orderID}
	erpIDs := map[string]bool{}
	for _, ps := range p.Statuses {
		if ps.Status.ERPOrderID != nil && *ps.Status.ERPOrderID != "" {
			erpIDs[*ps.Status.ERPOrderID] = true
		}
	}
	if len(erpIDs) > 0 {
		l := make([]string, 0, len(erpIDs))
		for k := range erpIDs {
			l = append(l, k)
		}
		sort.Strings(l)
		ids["erp_order_id"] = l[0]
		ctx["erp_order_ids"] = strings.Join(l, ",")
	}
	cause := first.EventID
	md := event.Metadata(event.ID(cause, "unknown-order"), unknownOrderCorrelation(orderID), cause, saga.Owner.Source, now)
	return saga.Owner.Event(ops.Exception{
		ID:       saga.ExceptionID(orderID, 0, int(first.Offset)),
		Category: contracts.ExceptionCategoryOther, Severity: contracts.SeverityMedium,
		Summary:  fmt.Sprintf("%d ERP status update(s) for order %s, unknown to quote-to-order after %s", len(p.Statuses), orderID, grace),
		Entities: ids, Context: ctx,
		Suggested: "ERP reports statuses for an order quote-to-order never created: check the order id ERP publishes (it must be the quote id) and the producer's key; dismiss when explained",
		Allowed:   []string{contracts.DecisionActionDismiss},
	}, md)
}

// unknownOrderCorrelation is the correlation id of the exception of an
// unknown order and of its updates.
func unknownOrderCorrelation(orderID string) string { return event.ID("unknown-order", orderID) }

// decideUnknown applies an operator's decision on an unknown-order
// exception (version 0 of an order without a saga): the exception is closed.
// A decision on any other exception of an order without state is logged.
func (h *Handler) decideUnknown(ctx context.Context, m *processor.Message, d contracts.Decision) error {
	version, _, order, ok := saga.ExceptionParts(d.ExceptionID)
	if !ok || version != 0 {
		m.Logger().WarnContext(ctx, "decision for an unknown order", "exception_id", d.ExceptionID, "action", d.Action)
		return nil
	}
	ex := saga.Owner.Event(ops.Exception{
		ID: d.ExceptionID, Category: contracts.ExceptionCategoryOther, Severity: contracts.SeverityLow,
		Status:   contracts.ExceptionStatusClosed,
		Summary:  fmt.Sprintf("unknown-order exception of order %s is closed (%s by %s)", order, d.Action, d.Actor),
		Entities: map[string]string{"order_id": order}, Context: map[string]string{"decision_id": d.DecisionID},
		Decision: d.DecisionID,
	}, m.OutputMetadata(saga.Owner.Source, 1, unknownOrderCorrelation(order)))
	return ops.Emit(m, &ex)
}
