package customersync

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/customer-sync/internal/adapter"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Headers of a record on the internal route and match topics. Its value
// is the original record's value, unchanged (Confluent wire format with the
// writer's schema id), so schema evolution works as on the source topic.
const (
	HeaderOriginTopic     = "origin-topic"     // logical source topic
	HeaderOriginPartition = "origin-partition" // decimal
	HeaderOriginOffset    = "origin-offset"    // decimal
	HeaderOriginKey       = "origin-key"       // the source record's key
	HeaderOriginTimestamp = "origin-timestamp" // source record timestamp, Unix ms
	HeaderOriginVia       = "origin-via"       // the runtime's forward topic when the source record came through it
	HeaderBlock           = "match-block"      // match topic: the event's match block
	HeaderAbsorb          = "match-absorb"     // match topic: a merge decision's handed-over golden record (JSON)
	HeaderForwarded       = "match-forwarded"  // match topic: another block applied its share of the event
	HeaderRegister        = "route-register"   // route topic: a source record's match block (no value)
	HeaderXrefGolden      = "xref-golden"      // route topic: the source record's golden id now
	HeaderXrefERP         = "xref-erp"         // route topic: its golden record's ERP customer number now
	HeaderParentChild     = "parent-child"     // route topic: a golden id asking for its parent; match topic: the child answered
	HeaderParentRef       = "parent-ref"       // match topic: the parent source record ("CRM:A1")
	HeaderParentGolden    = "parent-golden"    // match topic: the parent's golden id
	HeaderParentERP       = "parent-erp"       // match topic: the parent's ERP customer number
	HeaderParentCRM       = "parent-crm"       // match topic: the parent's CRM account id
	HeaderParentPath      = "parent-path"      // match topic: the parent's ancestors, comma-separated golden ids
	HeaderParentUnknown   = "parent-unknown"   // match topic: no system has sent the parent source record yet
	HeaderXrefCRM         = "xref-crm"         // route topic: its golden record's CRM account id now
	HeaderXrefPath        = "xref-path"        // route topic: its golden record's ancestors now (comma-separated)
)

// carried are the headers a forwarded match record keeps.
var carried = []string{HeaderAbsorb, HeaderParentChild, HeaderParentRef, HeaderParentGolden, HeaderParentERP, HeaderParentCRM, HeaderParentPath, HeaderParentUnknown}

// seqKey holds, in the store, how many events the match stage has applied;
// it tells whether the decoded in-memory state is the committed one.
const seqKey = "m/seq"

// Route store keys. On an input partition (re-key stage): "s/<SYSTEM>:<id>",
// the match block of a source record, decided by its first event (sticky).
// On a route partition: "r/<SYSTEM>:<id>", the same block as registered for
// the route stage, and "w/<SYSTEM>:<id>", the events waiting for it.
// "x/<SYSTEM>:<id>" holds the record's golden id and ERP customer number as
// last published on mdm.xref.v1, "k/<SYSTEM>:<id>" the golden records whose
// parent company it is (hierarchy).
const (
	stickyKey   = "s/"
	routeKey    = "r/"
	waitingKey  = "w/"
	xrefKey     = "x/"
	childrenKey = "k/"
	decisionKey = "d/" // rekey stage: steward decision ids applied
)

// Typed views of the stores' values (processor.Store: unreadable own state
// is retriable, reason corrupt_state): JSON, but the block keys and the
// decision marks, which are bytes as they are (processor.Raw). The golden
// store's domain entries are read by golden.State.Load, whose refusal is
// processor.CorruptState too.
var (
	parents  = processor.NewStore(RouteStore, processor.JSON[parentOf]())  // x/<ref>
	children = processor.NewStore(RouteStore, processor.JSON[[]string]())  // k/<ref>
	waits    = processor.NewStore(RouteStore, processor.JSON[[]waiting]()) // w/<ref>
	blocks   = processor.NewStore(RouteStore, processor.Raw())             // s/<ref>, r/<ref>: the match block
	decided  = processor.NewStore(RouteStore, processor.Raw())             // d/<decision id>: applied (value 1)
	applied  = processor.NewStore(Store, processor.JSON[uint64]())         // m/seq (its JSON is the decimal count)
)

