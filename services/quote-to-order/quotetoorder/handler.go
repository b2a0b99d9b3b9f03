package quotetoorder

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// State stores (changelog-backed, per input partition). Values the service
// cannot read back follow the one policy of processor.Store (retriable,
// reason corrupt_state: the partition waits, nothing is dropped).
const (
	storeOrders     = "orders"     // quote id → saga (JSON)
	storeAccounts   = "accounts"   // CRM:<account> → known ERP customer (JSON)
	storeWaiting    = "waiting"    // CRM:<account>\x00<quote id> → quote version (JSON number)
	storeDeadlines  = "deadlines"  // timer index (processor.Timers): one timer per quote id at its saga's deadline
	storeTimers     = "timers"     // before the timer index: quote id → deadline (unix ms); moved to storeDeadlines by Tick
	storeValidating = "validating" // quote id → "" while the order is VALIDATING (a set: presence only)
	storeUnknown    = "unknown"    // order id → ERP statuses for an order not (yet) known here (JSON)
)

var (
	orders    = processor.NewStore(storeOrders, processor.JSON[saga.Saga]())
	accounts  = processor.NewStore(storeAccounts, processor.JSON[account]())
	waiting   = processor.NewStore(storeWaiting, processor.JSON[int]())
	deadlines = processor.NewTimers(storeDeadlines)
	unknown   = processor.NewStore(storeUnknown, processor.JSON[parked]())
	// legacyTimer reads a deadline of storeTimers (Unix ms, a JSON
	// number), only to move it into deadlines.
	legacyTimer = processor.JSON[int64]()
)

// stores lists the processor's stores.
var stores = []string{storeOrders, storeAccounts, storeWaiting, storeTimers, storeDeadlines, storeValidating, storeUnknown}

// Validator validates an order with the gateway (internal/gateway.Client).
type Validator interface {
	Validate(ctx context.Context, s *saga.Saga) (saga.Validation, error)
	Release(ctx context.Context, reservationID string) error
}

// Handler is the service's processor handler around the pure saga.
type Handler struct {
	Gateway Validator
	Policy  saga.Policy
	// UnknownStatusGrace is how long (stream time) an ERP status for an
	// order without state here is parked before it is raised as an
	// exception.
	UnknownStatusGrace time.Duration
	metrics            *serviceMetrics
	// prefetch, when set, starts a validation's gateway calls as soon as
	// the saga asks for them (see prefetcher).
	prefetch *prefetcher
}

// envelope is a message of the internal topic (JSON; private to the service).
type envelope struct {
	Kind         string                `json:"kind"` // lookup | customer | validate | decision | return
	QuoteID      string                `json:"quote_id"`
	Version      int                   `json:"version,omitempty"`
	Round        int                   `json:"round,omitempty"`
	CRMAccountID string                `json:"crm_account_id,omitempty"`
	Customer     *saga.Customer        `json:"customer,omitempty"`
	Decision     *contracts.Decision   `json:"decision,omitempty"`
	Return       *contracts.CaseUpdate `json:"return,omitempty"`
}

type account struct {
	ERPCustomerID string `json:"erp_customer_id"`
	GoldenID      string `json:"golden_id"`
}

type serviceMetrics struct {
	pendingValidation prometheus.Gauge
	gatewaySeconds    prometheus.Observer
	mu                sync.Mutex
	pending           map[int32]int
}

func newMetrics() *serviceMetrics {
	labels := prometheus.Labels{"service": Name}
	return &serviceMetrics{
		pendingValidation: metrics.Register(metrics.Registry, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "isthmus_quote_to_order_pending_validation",
			Help: "Orders in VALIDATING (waiting for the gateway) in the partitions this instance owns.",
		}, []string{"service"})).With(labels),
		gatewaySeconds: metrics.Register(metrics.Registry, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "isthmus_quote_to_order_gateway_seconds",
			Help:    "Gateway time of one order validation (prices, tax, availability, credit).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service"})).With(labels),
		pending: map[int32]int{},
	}
}

