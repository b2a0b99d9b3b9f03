package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// Tick emits every answer whose time has come, unless the ERP is in a
// maintenance window (then the answers wait: the ERP answers later).
func (s *Sim) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	if err := s.indexEarlierTimers(m); err != nil {
		return err
	}
	if s.s.Downtime.Down(now) {
		return nil
	}
	var ids []string
	deadlines.Due(m, now, func(id string, _ time.Time) bool {
		if len(ids) >= s.s.MaxPerTick {
			return false
		}
		ids = append(ids, id)
		return true
	})
	for _, id := range ids {
		t, ok, err := timers.Get(m, id)
		if err != nil {
			return err // corrupt own state: retried, never dropped
		}
		unschedule(m, id)
		if !ok {
			continue
		}
		if err := s.fire(m, now, id, &t); err != nil {
			return err
		}
	}
	return nil
}

// Upgrade from a release without the due index: that release kept each
// timer in StoreTimers only, under its id (which starts with its due time),
// and its tick scanned that store. Its changelog restores those entries
// without an index entry, so until they are indexed they would never fire.
// Each tick (until done) indexes up to Settings.IndexPerTick of them, in
// id order (due order, so the earliest first), and keeps its progress under
// indexedKey; once a scan reaches the end the progress is marked done and a
// tick costs one read. The entries stay where they are: StoreTimers is
// still where a timer's work is kept (processor.MoveTimers, which moves
// entries out of their store, does not fit this layout).

// indexedKey is the key of the indexing progress in StoreTimers; it is no
// timer id (those start with thirteen digits).
const indexedKey = "~indexed"

// indexProgress is how far the timers of StoreTimers have been indexed:
// every id up to After has been looked at; Done once all have.
type indexProgress struct {
	After string `json:"after,omitempty"`
	Done  bool   `json:"done,omitempty"`
}

var timerIndexing = processor.NewStore(StoreTimers, processor.JSON[indexProgress]())

// indexEarlierTimers adds the next timers of StoreTimers an earlier release
// wrote to the due index (see above).
func (s *Sim) indexEarlierTimers(m *processor.Message) error {
	p, _, err := timerIndexing.Get(m, indexedKey)
	if err != nil || p.Done {
		return err
	}
	looked, done := 0, true
	m.Range(StoreTimers, func(id string, _ []byte) bool {
		if id <= p.After || id == indexedKey {
			return true
		}
		if looked >= s.s.IndexPerTick {
			done = false
			return false
		}
		looked++
		if _, ok := deadlines.At(m, id); ok {
			p.After = id // written by this release: indexed when scheduled
			return true
		}
		at, perr := timerDue(id)
		if perr != nil {
			err = processor.CorruptState(StoreTimers, id, perr)
			return false
		}
		deadlines.Set(m, id, at)
		p.After = id
		return true
	})
	if err != nil {
		return err
	}
	p.Done = done
	if p.Done {
		p.After = ""
	}
	return timerIndexing.Put(m, indexedKey, p)
}

func (s *Sim) fire(m *processor.Message, now time.Time, key string, t *timer) error {
	switch t.Kind {
	case "emit":
		return s.emit(m, now, t.Origin, t.Records...)
	case "invoice":
		contract, _, _ := strings.Cut(t.ID, "/")
		cs, _, err := contractStates.Get(m, contract)
		if err != nil {
			return err
		}
		if cs.Cancelled || cs.Seq != t.Seq || len(t.Records) == 0 {
			return nil // replaced by a later amendment, or cancelled
		}
		ev, ok := t.Records[0].Value.(*contracts.BillingEvent)
		if !ok || ev.PeriodStart == nil {
			return nil
		}
		period := ev.PeriodStart.Format("2006-01-02")
		if cs.Issued[period] {
			return nil
		}
		if cs.Issued == nil {
			cs.Issued = map[string]bool{}
		}
		cs.Issued[period] = true
		if err := contractStates.Put(m, contract, cs); err != nil {
			return err
		}
		return s.emit(m, now, t.Origin, t.Records...)
	case "order":
		return s.advanceOrder(m, now, key, t)
	case "service":
		return s.advanceServiceOrder(m, now, key, t)
	case "return":
		return s.advanceReturn(m, now, key, t)
	}
	return fmt.Errorf("unknown timer kind %q", t.Kind)
}

// emit encodes pending records with occurred_at = now.
func (s *Sim) emit(m *processor.Message, now time.Time, o origin, recs ...pending) error {
	for _, r := range recs {
		stamp(r.Value, now)
		if err := m.EmitValue(r.Topic, r.Key, r.Value, o.headers()...); err != nil {
			return err
		}
	}
	return nil
}

// stamp sets the time fields of an answer to its emission time.
func stamp(v contracts.Value, now time.Time) {
	now = event.Time(now)
	switch r := v.(type) {
	case *contracts.OrderStatus:
		r.Metadata.OccurredAt = now
	case *contracts.Invoice:
		r.Metadata.OccurredAt = now
	case *contracts.Customer:
		r.Metadata.OccurredAt, r.SourceUpdatedAt = now, now
	case *contracts.CreditAccount:
		r.Metadata.OccurredAt, r.AsOf = now, now
	case *contracts.Journal:
		r.Metadata.OccurredAt = now
	case *contracts.BillingEvent:
		r.Metadata.OccurredAt = now
	case *contracts.Asset:
		r.Metadata.OccurredAt, r.AsOf = now, now
	case *contracts.ServiceOrderStatus:
		r.Metadata.OccurredAt = now
	case *contracts.ReturnStatus:
		r.Metadata.OccurredAt = now
	case *contracts.PathResult:
		r.Metadata.OccurredAt = now
	}
}