// Handler is customer-sync's processor handler.
// The processor may run the handlers of different partitions at the same
// time: a partition's state is only touched by its own records, and mu
// guards the map of partitions and the golden-record counts behind the
// gauge.
type Handler struct {
	cfg   golden.Config
	gauge prometheus.Gauge

	mu     sync.Mutex
	parts  map[int32]*partState
	counts map[int32]int // live golden records per partition
}

// partState is the decoded golden.State of one match partition, valid
// while seq equals the store's applied count.
type partState struct {
	st  *golden.State
	seq uint64
}

// NewHandler returns a handler for cfg; its gauge
// isthmus_customer_sync_golden_records registers on reg (nil:
// metrics.Registry).
func NewHandler(cfg golden.Config, reg prometheus.Registerer) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = metrics.Registry
	}
	g := metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "isthmus_customer_sync_golden_records",
		Help: "Live golden customer records held by this customer-sync instance (merged-away records excluded).",
	}))
	return &Handler{cfg: cfg, parts: map[int32]*partState{}, counts: map[int32]int{}, gauge: g}, nil
}

// Handle is the processor handler: records of the match topic go to the
// match stage, of the route topic to the route stage, every other record to
// the re-key stage.
func (h *Handler) Handle(ctx context.Context, m *processor.Message) error {
	switch m.Topic {
	case TopicMatch:
		return h.match(m)
	case TopicRoute:
		return h.route(m)
	}
	return h.rekey(m)
}

func newRecord(topic string) (serde.Record, error) {
	switch topic {
	case contracts.TopicCRMAccountV1:
		return &contracts.Account{}, nil
	case contracts.TopicCRMContactV1:
		return &contracts.Contact{}, nil
	case contracts.TopicERPCustomerV1:
		return &contracts.Customer{}, nil
	case contracts.TopicCRMLeadV1:
		return &contracts.Lead{}, nil
	}
	return nil, errs.Poisonf(errs.ReasonContract, "customer-sync does not consume topic %q", topic)
}

// input is a decoded input record: the domain event (nil: skip) and the
// metadata the outputs inherit.
type input struct {
	ev golden.Event
	md contracts.EventMetadata
}

// decode decodes value of a record from topic. A tombstone (nil value) of
// a CRM account or ERP customer deletes that record (key = its id), at the
// record's timestamp; other tombstones are skipped.
func decode(m *processor.Message, topic, key string, value []byte, ts time.Time, idBase string) (input, error) {
	if value == nil {
		var system sv.System
		switch topic {
		case contracts.TopicCRMAccountV1:
			system = sv.CRM
		case contracts.TopicERPCustomerV1:
			system = sv.ERP
		default:
			return input{}, nil
		}
		md := event.Metadata(event.ID(idBase, "tombstone"), event.ID(idBase), "", adapter.System(string(system)), ts)
		meta := golden.Meta{EventID: md.EventID, CorrelationID: md.CorrelationID, OccurredAt: md.OccurredAt}
		return input{golden.SourceDeleted{Meta: meta, System: system, RecordID: key}, md}, nil
	}
	if topic == contracts.TopicOpsDecisionsV1 {
		return decodeDecision(m)
	}
	v, err := newRecord(topic)
	if err != nil {
		return input{}, err
	}
	if err := m.Decode(v); err != nil {
		return input{}, err
	}
	ev, err := adapter.Event(v)
	if err != nil {
		return input{}, err
	}
	return input{ev, adapter.Metadata(v)}, nil
}

