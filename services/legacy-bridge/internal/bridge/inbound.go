package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Outcomes of an inbound file.
const (
	OutcomeProcessed   = "processed"
	OutcomeQuarantined = "quarantined"
)

// ledgerEntry is what was decided on the inbound files of one name.
type ledgerEntry struct {
	// Applied: one of them was applied; another drop of the name is a
	// duplicate.
	Applied bool `json:"applied"`
	// Decisions counts the drops of the name decided.
	Decisions int      `json:"decisions"`
	Last      Decision `json:"last"`
}

// Decision is the decision on one inbound file, and its report in
// quarantine.
type Decision struct {
	File      string    `json:"file"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	Line      int       `json:"line,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	SHA256    string    `json:"sha256"`
	Records   int       `json:"records"`
	DecidedAt time.Time `json:"decided_at"`
	// Dest is the file's name in processed/ or quarantine/.
	Dest      string `json:"dest"`
	Exception string `json:"exception_id,omitempty"`
}

func (b *Bridge) destPath(d Decision) string {
	if d.Outcome == OutcomeProcessed {
		return filepath.Join(b.s.Folder.Processed(), d.Dest)
	}
	return filepath.Join(b.s.Folder.Quarantine(), d.Dest)
}

// inbound files the committed decisions and decides new files.
func (b *Bridge) inbound(ctx context.Context, m *processor.Message) error {
	names, err := legacyfile.List(b.s.Folder.Inbound())
	if err != nil {
		return errs.Retriable(errs.ReasonState, fmt.Errorf("list %s: %w", b.s.Folder.Inbound(), err))
	}
	decided := 0
	for _, name := range names {
		led, known, err := ledger.Get(m, name)
		if err != nil {
			return err
		}
		if known && !Exists(b.destPath(led.Last)) {
			// Decided and committed on an earlier tick: file it.
			if err := b.finish(name, led.Last); err != nil {
				b.s.Log.Warn("legacy file not filed yet; trying again next tick", "file", name, "err", err)
			}
			continue
		}
		if decided == b.s.FilesPerTick {
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.s.Folder.Inbound(), name))
		if err != nil {
			b.s.Log.Warn("legacy file not readable yet", "file", name, "err", err)
			continue
		}
		sum := sha256.Sum256(data)
		n := led.Decisions + 1
		d := Decision{File: name, SHA256: hex.EncodeToString(sum[:]), DecidedAt: m.Record.Timestamp.UTC()}
		if known && led.Applied {
			d.Outcome, d.Reason = OutcomeQuarantined, legacyfile.ReasonDuplicate
			d.Detail = fmt.Sprintf("a file %s was applied on %s (sha256 %s); this drop is not applied again",
				name, led.Last.DecidedAt.Format(time.RFC3339), led.Last.SHA256)
			if led.Last.Outcome != OutcomeProcessed {
				d.Detail = fmt.Sprintf("a file %s was applied before; this drop is not applied again", name)
			}
		} else if f, perr := b.parse(name, data); perr != nil {
			d.Outcome, d.Reason, d.Line, d.Detail = OutcomeQuarantined, legacyfile.ReasonOf(perr), lineOf(perr), detailOf(perr)
		} else {
			if d.Records, err = b.apply(m, f); err != nil {
				return err
			}
			d.Outcome = OutcomeProcessed
		}
		d.Dest = name
		if d.Outcome == OutcomeQuarantined && n > 1 {
			d.Dest = fmt.Sprintf("%s.%d", name, n)
		}
		if d.Outcome == OutcomeQuarantined {
			if d.Exception, err = b.raise(m, d, n); err != nil {
				return err
			}
		}
		led.Decisions, led.Last = n, d
		led.Applied = led.Applied || d.Outcome == OutcomeProcessed
		if err := ledger.Put(m, name, led); err != nil {
			return err
		}
		kind, _, _ := legacyfile.KindOfName(name)
		b.m.files.WithLabelValues(kind, d.Outcome, d.Reason).Inc()
		decided++
	}
	return nil
}

