// Package readmodel is the dashboard's in-memory projection of the topics:
// a timeline index by every business id and correlation id, the latest
// state of every break and exception, and throughput per flow. It is fed by
// a plain read_committed consumer and is a bounded, rebuildable cache, not
// state of record: a restart rebuilds it from the topics.
//
// It also keeps the latest parity verdict of every entity of a flow in
// SHADOW (recon.parity.v1) for the parity panel.
//
// Memory is bounded by Limits: at most MaxEvents timeline entries (a ring:
// the oldest entry is forgotten first), at most MaxPerKey entries per
// searchable id (the newest are kept), at most MaxItems breaks,
// exceptions and parity entities each (settled ones — MATCH for parity —
// are forgotten first).
package readmodel

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Limits bound the projection's memory.
type Limits struct {
	MaxEvents int // timeline entries kept (default 100,000)
	MaxPerKey int // entries kept per searchable id (default 200)
	MaxItems  int // breaks, exceptions and parity entities kept, each (default 50,000)
}

func (l Limits) withDefaults() Limits {
	if l.MaxEvents <= 0 {
		l.MaxEvents = 100_000
	}
	if l.MaxPerKey <= 0 {
		l.MaxPerKey = 200
	}
	if l.MaxItems <= 0 {
		l.MaxItems = 50_000
	}
	return l
}

// Entry is one event on the timeline.
type Entry struct {
	seq           uint64
	Topic         string            `json:"topic"`
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Key           string            `json:"key"`
	At            time.Time         `json:"at"`
	EventID       string            `json:"event_id"`
	CorrelationID string            `json:"correlation_id"`
	Status        string            `json:"status,omitempty"`
	IDs           map[string]string `json:"ids"`
}

// Break is the latest state of one break.
type Break struct {
	BreakID       string            `json:"break_id"`
	Kind          string            `json:"kind"`
	Severity      string            `json:"severity"`
	Status        string            `json:"status"`
	Description   string            `json:"description"`
	CorrelationID string            `json:"correlation_id"`
	EntityIDs     map[string]string `json:"entity_ids"`
	Expected      string            `json:"expected,omitempty"`
	Actual        string            `json:"actual,omitempty"`
	Deadline      *time.Time        `json:"deadline,omitempty"`
	DetectedAt    time.Time         `json:"detected_at"`
	ClosedAt      *time.Time        `json:"closed_at,omitempty"`
	Resolution    string            `json:"resolution,omitempty"`
}