func (sm *serviceMetrics) setPending(part int32, n int) {
	if sm == nil {
		return
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.pending[part] = n
	total := 0
	for _, v := range sm.pending {
		total += v
	}
	sm.pendingValidation.Set(float64(total))
}

func countPending(m *processor.Message) int {
	n := 0
	m.Range(storeValidating, func(string, []byte) bool { n++; return true })
	return n
}

// Handle processes one input record.
func (h *Handler) Handle(ctx context.Context, m *processor.Message) error {
	switch m.Topic {
	case contracts.TopicCRMQuoteV1:
		return h.onQuote(ctx, m)
	case contracts.TopicERPOrderStatusV1:
		return h.onStatus(ctx, m)
	case contracts.TopicMDMXrefV1:
		return h.onXref(m)
	case contracts.TopicOpsDecisionsV1:
		return routeDecision(m)
	case contracts.TopicCRMCaseUpdatesV1:
		return routeReturn(m)
	case InternalTopic:
		return h.onInternal(ctx, m)
	}
	return errs.Poisonf(errs.ReasonUnknownTopic, "no handler for topic %s", m.Topic)
}

func (h *Handler) onQuote(ctx context.Context, m *processor.Message) error {
	var q contracts.Quote
	if err := m.Decode(&q); err != nil {
		return err
	}
	if q.QuoteID == "" || q.QuoteID != m.Key() {
		// A key that is not the quote id would split the saga across partitions.
		return errs.Poisonf(errs.ReasonKeyMismatch, "quote %q arrived with key %q: crm.quote.v1 must be keyed by quote id", q.QuoteID, m.Key())
	}
	s, err := orders.Load(m, q.QuoteID)
	if err != nil {
		return err
	}
	ns, out := saga.OnQuote(s, q, m.EventTime(), h.Policy)
	if ns == nil {
		m.Logger().DebugContext(ctx, "quote ignored", "quote_id", q.QuoteID, "why", out.Ignored)
		return nil
	}
	if err := h.apply(ctx, m, ns, out, m.EventTime(), m.EventID()); err != nil {
		return err
	}
	if s == nil {
		return h.unpark(ctx, m, ns) // statuses that arrived before their order
	}
	return nil
}

func (h *Handler) onStatus(ctx context.Context, m *processor.Message) error {
	var st contracts.OrderStatus
	if err := m.Decode(&st); err != nil {
		return err
	}
	if st.OrderID != m.Key() {
		return errs.Poisonf(errs.ReasonKeyMismatch, "order status for %q arrived with key %q: erp.order-status.v1 must be keyed by order id", st.OrderID, m.Key())
	}
	s, err := orders.Load(m, st.OrderID)
	if err != nil {
		return err
	}
	if s == nil {
		return h.park(ctx, m, st)
	}
	out := s.OnERPStatus(st, m.EventTime())
	return h.apply(ctx, m, s, out, m.EventTime(), m.EventID())
}

// onXref learns which CRM accounts are in ERP and resumes the quotes
// waiting for them. mdm.xref.v1 is keyed SYSTEM:id, so the CRM:<account>
// entry lands on the same partition as the lookups keyed CRM:<account>.
func (h *Handler) onXref(m *processor.Message) error {
	key := m.Key()
	if !strings.HasPrefix(key, contracts.SourceSystemCRM+":") {
		return nil
	}
	if m.Value() == nil {
		accounts.Delete(m, key)
		return nil
	}
	var x contracts.CrossReference
	if err := m.Decode(&x); err != nil {
		return err
	}
	erp := ""
	for _, r := range x.OtherIds {
		if r.System == contracts.SourceSystemERP {
			erp = r.ID
			break
		}
	}
	if x.Status == contracts.XrefStatusRetired || erp == "" {
		accounts.Delete(m, key)
		return nil
	}
	a := account{ERPCustomerID: erp, GoldenID: x.GoldenID}
	if x.MergedInto != nil && *x.MergedInto != "" {
		a.GoldenID = *x.MergedInto
	}
	if err := accounts.Put(m, key, a); err != nil {
		return err
	}
	prefix := key + "\x00"
	var resumed []string
	err := waiting.Range(m, func(k string, version int) bool {
		if k < prefix {
			return true
		}
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		resumed = append(resumed, k)
		quote := strings.TrimPrefix(k, prefix)
		h.emitInternal(m, quote, envelope{Kind: "customer", QuoteID: quote, Customer: &saga.Customer{Version: version, Known: true, ERPCustomerID: a.ERPCustomerID, GoldenID: a.GoldenID}})
		return true
	})
	if err != nil {
		return err
	}
	for _, k := range resumed {
		waiting.Delete(m, k)
	}
	return nil
}

func (h *Handler) onInternal(ctx context.Context, m *processor.Message) error {
	var e envelope
	if err := json.Unmarshal(m.Value(), &e); err != nil {
		return errs.Poison(errs.ReasonBadInternalMessage, fmt.Errorf("decode %s@%d: %w", m.Topic, m.Record.Offset, err))
	}
	if e.Kind == "lookup" {
		key := contracts.SourceSystemCRM + ":" + e.CRMAccountID
		if m.Key() != key {
			return errs.Poisonf(errs.ReasonKeyMismatch, "lookup for %s arrived with key %q", key, m.Key())
		}
		c := saga.Customer{Version: e.Version}
		a, known, err := accounts.Get(m, key)
		if err != nil {
			return err
		}
		if known {
			c.Known, c.ERPCustomerID, c.GoldenID = true, a.ERPCustomerID, a.GoldenID
		} else if err := waiting.Put(m, key+"\x00"+e.QuoteID, e.Version); err != nil {
			return err
		}
		h.emitInternal(m, e.QuoteID, envelope{Kind: "customer", QuoteID: e.QuoteID, Customer: &c})
		return nil
	}
	if e.QuoteID != m.Key() {
		return errs.Poisonf(errs.ReasonKeyMismatch, "%s for quote %q arrived with key %q", e.Kind, e.QuoteID, m.Key())
	}
	s, err := orders.Load(m, e.QuoteID)
	if err != nil {
		return err
	}
	if s == nil && e.Kind == "decision" && e.Decision != nil {
		return h.decideUnknown(ctx, m, *e.Decision)
	}
	if s == nil {
		m.Logger().WarnContext(ctx, "internal message for an unknown order", "kind", e.Kind, "quote_id", e.QuoteID)
		return nil
	}
	at := m.EventTime()
	var out saga.Outputs
	switch e.Kind {
	case "customer":
		if e.Customer == nil {
			return errs.Poisonf(errs.ReasonBadInternalMessage, "customer message without customer")
		}
		out = s.OnCustomer(*e.Customer)
	case "validate":
		if e.Version != s.Version || e.Round != s.Round || (s.State != contracts.OrderStateValidating && s.State != contracts.OrderStateCreditHold) {
			return nil // superseded, cancelled or decided meanwhile
		}
		if m.Attempt() > 1 {
			// The gateway is failing: refresh the gauge while we wait
			// (ticks do not run while a batch is retried). Counting ranges
			// the partition's store, so it is not done on the fast path.
			h.metrics.setPending(m.Partition(), countPending(m))
		}
		v, err, ok := h.prefetch.take(ctx, s)
		if !ok {
			v, err = h.Gateway.Validate(ctx, s)
		}
		if err != nil {
			return err
		}
		out = s.OnValidated(v, at, h.Policy)
	case "decision":
		if e.Decision == nil {
			return errs.Poisonf(errs.ReasonBadInternalMessage, "decision message without decision")
		}
		out = s.OnDecision(*e.Decision, at, h.Policy)
	case "return":
		if e.Return == nil {
			return errs.Poisonf(errs.ReasonBadInternalMessage, "return message without case update")
		}
		out = s.OnReturn(*e.Return)
	default:
		return errs.Poisonf(errs.ReasonBadInternalMessage, "unknown internal message kind %q", e.Kind)
	}
	return h.apply(ctx, m, s, out, at, m.EventID())
}

// Tick fires the due timers of the partition's orders: it reads only the
// due ones from the deadline-ordered timer index, whatever the number of
// orders waiting.
func (h *Handler) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	if err := migrateTimers(m); err != nil {
		return err
	}
	if err := deadlines.Fire(m, now, func(id string, _ time.Time) error {
		s, err := orders.Load(m, id)
		if err != nil || s == nil {
			deadlines.Cancel(m, id)
			return err
		}
		return h.apply(ctx, m, s, s.OnTick(now, h.Policy), now, m.TickID(id, now))
	}); err != nil {
		return err
	}
	if err := h.tickUnknown(ctx, m, now); err != nil {
		return err
	}
	h.metrics.setPending(m.Partition(), countPending(m))
	return nil
}

