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
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

// heldPrefix starts the store keys of the held-amendment index: one entry
// per contract with a held deal whose gap exception is not raised yet. It
// sorts before every contract id, so a tick reads the index without
// decoding any contract.
const heldPrefix = "\x00held\x00"

// releasePrefix starts the store keys of the release index:
// "<prefix><YYYY-MM-DD>\x00<contract id>" for each contract with scheduled
// journals, at the day the earliest one's period opens. It sorts after the
// held index and before every contract id; in date order, so a tick stops
// at the first period not open yet.
const releasePrefix = "\x00release\x00"

// ErrKeyMismatch: a record's key is not the contract id in its value.
var ErrKeyMismatch = errors.New("record key is not the contract id")

// Handler applies billing-bridge's inputs to the per-contract state.
type Handler struct {
	Bridge *bridge.Bridge
	// SLA is how long a held amendment waits before its gap exception.
	SLA time.Duration
	// Metrics counts reposts, releases and decisions (nil: not counted).
	Metrics *Metrics
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
	case contracts.TopicOpsDecisionsV1:
		return h.routeDecision(m)
	case TopicDecisions:
		return h.decision(m)
	}
	return errs.Poisonf(errs.ReasonUnknownTopic, "billing-bridge does not consume %q", m.Topic)
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
		return errs.Poisonf(errs.ReasonMissingContractID, "%s record at offset %d has no contract id", m.Topic, m.Record.Offset)
	}
	if strings.HasPrefix(contractID, heldPrefix[:1]) {
		return errs.Poisonf(errs.ReasonBadContractID, "contract id %q starts with a NUL byte", contractID)
	}
	if m.Key() != contractID {
		return errs.Poison(errs.ReasonKeyMismatch, fmt.Errorf("%w: %s key %q, contract_id %q", ErrKeyMismatch, m.Topic, m.Key(), contractID))
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
	if out.Status == bridge.StatusSuperseded {
		h.Metrics.supersededInvoice()
		return nil
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
	if !journal.Ours(v.JournalCommandID) {
		// Another producer's journal (field-service settles service
		// orders): its owner applies the answer.
		return nil
	}
	id, err := adapter.JournalContract(&v)
	if err != nil {
		return err
	}
	if strings.HasPrefix(id, heldPrefix[:1]) {
		return errs.Poisonf(errs.ReasonBadContractID, "contract id %q starts with a NUL byte", id)
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
			if out.Exceptions[i].Category == bridge.CategoryJournalRejected && out.Exceptions[i].Status == "" {
				adapter.JournalContext(&out.Exceptions[i], j, &v)
			}
		}
	}
	h.logReposts(m, out)
	return h.commit(m, s, out, meta, nil)
}