// advanceOrder emits the order's next status and schedules the one after.
func (s *Sim) advanceOrder(m *processor.Message, now time.Time, key string, t *timer) error {
	st, ok, err := orders.Get(m, t.ID)
	if err != nil || !ok {
		return err
	}
	if st.Timer != key {
		return nil // superseded (cancelled)
	}
	st.Timer = ""
	var out []pending
	add := func(topic, k string, v contracts.Value) { out = append(out, record(topic, k, v)) }
	next := ""
	var delay time.Duration
	// A shadowed order goes through the same steps, in state only: only
	// its decision is reported, and a later cancel finds it where an
	// authoritative one would be.
	answered := st.role() == flowmode.Authoritative
	switch st.Step {
	case stepDecide:
		st.Last = st.Decision.Status
		out = append(out, orderAnswer(&st, s.status(&st, st.Decision.Status, "decide"))...)
		next, st.Step = stepDone, stepDone
		if st.Decision.AcceptedTotal > 0 || st.Decision.Status != contracts.ErpOrderStateRejected {
			next, st.Step = stepShip, stepShip
			delay = s.s.Ship.For(s.s.Rules, "ship", st.Cmd.OrderID)
		}
	case stepShip:
		st.ShipmentID = "SH" + strings.ReplaceAll(event.ID("shipment", st.Cmd.OrderID+revisionSuffix(&st.Cmd)), "-", "")[:10]
		st.Last = contracts.ErpOrderStateShipped
		if answered {
			add(contracts.TopicERPOrderStatusV1, st.Cmd.OrderID, s.status(&st, contracts.ErpOrderStateShipped, "ship"))
			for _, a := range s.assets(&st, now) {
				if err := installAsset(m, a, st.Origin); err != nil {
					return err
				}
			}
		}
		next, st.Step = stepInvoice, stepInvoice
		delay = s.s.Invoice.For(s.s.Rules, "invoice", st.Cmd.OrderID)
	case stepInvoice:
		st.InvoiceID = "INV" + strings.ReplaceAll(event.ID("invoice", st.Cmd.OrderID+revisionSuffix(&st.Cmd)), "-", "")[:10]
		st.Last = contracts.ErpOrderStateInvoiced
		if answered {
			add(contracts.TopicERPInvoiceV1, st.InvoiceID, s.invoice(&st, now))
			add(contracts.TopicERPOrderStatusV1, st.Cmd.OrderID, s.status(&st, contracts.ErpOrderStateInvoiced, "invoice"))
		}
		st.Step = stepDone
	default:
		return nil
	}
	if next != "" && next != stepDone {
		k, err := s.schedule(m, now.Add(delay), timer{Kind: "order", ID: st.Cmd.OrderID, Origin: st.Origin})
		if err != nil {
			return err
		}
		st.Timer = k
	}
	if err := orders.Put(m, st.Cmd.OrderID, st); err != nil {
		return err
	}
	return s.emit(m, now, st.Origin, out...)
}

var termDays = map[string]int{"NET30": 30, "NET45": 45, "NET60": 60}

// invoice is the ERP invoice for the accepted lines of an order, with the
// region's tax rate.
func (s *Sim) invoice(st *orderState, now time.Time) *contracts.Invoice {
	cur := st.Cmd.Currency
	rate := int64(traffic.TaxRateBps[st.Cmd.Region])
	day := now.UTC().Truncate(24 * time.Hour)
	days := 30
	if st.Cmd.PaymentTerms != nil {
		if d, ok := termDays[*st.Cmd.PaymentTerms]; ok {
			days = d
		}
	}
	orderID, erpID := st.Cmd.OrderID, st.ERPOrderID
	inv := &contracts.Invoice{
		Metadata:      s.meta("invoice", st.Cmd.OrderID, "", st.Origin, contracts.SourceSystemERP),
		InvoiceID:     st.InvoiceID,
		Status:        contracts.InvoiceStatusPosted,
		ERPCustomerID: st.Cmd.ERPCustomerID,
		OrderID:       &orderID,
		ERPOrderID:    &erpID,
		InvoiceDate:   day,
		DueDate:       day.AddDate(0, 0, days),
		PostedAt:      now.UTC().Truncate(time.Millisecond),
	}
	var net, tax int64
	for _, ld := range st.Decision.Lines {
		if ld.Reason != "" {
			continue
		}
		l := ld.Line
		t := (l.LineTotal.AmountMinor*rate + 5000) / 10000
		inv.Lines = append(inv.Lines, contracts.InvoiceLine{
			LineNumber: l.LineNumber, SKU: l.SKU, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			NetAmount: l.LineTotal, TaxAmount: contracts.Money{AmountMinor: t, Currency: cur},
		})
		net += l.LineTotal.AmountMinor
		tax += t
	}
	if inv.Lines == nil {
		inv.Lines = []contracts.InvoiceLine{}
	}
	inv.NetTotal = contracts.Money{AmountMinor: net, Currency: cur}
	inv.TaxTotal = contracts.Money{AmountMinor: tax, Currency: cur}
	inv.Total = contracts.Money{AmountMinor: net + tax, Currency: cur}
	return inv
}
