package billingbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

// The state stores (Config.Stores): the contracts themselves, the flows of
// held deals and two timer indexes, each its own store (a changelog topic
// "billing-bridge.<store>.changelog"). Own state that cannot be read back
// follows processor.Store's one policy (retriable, corrupt_state).
const (
	// StoreHeld: contract id → the correlation and event id of each held
	// deal whose gap exception is not raised yet (by domain sequence).
	StoreHeld = "held"
	// StoreGapTimers: contract id → the time its earliest held deal not yet
	// raised was held; due once that deal has waited the SLA.
	StoreGapTimers = "gap-timers"
	// StoreReleaseTimers: contract id → the day its earliest scheduled
	// journal's posting period opens.
	StoreReleaseTimers = "release-timers"
)

// Stores are every store of the service.
var Stores = []string{Store, StoreHeld, StoreGapTimers, StoreReleaseTimers}

var (
	contractStore = processor.NewStore[*bridge.State](Store, stateCodec{})
	heldStore     = processor.NewStore(StoreHeld, processor.JSON[map[string]flow]())
	gapTimers     = processor.NewTimers(StoreGapTimers)
	releaseTimers = processor.NewTimers(StoreReleaseTimers)
)

// stateCodec stores a contract as State.Marshal bytes.
type stateCodec struct{}

func (stateCodec) Encode(s *bridge.State) ([]byte, error) { return s.Marshal() }
func (stateCodec) Decode(b []byte) (*bridge.State, error) { return bridge.Unmarshal(b) }

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
	return adapter.Meta{
		CorrelationID: corr,
		CausationID:   md.EventID,
		OccurredAt:    md.OccurredAt,
		EventID:       func(i int) string { return m.DerivedID(strconv.Itoa(i)) },
	}
}

// reservedContractID refuses a contract id that starts with a NUL byte:
// such keys were the store's own (the indexes of earlier releases, see
// legacy.go).
func reservedContractID(id string) error {
	if strings.HasPrefix(id, "\x00") {
		return errs.Poisonf(errs.ReasonBadContractID, "contract id %q starts with a NUL byte", id)
	}
	return nil
}

func checkKey(m *processor.Message, contractID string) error {
	if contractID == "" {
		return errs.Poisonf(errs.ReasonMissingContractID, "%s record at offset %d has no contract id", m.Topic, m.Record.Offset)
	}
	if err := reservedContractID(contractID); err != nil {
		return err
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
		return refuse(meta, d.ContractID, d.Seq, "deal/"+strconv.Itoa(v.AmendmentSequence), err)
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

// refuse hands a Business error the domain refused an input with to
// ops.Raise (ProcessorConfig's middleware), which raises its exception
// (adapter.Rejected, with the metadata of the input's first output) and
// drops the handler's outputs and writes (a refused input has none); any
// other error goes to the runtime as it is (Poison: dead-lettered;
// Retriable: retried).
func refuse(meta adapter.Meta, contractID string, seq int64, cause string, err error) error {
	if errs.ClassOf(err) != errs.ClassBusiness {
		return err
	}
	x := adapter.Describe(adapter.Rejected(contractID, seq, cause, err))
	return ops.FailAt(errs.Reason(errs.ReasonOf(err)), x, meta.Metadata(0), err)
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
		return refuse(meta, v.ContractID, seq, "billing/"+v.Metadata.EventID, err)
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
	if err := reservedContractID(id); err != nil {
		return err
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
		return refuse(meta, id, 0, "journal/"+v.Metadata.EventID, err)
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
// opened at now (stream time). It reads the due timers only; outputs are
// dated now.
func (h *Handler) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	if err := h.migrateIndexes(m); err != nil {
		return err
	}
	var due, release []string
	// A gap timer is at the time the deal was held: due once it has waited
	// the SLA (read at each tick, so a changed SLA applies to deals held
	// already).
	gapTimers.Due(m, now.Add(-h.SLA), func(id string, _ time.Time) bool {
		due = append(due, id)
		return true
	})
	releaseTimers.Due(m, now, func(id string, _ time.Time) bool {
		release = append(release, id)
		return true
	})
	today := contract.DateOf(now)
	for _, id := range due {
		s, err := load(m, id)
		if err != nil {
			return err
		}
		flows, _, err := heldStore.Get(m, id)
		if err != nil {
			return err
		}
		out := h.Bridge.Tick(s, now, h.SLA)
		var recs []adapter.Record
		for _, e := range out.Exceptions {
			fl := flows[strconv.FormatInt(e.Seq, 10)]
			corr := fl.Correlation
			if corr == "" {
				corr = event.ID(Name, s.ContractID)
			}
			eid := event.ID(Name, "tick", adapter.ExceptionID(e))
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
		base := event.ID(Name, "release", s.ContractID, today.String())
		meta := adapter.Meta{CorrelationID: event.ID(Name, s.ContractID), OccurredAt: now,
			EventID: func(i int) string { return event.ID(base, strconv.Itoa(i)) }}
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
	_, id, mine, err := adapter.Owner.DecisionOn(m, adapter.ContractOfException)
	if err != nil || !mine {
		return err
	}
	if err := reservedContractID(id); err != nil {
		return err
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

// load is the contract's state, or a new one for a contract never seen.
func load(m *processor.Message, id string) (*bridge.State, error) {
	s, ok, err := contractStore.Get(m, id)
	if err != nil || !ok {
		return bridge.NewState(id), err
	}
	return s, nil
}

// flow is what a held deal's gap exception continues: the deal's
// correlation id and event id.
type flow struct {
	Seq         int64  `json:"-"`
	Correlation string `json:"correlation"`
	Event       string `json:"event,omitempty"`
}

// save stores the state and keeps the timers and held flows in step with
// it. fl is the flow of a deal just held.
func save(m *processor.Message, s *bridge.State, fl *flow) error {
	if err := contractStore.Put(m, s.ContractID, s); err != nil {
		return err
	}
	return index(m, s, fl)
}

// index sets the contract's timers from its state: the release timer at
// the day its earliest scheduled journal's period opens, the gap timer at
// the time its earliest held deal not yet raised was held, with the flow
// of each such deal kept while it waits.
func index(m *processor.Message, s *bridge.State, fl *flow) error {
	if d, ok := s.NextRelease(); ok && !d.IsZero() {
		releaseTimers.Set(m, s.ContractID, d.Time())
	} else {
		releaseTimers.Cancel(m, s.ContractID)
	}
	flows, existed, err := heldStore.Get(m, s.ContractID)
	if err != nil {
		return err
	}
	since, pending := s.NextDeadline(0)
	if !pending {
		gapTimers.Cancel(m, s.ContractID)
		if existed {
			heldStore.Delete(m, s.ContractID)
		}
		return nil
	}
	gapTimers.Set(m, s.ContractID, since)
	next := map[string]flow{}
	for _, hd := range s.Held {
		k := strconv.FormatInt(hd.Deal.Seq, 10)
		if f, ok := flows[k]; ok && !hd.Raised {
			next[k] = f
		}
		if fl != nil && fl.Seq == hd.Deal.Seq {
			next[k] = *fl
		}
	}
	return heldStore.Put(m, s.ContractID, next)
}
