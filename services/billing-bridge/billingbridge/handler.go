package billingbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
)

// heldPrefix starts the store keys of the held-amendment index: one entry
// per contract with a held deal whose gap exception is not raised yet. It
// sorts before every contract id, so a tick reads the index without
// decoding any contract.
const heldPrefix = "\x00held\x00"

// ErrKeyMismatch: a record's key is not the contract id in its value.
var ErrKeyMismatch = errors.New("record key is not the contract id")

// Handler applies billing-bridge's inputs to the per-contract state.
type Handler struct {
	Bridge *bridge.Bridge
	// SLA is how long a held amendment waits before its gap exception.
	SLA time.Duration
}

// Handle is the processor handler for every input topic.
func (h *Handler) Handle(ctx context.Context, m *processor.Message) error {
	switch m.Topic {
	case contracts.TopicCRMDealV1:
		return h.deal(m)
	case contracts.TopicBillingEventsV1:
		return h.billing(m)
	case contracts.TopicERPJournalV1:
		return h.rekeyJournal(m)
	case TopicByContract:
		return h.journal(m)
	}
	return errs.Poisonf("unknown_topic", "billing-bridge does not consume %q", m.Topic)
}

// input is what outputs of one record inherit from it.
func input(m *processor.Message, md contracts.EventMetadata) adapter.Meta {
	corr := md.CorrelationID
	if corr == "" {
		corr = m.CorrelationID()
	}
	base := m.EventID()
	return adapter.Meta{
		CorrelationID: corr,
		CausationID:   md.EventID,
		OccurredAt:    md.OccurredAt,
		EventID:       func(i int) string { return tracing.DeterministicID(base, strconv.Itoa(i)) },
	}
}

func checkKey(m *processor.Message, contractID string) error {
	if contractID == "" {
		return errs.Poisonf("missing_contract_id", "%s record at offset %d has no contract id", m.Topic, m.Record.Offset)
	}
	if strings.HasPrefix(contractID, heldPrefix[:1]) {
		return errs.Poisonf("bad_contract_id", "contract id %q starts with a NUL byte", contractID)
	}
	if m.Key() != contractID {
		return errs.Poison("key_mismatch", fmt.Errorf("%w: %s key %q, contract_id %q", ErrKeyMismatch, m.Topic, m.Key(), contractID))
	}
	return nil
}

func (h *Handler) deal(m *processor.Message) error {
	var v contracts.Deal
	if err := m.Decode(&v); err != nil {
		return err
	}
	if err := checkKey(m, v.ContractID); err != nil {
		return err
	}
	d, err := adapter.Deal(&v)
	if err != nil {
		return err
	}
	s, err := load(m, d.ContractID)
	if err != nil {
		return err
	}
	meta := input(m, v.Metadata)
	out, err := h.Bridge.ApplyDeal(s, d)
	if err != nil {
		return h.refuse(m, meta, d.ContractID, d.Seq, "deal/"+strconv.Itoa(v.AmendmentSequence), err)
	}
	if out.Status == bridge.StatusDuplicate {
		return nil
	}
	var fl *flow
	if out.Status == bridge.StatusHeld {
		fl = &flow{Seq: d.Seq, Correlation: meta.CorrelationID, Event: v.Metadata.EventID}
	}
	return h.commit(m, s, out, meta, fl)
}

// refuse turns a Business error into an exception (nil: the record is
// done) and returns any other error to the runtime (Poison: dead-lettered;
// Retriable: retried).
func (h *Handler) refuse(m *processor.Message, meta adapter.Meta, contractID string, seq int64, cause string, err error) error {
	if errs.ClassOf(err) != errs.ClassBusiness {
		return err
	}
	x := adapter.Rejected(contractID, seq, cause, err)
	return emit(m, adapter.Records(h.Bridge, bridge.NewState(contractID), bridge.Outputs{Exceptions: []bridge.Exception{x}}, meta))
}

func (h *Handler) billing(m *processor.Message) error {
	var v contracts.BillingEvent
	if err := m.Decode(&v); err != nil {
		return err
	}
	if err := checkKey(m, v.ContractID); err != nil {
		return err
	}
	meta := input(m, v.Metadata)
	switch v.EventType {
	case contracts.BillingEventTypeSubscriptionUpdated, contracts.BillingEventTypeSubscriptionCancelled:
		return nil // the commands' outcomes; nothing in the state depends on them
	case contracts.BillingEventTypeCommandRejected:
		x := adapter.BillingRejected(&v)
		return emit(m, adapter.Records(h.Bridge, bridge.NewState(v.ContractID), bridge.Outputs{Exceptions: []bridge.Exception{x}}, meta))
	}
	s, err := load(m, v.ContractID)
	if err != nil {
		return err
	}
	out, err := h.Bridge.ApplyBilling(s, adapter.BillingEvent(&v, s))
	if err != nil {
		seq := int64(0)
		if v.AmendmentSequence != nil {
			seq = adapter.DomainSeq(*v.AmendmentSequence)
		}
		return h.refuse(m, meta, v.ContractID, seq, "billing/"+v.Metadata.EventID, err)
	}
	if out.Status == bridge.StatusDuplicate {
		return nil
	}
	return h.commit(m, s, out, meta, nil)
}

// rekeyJournal moves an ERP answer (keyed by journal command id) onto the
// internal topic keyed by its contract, where journal() applies it on the
// partition that owns the contract's state.
func (h *Handler) rekeyJournal(m *processor.Message) error {
	var v contracts.Journal
	if err := m.Decode(&v); err != nil {
		return err
	}
	id, err := adapter.JournalContract(&v)
	if err != nil {
		return err
	}
	if strings.HasPrefix(id, heldPrefix[:1]) {
		return errs.Poisonf("bad_contract_id", "contract id %q starts with a NUL byte", id)
	}
	m.Emit(TopicByContract, id, m.Value())
	return nil
}