// migrateTimers moves the timers an earlier release kept in storeTimers
// (quote id → deadline, Unix ms) into the timer index, all in the first
// tick; once done it costs one empty scan per tick. A deadline the index
// already holds was set by a record handled since the upgrade: it is newer
// and stays. An entry of no deadline (0 or less) is dropped.
func migrateTimers(m *processor.Message) error {
	var none []string
	_, err := processor.MoveTimers(m, storeTimers, deadlines, math.MaxInt, func(id string, v []byte) (string, time.Time, error) {
		ms, err := legacyTimer.Decode(v)
		if err != nil {
			return "", time.Time{}, err
		}
		if at, set := deadlines.At(m, id); set {
			return id, at, nil
		}
		if ms <= 0 {
			none = append(none, id)
		}
		return id, time.UnixMilli(ms), nil
	})
	for _, id := range none {
		deadlines.Cancel(m, id)
	}
	return err
}

// apply stores the saga and emits its outputs; cause is a deterministic id
// of the input from which output event ids are derived.
func (h *Handler) apply(ctx context.Context, m *processor.Message, s *saga.Saga, out saga.Outputs, at time.Time, cause string) error {
	if out.Ignored != "" {
		m.Logger().DebugContext(ctx, "saga unchanged", "quote_id", s.QuoteID, "why", out.Ignored)
	}
	if out.Release != "" && h.Gateway != nil {
		if err := h.Gateway.Release(ctx, out.Release); err != nil {
			return err
		}
	}
	f := m.Flow(cause, s.Correlation, saga.Owner.Source, at)
	hdr := kgo.RecordHeader{Key: tracing.HeaderCorrelationID, Value: []byte(s.Correlation)}
	for i := range out.Lifecycle {
		ev := &out.Lifecycle[i]
		if err := f.Emit(contracts.TopicOrdersLifecycleV1, ev.OrderID, ev, &ev.Metadata); err != nil {
			return err
		}
	}
	for _, x := range out.Exceptions {
		ex := saga.Owner.Event(x, f.Next())
		if err := ops.Emit(m, &ex); err != nil {
			return err
		}
	}
	for i := range out.Commands {
		c := &out.Commands[i]
		if err := f.Emit(contracts.TopicERPOrderCommandsV1, c.OrderID, c, &c.Metadata); err != nil {
			return err
		}
	}
	if out.Lookup {
		h.emitInternal(m, contracts.SourceSystemCRM+":"+s.Quote.SoldToAccountID, envelope{Kind: "lookup", QuoteID: s.QuoteID, Version: s.Version, CRMAccountID: s.Quote.SoldToAccountID}, hdr)
	}
	if out.Validate {
		h.prefetch.start(ctx, s)
		h.emitInternal(m, s.QuoteID, envelope{Kind: "validate", QuoteID: s.QuoteID, Version: s.Version, Round: s.Round}, hdr)
	}
	if err := orders.Put(m, s.QuoteID, *s); err != nil {
		return err
	}
	deadlines.Schedule(m, s.QuoteID, s.Deadline)
	_, validating := m.Get(storeValidating, s.QuoteID)
	switch {
	case s.PendingValidation() && !validating:
		m.Put(storeValidating, s.QuoteID, []byte{})
	case !s.PendingValidation() && validating:
		m.Put(storeValidating, s.QuoteID, nil)
	}
	return nil
}