// decodeDecision decodes and routes a steward decision with golden.Owner.Decision
// (pkg/ops): another service's is skipped; one of customer-sync's that
// cannot be acted on (unreadable, without its ids, actor or action, or on
// an exception id that is not customer-sync's) is poison; the rest become
// golden events (adapter.Decision).
func decodeDecision(m *processor.Message) (input, error) {
	d, mine, err := golden.Owner.Decision(m)
	if err != nil || !mine {
		return input{}, err
	}
	ev, err := adapter.Decision(&d)
	if err != nil {
		return input{}, err
	}
	return input{ev, d.Metadata}, nil
}

// rekey is the first stage: decode and validate a source record (poison →
// DLQ with the source topic, partition and offset) and forward its bytes,
// in the same transaction as the source offset, to the stage that can
// place it:
//   - an account or ERP customer straight to the match topic under its
//     match block, which its first event decides (golden.BlockOf, or the
//     block of the golden id an ERP customer echoes) and the route store
//     keeps (sticky) under "s/<SYSTEM>:<id>" on this input partition; the
//     first event also registers the block with the route stage;
//   - a contact, or an erase by source record, to the route topic under the
//     source record it concerns ("CRM:<account id>"), whose route stage
//     knows that record's block;
//   - a steward decision, which names golden ids that carry their block,
//     straight to the match topic.
//
// One source partition's accounts and customers thus reach their match
// partitions in offset order, as with a single match partition.
func (h *Handler) rekey(m *processor.Message) error {
	r := m.Record
	o := origin{topic: m.Topic, partition: r.Partition, offset: r.Offset, key: m.Key(), ts: r.Timestamp}
	if _, ok := m.Header(processor.HeaderOriginTopic); ok {
		// Forwarded by the runtime from another partition than its key's:
		// the record's own position is the forward topic's (which depends
		// on how transactions were cut); its origin is where it was first
		// consumed, which the runtime records.
		part, pok := m.Header(processor.HeaderOriginPartition)
		off, ook := m.Header(processor.HeaderOriginOffset)
		pn, perr := strconv.Atoi(part)
		on, oerr := strconv.ParseInt(off, 10, 64)
		if pok && ook && perr == nil && oerr == nil {
			o.partition, o.offset = int32(pn), on
		} else {
			o.via = processor.ForwardTopic(Name)
		}
	}
	base := o.idBase()
	in, err := decode(m, m.Topic, m.Key(), r.Value, r.Timestamp, base)
	if err != nil {
		return err
	}
	if in.ev == nil {
		return nil // not for customer-sync
	}
	if r, steward := golden.RulingOf(in.ev); steward && r.DecisionID != "" {
		// ops.decisions.v1 is keyed by exception id: every decision on one
		// exception comes through this partition, in order. A decision id
		// seen before is a no-op.
		if _, seen, err := decided.Get(m, decisionKey+r.DecisionID); err != nil || seen {
			return err
		}
		if err := decided.Put(m, decisionKey+r.DecisionID, []byte{1}); err != nil {
			return err
		}
	}
	if err := golden.Validate(in.ev); err != nil {
		if r, steward := golden.RulingOf(in.ev); steward && r.ExceptionID != "" && errs.ClassOf(err) == errs.ClassPoison {
			return h.refuse(m, in, r, "", err, base)
		}
		return err
	}
	var gid string
	switch e := in.ev.(type) {
	case golden.SourceUpserted:
		ref := refKey(string(e.System), e.RecordID)
		b, ok, err := blocks.Get(m, stickyKey+ref)
		if err != nil {
			return err
		}
		if !ok {
			block, known := golden.BlockOfID(e.GoldenRef)
			if !known {
				block = golden.BlockOf(e)
			}
			b = []byte(block)
			if err := blocks.Put(m, stickyKey+ref, b); err != nil {
				return err
			}
			m.Emit(TopicRoute, ref, nil, kgo.RecordHeader{Key: HeaderRegister, Value: b})
		}
		forward(m, string(b), r.Value, o)
		return nil
	case golden.SourceDeleted:
		b, ok, err := blocks.Get(m, stickyKey+refKey(string(e.System), e.RecordID))
		if err != nil || !ok {
			return err // a record never seen: nothing to retire
		}
		forward(m, string(b), r.Value, o)
		return nil
	case golden.ContactUpserted:
		m.Emit(TopicRoute, refKey(string(sv.CRM), e.AccountID), r.Value, o.headers()...)
		return nil
	case golden.ContactDeleted:
		m.Emit(TopicRoute, refKey(string(sv.CRM), e.AccountID), r.Value, o.headers()...)
		return nil
	case golden.LeadQualified:
		// A lead is matched in the block an account of its company would
		// be; it is never sticky (it creates no golden record).
		forward(m, golden.BlockOf(golden.SourceUpserted{System: sv.CRM, RecordID: e.LeadID, Attrs: e.Attrs}), r.Value, o)
		return nil
	case golden.StewardMerge:
		gid = e.Merged // the merged record's block hands it over if needed
	case golden.StewardNotDuplicate:
		gid = e.A
	case golden.StewardPick:
		gid = e.Golden
	case golden.StewardSplit:
		gid = e.Golden
	case golden.StewardClose:
		gid = e.Golden
	case golden.EraseRequested:
		if gid = e.GoldenID; gid == "" {
			m.Emit(TopicRoute, refKey(e.Ref.System, e.Ref.ID), r.Value, o.headers()...)
			return nil
		}
	}
	block, ok := golden.BlockOfID(gid)
	if !ok {
		err := errs.Poisonf(errs.ReasonUnknownGoldenID, "golden id %q names no match block: %w", gid, golden.ErrUnknownGolden)
		if rl, steward := golden.RulingOf(in.ev); steward && rl.ExceptionID != "" {
			return h.refuse(m, in, rl, "", err, base)
		}
		return err
	}
	forward(m, block, r.Value, o)
	return nil
}

