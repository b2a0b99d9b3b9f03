package fieldservice

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/field-service/internal/casework"
)

// State (changelog-backed, per input partition): one casework.Case per
// case id, and the timer index of the cases' next entitlement checks.
var (
	cases     = processor.NewStore("cases", processor.JSON[casework.Case]())
	deadlines = processor.NewTimers("deadlines")
)

// Stores lists the processor's stores.
var Stores = []string{cases.Name(), deadlines.Name()}

// headerKind tells what an internal message carries: the original Avro
// bytes of an ERP journal answer or of a decision, re-keyed by case id.
const headerKind = "isthmus-field-service-kind"

// Handler is the service's processor handler around the pure casework.
type Handler struct {
	Entitlement Entitlement
	Policy      casework.Policy
	metrics     *serviceMetrics
}

type serviceMetrics struct {
	entitlement prometheus.Observer
	settled     *prometheus.CounterVec
}

func newMetrics() *serviceMetrics {
	labels := prometheus.Labels{"service": Name}
	return &serviceMetrics{
		entitlement: metrics.Register(metrics.Registry, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "isthmus_field_service_entitlement_seconds",
			Help:    "Gateway time of one entitlement check (a service case) or of a return's asset lookups.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service"})).With(labels),
		settled: metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_field_service_cases_ended_total",
			Help: "Service cases and returns that reached a final stage, by stage (SETTLED, CREDITED, CANCELLED, REFUSED) and coverage (UNKNOWN for returns).",
		}, []string{"service", "stage", "coverage"})).MustCurryWith(labels),
	}
}

// Handle processes one input record.
func (h *Handler) Handle(ctx context.Context, m *processor.Message) error {
	switch m.Topic {
	case contracts.TopicCRMCaseV1:
		return h.onCase(ctx, m)
	case contracts.TopicERPServiceOrderStatusV1:
		return h.onStatus(ctx, m)
	case contracts.TopicERPReturnStatusV1:
		return h.onReturnStatus(ctx, m)
	case contracts.TopicERPJournalV1:
		return h.forwardJournal(m)
	case contracts.TopicOpsDecisionsV1:
		return h.forwardDecision(m)
	case InternalTopic:
		return h.onInternal(ctx, m)
	}
	return errs.Poisonf(errs.ReasonUnknownTopic, "no handler for topic %s", m.Topic)
}

func (h *Handler) onCase(ctx context.Context, m *processor.Message) error {
	var in contracts.Case
	if err := m.Decode(&in); err != nil {
		return err
	}
	if bad := casework.Validate(in); bad != "" {
		return errs.Poisonf(errs.ReasonInvalidCase, "case %q: %s", in.CaseID, bad)
	}
	if in.CaseID != m.Key() {
		return errs.Poisonf(errs.ReasonKeyMismatch, "case %q arrived with key %q: crm.case.v1 must be keyed by case id", in.CaseID, m.Key())
	}
	c, err := cases.Load(m, in.CaseID)
	if err != nil {
		return err
	}
	var out casework.Outputs
	if c == nil {
		correlation := in.Metadata.CorrelationID
		if correlation == "" {
			correlation = event.ID("case", in.CaseID)
		}
		c, out = casework.Open(in, correlation)
		if c == nil {
			m.Logger().DebugContext(ctx, "case ignored", "case_id", in.CaseID, "why", out.Ignored)
			return nil
		}
	} else {
		out = c.OnCase(in, m.EventTime())
	}
	return h.apply(ctx, m, c, out, m.EventTime(), m.EventID())
}

func (h *Handler) onStatus(ctx context.Context, m *processor.Message) error {
	var st contracts.ServiceOrderStatus
	if err := m.Decode(&st); err != nil {
		return err
	}
	if st.ServiceOrderID == "" || st.ServiceOrderID != m.Key() {
		return errs.Poisonf(errs.ReasonKeyMismatch, "service order status for %q arrived with key %q: erp.service-order-status.v1 must be keyed by service order id", st.ServiceOrderID, m.Key())
	}
	c, err := cases.Load(m, st.ServiceOrderID)
	if err != nil {
		return err
	}
	if c == nil {
		return errs.Poisonf(errs.ReasonUnknownServiceOrder, "ERP status %s for service order %q, which field-service never opened (the service order id is the CRM case id)", st.Status, st.ServiceOrderID)
	}
	return h.apply(ctx, m, c, c.OnStatus(st, m.EventTime(), h.Policy), m.EventTime(), m.EventID())
}

func (h *Handler) onReturnStatus(ctx context.Context, m *processor.Message) error {
	var st contracts.ReturnStatus
	if err := m.Decode(&st); err != nil {
		return err
	}
	if st.ReturnID == "" || st.ReturnID != m.Key() {
		return errs.Poisonf(errs.ReasonKeyMismatch, "return status for %q arrived with key %q: erp.return-status.v1 must be keyed by return id", st.ReturnID, m.Key())
	}
	c, err := cases.Load(m, st.ReturnID)
	if err != nil {
		return err
	}
	if c == nil || !c.IsReturn() {
		return errs.Poisonf(errs.ReasonUnknownReturn, "ERP status %s for return %q, which field-service never opened (the return id is the CRM case id)", st.Status, st.ReturnID)
	}
	return h.apply(ctx, m, c, c.OnReturnStatus(st, m.EventTime(), h.Policy), m.EventTime(), m.EventID())
}

// forwardJournal moves ERP's answer to one of the service's journals onto
// the internal topic keyed by its case; billing-bridge's are left alone.
func (h *Handler) forwardJournal(m *processor.Message) error {
	var v contracts.Journal
	if err := m.Decode(&v); err != nil {
		return err
	}
	id, _, _, ok := contracts.ParseFieldServiceJournalID(v.JournalCommandID)
	if !ok {
		return nil
	}
	m.Emit(InternalTopic, id, m.Value(), kgo.RecordHeader{Key: headerKind, Value: []byte("journal")})
	return nil
}