// Exception is the latest state of one operational exception.
type Exception struct {
	ExceptionID   string            `json:"exception_id"`
	Queue         string            `json:"queue"`
	Category      string            `json:"category"`
	Severity      string            `json:"severity"`
	Status        string            `json:"status"`
	Summary       string            `json:"summary"`
	OwnerService  string            `json:"owner_service"`
	CorrelationID string            `json:"correlation_id"`
	EntityIDs     map[string]string `json:"entity_ids"`
	RaisedAt      time.Time         `json:"raised_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	// AllowedActions are the decisions the owner accepts (ops.decisions.v1).
	AllowedActions []string `json:"allowed_actions"`
	// DecisionID is the decision the latest update answers, if any.
	DecisionID string `json:"decision_id,omitempty"`
	// EventID is the latest update's event id (a decision's causation).
	EventID string `json:"event_id"`
	// Amount is the context's amount_minor, else its total ("123 EUR
	// (minor units)"), for the four-eyes threshold; "" when it has none.
	Amount string `json:"amount,omitempty"`
}

// Exception returns the latest state of one exception.
func (m *Model) Exception(id string) (Exception, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.exceptions[id]
	if !ok {
		return Exception{}, false
	}
	return *e, true
}

// Open reports whether the exception still needs someone.
func (e *Exception) Open() bool {
	return e.Status == contracts.ExceptionStatusOpen || e.Status == contracts.ExceptionStatusRetrying
}

// Flows group topics for the throughput overview.
var Flows = map[string]string{
	contracts.TopicCRMAccountV1: "customer", contracts.TopicMDMXrefV1: "customer",
	contracts.TopicCRMQuoteV1: "quote-to-order", contracts.TopicOrdersLifecycleV1: "quote-to-order",
	contracts.TopicERPOrderCommandsV1: "quote-to-order", contracts.TopicERPOrderStatusV1: "quote-to-order",
	contracts.TopicERPInvoiceV1: "quote-to-order",
	contracts.TopicCRMDealV1:    "subscription", contracts.TopicBillingCommandsV1: "subscription",
	contracts.TopicBillingEventsV1: "subscription", contracts.TopicBillingRevenueScheduleV1: "subscription",
	contracts.TopicERPJournalCommandsV1: "subscription", contracts.TopicERPJournalV1: "subscription",
	contracts.TopicCRMCaseV1: "field-service", contracts.TopicCRMCaseUpdatesV1: "field-service",
	contracts.TopicERPServiceOrderStatusV1: "field-service", contracts.TopicERPReturnStatusV1: "field-service",
	contracts.TopicOpsExceptionsV1: "operations", contracts.TopicReconBreaksV1: "operations",
}

// FlowNames in display order.
var FlowNames = []string{"customer", "quote-to-order", "subscription", "field-service", "operations"}

// Minutes of throughput kept.
const Minutes = 15

// Model is the projection; safe for concurrent use.
type Model struct {
	lim Limits

	mu         sync.RWMutex
	ring       []*Entry
	next       uint64
	index      map[string][]uint64
	sweepAt    int
	breaks     map[string]*Break
	exceptions map[string]*Exception
	parity     map[string]*ParityEntity   // flow|entity → latest verdict
	flows      map[string]*[Minutes]int64 // per flow, per minute slot
	flowMinute map[string]*[Minutes]int64 // minute (unix) of each slot
	lastSeen   map[string]time.Time       // per topic, record time of the last event
	decodeErrs int64
}

// New returns an empty model.
func New(lim Limits) *Model {
	lim = lim.withDefaults()
	return &Model{lim: lim, ring: make([]*Entry, lim.MaxEvents), next: 1, index: map[string][]uint64{},
		breaks: map[string]*Break{}, exceptions: map[string]*Exception{}, parity: map[string]*ParityEntity{},
		flows: map[string]*[Minutes]int64{}, flowMinute: map[string]*[Minutes]int64{}, lastSeen: map[string]time.Time{}, sweepAt: 1024}
}

// idFields are the value fields whose values are searchable ids.
var idFields = []string{"entity_id",
	"quote_id", "order_id", "erp_order_id", "invoice_id", "contract_id", "deal_id", "account_id",
	"sold_to_account_id", "crm_account_id", "erp_customer_id", "golden_id", "journal_command_id",
	"erp_journal_id", "command_id", "subscription_id", "exception_id", "decision_id", "break_id", "system_id", "shipment_id",
	"case_id", "service_order_id", "erp_service_order_id", "return_id", "rma_number", "credit_memo_id",
}

var statusFields = []string{"status", "state", "event_type", "action", "op", "kind"}

// Add projects one decoded event. v is the generated contracts type.
func (m *Model) Add(topic string, partition int32, offset int64, key string, ts time.Time, v contracts.Value) {
	raw, err := json.Marshal(v)
	if err != nil {
		m.mu.Lock()
		m.decodeErrs++
		m.mu.Unlock()
		return
	}
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	e := &Entry{Topic: topic, Partition: partition, Offset: offset, Key: key, At: ts.UTC(), IDs: map[string]string{}}
	if md, ok := doc["metadata"].(map[string]any); ok {
		e.EventID, _ = md["event_id"].(string)
		e.CorrelationID, _ = md["correlation_id"].(string)
		if s, ok := md["occurred_at"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				e.At = t.UTC()
			}
		}
	}
	for _, f := range idFields {
		if s, ok := doc[f].(string); ok && s != "" {
			e.IDs[f] = s
		}
	}
	if ents, ok := doc["entity_ids"].(map[string]any); ok {
		for k, val := range ents {
			if s, ok := val.(string); ok && s != "" && k != "match_key" {
				e.IDs[k] = s
			}
		}
	}
	for _, f := range statusFields {
		if s, ok := doc[f].(string); ok && s != "" {
			e.Status = s
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addEntry(e, key)
	m.count(topic, ts)
	switch x := v.(type) {
	case *contracts.ReconBreak:
		m.putBreak(x)
	case *contracts.OperationalException:
		m.putException(x)
	case *contracts.ParityResult:
		m.putParity(x)
	}
}

// DecodeError counts an event the projection could not decode.
func (m *Model) DecodeError() {
	m.mu.Lock()
	m.decodeErrs++
	m.mu.Unlock()
}

func (m *Model) addEntry(e *Entry, key string) {
	e.seq = m.next
	m.next++
	m.ring[e.seq%uint64(len(m.ring))] = e
	keys := map[string]bool{}
	if e.CorrelationID != "" {
		keys[e.CorrelationID] = true
	}
	if key != "" {
		keys[key] = true
	}
	for _, id := range e.IDs {
		keys[id] = true
	}
	for k := range keys {
		seqs := append(m.index[k], e.seq)
		if len(seqs) > m.lim.MaxPerKey {
			seqs = append(seqs[:0:0], seqs[len(seqs)-m.lim.MaxPerKey:]...)
		}
		m.index[k] = seqs
	}
	if len(m.index) >= m.sweepAt {
		m.sweep()
	}
}

// sweep forgets ids whose entries all left the ring.
func (m *Model) sweep() {
	oldest := uint64(0)
	if m.next > uint64(len(m.ring)) {
		oldest = m.next - uint64(len(m.ring))
	}
	for k, seqs := range m.index {
		if seqs[len(seqs)-1] < oldest {
			delete(m.index, k)
		}
	}
	m.sweepAt = max(1024, 2*len(m.index))
}

func (m *Model) entry(seq uint64) *Entry {
	e := m.ring[seq%uint64(len(m.ring))]
	if e == nil || e.seq != seq {
		return nil
	}
	return e
}

func (m *Model) count(topic string, ts time.Time) {
	flow, ok := Flows[topic]
	if !ok {
		return
	}
	if ts.After(m.lastSeen[topic]) {
		m.lastSeen[topic] = ts
	}
	minute := ts.Unix() / 60
	if time.Since(ts) > Minutes*time.Minute {
		return
	}
	c, mins := m.flows[flow], m.flowMinute[flow]
	if c == nil {
		c, mins = &[Minutes]int64{}, &[Minutes]int64{}
		m.flows[flow], m.flowMinute[flow] = c, mins
	}
	slot := minute % Minutes
	if mins[slot] != minute {
		mins[slot], c[slot] = minute, 0
	}
	c[slot]++
}

func (m *Model) putBreak(b *contracts.ReconBreak) {
	v := &Break{BreakID: b.BreakID, Kind: b.Kind, Severity: b.Severity, Status: b.Status, Description: b.Description,
		CorrelationID: b.Metadata.CorrelationID, EntityIDs: b.EntityIds, Expected: contracts.Deref(b.Expected), Actual: contracts.Deref(b.Actual),
		Deadline: b.Deadline, DetectedAt: b.DetectedAt, ClosedAt: b.ClosedAt, Resolution: contracts.Deref(b.Resolution)}
	if old, ok := m.breaks[b.BreakID]; ok && b.Status == contracts.BreakStatusClosed {
		v.DetectedAt = old.DetectedAt
		if v.Deadline == nil {
			v.Deadline = old.Deadline
		}
	}
	m.breaks[b.BreakID] = v
	if len(m.breaks) > m.lim.MaxItems {
		evict(m.breaks, m.lim.MaxItems*9/10, func(b *Break) (bool, time.Time) { return b.Status != contracts.BreakStatusOpen, b.DetectedAt })
	}
}

func (m *Model) putException(x *contracts.OperationalException) {
	v := &Exception{ExceptionID: x.ExceptionID, Queue: x.Queue, Category: x.Category, Severity: x.Severity, Status: x.Status,
		Summary: x.Summary, OwnerService: x.OwnerService, CorrelationID: x.Metadata.CorrelationID, EntityIDs: x.EntityIds,
		RaisedAt: x.Metadata.OccurredAt.UTC(), UpdatedAt: x.Metadata.OccurredAt.UTC(),
		AllowedActions: x.AllowedActions, EventID: x.Metadata.EventID, Amount: x.Context["amount_minor"]}
	if v.Amount == "" {
		v.Amount = x.Context["total"]
	}
	if x.DecisionID != nil {
		v.DecisionID = *x.DecisionID
	}
	if old, ok := m.exceptions[x.ExceptionID]; ok {
		v.RaisedAt = old.RaisedAt
	}
	m.exceptions[x.ExceptionID] = v
	if len(m.exceptions) > m.lim.MaxItems {
		evict(m.exceptions, m.lim.MaxItems*9/10, func(e *Exception) (bool, time.Time) { return !e.Open(), e.UpdatedAt })
	}
}

// evict removes settled items first, oldest first, until n remain.
func evict[T any](items map[string]T, n int, rank func(T) (settled bool, at time.Time)) {
	type kv struct {
		k       string
		settled bool
		at      time.Time
	}
	all := make([]kv, 0, len(items))
	for k, v := range items {
		s, at := rank(v)
		all = append(all, kv{k, s, at})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].settled != all[j].settled {
			return all[i].settled
		}
		return all[i].at.Before(all[j].at)
	})
	for i := 0; len(items) > n && i < len(all); i++ {
		delete(items, all[i].k)
	}
}

// Timeline returns every kept event that carries id (as correlation id,
// record key or business id), oldest first.
func (m *Model) Timeline(id string) []*Entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []*Entry{}
	for _, s := range m.index[id] {
		if e := m.entry(s); e != nil {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Breaks returns breaks filtered by kind and status (empty: any), newest
// first, at most limit.
func (m *Model) Breaks(kind, status string, limit int) []*Break {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []*Break{}
	for _, b := range m.breaks {
		if (kind == "" || b.Kind == kind) && (status == "" || b.Status == status) {
			c := *b
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].DetectedAt.Equal(out[j].DetectedAt) {
			return out[i].DetectedAt.After(out[j].DetectedAt)
		}
		return out[i].BreakID < out[j].BreakID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Exceptions returns exceptions filtered by queue and status, newest first.
func (m *Model) Exceptions(queue, status string, limit int) []*Exception {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []*Exception{}
	for _, e := range m.exceptions {
		if (queue == "" || e.Queue == queue) && (status == "" || e.Status == status || (status == "open" && e.Open())) {
			c := *e
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.After(out[j].UpdatedAt)
		}
		return out[i].ExceptionID < out[j].ExceptionID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// QueueStat is one exception queue on the overview.
type QueueStat struct {
	Queue            string     `json:"queue"`
	Open             int        `json:"open"`
	OldestRaisedAt   *time.Time `json:"oldest_raised_at,omitempty"`
	OldestAgeSeconds float64    `json:"oldest_age_seconds"`
}

// FlowStat is the throughput of one flow, per minute, oldest first.
type FlowStat struct {
	Flow      string  `json:"flow"`
	PerMinute []int64 `json:"per_minute"`
	Total     int64   `json:"total"`
}

// Overview is the dashboard's summary.
type Overview struct {
	GeneratedAt      time.Time            `json:"generated_at"`
	Throughput       []FlowStat           `json:"throughput"`
	OpenBreaksByKind map[string]int       `json:"open_breaks_by_kind"`
	OpenBreaks       int                  `json:"open_breaks"`
	Queues           []QueueStat          `json:"exception_queues"`
	LastEventAt      map[string]time.Time `json:"last_event_at"`
	Events           int                  `json:"timeline_events"`
	Keys             int                  `json:"timeline_ids"`
	DecodeErrors     int64                `json:"decode_errors"`
}

// Queues returns the open exceptions per queue (every known queue listed).
func (m *Model) Queues(now time.Time) []QueueStat {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.queues(now)
}

func (m *Model) queues(now time.Time) []QueueStat {
	qs := map[string]*QueueStat{}
	for _, q := range []string{contracts.ExceptionQueueSalesOps, contracts.ExceptionQueueFinanceOps, contracts.ExceptionQueueMasterData, contracts.ExceptionQueueTradeCompliance, contracts.ExceptionQueueServiceOps} {
		qs[q] = &QueueStat{Queue: q}
	}
	for _, e := range m.exceptions {
		if !e.Open() {
			continue
		}
		q := qs[e.Queue]
		if q == nil {
			q = &QueueStat{Queue: e.Queue}
			qs[e.Queue] = q
		}
		q.Open++
		if q.OldestRaisedAt == nil || e.RaisedAt.Before(*q.OldestRaisedAt) {
			t := e.RaisedAt
			q.OldestRaisedAt = &t
		}
	}
	out := make([]QueueStat, 0, len(qs))
	for _, q := range qs {
		if q.OldestRaisedAt != nil {
			q.OldestAgeSeconds = max(0, now.Sub(*q.OldestRaisedAt).Seconds())
		}
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out
}

// Overview summarises the model at now.
func (m *Model) Overview(now time.Time) *Overview {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o := &Overview{GeneratedAt: now.UTC(), OpenBreaksByKind: map[string]int{}, LastEventAt: map[string]time.Time{}, DecodeErrors: m.decodeErrs}
	for _, k := range BreakKinds {
		o.OpenBreaksByKind[k] = 0
	}
	for _, b := range m.breaks {
		if b.Status == contracts.BreakStatusOpen {
			o.OpenBreaksByKind[b.Kind]++
			o.OpenBreaks++
		}
	}
	nowMin := now.Unix() / 60
	for _, f := range FlowNames {
		fs := FlowStat{Flow: f, PerMinute: make([]int64, Minutes)}
		if c := m.flows[f]; c != nil {
			mins := m.flowMinute[f]
			for i := range Minutes {
				minute := nowMin - int64(Minutes-1-i)
				if slot := minute % Minutes; mins[slot] == minute {
					fs.PerMinute[i] = c[slot]
					fs.Total += c[slot]
				}
			}
		}
		o.Throughput = append(o.Throughput, fs)
	}
	o.Queues = m.queues(now)
	for t, at := range m.lastSeen {
		o.LastEventAt[t] = at
	}
	o.Events = int(min(m.next-1, uint64(len(m.ring))))
	o.Keys = len(m.index)
	return o
}

// LastSeen returns the time of the newest event of topics starting with prefix.
func (m *Model) LastSeen(prefix string) time.Time {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var last time.Time
	for t, at := range m.lastSeen {
		if strings.HasPrefix(t, prefix) && at.After(last) {
			last = at
		}
	}
	return last
}

// BreakKinds lists every break kind.
var BreakKinds = []string{
	contracts.BreakKindOrderNotSubmitted, contracts.BreakKindERPAckMissing, contracts.BreakKindInvoiceNotPosted,
	contracts.BreakKindSubscriptionNotProvisioned, contracts.BreakKindInvoiceScheduleMissing, contracts.BreakKindJournalNotPosted,
	contracts.BreakKindCustomerNotInERP, contracts.BreakKindOrderAmountMismatch, contracts.BreakKindInvoiceAmountMismatch,
	contracts.BreakKindBillingJournalMismatch, contracts.BreakKindCaseWithoutServiceOrder, contracts.BreakKindServiceCostNotSettled,
	contracts.BreakKindReturnNotCredited, contracts.BreakKindOther,
}
