// Package bridge is the legacy ERP adapter's processor: it maps the ERP
// command topics to batch files for an on-premise ERP and the ERP's batch
// files back to the erp.* topics, through a drop folder (Folder, file
// format pkg/legacyfile), under the routing modes of pkg/flowmode.
//
// Commands (erp.customer-commands.v1, erp.order-commands.v1) are routed
// as pkg/flowmode says for the legacy path: a command the path serves is
// kept in its partition's outbox (state, in the command's transaction);
// the partition's tick writes the outbox as a batch file in outbound/ and
// empties it in the tick's transaction. A batch is named by its partition
// and sequence, so a tick that did not commit writes the same file again:
// the ERP applies a batch id once.
//
// Inbound files are read by the tick of partition 0, so one instance of
// the group reads the folder at a time. A file is decided in one
// transaction: every record it holds is published and its ledger entry
// written, or it is refused whole (quarantined, with an exception on
// ops.exceptions.v1) and only the ledger entry is written. The file is
// moved to processed/ or quarantine/ once its decision is committed, on a
// later tick; a file whose last decision's destination is already taken
// is a new drop of the same name (a duplicate of an applied file, or a
// corrected file after a refusal).
package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
)

// Name is the service name.
const Name = "legacy-bridge"

// Sender names Isthmus in the headers of the files it writes.
const Sender = "ISTHMUS"

// Owner is the legacy bridge as the owner of its exceptions (refused
// files): ids "lgb:file:<name>:<n>".
var Owner = ops.Owner{Service: Name, Code: "lgb", Queue: contracts.ExceptionQueueMasterData, Source: contracts.SourceSystemERP}

// Topics are the command topics the bridge consumes.
var Topics = []string{contracts.TopicERPCustomerCommandsV1, contracts.TopicERPOrderCommandsV1}

// Stores of the bridge.
const (
	StoreRoutes = "routes" // order id → route (the order's routing mode, fixed by its first command)
	StoreOutbox = "outbox" // "<20-digit seq>" → outboxEntry, per command partition
	StoreSeq    = "seq"    // counter name → next number, per partition
	StoreLedger = "ledger" // inbound file name → ledgerEntry (partition 0)
	StoreGolden = "golden" // golden id → the legacy ERP's customer number (partition 0)
)

// Stores lists every store.
var Stores = []string{StoreRoutes, StoreOutbox, StoreSeq, StoreLedger, StoreGolden}

type route struct {
	Mode string `json:"mode"`
}

type outboxEntry struct {
	Kind string           `json:"kind"`
	Rows []legacyfile.Row `json:"rows"`
	At   time.Time        `json:"at"` // the command's time
}

var (
	routes   = processor.NewStore(StoreRoutes, processor.JSON[route]())
	outbox   = processor.NewStore(StoreOutbox, processor.JSON[outboxEntry]())
	counters = processor.NewStore(StoreSeq, processor.JSON[int64]())
	ledger   = processor.NewStore(StoreLedger, processor.JSON[ledgerEntry]())
	goldens  = processor.NewStore(StoreGolden, processor.JSON[string]())
)

// Settings are the bridge's behaviour.
type Settings struct {
	Folder Folder
	// Modes routes the flows (a flowmode.Watcher; flowmode.Fixed in tests).
	Modes flowmode.Source
	// ExportEvery is how long a command may wait in the outbox before its
	// batch file is written; ExportMax writes a batch sooner when it has
	// that many commands.
	ExportEvery time.Duration
	ExportMax   int
	// FilesPerTick bounds the inbound files decided in one transaction.
	FilesPerTick int
	Log          *slog.Logger
}

// Bridge is the handler and tick of the processor.
type Bridge struct {
	s Settings
	m *bridgeMetrics
}

