package legacyerp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// requestKinds are the files the ERP takes from outbound.
var requestKinds = []string{legacyfile.KindCustomerRequests, legacyfile.KindOrders}

// isRequest reports whether name is a request file for the ERP.
func isRequest(name string) bool {
	if !strings.HasSuffix(name, ".csv") {
		return false
	}
	return slices.ContainsFunc(requestKinds, func(k string) bool { return strings.HasPrefix(name, k+"_") })
}

// take reads the request files in outbound, in name order: each is
// rejected, recognised as a batch already applied, or applied to the
// state. It returns the files to archive once the state is saved.
func (e *ERP) take(now time.Time) ([]string, error) {
	dir := filepath.Join(e.s.Dir, DirOutbound)
	names, err := legacyfile.List(dir)
	if err != nil {
		return nil, fmt.Errorf("legacy ERP: %w", err)
	}
	var taken []string
	for _, name := range names { // sorted by name
		if !isRequest(name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return taken, fmt.Errorf("legacy ERP: %w", err)
		}
		f, err := legacyfile.Parse(name, data)
		if err == nil {
			err = validate(f)
		}
		if err != nil {
			if err := e.reject(name, err); err != nil {
				return taken, err
			}
			continue
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if a, ok := e.st.Applied[appliedKey(f)]; ok {
			if a.Hash != hash {
				err := &legacyfile.Error{Reason: legacyfile.ReasonDuplicate, Detail: fmt.Sprintf("batch %s of %s was applied at %s with other content",
					f.Batch, f.Sender, a.At.UTC().Format(time.RFC3339))}
				if err := e.reject(name, err); err != nil {
					return taken, err
				}
				continue
			}
			requestFiles.WithLabelValues(f.Kind, "duplicate").Inc()
			e.s.Log.Info("legacy ERP: batch already applied, archived without a second answer", "file", name)
			taken = append(taken, name)
			continue
		}
		due := now.Add(e.s.Batch.For(e.s.Rules, "legacy-batch", f.Kind, f.Sender, f.Batch))
		switch f.Kind {
		case legacyfile.KindCustomerRequests:
			for _, r := range f.Rows {
				cmd, ref := legacyfile.CustomerRequest(r)
				e.customer(due, &cmd, ref)
			}
		case legacyfile.KindOrders:
			for _, o := range legacyfile.Orders(f) {
				e.order(now, due, &o.Command, o.Ref)
			}
		}
		e.st.Applied[appliedKey(f)] = applied{Hash: hash, At: now}
		requestFiles.WithLabelValues(f.Kind, "applied").Inc()
		e.s.Log.Info("legacy ERP: batch taken", "file", name, "sender", f.Sender, "rows", len(f.Rows), "answer_at", due)
		taken = append(taken, name)
	}
	return taken, nil
}

// validate refuses a file whose records the ERP cannot act on though
// legacyfile accepts them, before any of it is applied.
func validate(f *legacyfile.File) error {
	if f.Kind != legacyfile.KindOrders {
		return nil
	}
	for _, r := range f.Rows {
		if r.Type != "O" {
			continue
		}
		if a := r.Field(f.Kind, "action"); a != contracts.OrderCommandActionCreate && a != contracts.OrderCommandActionCancel {
			return &legacyfile.Error{Reason: legacyfile.ReasonInvalidValue, Line: r.Line, Detail: fmt.Sprintf("O record: action %q is neither CREATE nor CANCEL", a)}
		}
	}
	return nil
}

// reject moves a request file the ERP refuses to outbound/rejected, with
// the reason next to it (written first: a crash in between rejects the
// file again).
func (e *ERP) reject(name string, cause error) error {
	dir := filepath.Join(e.s.Dir, DirRejected)
	reason := legacyfile.ReasonOf(cause)
	text := fmt.Sprintf("file: %s\nreason: %s\ndetail: %v\nrejected_at: %s\n", name, reason, cause, e.s.Now().UTC().Format(time.RFC3339))
	if err := legacyfile.WriteAtomic(dir, name+".reason.txt", []byte(text)); err != nil {
		return fmt.Errorf("legacy ERP: reject %s: %w", name, err)
	}
	if err := os.Rename(filepath.Join(e.s.Dir, DirOutbound, name), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("legacy ERP: reject %s: %w", name, err)
	}
	kind, _, _ := strings.Cut(name, "_")
	requestFiles.WithLabelValues(kind, "rejected").Inc()
	e.s.Log.Warn("legacy ERP: request file refused", "file", name, "reason", reason, "error", cause)
	return nil
}

func (e *ERP) next(seq *int64) int64 {
	*seq++
	return *seq
}

// later schedules an answer at due.
func (e *ERP) later(due time.Time, a answer) {
	a.Due, a.Seq = due, e.next(&e.st.Seq.Item)
	e.st.Answers = append(e.st.Answers, a)
}

// customer applies a customer request: the ERP's customer number for the
// golden id (the one the request names when the ERP has none yet), the
// master record created with the terms of erp.Rules.NewCustomer or changed
// by erp.UpdateCustomer, answered at due.
func (e *ERP) customer(due time.Time, cmd *contracts.CustomerCommand, ref legacyfile.Ref) {
	c := e.st.Customers[cmd.GoldenID]
	if c == nil {
		c = &customer{}
		e.st.Customers[cmd.GoldenID] = c
	}
	if c.ERPCustomerID == "" && cmd.ERPCustomerID != nil && *cmd.ERPCustomerID != "" {
		c.ERPCustomerID = *cmd.ERPCustomerID
	}
	if c.ERPCustomerID == "" {
		c.ERPCustomerID = fmt.Sprintf("L%07d", e.next(&e.st.Seq.Customer))
	}
	if c.Record == nil {
		c.Record, _ = e.s.Rules.NewCustomer(cmd, c.ERPCustomerID)
	} else {
		c.Record = erp.UpdateCustomer(c.Record, cmd)
	}
	rec := *c.Record
	e.later(due, answer{Customer: &rec, Ref: ref})
}

// revision is the order revision a command carries (0 is the first, 1).
func revision(cmd *contracts.OrderCommand) int { return max(1, cmd.Revision) }

// order applies an order command as the topic ERP does: a new order is
// decided now and answered at due; a new revision replaces an order not
// shipped yet (or rejected) and is decided again; a re-sent command gets
// the current status again; a cancel cancels an order not shipped yet,
// else gets the current status with CANCEL_REFUSED.
func (e *ERP) order(now, due time.Time, cmd *contracts.OrderCommand, ref legacyfile.Ref) {
	o := e.st.Orders[cmd.OrderID]
	if cmd.Action == contracts.OrderCommandActionCancel {
		if o == nil {
			o = &order{Cmd: *cmd, Ref: ref, ERPOrderID: e.orderNumber()}
			e.st.Orders[cmd.OrderID] = o
		}
		if o.Step == "" || o.Step == stepDecide || o.Step == stepShip {
			o.Step, o.Due, o.Last, o.Finished = stepCancelled, time.Time{}, contracts.ErpOrderStateCancelled, now
			e.later(due, answer{Status: e.report(o, contracts.ErpOrderStateCancelled,
				contracts.ERPMessage{Code: "CANCELLED", Text: "order cancelled on request " + cmd.CommandID}), Ref: ref})
			return
		}
		e.later(due, answer{Status: e.report(o, o.Last,
			contracts.ERPMessage{Code: "CANCEL_REFUSED", Text: "order is already " + strings.ToLower(o.Last) + "; raise a return instead"}), Ref: ref})
		return
	}
	replaceable := o != nil && (o.Step == stepDecide || o.Step == stepShip || o.Step == stepDone && o.Last == contracts.ErpOrderStateRejected)
	switch {
	case o != nil && revision(cmd) > revision(&o.Cmd) && replaceable:
		*o = order{Cmd: *cmd, Ref: ref, ERPOrderID: o.ERPOrderID}
	case o != nil:
		if o.Last != "" {
			e.later(due, answer{Status: e.report(o, o.Last), Ref: ref})
		}
		return
	default:
		o = &order{Cmd: *cmd, Ref: ref, ERPOrderID: e.orderNumber()}
		e.st.Orders[cmd.OrderID] = o
	}
	o.Decision = e.rules().DecideOrder(cmd)
	o.Step, o.Due, o.Seq = stepDecide, due, e.next(&e.st.Seq.Item)
}

func (e *ERP) orderNumber() string { return fmt.Sprintf("LO%07d", e.next(&e.st.Seq.Order)) }

// report is the order's status in state status, with its shipment and
// invoice.
func (e *ERP) report(o *order, status string, extra ...contracts.ERPMessage) *contracts.OrderStatus {
	v := o.Decision.Report(&o.Cmd, o.ERPOrderID, status, extra...)
	if o.ShipmentID != "" {
		v.ShipmentID = &o.ShipmentID
	}
	if o.InvoiceID != "" {
		v.InvoiceID = &o.InvoiceID
	}
	return v
}