// parse reads an inbound file: only the kinds the ERP sends.
func (b *Bridge) parse(name string, data []byte) (*legacyfile.File, error) {
	kind, _, err := legacyfile.KindOfName(name)
	if err != nil {
		return nil, err
	}
	if kind != legacyfile.KindCustomers && kind != legacyfile.KindOrderStatus {
		return nil, &legacyfile.Error{Reason: legacyfile.ReasonUnknownKind,
			Detail: fmt.Sprintf("%s files go from Isthmus to the ERP; inbound takes %s and %s", kind, legacyfile.KindCustomers, legacyfile.KindOrderStatus)}
	}
	return legacyfile.Parse(name, data)
}

func lineOf(err error) int {
	if e, ok := err.(*legacyfile.Error); ok {
		return e.Line
	}
	return 0
}

func detailOf(err error) string {
	if e, ok := err.(*legacyfile.Error); ok {
		return e.Detail
	}
	return err.Error()
}

// finish moves a decided file to its destination; a refused file gets its
// report first.
func (b *Bridge) finish(name string, d Decision) error {
	if d.Outcome == OutcomeQuarantined {
		rep, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return err
		}
		if err := legacyfile.WriteAtomic(b.s.Folder.Quarantine(), d.Dest+".report.json", append(rep, '\n')); err != nil {
			return err
		}
	}
	if err := legacyfile.Move(filepath.Join(b.s.Folder.Inbound(), name), b.destPath(d)); err != nil {
		return err
	}
	b.s.Log.Info("legacy file filed", "file", name, "outcome", d.Outcome, "as", d.Dest, "reason", d.Reason, "records", d.Records)
	return nil
}

// raise publishes the exception of a refused file.
func (b *Bridge) raise(m *processor.Message, d Decision, n int) (string, error) {
	kind, batch, _ := legacyfile.KindOfName(d.File)
	id := Owner.ExceptionID("file", d.File, strconv.Itoa(n))
	x := ops.Exception{
		ID: id, Severity: contracts.SeverityHigh, Queue: contracts.ExceptionQueueMasterData,
		Summary:   fmt.Sprintf("legacy ERP file %s quarantined: %s", d.File, (&legacyfile.Error{Reason: d.Reason, Line: d.Line, Detail: d.Detail}).Error()),
		Entities:  map[string]string{"file": d.File},
		Context:   map[string]string{"reason": d.Reason, "detail": d.Detail, "quarantined_as": d.Dest, "sha256": d.SHA256},
		Suggested: "correct the file (or have the ERP send the batch again) and drop it into inbound/ under the same name: it is applied once it passes",
	}
	if kind == legacyfile.KindOrderStatus {
		x.Queue = contracts.ExceptionQueueSalesOps
	}
	if batch != "" {
		x.Entities["batch"] = batch
	}
	if d.Line > 0 {
		x.Context["line"] = strconv.Itoa(d.Line)
	}
	if d.Reason == legacyfile.ReasonDuplicate {
		x.Severity = contracts.SeverityLow
		x.Suggested = "nothing to apply: the batch was applied once; remove the file from quarantine"
	}
	md := event.Metadata(event.ID(Name, "exception", id), id, "", contracts.SourceSystemERP, d.DecidedAt)
	v := Owner.Event(x, md)
	return id, ops.Emit(m, &v)
}

func correlation(id string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: tracing.HeaderCorrelationID, Value: []byte(id)}
}