func (h *Handler) emitInternal(m *processor.Message, key string, e envelope, headers ...kgo.RecordHeader) {
	b, _ := json.Marshal(e)
	m.Emit(InternalTopic, key, b, headers...)
}

// routeReturn forwards a return step of an order's goods (field-service's
// case update naming the order) to the internal topic, keyed by the order
// id, so it reaches the saga's partition; other case updates are skipped.
func routeReturn(m *processor.Message) error {
	var u contracts.CaseUpdate
	if err := m.Decode(&u); err != nil {
		return err
	}
	if saga.ReturnState(u) == "" {
		return nil
	}
	order := contracts.Deref(u.OrderID)
	b, _ := json.Marshal(envelope{Kind: "return", QuoteID: order, Return: &u})
	m.Emit(InternalTopic, order, b)
	return nil
}

// routeDecision forwards a decision on one of this service's exceptions to
// the internal topic, keyed by the quote id its exception id names, so it
// reaches the saga's partition. Other services' decisions are skipped; one
// of ours that cannot be acted on is poison (saga.Owner.Decision).
func routeDecision(m *processor.Message) error {
	d, quote, mine, err := saga.Owner.DecisionOn(m, saga.QuoteOfException)
	if err != nil || !mine {
		return err
	}
	b, _ := json.Marshal(envelope{Kind: "decision", QuoteID: quote, Decision: &d})
	m.Emit(InternalTopic, quote, b)
	return nil
}
