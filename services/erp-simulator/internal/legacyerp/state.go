package legacyerp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// state is everything the legacy ERP knows, saved as one JSON file.
type state struct {
	Seq       sequences            `json:"seq"`
	Customers map[string]*customer `json:"customers"` // golden id
	Orders    map[string]*order    `json:"orders"`    // order id
	// Answers are customer answers and answers to cancels and re-sends,
	// due after their batch's latency.
	Answers []answer `json:"answers,omitempty"`
	// Applied are the request batches applied, by appliedKey.
	Applied map[string]applied `json:"applied"`
	// Outbox are the files planned and not yet known to be written.
	Outbox []outFile `json:"outbox,omitempty"`
	// LastSent is the last good answer file: the one a duplicate re-sends.
	LastSent *outFile `json:"last_sent,omitempty"`
	// BadFiles counts the bad files planned: the next one's kind.
	BadFiles int64 `json:"bad_files"`
}

type sequences struct {
	Customer int64 `json:"customer"`
	Order    int64 `json:"order"`
	File     int64 `json:"file"`
	// Item orders the answers due at one step.
	Item int64 `json:"item"`
}

type customer struct {
	ERPCustomerID string              `json:"erp_customer_id"`
	Record        *contracts.Customer `json:"record,omitempty"`
}

// Order steps.
const (
	stepDecide    = "decide"
	stepShip      = "ship"
	stepInvoice   = "invoice"
	stepDone      = "done"
	stepCancelled = "cancelled"
)

type order struct {
	Cmd        contracts.OrderCommand `json:"cmd"`
	Ref        legacyfile.Ref         `json:"ref"`
	ERPOrderID string                 `json:"erp_order_id"`
	Decision   erp.OrderDecision      `json:"decision"`
	Step       string                 `json:"step"`
	Due        time.Time              `json:"due,omitzero"` // of the next step (decide, ship, invoice)
	Seq        int64                  `json:"seq"`
	Last       string                 `json:"last,omitempty"` // last status sent
	ShipmentID string                 `json:"shipment_id,omitempty"`
	InvoiceID  string                 `json:"invoice_id,omitempty"`
	Finished   time.Time              `json:"finished,omitzero"`
}

// waiting reports whether the order has a step to take.
func (o *order) waiting() bool {
	return o.Step == stepDecide || o.Step == stepShip || o.Step == stepInvoice
}

type answer struct {
	Due      time.Time              `json:"due"`
	Seq      int64                  `json:"seq"`
	Customer *contracts.Customer    `json:"customer,omitempty"`
	Status   *contracts.OrderStatus `json:"status,omitempty"`
	Ref      legacyfile.Ref         `json:"ref"`
}

type applied struct {
	Hash string    `json:"hash"` // sha-256 of the file
	At   time.Time `json:"at"`
}

func appliedKey(f *legacyfile.File) string { return f.Kind + "|" + f.Sender + "|" + f.Batch }

type outFile struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
	Bad  string `json:"bad,omitempty"` // the bad kind; "" for a good file
}

func newState() *state {
	return &state{Customers: map[string]*customer{}, Orders: map[string]*order{}, Applied: map[string]applied{}}
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("legacy ERP state: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("legacy ERP state %s is unreadable (%v): move it away to start the legacy ERP afresh", path, err)
	}
	if st.Customers == nil {
		st.Customers = map[string]*customer{}
	}
	if st.Orders == nil {
		st.Orders = map[string]*order{}
	}
	if st.Applied == nil {
		st.Applied = map[string]applied{}
	}
	return st, nil
}

func (e *ERP) save() error {
	b, err := json.Marshal(e.st)
	if err != nil {
		return fmt.Errorf("legacy ERP state: %w", err)
	}
	return legacyfile.WriteAtomic(filepath.Join(e.s.Dir, DirState), StateFile, b)
}

// prune forgets finished orders and applied batch ids past their
// retention; it reports whether it forgot any.
func (e *ERP) prune(now time.Time) bool {
	n := 0
	for id, o := range e.st.Orders {
		if !o.waiting() && !o.Finished.IsZero() && now.Sub(o.Finished) > KeepFinished {
			delete(e.st.Orders, id)
			n++
		}
	}
	for k, a := range e.st.Applied {
		if now.Sub(a.At) > KeepApplied {
			delete(e.st.Applied, k)
			n++
		}
	}
	return n > 0
}