// refuse publishes the exception a steward decision names back OPEN with
// the reason the decision cannot be carried out: nothing changes, nothing
// is dead-lettered, the partition flows on.
func (h *Handler) refuse(m *processor.Message, in input, r golden.Ruling, goldenID string, err error, base string) error {
	x := golden.Refusal(r, goldenID, err.Error(), golden.Meta{EventID: in.md.EventID, CorrelationID: in.md.CorrelationID, OccurredAt: in.md.OccurredAt})
	m.Logger().Info("steward decision refused", "decision_id", r.DecisionID, "exception_id", r.ExceptionID, "reason", x.Message)
	for _, rec := range adapter.Outputs(golden.Outputs{Exceptions: []golden.Exception{x}}, in.md, base+"/refused") {
		if err := m.EmitValue(rec.Topic, rec.Key, rec.Value); err != nil {
			return err
		}
	}
	return nil
}

// refKey is the key of a source record on the route topic and in the route
// store, as in mdm.xref.v1: "CRM:A1".
func refKey(system, id string) string { return strings.ToUpper(system) + ":" + id }

// route is the second stage, keyed by source record: it learns each
// account's and customer's block from the registration its first event
// sends, forwards contacts and erases by source record to the match topic
// under that block, and keeps those that arrive before the registration
// waiting in the route store, in arrival order, until it comes.
func (h *Handler) route(m *processor.Message) error {
	ref := m.Key()
	if g, ok := m.Header(HeaderXrefGolden); ok {
		return h.xrefNotice(m, ref, g)
	}
	if child, ok := m.Header(HeaderParentChild); ok {
		return h.parentAsk(m, ref, child)
	}
	if b, ok := m.Header(HeaderRegister); ok {
		if _, known, err := blocks.Get(m, routeKey+ref); err != nil || known {
			return err
		}
		if err := blocks.Put(m, routeKey+ref, []byte(b)); err != nil {
			return err
		}
		return h.release(m, ref, b)
	}
	o, err := originOf(m)
	if err != nil {
		return err
	}
	in, err := decode(m, o.topic, o.key, m.Value(), o.ts, o.idBase())
	if err != nil || in.ev == nil {
		return err
	}
	b, ok, err := blocks.Get(m, routeKey+ref)
	if err != nil {
		return err
	}
	if ok {
		forward(m, string(b), m.Value(), o)
		return nil
	}
	if _, ok := in.ev.(golden.EraseRequested); ok {
		return errs.Poison(errs.ReasonUnknownGoldenID, fmt.Errorf("erase: source record %s: %w", ref, golden.ErrUnknownGolden))
	}
	return h.wait(m, ref, o)
}