func (h *Handler) journal(m *processor.Message) error {
	var v contracts.Journal
	if err := m.Decode(&v); err != nil {
		return err
	}
	id := m.Key()
	s, err := load(m, id)
	if err != nil {
		return err
	}
	meta := input(m, v.Metadata)
	out, err := h.Bridge.ApplyJournal(s, adapter.JournalEvent(&v, id))
	if err != nil {
		return h.refuse(m, meta, id, 0, "journal/"+v.Metadata.EventID, err)
	}
	if out.Status == bridge.StatusDuplicate {
		return nil
	}
	if j, ok := h.Bridge.JournalOf(s, v.JournalCommandID); ok {
		for i := range out.Exceptions {
			if out.Exceptions[i].Category == bridge.CategoryJournalRejected {
				adapter.JournalContext(&out.Exceptions[i], j, &v)
			}
		}
	}
	return h.commit(m, s, out, meta, nil)
}

// Tick raises the gap exception of every amendment held past the SLA on
// this partition. It reads the held index only; outputs are dated now.
func (h *Handler) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	var due []string
	var bad error
	m.Range(Store, func(k string, v []byte) bool {
		id, ok := strings.CutPrefix(k, heldPrefix)
		if !ok {
			return false
		}
		var ix heldIndex
		if err := json.Unmarshal(v, &ix); err != nil {
			bad = fmt.Errorf("held index of %s: %w", id, err)
			return false
		}
		if !now.Before(ix.Since.Add(h.SLA)) {
			due = append(due, id)
		}
		return true
	})
	if bad != nil {
		return bad
	}
	for _, id := range due {
		s, err := load(m, id)
		if err != nil {
			return err
		}
		ix, _ := loadIndex(m, id)
		out := h.Bridge.Tick(s, now, h.SLA)
		var recs []adapter.Record
		for _, e := range out.Exceptions {
			fl := ix.Flows[strconv.FormatInt(e.Seq, 10)]
			corr := fl.Correlation
			if corr == "" {
				corr = tracing.DeterministicID("billing-bridge", s.ContractID)
			}
			eid := tracing.DeterministicID("billing-bridge", "tick", e.ID)
			meta := adapter.Meta{CorrelationID: corr, CausationID: fl.Event, OccurredAt: now,
				EventID: func(int) string { return eid }}
			recs = append(recs, adapter.Records(h.Bridge, s, bridge.Outputs{Exceptions: []bridge.Exception{e}}, meta)...)
		}
		if err := emit(m, recs); err != nil {
			return err
		}
		if err := save(m, s, nil); err != nil {
			return err
		}
	}
	return nil
}

// commit emits the outputs of an applied input and stores the state.
func (h *Handler) commit(m *processor.Message, s *bridge.State, out bridge.Outputs, meta adapter.Meta, fl *flow) error {
	if err := emit(m, adapter.Records(h.Bridge, s, out, meta)); err != nil {
		return err
	}
	return save(m, s, fl)
}

func emit(m *processor.Message, recs []adapter.Record) error {
	for _, r := range recs {
		if err := m.EmitValue(r.Topic, r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func load(m *processor.Message, id string) (*bridge.State, error) {
	b, ok := m.Get(Store, id)
	if !ok {
		return bridge.NewState(id), nil
	}
	s, err := bridge.Unmarshal(b)
	if err != nil {
		// The state was written by this service: a bug, not bad input.
		// Retrying keeps the partition stopped and visible (not ready)
		// instead of dead-lettering good records.
		return nil, errs.Retriable("corrupt_state", fmt.Errorf("contract %s: %w", id, err))
	}
	return s, nil
}

// heldIndex is the index entry of a contract with held deals: the earliest
// time one of them was held (not yet raised), and the flow of each held
// deal, so that its gap exception continues the deal's correlation.
type heldIndex struct {
	Since time.Time       `json:"since"`
	Flows map[string]flow `json:"flows,omitempty"` // domain seq → flow
}

type flow struct {
	Seq         int64  `json:"-"`
	Correlation string `json:"correlation"`
	Event       string `json:"event,omitempty"`
}

func loadIndex(m *processor.Message, id string) (heldIndex, bool) {
	b, ok := m.Get(Store, heldPrefix+id)
	if !ok {
		return heldIndex{}, false
	}
	var ix heldIndex
	if json.Unmarshal(b, &ix) != nil {
		return heldIndex{}, true
	}
	return ix, true
}

// save stores the state and keeps the held index in step with it: an entry
// exists exactly while a held deal waits for its gap exception. fl is the
// flow of a deal just held.
func save(m *processor.Message, s *bridge.State, fl *flow) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	m.Put(Store, s.ContractID, b)
	ix, existed := loadIndex(m, s.ContractID)
	since, pending := s.NextDeadline(0)
	if !pending {
		if existed {
			m.Put(Store, heldPrefix+s.ContractID, nil)
		}
		return nil
	}
	next := heldIndex{Since: since.UTC(), Flows: map[string]flow{}}
	for _, hd := range s.Held {
		k := strconv.FormatInt(hd.Deal.Seq, 10)
		if f, ok := ix.Flows[k]; ok && !hd.Raised {
			next.Flows[k] = f
		}
		if fl != nil && fl.Seq == hd.Deal.Seq {
			next.Flows[k] = *fl
		}
	}
	nb, err := json.Marshal(next) // encoding/json sorts map keys
	if err != nil {
		return err
	}
	m.Put(Store, heldPrefix+s.ContractID, nb)
	return nil
}
