// Package legacyerp is the simulator's legacy ERP mode: the on-premise ERP
// at the drop folder, the other side of services/legacy-bridge. It runs as
// a folder loop, outside Kafka, as such an ERP does:
//
//   - every Settings.Poll it looks in <dir>/outbound for the bridge's
//     CUSTREQ_*.csv and ORDERS_*.csv (names starting with "." are files
//     still being written), parses each whole with legacyfile.Parse and
//     applies it once per batch id: a file it cannot read, or a batch id
//     already applied with other content, is moved to outbound/rejected/
//     with a <name>.reason.txt; a batch id re-sent with the same content is
//     archived without a second answer; a processed file moves to
//     outbound/archive/;
//   - a batch is answered after its batch latency (Settings.Batch), in the
//     ERP's own files in <dir>/inbound (written as ".<name>" and renamed):
//     CUSTMAS records for customer requests (a customer number of its own,
//     "L" and seven digits, kept per golden id; terms and credit from the
//     same erp.Rules as the simulator's topic ERP) and ORDSTAT records for
//     orders (erp.Rules.DecideOrder, reported as erp.OrderDecision.Report),
//     later SHIPPED and INVOICED after the ship and invoice latencies, and
//     CANCELLED for a cancel before shipment; each echoes the request's
//     legacyfile.Ref;
//   - its files are batches of sender Sender numbered by one increasing,
//     zero-padded sequence, so their names sort in the order written;
//   - with Settings.BadFileBps, a good answer file is sometimes followed by
//     a bad one of a rotating kind (BadKinds): a corrupt copy under a batch
//     id of its own, or the re-send of an earlier file, so no answer is
//     ever lost by it;
//   - its state (customers, orders and their pending steps, applied batch
//     ids, sequences, files about to be written) is one JSON file in
//     <dir>/erp-state, replaced atomically after every step that changed
//     it: a restarted ERP neither answers a batch twice nor forgets a
//     pending shipment.
//
// The decisions are the topic ERP's (package erp) for the same command and
// rules, so a shadow run with equal rules shows parity, and one with its
// own export or tax sets a seeded difference.
package legacyerp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// Folders and names under the drop folder root.
const (
	DirOutbound = "outbound"
	DirInbound  = "inbound"
	DirArchive  = "outbound/archive"
	DirRejected = "outbound/rejected"
	DirState    = "erp-state"
	StateFile   = "legacy-erp.json"
	// Sender is the sender name in the header of the ERP's files.
	Sender = "LEGACYERP"
)

// Retention of what the ERP keeps once it no longer needs it for an
// answer: a finished order (shipped and invoiced, rejected or cancelled;
// a later cancel or re-send is answered from it) and an applied batch id
// (a re-sent batch is recognised).
const (
	KeepFinished = 24 * time.Hour
	KeepApplied  = 7 * 24 * time.Hour
)

// Settings are the legacy ERP's behaviour.
type Settings struct {
	// Dir is the drop folder root.
	Dir string
	// Rules are its decision rules (seed, credit holds, export and tax
	// sets). Live, when set, overrides the export and tax sets with the
	// configuration operators change at run time.
	Rules erp.Rules
	Live  *erp.Live
	// Batch is the delay from seeing a request file to answering it; Ship
	// and Invoice are those of an accepted order's shipment and invoice.
	Batch, Ship, Invoice erp.Latency
	// Poll is how often it looks for files (default 1s).
	Poll time.Duration
	// BadFileBps is the share of answer files followed by a bad file, in
	// basis points.
	BadFileBps int
	Log        *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ERP is the legacy ERP at a drop folder.
type ERP struct {
	s  Settings
	st *state
}

// Open prepares the drop folder's directories and reads the ERP's state.
func Open(s Settings) (*ERP, error) {
	if s.Dir == "" {
		return nil, errors.New("legacy ERP: no drop folder")
	}
	if s.Poll <= 0 {
		s.Poll = time.Second
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	for _, d := range []string{DirOutbound, DirInbound, DirArchive, DirRejected, DirState} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("legacy ERP: %w", err)
		}
	}
	st, err := loadState(filepath.Join(s.Dir, DirState, StateFile))
	if err != nil {
		return nil, err
	}
	return &ERP{s: s, st: st}, nil
}

// Run looks at the folder every Poll until ctx ends. A step that fails
// (the disk) is logged and tried again at the next poll: its files are
// still where they were.
func (e *ERP) Run(ctx context.Context) error {
	e.s.Log.Info("legacy ERP at the drop folder", "dir", e.s.Dir, "batch", fmt.Sprintf("%s-%s", e.s.Batch.Min, e.s.Batch.Max), "poll", e.s.Poll,
		"bad_files_bps", e.s.BadFileBps, "customers", len(e.st.Customers), "orders", len(e.st.Orders))
	t := time.NewTicker(e.s.Poll)
	defer t.Stop()
	var lastErr string
	for {
		if err := e.Step(e.s.Now()); err != nil {
			if err.Error() != lastErr {
				e.s.Log.Error("legacy ERP step failed; retried at the next poll", "error", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step is one look at the folder at now: files the last step planned but
// did not write are written, new request files are taken, the answers due
// are written, and the state is saved whenever it changed.
func (e *ERP) Step(now time.Time) error {
	if err := e.flush(); err != nil {
		return err
	}
	taken, err := e.take(now)
	if err != nil {
		return err
	}
	answered, err := e.answer(now)
	if err != nil {
		return err
	}
	pruned := e.prune(now)
	if len(taken) == 0 && !answered && !pruned {
		return nil
	}
	if err := e.save(); err != nil {
		return err
	}
	for _, name := range taken {
		if err := os.Rename(filepath.Join(e.s.Dir, DirOutbound, name), filepath.Join(e.s.Dir, DirArchive, name)); err != nil {
			return fmt.Errorf("legacy ERP: archive %s: %w", name, err)
		}
	}
	return e.flush()
}

// rules are the decision rules with the live configuration.
func (e *ERP) rules() erp.Rules {
	if e.s.Live != nil {
		return e.s.Live.Apply(e.s.Rules)
	}
	return e.s.Rules
}