// parentOf is what the route store knows of a source record for the
// hierarchy: its golden id and ERP customer number.
type parentOf struct {
	Golden string   `json:"golden"`
	ERP    string   `json:"erp,omitempty"`
	CRM    string   `json:"crm,omitempty"`
	Path   []string `json:"path,omitempty"`
}

func (p parentOf) equal(o parentOf) bool {
	return p.Golden == o.Golden && p.ERP == o.ERP && p.CRM == o.CRM && slices.Equal(p.Path, o.Path)
}

func splitPath(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// xrefNotice records a source record's golden id and ERP customer number
// (sent by the match stage with every mdm.xref.v1 entry) and, when they
// changed, answers every golden record whose parent it is.
func (h *Handler) xrefNotice(m *processor.Message, ref, golden string) error {
	erp, _ := m.Header(HeaderXrefERP)
	crm, _ := m.Header(HeaderXrefCRM)
	path, _ := m.Header(HeaderXrefPath)
	now := parentOf{Golden: golden, ERP: erp, CRM: crm, Path: splitPath(path)}
	was, ok, err := parents.Get(m, xrefKey+ref)
	if err != nil {
		return err
	}
	if ok && was.equal(now) {
		return nil
	}
	if err := parents.Put(m, xrefKey+ref, now); err != nil {
		return err
	}
	kids, _, err := children.Get(m, childrenKey+ref)
	if err != nil {
		return err
	}
	o, err := originOf(m)
	if err != nil {
		return err
	}
	for _, c := range kids {
		answerParent(m, o, c, ref, now)
	}
	return nil
}

// parentAsk remembers that golden record child has ref as its parent
// company and answers at once when ref's golden id is known.
func (h *Handler) parentAsk(m *processor.Message, ref, child string) error {
	o, err := originOf(m)
	if err != nil {
		return err
	}
	kids, _, err := children.Get(m, childrenKey+ref)
	if err != nil {
		return err
	}
	if i, found := slices.BinarySearch(kids, child); !found {
		if err := children.Put(m, childrenKey+ref, slices.Insert(kids, i, child)); err != nil {
			return err
		}
	}
	now, ok, err := parents.Get(m, xrefKey+ref)
	if err != nil {
		return err
	}
	if !ok {
		// No system has sent ref yet: the child hears it is an orphan
		// (for now), and is answered again when ref links.
		answerParent(m, o, child, ref, parentOf{}, kgo.RecordHeader{Key: HeaderParentUnknown, Value: []byte("1")})
		return nil
	}
	answerParent(m, o, child, ref, now)
	return nil
}

// answerParent sends golden.ParentResolved to the child's block; the value
// and origin are the triggering event's, for the outputs' metadata.
func answerParent(m *processor.Message, o origin, child, ref string, p parentOf, extra ...kgo.RecordHeader) {
	block, ok := golden.BlockOfID(child)
	if !ok {
		return
	}
	forward(m, block, m.Value(), o, append([]kgo.RecordHeader{
		{Key: HeaderParentChild, Value: []byte(child)},
		{Key: HeaderParentRef, Value: []byte(ref)},
		{Key: HeaderParentGolden, Value: []byte(p.Golden)},
		{Key: HeaderParentERP, Value: []byte(p.ERP)},
		{Key: HeaderParentCRM, Value: []byte(p.CRM)},
		{Key: HeaderParentPath, Value: []byte(strings.Join(p.Path, ","))},
	}, extra...)...)
}

// waiting is an event parked in the route store until its source record's
// first event.
type waiting struct {
	Topic     string `json:"topic"`
	Via       string `json:"via,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Timestamp int64  `json:"ts"`
	Value     []byte `json:"value"`
}

func (h *Handler) wait(m *processor.Message, ref string, o origin) error {
	list, _, err := waits.Get(m, waitingKey+ref)
	if err != nil {
		return err
	}
	list = append(list, waiting{Topic: o.topic, Via: o.via, Partition: o.partition, Offset: o.offset, Key: o.key, Timestamp: o.ts.UnixMilli(), Value: m.Value()})
	return waits.Put(m, waitingKey+ref, list)
}

// release forwards, in arrival order, the events that waited for ref.
func (h *Handler) release(m *processor.Message, ref, block string) error {
	list, ok, err := waits.Get(m, waitingKey+ref)
	if err != nil || !ok {
		return err
	}
	for _, w := range list {
		forward(m, block, w.Value, origin{topic: w.Topic, via: w.Via, partition: w.Partition, offset: w.Offset, key: w.Key, ts: time.UnixMilli(w.Timestamp)})
	}
	waits.Delete(m, waitingKey+ref)
	return nil
}

// forward sends the event of origin o (value: its original bytes) to the
// match topic under match block block.
func forward(m *processor.Message, block string, value []byte, o origin, extra ...kgo.RecordHeader) {
	hs := append(o.headers(), kgo.RecordHeader{Key: HeaderBlock, Value: []byte(block)})
	m.Emit(TopicMatch, block, value, append(hs, extra...)...)
}

// idBase is the base of the output event ids of one source record: its
// logical topic and position, independent of ISTHMUS_TOPIC_PREFIX and of
// the match topic's offsets, so any replay of the same input yields the
// same ids.
// A record the runtime forwarded from another partition than its key's
// takes the position where it was first consumed (the runtime's origin
// headers); only without them would it fall back to the forward topic's
// position, and its base then names that topic too.
func idBase(topic string, partition int32, offset int64) string {
	return topic + "/" + strconv.Itoa(int(partition)) + "/" + strconv.FormatInt(offset, 10)
}

func (o origin) idBase() string {
	if o.via != "" {
		return idBase(o.via+">"+o.topic, o.partition, o.offset)
	}
	return idBase(o.topic, o.partition, o.offset)
}

// origin is the source record an internal record stands for.
type origin struct {
	topic     string
	via       string // processor.ForwardTopic when forwarded by the runtime
	partition int32
	offset    int64
	key       string
	ts        time.Time
}

func (o origin) headers() []kgo.RecordHeader {
	hs := []kgo.RecordHeader{
		{Key: HeaderOriginTopic, Value: []byte(o.topic)},
		{Key: HeaderOriginPartition, Value: []byte(strconv.Itoa(int(o.partition)))},
		{Key: HeaderOriginOffset, Value: []byte(strconv.FormatInt(o.offset, 10))},
		{Key: HeaderOriginKey, Value: []byte(o.key)},
		{Key: HeaderOriginTimestamp, Value: []byte(strconv.FormatInt(o.ts.UnixMilli(), 10))},
	}
	if o.via != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderOriginVia, Value: []byte(o.via)})
	}
	return hs
}

func originOf(m *processor.Message) (origin, error) {
	var o origin
	var ok bool
	if o.topic, ok = m.Header(HeaderOriginTopic); !ok || o.topic == "" {
		return o, errs.Poisonf(errs.ReasonContract, "match record without %s header", HeaderOriginTopic)
	}
	p, _ := m.Header(HeaderOriginPartition)
	off, _ := m.Header(HeaderOriginOffset)
	ts, _ := m.Header(HeaderOriginTimestamp)
	pn, err1 := strconv.ParseInt(p, 10, 32)
	on, err2 := strconv.ParseInt(off, 10, 64)
	tn, err3 := strconv.ParseInt(ts, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return o, errs.Poisonf(errs.ReasonContract, "match record with malformed origin headers (partition %q, offset %q, timestamp %q)", p, off, ts)
	}
	o.partition, o.offset, o.ts = int32(pn), on, time.UnixMilli(tn)
	o.key, _ = m.Header(HeaderOriginKey)
	o.via, _ = m.Header(HeaderOriginVia)
	return o, nil
}

// match is the third stage: apply one event to the partition's golden
// state, write the state changes to the store and emit the outputs, all in
// the transaction of the match topic's offset.
func (h *Handler) match(m *processor.Message) (err error) {
	o, err := originOf(m)
	if err != nil {
		return err
	}
	base := o.idBase()
	in, err := decode(m, o.topic, o.key, m.Value(), o.ts, base)
	if err != nil || in.ev == nil {
		return err
	}
	block, _ := m.Header(HeaderBlock)
	if block == "" {
		return errs.Poisonf(errs.ReasonContract, "match record without %s header", HeaderBlock)
	}
	absorb, isAbsorb := m.Header(HeaderAbsorb)
	_, forwarded := m.Header(HeaderForwarded)
	switch e := in.ev.(type) {
	case golden.StewardMerge:
		if isAbsorb {
			in.ev = golden.Absorb{StewardMerge: e, Record: []byte(absorb)}
		}
	case golden.StewardNotDuplicate:
		e.Forwarded = forwarded
		in.ev = e
	}
	if forwarded {
		// The first block emitted its share under the plain base: this
		// block's outputs need their own event ids.
		base += "@" + block
	}
	if child, ok := m.Header(HeaderParentChild); ok {
		ref, _ := m.Header(HeaderParentRef)
		g, _ := m.Header(HeaderParentGolden)
		erp, _ := m.Header(HeaderParentERP)
		crm, _ := m.Header(HeaderParentCRM)
		path, _ := m.Header(HeaderParentPath)
		_, unknown := m.Header(HeaderParentUnknown)
		sys, id, _ := strings.Cut(ref, ":")
		in.ev = golden.ParentResolved{Meta: golden.Meta{EventID: in.md.EventID, CorrelationID: in.md.CorrelationID, OccurredAt: in.md.OccurredAt},
			Child: child, Ref: xref.Ref{System: strings.ToLower(sys), ID: id}, Golden: g, ERP: erp, CRM: crm, Path: splitPath(path), Unknown: unknown}
		base += "@parent:" + child + ":" + ref
	}
	ps, err := h.state(m)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			h.setPart(m.Partition(), nil) // possibly half-applied: rebuild
			panic(r)
		}
	}()
	out, err := ps.st.ApplyIn(block, in.ev)
	if err != nil {
		if r, steward := golden.RulingOf(in.ev); steward && r.ExceptionID != "" && errs.ClassOf(err) == errs.ClassPoison {
			return h.refuse(m, in, r, "", err, base) // the state is unchanged
		}
		return err // the state is unchanged
	}
	// From here the in-memory state is one event ahead of the store; if
	// anything below fails, the message's writes are dropped and the next
	// message sees a different applied count and rebuilds.
	ps.seq++
	if err := applied.Put(m, seqKey, ps.seq); err != nil {
		return err
	}
	for _, w := range out.State {
		m.Put(Store, w.Key, w.Value)
	}
	h.updateGauge(m.Partition(), ps.st.Len())
	for _, rec := range adapter.Outputs(out, in.md, base) {
		if err := m.EmitValue(rec.Topic, rec.Key, rec.Value); err != nil {
			return err
		}
	}
	for _, a := range out.ParentAsks {
		m.Emit(TopicRoute, refKey(a.Ref.System, a.Ref.ID), m.Value(), append(o.headers(),
			kgo.RecordHeader{Key: HeaderParentChild, Value: []byte(a.Child)})...)
	}
	for _, x := range out.Xrefs {
		erp, crm := "", ""
		if !x.Retired {
			switch x.Ref.System {
			case string(sv.ERP):
				erp = x.Ref.ID
			case string(sv.CRM):
				crm = x.Ref.ID
			}
		}
		for _, r := range x.Others {
			if erp == "" && r.System == string(sv.ERP) {
				erp = r.ID
			}
			if crm == "" && r.System == string(sv.CRM) {
				crm = r.ID
			}
		}
		var path []string
		if rec, ok := ps.st.Record(x.GoldenID); ok {
			path = rec.Ancestors
		}
		notice(m, o, golden.PathNotice{Ref: x.Ref, Golden: x.GoldenID, ERP: erp, CRM: crm, Path: path})
	}
	for _, n := range out.PathNotices {
		notice(m, o, n)
	}
	if ho := out.Handover; ho != nil {
		forward(m, ho.Block, m.Value(), o, kgo.RecordHeader{Key: HeaderAbsorb, Value: ho.Record})
	}
	if out.Forward != "" {
		var extra []kgo.RecordHeader
		for _, k := range carried {
			if v, ok := m.Header(k); ok {
				extra = append(extra, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
		}
		if out.Partial {
			extra = append(extra, kgo.RecordHeader{Key: HeaderForwarded, Value: []byte("1")})
		}
		forward(m, out.Forward, m.Value(), o, extra...)
	}
	return nil
}

// notice tells the route stage what source record n.Ref now stands for in
// the hierarchy (its golden id, ERP customer, CRM account, ancestry).
func notice(m *processor.Message, o origin, n golden.PathNotice) {
	m.Emit(TopicRoute, refKey(n.Ref.System, n.Ref.ID), m.Value(), append(o.headers(),
		kgo.RecordHeader{Key: HeaderXrefGolden, Value: []byte(n.Golden)}, kgo.RecordHeader{Key: HeaderXrefERP, Value: []byte(n.ERP)},
		kgo.RecordHeader{Key: HeaderXrefCRM, Value: []byte(n.CRM)}, kgo.RecordHeader{Key: HeaderXrefPath, Value: []byte(strings.Join(n.Path, ","))})...)
}

// state returns the decoded state of the message's partition. It is
// reused while the store's applied count equals the one it was built at:
// the store answers with this transaction's writes, then the committed
// state, so an aborted batch, a retried message or a partition restored
// after a rebalance all show a different count and the state is rebuilt
// from the store (a full reload, only then). Equal counts mean equal
// states: the match partition is one ordered log applied deterministically.
func (h *Handler) state(m *processor.Message) (*partState, error) {
	seq, _, err := applied.Get(m, seqKey)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	ps := h.parts[m.Partition()]
	h.mu.Unlock()
	if ps != nil && ps.seq == seq {
		return ps, nil
	}
	start := time.Now()
	st, err := golden.New(h.cfg)
	if err != nil {
		return nil, err
	}
	var lerr error
	n := 0
	m.Range(Store, func(k string, v []byte) bool {
		if k == seqKey {
			return true
		}
		n++
		if err := st.Load(k, v); err != nil {
			lerr = processor.CorruptState(Store, k, err) // the one policy: retriable, never dead-lettered or skipped
			return false
		}
		return true
	})
	if lerr != nil {
		return nil, lerr
	}
	ps = &partState{st: st, seq: seq}
	h.setPart(m.Partition(), ps)
	h.updateGauge(m.Partition(), st.Len())
	m.Logger().Info("golden state loaded", "partition", m.Partition(), "entries", n, "golden_records", st.Len(),
		"applied", seq, "took", time.Since(start).String())
	return ps, nil
}

func (h *Handler) setPart(part int32, ps *partState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ps == nil {
		delete(h.parts, part)
		delete(h.counts, part)
		return
	}
	h.parts[part] = ps
}

// updateGauge records a partition's live golden records and sets the gauge
// to the sum over partitions.
func (h *Handler) updateGauge(part int32, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[part] = n
	sum := 0
	for _, c := range h.counts {
		sum += c
	}
	h.gauge.Set(float64(sum))
}