// Tick raises the gap exception of every amendment held past the SLA on
// this partition, and sends the scheduled journals whose posting period
// opened at now (stream time). It reads the two indexes only; outputs are
// dated now.
func (h *Handler) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	var due, release []string
	var bad error
	today := contract.DateOf(now)
	m.Range(Store, func(k string, v []byte) bool {
		if id, ok := strings.CutPrefix(k, heldPrefix); ok {
			var ix heldIndex
			if err := json.Unmarshal(v, &ix); err != nil {
				bad = fmt.Errorf("held index of %s: %w", id, err)
				return false
			}
			if !now.Before(ix.Since.Add(h.SLA)) {
				due = append(due, id)
			}
			return true
		}
		if rest, ok := strings.CutPrefix(k, releasePrefix); ok {
			day, id, _ := strings.Cut(rest, "\x00")
			d, err := contract.ParseDate(day)
			if err != nil {
				bad = fmt.Errorf("release index %q: %w", k, err)
				return false
			}
			if d > today {
				return false // in date order: nothing later is open
			}
			release = append(release, id)
			return true
		}
		return false
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
	for _, id := range release {
		s, err := load(m, id)
		if err != nil {
			return err
		}
		out := h.Bridge.Release(s, today)
		// Deterministic ids: the contract and the day its periods opened.
		base := tracing.DeterministicID("billing-bridge", "release", s.ContractID, today.String())
		meta := adapter.Meta{CorrelationID: tracing.DeterministicID("billing-bridge", s.ContractID), OccurredAt: now,
			EventID: func(i int) string { return tracing.DeterministicID(base, strconv.Itoa(i)) }}
		if err := emit(m, adapter.Records(h.Bridge, s, out, meta)); err != nil {
			return err
		}
		h.Metrics.released(len(out.Journals))
		if err := save(m, s, nil); err != nil {
			return err
		}
	}
	return nil
}

// routeDecision moves a decision on one of billing-bridge's exceptions
// onto the internal topic keyed by the contract its exception id names,
// where decision() applies it on the partition that owns the contract.
// Other services' decisions are skipped.
func (h *Handler) routeDecision(m *processor.Message) error {
	var d contracts.Decision
	if err := m.Decode(&d); err != nil {
		return err
	}
	if d.OwnerService != adapter.Owner {
		return nil
	}
	id, ok := adapter.ContractOfException(d.ExceptionID)
	if !ok {
		return errs.Poisonf(errs.ReasonUnknownException, "decision %s names exception %q, which is not a billing-bridge exception id", d.DecisionID, d.ExceptionID)
	}
	if strings.HasPrefix(id, heldPrefix[:1]) {
		return errs.Poisonf(errs.ReasonBadContractID, "contract id %q starts with a NUL byte", id)
	}
	m.Emit(TopicDecisions, id, m.Value())
	return nil
}

// decision applies an operator's decision to the contract's state; the
// exception's update (RETRYING, RESOLVED, CLOSED, or OPEN with the reason
// a decision is refused) names the decision.
func (h *Handler) decision(m *processor.Message) error {
	var v contracts.Decision
	if err := m.Decode(&v); err != nil {
		return err
	}
	id := m.Key()
	s, err := load(m, id)
	if err != nil {
		return err
	}
	meta := input(m, v.Metadata)
	if meta.OccurredAt.IsZero() {
		meta.OccurredAt = m.EventTime()
	}
	out := h.Bridge.ApplyDecision(s, adapter.DecisionOf(&v), contract.DateOf(meta.OccurredAt))
	h.Metrics.decided(v.Action, out.Status == bridge.StatusDuplicate)
	if out.Status == bridge.StatusDuplicate {
		m.Logger().Debug("decision is a no-op", "decision_id", v.DecisionID, "exception_id", v.ExceptionID, "action", v.Action)
		return nil
	}
	h.logReposts(m, out)
	return h.commit(m, s, out, meta, nil)
}

// logReposts writes the audit line of every journal reposted and counts it.
func (h *Handler) logReposts(m *processor.Message, out bridge.Outputs) {
	for _, r := range out.Reposts {
		h.Metrics.reposted(r)
		m.Logger().Info("journal reposted into the next open period", "audit", true, "rejected_journal", r.Rejected, "journal", r.Journal,
			"posting_date", r.Date.String(), "scheduled", r.Scheduled, "reason", r.Reason, "decision_id", r.Decision)
	}
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
		return nil, errs.Retriable(errs.ReasonCorruptState, fmt.Errorf("contract %s: %w", id, err))
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

func releaseKey(d contract.Date, contractID string) string {
	return releasePrefix + d.String() + "\x00" + contractID
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
	// The release index holds the contract at the day its earliest
	// scheduled journal's period opens (State.Indexed remembers the entry).
	release, scheduled := s.NextRelease()
	if !scheduled {
		release = 0
	}
	if release != s.Indexed {
		if s.Indexed != 0 {
			m.Put(Store, releaseKey(s.Indexed, s.ContractID), nil)
		}
		if release != 0 {
			m.Put(Store, releaseKey(release, s.ContractID), []byte{1})
		}
		s.Indexed = release
	}
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