// New returns a bridge.
func New(s Settings) *Bridge {
	if s.ExportEvery <= 0 {
		s.ExportEvery = 5 * time.Second
	}
	if s.ExportMax <= 0 {
		s.ExportMax = 1000
	}
	if s.FilesPerTick <= 0 {
		s.FilesPerTick = 10
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	return &Bridge{s: s, m: newMetrics()}
}

// Processor is the bridge's processor without Kafka.
func (b *Bridge) Processor(instance string, tick time.Duration) processor.Config {
	return processor.Config{
		Service: Name, Instance: instance,
		Topics:  Topics,
		Stores:  Stores,
		Handler: b.Handle,
		Tick:    tick, OnTick: b.Tick, Timers: processor.WallClock,
	}
}

// Handle routes one command: the legacy path's commands go to the outbox.
func (b *Bridge) Handle(ctx context.Context, m *processor.Message) error {
	at := m.Record.Timestamp
	switch m.Topic {
	case contracts.TopicERPCustomerCommandsV1:
		var cmd contracts.CustomerCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		if cmd.GoldenID == "" || cmd.CommandID == "" {
			return errs.Poisonf(errs.ReasonValidation, "customer command %q has no golden_id or command_id", cmd.CommandID)
		}
		mode, err := b.s.Modes.At(ctx, flowmode.Customers, at)
		if err != nil {
			return err
		}
		if flowmode.RoleOf(mode, contracts.ErpPathLegacy) == flowmode.Off {
			b.m.skipped.WithLabelValues(flowmode.Customers).Inc()
			return nil
		}
		return b.enqueue(m, legacyfile.KindCustomerRequests, []legacyfile.Row{legacyfile.CustomerRequestRow(&cmd, mode)}, at)
	case contracts.TopicERPOrderCommandsV1:
		var cmd contracts.OrderCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		if cmd.OrderID == "" || cmd.CommandID == "" {
			return errs.Poisonf(errs.ReasonValidation, "order command %q has no order_id or command_id", cmd.CommandID)
		}
		r, known, err := routes.Get(m, cmd.OrderID)
		if err != nil {
			return err
		}
		if !known {
			// An order stays on the path its first command was routed to:
			// its cancel or new revision follows it there.
			if r.Mode, err = b.s.Modes.At(ctx, flowmode.Orders, at); err != nil {
				return err
			}
			if err := routes.Put(m, cmd.OrderID, r); err != nil {
				return err
			}
		}
		if flowmode.RoleOf(r.Mode, contracts.ErpPathLegacy) == flowmode.Off {
			b.m.skipped.WithLabelValues(flowmode.Orders).Inc()
			return nil
		}
		return b.enqueue(m, legacyfile.KindOrders, legacyfile.OrderRows(&cmd, r.Mode), at)
	}
	return errs.Poisonf(errs.ReasonUnknownTopic, "legacy-bridge does not consume %s", m.Topic)
}

func (b *Bridge) enqueue(m *processor.Message, kind string, rows []legacyfile.Row, at time.Time) error {
	seq, err := next(m, "outbox")
	if err != nil {
		return err
	}
	return outbox.Put(m, seqKey(seq), outboxEntry{Kind: kind, Rows: rows, At: at.UTC()})
}

func seqKey(n int64) string { return fmt.Sprintf("%020d", n) }

// next takes the next number of counter name on the message's partition.
func next(m *processor.Message, name string) (int64, error) {
	n, _, err := counters.Get(m, name)
	if err != nil {
		return 0, err
	}
	return n, counters.Put(m, name, n+1)
}

// Tick writes the partition's due batches and, on partition 0, decides
// and files the inbound files.
func (b *Bridge) Tick(ctx context.Context, m *processor.Message, at time.Time) error {
	if err := b.export(m, at); err != nil {
		return err
	}
	if m.Partition() != 0 {
		return nil
	}
	return b.inbound(ctx, m)
}

// export writes the outbox as batch files, one per kind, once its oldest
// command has waited ExportEvery or ExportMax commands wait.
func (b *Bridge) export(m *processor.Message, at time.Time) error {
	type batch struct {
		keys []string
		rows []legacyfile.Row
		from time.Time
	}
	byKind := map[string]*batch{}
	count := 0
	err := outbox.Range(m, func(k string, e outboxEntry) bool {
		bt := byKind[e.Kind]
		if bt == nil {
			bt = &batch{from: e.At}
			byKind[e.Kind] = bt
		}
		bt.keys = append(bt.keys, k)
		bt.rows = append(bt.rows, e.Rows...)
		count++
		return count < b.s.ExportMax
	})
	if err != nil {
		return err
	}
	if count == 0 {
		return nil
	}
	oldest := at
	for _, bt := range byKind {
		if bt.from.Before(oldest) {
			oldest = bt.from
		}
	}
	if count < b.s.ExportMax && at.Sub(oldest) < b.s.ExportEvery {
		return nil
	}
	for _, kind := range []string{legacyfile.KindCustomerRequests, legacyfile.KindOrders} {
		bt := byKind[kind]
		if bt == nil {
			continue
		}
		seq, err := next(m, "batch")
		if err != nil {
			return err
		}
		f := &legacyfile.File{Kind: kind, Batch: fmt.Sprintf("p%d-%09d", m.Partition(), seq), Created: bt.from.Truncate(time.Second), Sender: Sender, Rows: bt.rows}
		data, err := legacyfile.Encode(f)
		if err != nil {
			return errs.Poisonf(errs.ReasonValidation, "batch %s: %v", f.Name(), err)
		}
		// Written before the transaction commits: a tick that does not
		// commit writes the same batch (same name, same bytes) again.
		if err := legacyfile.WriteAtomic(b.s.Folder.Outbound(), f.Name(), data); err != nil {
			return errs.Retriable(errs.ReasonState, fmt.Errorf("write %s: %w", f.Name(), err))
		}
		for _, k := range bt.keys {
			outbox.Delete(m, k)
		}
		b.m.exported.WithLabelValues(kind).Inc()
		b.m.exportedRows.WithLabelValues(kind).Add(float64(len(bt.keys)))
	}
	return nil
}

type bridgeMetrics struct {
	skipped      *prometheus.CounterVec
	exported     *prometheus.CounterVec
	exportedRows *prometheus.CounterVec
	files        *prometheus.CounterVec
	records      *prometheus.CounterVec
}

func newMetrics() *bridgeMetrics {
	return &bridgeMetrics{
		skipped: counter("isthmus_legacy_commands_skipped_total",
			"Commands the legacy path left to the new path (flow mode NEW).", "flow"),
		exported: counter("isthmus_legacy_batches_exported_total",
			"Batch files written for the legacy ERP, by kind.", "kind"),
		exportedRows: counter("isthmus_legacy_commands_exported_total",
			"Commands written to the legacy ERP's batch files, by kind.", "kind"),
		files: counter("isthmus_legacy_files_total",
			"Inbound files decided, by kind and outcome (processed, quarantined) and reason.", "kind", "outcome", "reason"),
		records: counter("isthmus_legacy_records_total",
			"Records of applied inbound files published, by kind.", "kind"),
	}
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}