// apply publishes every record of an accepted file; it returns their count.
func (b *Bridge) apply(m *processor.Message, f *legacyfile.File) (int, error) {
	name := f.Name()
	ref := func(r legacyfile.Ref, i int) (corr string) {
		if r.Correlation != "" {
			return r.Correlation
		}
		return event.ID(Name, name, strconv.Itoa(i))
	}
	n := 0
	switch f.Kind {
	case legacyfile.KindCustomers:
		for i, row := range f.Rows {
			c, r := legacyfile.Customer(row)
			corr := ref(r, i)
			c.Metadata = event.Metadata(event.ID(Name, name, strconv.Itoa(i), "customer"), corr, "", contracts.SourceSystemERP, c.SourceUpdatedAt)
			if err := m.EmitValue(contracts.TopicERPCustomerV1, c.ERPCustomerID, &c, correlation(corr)); err != nil {
				return 0, err
			}
			n++
			if c.GoldenID == nil || *c.GoldenID == "" {
				continue // a customer the ERP made on its own
			}
			_, seen, err := goldens.Get(m, *c.GoldenID)
			if err != nil {
				return 0, err
			}
			if !seen {
				if err := goldens.Put(m, *c.GoldenID, c.ERPCustomerID); err != nil {
					return 0, err
				}
				if err := b.openCredit(m, &c, name, i, corr); err != nil {
					return 0, err
				}
			}
			if r.Route != "" && c.CommandID != nil {
				md := event.Metadata(event.ID(Name, name, strconv.Itoa(i), "path-result"), corr, c.Metadata.EventID, contracts.SourceSystemERP, c.SourceUpdatedAt)
				pr := flowmode.CustomerResult(contracts.ErpPathLegacy, r.Route, true, &c, !seen, md)
				if err := m.EmitValue(contracts.TopicERPPathResultsV1, flowmode.ResultKey(pr.Flow, pr.EntityID), &pr, correlation(corr)); err != nil {
					return 0, err
				}
			}
		}
	case legacyfile.KindOrderStatus:
		for i, st := range legacyfile.OrderStatuses(f) {
			s := st.Status
			corr := ref(st.Ref, i)
			s.Metadata = event.Metadata(event.ID(Name, name, strconv.Itoa(i), "order-status"), corr, "", contracts.SourceSystemERP, st.ChangedAt)
			if err := m.EmitValue(contracts.TopicERPOrderStatusV1, s.OrderID, &s, correlation(corr)); err != nil {
				return 0, err
			}
			n++
			if st.Ref.Route != "" && flowmode.Decided(s.Status) {
				md := event.Metadata(event.ID(Name, name, strconv.Itoa(i), "path-result"), corr, s.Metadata.EventID, contracts.SourceSystemERP, st.ChangedAt)
				pr := flowmode.OrderResult(contracts.ErpPathLegacy, st.Ref.Route, true, &s, md)
				if err := m.EmitValue(contracts.TopicERPPathResultsV1, flowmode.ResultKey(pr.Flow, pr.EntityID), &pr, correlation(corr)); err != nil {
					return 0, err
				}
			}
		}
	}
	b.m.records.WithLabelValues(f.Kind).Add(float64(n))
	return n, nil
}

// openCredit publishes the credit account of a customer the legacy ERP
// created, so the gateway answers credit checks for it: its limit and
// standing, nothing owed yet.
func (b *Bridge) openCredit(m *processor.Message, c *contracts.Customer, name string, i int, corr string) error {
	if c.CreditLimit == nil {
		return nil
	}
	cur := c.CreditLimit.Currency
	v := contracts.CreditAccount{
		Metadata:      event.Metadata(event.ID(Name, name, strconv.Itoa(i), "credit"), corr, c.Metadata.EventID, contracts.SourceSystemERP, c.SourceUpdatedAt),
		ERPCustomerID: c.ERPCustomerID,
		CreditLimit:   *c.CreditLimit,
		ArBalance:     contracts.Money{Currency: cur},
		OpenOrders:    contracts.Money{Currency: cur},
		Hold:          c.CreditStatus == contracts.CreditStatusHold,
		CreditStatus:  c.CreditStatus,
	}
	if v.Hold {
		r := "credit hold in the legacy ERP"
		v.HoldReason = &r
	}
	return m.EmitValue(contracts.TopicERPCreditV1, c.ERPCustomerID, &v, correlation(corr))
}