// forwardDecision moves a decision on one of the service's exceptions onto
// the internal topic keyed by its case.
func (h *Handler) forwardDecision(m *processor.Message) error {
	_, id, mine, err := casework.Ops.DecisionOn(m, casework.CaseOfException)
	if err != nil || !mine {
		return err
	}
	m.Emit(InternalTopic, id, m.Value(), kgo.RecordHeader{Key: headerKind, Value: []byte("decision")})
	return nil
}

func (h *Handler) onInternal(ctx context.Context, m *processor.Message) error {
	kind, _ := m.Header(headerKind)
	c, err := cases.Load(m, m.Key())
	if err != nil {
		return err
	}
	at := m.EventTime()
	switch kind {
	case "journal":
		var v contracts.Journal
		if err := m.Decode(&v); err != nil {
			return err
		}
		if c == nil {
			m.Logger().WarnContext(ctx, "journal answer for an unknown case", "journal_command_id", v.JournalCommandID)
			return nil
		}
		return h.apply(ctx, m, c, c.OnJournal(v, at, h.Policy), at, m.EventID())
	case "decision":
		var d contracts.Decision
		if err := m.Decode(&d); err != nil {
			return err
		}
		if c == nil {
			m.Logger().WarnContext(ctx, "decision for an unknown case", "exception_id", d.ExceptionID, "decision_id", d.DecisionID)
			return nil
		}
		return h.apply(ctx, m, c, c.OnDecision(d, at, h.Policy), at, m.EventID())
	}
	return errs.Poisonf(errs.ReasonBadInternalMessage, "internal message %s@%d of kind %q", m.Topic, m.Record.Offset, kind)
}

// Tick runs the due entitlement rechecks of the partition's cases.
func (h *Handler) Tick(ctx context.Context, m *processor.Message, now time.Time) error {
	return deadlines.Fire(m, now, func(id string, _ time.Time) error {
		c, err := cases.Load(m, id)
		if err != nil || c == nil {
			deadlines.Cancel(m, id)
			return err
		}
		return h.apply(ctx, m, c, c.OnTick(now), now, m.TickID(id, now))
	})
}

func (h *Handler) observe(start time.Time) {
	if h.metrics != nil {
		h.metrics.entitlement.Observe(time.Since(start).Seconds())
	}
}

// apply asks for the entitlement verdict when the case needs it (before
// anything is emitted, so a failing gateway retries the record cleanly),
// then stores the case and emits its outputs; cause is a deterministic id
// of the input from which output event ids are derived.
func (h *Handler) apply(ctx context.Context, m *processor.Message, c *casework.Case, out casework.Outputs, at time.Time, cause string) error {
	for out.Check {
		start := time.Now()
		var next casework.Outputs
		if c.IsReturn() {
			assets, err := h.Entitlement.Assets(ctx, c.Serials())
			h.observe(start)
			if err != nil {
				return err
			}
			next = c.OnAssets(assets, at, h.Policy)
		} else {
			v, err := h.Entitlement.Check(ctx, c, c.OpenedAt)
			h.observe(start)
			if err != nil {
				return err
			}
			next = c.OnVerdict(v, at, h.Policy)
		}
		out.Check = next.Check
		out.Updates = append(out.Updates, next.Updates...)
		out.Orders = append(out.Orders, next.Orders...)
		out.Returns = append(out.Returns, next.Returns...)
		out.Exceptions = append(out.Exceptions, next.Exceptions...)
		if next.Ignored != "" {
			out.Ignored = next.Ignored
		}
	}
	if out.Ignored != "" {
		m.Logger().DebugContext(ctx, "case unchanged", "case_id", c.CaseID, "why", out.Ignored)
	}
	f := m.Flow(cause, c.Correlation, casework.Ops.Source, at)
	for i := range out.Orders {
		v := &out.Orders[i]
		if err := f.Emit(contracts.TopicERPServiceOrderCommandsV1, v.ServiceOrderID, v, &v.Metadata); err != nil {
			return err
		}
	}
	for i := range out.Returns {
		v := &out.Returns[i]
		if err := f.Emit(contracts.TopicERPReturnCommandsV1, v.ReturnID, v, &v.Metadata); err != nil {
			return err
		}
	}
	for i := range out.Claims {
		v := &out.Claims[i]
		if err := f.Emit(contracts.TopicERPWarrantyClaimCommandsV1, v.ServiceOrderID, v, &v.Metadata); err != nil {
			return err
		}
	}
	for i := range out.Journals {
		v := &out.Journals[i]
		if err := f.Emit(contracts.TopicERPJournalCommandsV1, c.CaseID, v, &v.Metadata); err != nil {
			return err
		}
	}
	for i := range out.Updates {
		v := &out.Updates[i]
		if err := f.Emit(contracts.TopicCRMCaseUpdatesV1, v.CaseID, v, &v.Metadata); err != nil {
			return err
		}
	}
	for _, x := range out.Exceptions {
		v := casework.Ops.Event(x, f.Next())
		if err := ops.Emit(m, &v); err != nil {
			return err
		}
	}
	if err := cases.Put(m, c.CaseID, *c); err != nil {
		return err
	}
	deadlines.Schedule(m, c.CaseID, c.Deadline)
	if h.metrics != nil {
		for _, u := range out.Updates {
			switch u.Event {
			case contracts.CaseEventSettled, contracts.CaseEventCancelled, contracts.CaseEventRefused, contracts.CaseEventReturnCredited:
				h.metrics.settled.WithLabelValues(c.Stage, c.Coverage()).Inc()
			}
		}
	}
	return nil
}
