package legacyerp

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/legacyfile"
)

// due is an answer's rows, in the order the ERP made them.
type due struct {
	at   time.Time
	seq  int64
	kind string
	rows []legacyfile.Row
}

// answer plans the files of every answer due at now (a CUSTMAS file for
// customers, an ORDSTAT file for order statuses, each maybe followed by a
// bad file) in the outbox; it reports whether it planned any.
func (e *ERP) answer(now time.Time) (bool, error) {
	var out []due
	keep := e.st.Answers[:0]
	for _, a := range e.st.Answers {
		if a.Due.After(now) {
			keep = append(keep, a)
			continue
		}
		if a.Customer != nil {
			c := *a.Customer
			c.SourceUpdatedAt = now.UTC().Truncate(time.Second)
			out = append(out, due{a.Due, a.Seq, legacyfile.KindCustomers, []legacyfile.Row{legacyfile.CustomerRow(&c, a.Ref)}})
		}
		if a.Status != nil {
			out = append(out, due{a.Due, a.Seq, legacyfile.KindOrderStatus, legacyfile.OrderStatusRows(a.Status, a.Ref, now)})
		}
	}
	e.st.Answers = keep
	for _, id := range slices.Sorted(maps.Keys(e.st.Orders)) {
		o := e.st.Orders[id]
		if o.waiting() && !o.Due.After(now) {
			at, seq := o.Due, o.Seq
			out = append(out, due{at, seq, legacyfile.KindOrderStatus, legacyfile.OrderStatusRows(e.advance(o, now), o.Ref, now)})
		}
	}
	if len(out) == 0 {
		return false, nil
	}
	slices.SortStableFunc(out, func(a, b due) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	for _, kind := range []string{legacyfile.KindCustomers, legacyfile.KindOrderStatus} {
		var rows []legacyfile.Row
		for _, d := range out {
			if d.kind == kind {
				rows = append(rows, d.rows...)
			}
		}
		if len(rows) == 0 {
			continue
		}
		if err := e.plan(now, kind, rows); err != nil {
			return true, err
		}
	}
	return true, nil
}

// advance takes the order's due step and returns the status it reports:
// the decision (then shipment unless all was rejected), the shipment
// (then the invoice), the invoice.
func (e *ERP) advance(o *order, now time.Time) *contracts.OrderStatus {
	var status string
	switch o.Step {
	case stepDecide:
		status = o.Decision.Status
		o.Step, o.Due, o.Finished = stepDone, time.Time{}, now
		if o.Decision.AcceptedTotal > 0 || o.Decision.Status != contracts.ErpOrderStateRejected {
			o.Step, o.Due, o.Finished = stepShip, now.Add(e.s.Ship.For(e.s.Rules, "ship", o.Cmd.OrderID)), time.Time{}
		}
	case stepShip:
		status = contracts.ErpOrderStateShipped
		o.ShipmentID = "LSH" + o.ERPOrderID[2:]
		o.Step, o.Due = stepInvoice, now.Add(e.s.Invoice.For(e.s.Rules, "invoice", o.Cmd.OrderID))
	case stepInvoice:
		status = contracts.ErpOrderStateInvoiced
		o.InvoiceID = "LIV" + o.ERPOrderID[2:]
		o.Step, o.Due, o.Finished = stepDone, time.Time{}, now
	}
	o.Last = status
	o.Seq = e.next(&e.st.Seq.Item)
	return e.report(o, status)
}

// plan adds a good file of kind with rows to the outbox, and after it, at
// BadFileBps, a bad file (badFile).
func (e *ERP) plan(now time.Time, kind string, rows []legacyfile.Row) error {
	f := &legacyfile.File{Kind: kind, Batch: e.batch(), Created: now.UTC().Truncate(time.Second), Sender: Sender, Rows: rows}
	data, err := legacyfile.Encode(f)
	if err != nil {
		return fmt.Errorf("legacy ERP: %s: %w", f.Name(), err)
	}
	good := outFile{Name: f.Name(), Data: data}
	e.st.Outbox = append(e.st.Outbox, good)
	if e.s.BadFileBps > 0 && e.s.Rules.Roll("legacy-bad-file", good.Name) < e.s.BadFileBps {
		bad, err := e.badFile(f)
		if err != nil {
			return err
		}
		e.st.Outbox = append(e.st.Outbox, bad)
	}
	e.st.LastSent = &good
	return nil
}

// batch is the next batch id of the ERP's files.
func (e *ERP) batch() string { return fmt.Sprintf("%010d", e.next(&e.st.Seq.File)) }

// flush writes the outbox's files to inbound, then forgets them.
func (e *ERP) flush() error {
	if len(e.st.Outbox) == 0 {
		return nil
	}
	dir := filepath.Join(e.s.Dir, DirInbound)
	for _, f := range e.st.Outbox {
		if err := legacyfile.WriteAtomic(dir, f.Name, f.Data); err != nil {
			return fmt.Errorf("legacy ERP: %w", err)
		}
		if f.Bad != "" {
			badFiles.WithLabelValues(f.Bad).Inc()
			e.s.Log.Info("legacy ERP: wrote a bad file", "file", f.Name, "kind", f.Bad)
		} else {
			kind, _, _ := strings.Cut(f.Name, "_")
			answerFiles.WithLabelValues(kind).Inc()
		}
	}
	e.st.Outbox = nil
	return e.save()
}
