package match

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
)

// State store names.
const (
	// StoreEntities holds one Entity per match key, and the partition's
	// Stats under statsKey (JSON, through entities and stats).
	StoreEntities = "entities"
	// StoreTimers is the timer index (processor.Timers): one timer per
	// expectation, settle or GC deadline, its id the match key NUL the
	// expectation key (timerID).
	StoreTimers = "timers"
	// StoreDeadlines is the timer index of earlier releases: "<deadline
	// millis, 13 digits>|<event.ID(match key, expectation key)>" → match
	// key NUL expectation key. It is still declared, so its changelog is
	// restored, and Tick moves what it holds into StoreTimers (earliest
	// first) until it is empty: timers pending across an upgrade fire.
	StoreDeadlines = "deadlines"
	statsKey       = "~stats"
	gcKey          = "~gc"
)

// SLA holds the deadline of every expectation kind.
type SLA struct {
	OrderSubmit     time.Duration // quote accepted → order submitted
	ERPAck          time.Duration // order command → ERP order status
	Invoice         time.Duration // order shipped → invoice posted
	Provision       time.Duration // deal closed → subscription provisioned
	InvoiceSchedule time.Duration // deal closed → billing command with invoice schedule
	Journal         time.Duration // journal command → journal posted
	CustomerXref    time.Duration // CRM account → ERP customer id
	// LedgerSettle is how long the journals of a contract period may
	// disagree with its schedule before BILLING_JOURNAL_MISMATCH opens:
	// billing-bridge publishes schedule, revenue and journals on three
	// topics, so for a moment one side of a correction is seen without the
	// other.
	LedgerSettle time.Duration
	ServiceOrder time.Duration // CRM case opened (or resumed after an operator) → ERP service order
	ServiceCost  time.Duration // service order completed with a cost → SERVICE_COST journal posted
	ReturnCredit time.Duration // return inspected with accepted units → ERP credited it
}

// DefaultSLA are production-like defaults.
var DefaultSLA = SLA{
	OrderSubmit: 15 * time.Minute, ERPAck: 5 * time.Minute, Invoice: 24 * time.Hour,
	Provision: time.Hour, InvoiceSchedule: time.Hour, Journal: time.Hour, CustomerXref: 30 * time.Minute,
	LedgerSettle: 5 * time.Minute,
	ServiceOrder: 15 * time.Minute, ServiceCost: time.Hour, ReturnCredit: time.Hour,
}

// Engine applies observations and fires due timers. It keeps no state of
// its own: everything lives in the partition's state stores (StoreEntities,
// StoreTimers), so it is safe across restarts and rebalances.
type Engine struct {
	SLA SLA
	// ReportEvery is the window of recon.reports.v1 summaries (default 5m).
	ReportEvery time.Duration
	// Retention keeps a settled entity (nothing pending, no open break) this
	// long after its last event, then deletes it (default 7 days).
	Retention time.Duration
	// MaxFiresPerTick bounds one tick transaction per partition: the
	// timers it fires, and the earlier release's timers it moves into the
	// index (default 5000 each).
	MaxFiresPerTick int
}

func (e *Engine) reportEvery() time.Duration {
	if e.ReportEvery <= 0 {
		return 5 * time.Minute
	}
	return e.ReportEvery
}

func (e *Engine) retention() int64 {
	if e.Retention <= 0 {
		return (7 * 24 * time.Hour).Milliseconds()
	}
	return e.Retention.Milliseconds()
}

// Expectation is one open expectation of an entity.
type Expectation struct {
	Kind     string `json:"k"`
	Opened   int64  `json:"o"`
	Deadline int64  `json:"d"`
	Breached bool   `json:"b,omitempty"`
	Expected string `json:"x"`
	Actual   string `json:"a,omitempty"`
	Corr     string `json:"c,omitempty"`
	Cause    string `json:"e,omitempty"`
	// Gen is the generation of the expectation's break (0 is 1): an
	// expectation paused and resumed (see Entity.Paused) breaks again
	// under the same break id with the next generation, so its events keep
	// distinct ids.
	Gen int `json:"g,omitempty"`
}

func (ex *Expectation) gen() int { return max(ex.Gen, 1) }

// AmountBreak is an amount comparison of an entity that failed (Open) or
// failed once and was since resolved.
type AmountBreak struct {
	Kind     string `json:"k"`
	Open     bool   `json:"o"`
	Gen      int    `json:"g"`
	Expected Money  `json:"x"`
	Actual   Money  `json:"a"`
	What     string `json:"w"`
}

// JournalRef is a journal command seen at its contract.
type JournalRef struct {
	Kind   string `json:"k,omitempty"`
	Period string `json:"p,omitempty"`
	Amount Money  `json:"a"` // as commanded (sum of debits, always positive)
	Posted bool   `json:"d,omitempty"`
	// PostedAmount is the sum of the debits ERP posted, when its answer
	// carried the lines.
	PostedAmount *Money `json:"pa,omitempty"`
}

// ExceptionRef is the last operational exception about an entity.
type ExceptionRef struct {
	ID       string `json:"id"`
	Queue    string `json:"q"`
	Category string `json:"c"`
	Status   string `json:"s"`
}

// Entity is the reconciliation state of one match key.
type Entity struct {
	Key       string                  `json:"key"`
	IDs       map[string]string       `json:"ids,omitempty"`
	Corr      string                  `json:"c,omitempty"`
	Seen      int64                   `json:"seen"`
	GCAt      int64                   `json:"gc,omitempty"`
	Exp       map[string]*Expectation `json:"exp,omitempty"`
	Done      map[string]int64        `json:"done,omitempty"`
	Breaks    map[string]*AmountBreak `json:"brk,omitempty"`
	Amounts   map[string]Money        `json:"amt,omitempty"`
	ERPStatus string                  `json:"erp,omitempty"`
	Expected  map[string]Money        `json:"led,omitempty"` // "KIND|period" → expected amount
	SchedSeq  map[string]int          `json:"seq,omitempty"` // kind → amendment of the expected amounts
	// Base holds the kinds whose schedule of amendment 0 (the NEW) was
	// seen: amendments restate only what they change and journal only the
	// difference, so without it the amounts cannot be compared.
	Base     map[string]bool        `json:"base,omitempty"`
	Journals map[string]*JournalRef `json:"jnl,omitempty"`
	// Settle holds the ledger keys ("INVOICE|period", "RECOGNITION|period")
	// whose journals disagree with the schedule, with the deadline at which
	// a still-unexplained disagreement becomes a break.
	Settle    map[string]int64 `json:"stl,omitempty"`
	Exception *ExceptionRef    `json:"ex,omitempty"`
	// Paused holds the expectations on hold while a person decides (a case
	// waiting for sales-ops), each with the last generation of its break
	// that was emitted (0: none). Resumed, the expectation starts a fresh
	// deadline under the next generation.
	Paused map[string]int `json:"pau,omitempty"`
}

func newEntity(key string) *Entity {
	return &Entity{Key: key, IDs: map[string]string{}, Exp: map[string]*Expectation{}, Done: map[string]int64{},
		Breaks: map[string]*AmountBreak{}, Amounts: map[string]Money{}}
}

func (en *Entity) init() {
	if en.IDs == nil {
		en.IDs = map[string]string{}
	}
	if en.Exp == nil {
		en.Exp = map[string]*Expectation{}
	}
	if en.Done == nil {
		en.Done = map[string]int64{}
	}
	if en.Breaks == nil {
		en.Breaks = map[string]*AmountBreak{}
	}
	if en.Amounts == nil {
		en.Amounts = map[string]Money{}
	}
}

// settled reports whether nothing is pending or open.
func (en *Entity) settled() bool {
	if len(en.Exp) > 0 || len(en.Settle) > 0 || len(en.Paused) > 0 {
		return false
	}
	for _, b := range en.Breaks {
		if b.Open {
			return false
		}
	}
	return true
}

// counts adds the entity's contribution to open-expectation and open-break
// gauges (sign +1 or -1).
func (en *Entity) counts(s *Stats, sign int64) {
	for _, x := range en.Exp {
		s.Open[x.Kind] += sign
		if x.Breached {
			s.Breaks[x.Kind] += sign
		}
	}
	for _, b := range en.Breaks {
		if b.Open {
			s.Breaks[b.Kind] += sign
		}
	}
}

// Stats are a partition's counters, kept in state with the entities.
type Stats struct {
	Open     map[string]int64 `json:"open"`     // open expectations by kind (pending or breached)
	Breaks   map[string]int64 `json:"breaks"`   // open breaks by kind
	Breaches map[string]int64 `json:"breaches"` // SLA breaches ever, by kind
	Win      Window           `json:"win"`
	// Watermark is the newest event time applied in the partition (millis).
	Watermark int64 `json:"wm"`
}

// Window counts one report window.
type Window struct {
	Start        int64               `json:"start"`
	ExpOpened    int64               `json:"exp_opened"`
	ExpMet       int64               `json:"exp_met"`
	BreaksOpened int64               `json:"breaks_opened"`
	BreaksClosed int64               `json:"breaks_closed"`
	ByKind       map[string][2]int64 `json:"by_kind,omitempty"` // opened, closed
}

func (w *Window) opened(kind string) {
	w.BreaksOpened++
	if w.ByKind == nil {
		w.ByKind = map[string][2]int64{}
	}
	v := w.ByKind[kind]
	v[0]++
	w.ByKind[kind] = v
}

func (w *Window) closed(kind string) {
	w.BreaksClosed++
	if w.ByKind == nil {
		w.ByKind = map[string][2]int64{}
	}
	v := w.ByKind[kind]
	v[1]++
	w.ByKind[kind] = v
}

// The typed views of StoreEntities. A value that cannot be read back is
// the store's one corrupt-state policy (processor.Store): a retriable
// error, so the partition waits for a release that can read it; nothing is
// skipped.
var (
	entityStore = processor.NewStore(StoreEntities, processor.JSON[*Entity]())
	statsStore  = processor.NewStore(StoreEntities, processor.JSON[*Stats]())
)

// ReadStats returns the partition's stats.
func ReadStats(m *processor.Message) (*Stats, error) {
	s, ok, err := statsStore.Get(m, statsKey)
	if err != nil {
		return nil, err
	}
	if !ok || s == nil {
		s = &Stats{}
	}
	if s.Open == nil {
		s.Open = map[string]int64{}
	}
	if s.Breaks == nil {
		s.Breaks = map[string]int64{}
	}
	if s.Breaches == nil {
		s.Breaches = map[string]int64{}
	}
	return s, nil
}

func writeStats(m *processor.Message, s *Stats) error {
	for _, c := range []map[string]int64{s.Open, s.Breaks} {
		for k, v := range c {
			if v == 0 {
				delete(c, k)
			}
		}
	}
	return statsStore.Put(m, statsKey, s)
}

func loadEntity(m *processor.Message, key string) (*Entity, error) {
	en, ok, err := entityStore.Get(m, key)
	if err != nil {
		return nil, err
	}
	if !ok || en == nil {
		return newEntity(key), nil
	}
	en.init()
	return en, nil
}

func saveEntity(m *processor.Message, en *Entity) error { return entityStore.Put(m, en.Key, en) }

// timers is the matcher's timer index.
var timers = processor.NewTimers(StoreTimers)

// timerID names the timer of expectation (or settle or GC) key expKey of
// match key matchKey: what identified a deadline in StoreDeadlines too.
func timerID(matchKey, expKey string) string { return matchKey + "\x00" + expKey }

// setTimer schedules the timer of expKey of matchKey at at (Unix ms).
func setTimer(m *processor.Message, matchKey, expKey string, at int64) {
	timers.Set(m, timerID(matchKey, expKey), time.UnixMilli(at))
}

// cancelTimer stops the timer of expKey of matchKey whose deadline is at
// (Unix ms). A timer an earlier release set may still wait in
// StoreDeadlines to be moved: that entry goes too, so it never moves into
// the index once its expectation is settled.
func cancelTimer(m *processor.Message, matchKey, expKey string, at int64) {
	timers.Cancel(m, timerID(matchKey, expKey))
	if k := legacyDeadlineKey(at, matchKey, expKey); hasKey(m, StoreDeadlines, k) {
		m.Put(StoreDeadlines, k, nil)
	}
}

func hasKey(m *processor.Message, store, key string) bool {
	_, ok := m.Get(store, key)
	return ok
}

// legacyDeadlineKey is the key of a deadline in StoreDeadlines.
func legacyDeadlineKey(at int64, matchKey, expKey string) string {
	return fmt.Sprintf("%013d|%s", max(at, 0), event.ID(matchKey, expKey))
}

// parseLegacyDeadline reads an entry of StoreDeadlines: its timer id and
// deadline.
func parseLegacyDeadline(key string, value []byte) (string, time.Time, error) {
	ms, _, ok := strings.Cut(key, "|")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return "", time.Time{}, fmt.Errorf("deadline key %q is not <millis>|<hash>", key)
	}
	if !strings.Contains(string(value), "\x00") {
		return "", time.Time{}, fmt.Errorf("deadline %q names no match key and expectation", key)
	}
	return string(value), time.UnixMilli(at), nil
}

// op is the working set of one Apply or Tick.
type op struct {
	e     *Engine
	st    *processor.Message
	stats *Stats
	out   []*contracts.ReconBreak
}

// Apply folds one observation into its entity and returns the break
// events it causes (amount breaks, and CLOSED events of late arrivals).
func (e *Engine) Apply(st *processor.Message, o *Observation) ([]*contracts.ReconBreak, error) {
	en, err := loadEntity(st, o.Key)
	if err != nil {
		return nil, err
	}
	stats, err := ReadStats(st)
	if err != nil {
		return nil, err
	}
	x := &op{e: e, st: st, stats: stats}
	en.counts(stats, -1)
	for k, v := range o.IDs {
		en.IDs[k] = v
	}
	if en.Corr == "" {
		en.Corr = o.CorrelationID
	}
	if o.At > en.Seen {
		en.Seen = o.At
	}
	if o.At > stats.Watermark {
		stats.Watermark = o.At
	}
	x.apply(en, o)
	if en.GCAt == 0 {
		en.GCAt = en.Seen + e.retention()
		setTimer(st, en.Key, gcKey, en.GCAt)
	}
	en.counts(stats, +1)
	if err := saveEntity(st, en); err != nil {
		return nil, err
	}
	if err := writeStats(st, stats); err != nil {
		return nil, err
	}
	return x.out, nil
}

func (x *op) apply(en *Entity, o *Observation) {
	sla := x.e.SLA
	switch o.Event {
	case EvQuoteAccepted:
		en.Amounts["quote"] = *o.Amount
		x.expect(en, contracts.BreakKindOrderNotSubmitted, "", o, sla.OrderSubmit,
			fmt.Sprintf("an order submitted to ERP within %s of quote acceptance", sla.OrderSubmit))
		x.compareOrder(en, o)
	case EvOrderProgressed:
		x.meet(en, contracts.BreakKindOrderNotSubmitted, o, "order reached "+o.Status)
	case EvOrderCommand:
		if o.Status == contracts.OrderCommandActionCancel {
			x.meet(en, contracts.BreakKindOrderNotSubmitted, o, "order cancelled")
			x.meet(en, contracts.BreakKindERPAckMissing, o, "order cancelled")
			return
		}
		en.Amounts["command"] = *o.Amount
		if strings.HasPrefix(en.Key, "Q:") {
			x.meet(en, contracts.BreakKindOrderNotSubmitted, o, "order command sent to ERP")
			x.compareOrder(en, o)
			return
		}
		x.expect(en, contracts.BreakKindERPAckMissing, "", o, sla.ERPAck,
			fmt.Sprintf("an ERP order status within %s of the order command", sla.ERPAck))
		x.compareOrder(en, o)
		x.compareInvoice(en, o)
	case EvERPOrderStatus:
		x.meet(en, contracts.BreakKindERPAckMissing, o, "ERP reported "+o.Status)
		en.ERPStatus = o.Status
		if o.Amount != nil {
			en.Amounts["erp"] = *o.Amount
		}
		switch o.Status {
		case contracts.ErpOrderStateShipped, contracts.ErpOrderStatePartiallyShipped, contracts.ErpOrderStateInvoiced:
			x.expect(en, contracts.BreakKindInvoiceNotPosted, "", o, sla.Invoice,
				fmt.Sprintf("an ERP invoice posted within %s of shipment", sla.Invoice))
		case contracts.ErpOrderStateRejected, contracts.ErpOrderStateCancelled:
			x.meet(en, contracts.BreakKindInvoiceNotPosted, o, "order "+o.Status)
		}
		x.compareOrder(en, o)
		x.compareInvoice(en, o)
	case EvInvoicePosted:
		en.Amounts["inv:"+o.Ref] = *o.Amount
		x.meet(en, contracts.BreakKindInvoiceNotPosted, o, "invoice "+o.Ref+" posted")
		x.compareInvoice(en, o)
	case EvDealClosed:
		x.expect(en, contracts.BreakKindSubscriptionNotProvisioned, o.Ref, o, sla.Provision,
			fmt.Sprintf("the subscription of amendment %s provisioned within %s of the deal closing", o.Ref, sla.Provision))
		if o.Status != contracts.DealTypeCancel {
			x.expect(en, contracts.BreakKindInvoiceScheduleMissing, o.Ref, o, sla.InvoiceSchedule,
				fmt.Sprintf("an invoice schedule for amendment %s within %s of the deal closing", o.Ref, sla.InvoiceSchedule))
		}
	case EvBillingEvent:
		switch o.Status {
		case contracts.BillingEventTypeSubscriptionProvisioned, contracts.BillingEventTypeSubscriptionUpdated, contracts.BillingEventTypeSubscriptionCancelled:
			x.meetQualified(en, contracts.BreakKindSubscriptionNotProvisioned, o.Ref, o, "billing reported "+o.Status)
		case contracts.BillingEventTypeCommandRejected:
			for k, ex := range en.Exp {
				if ex.Kind == contracts.BreakKindSubscriptionNotProvisioned && (o.Ref == "" || k == expKey(ex.Kind, o.Ref)) {
					ex.Actual = "billing rejected the command: " + o.Detail
				}
			}
		}
	case EvBillingCommand:
		if len(o.Schedule) > 0 || o.Status == contracts.BillingActionCancel {
			x.meet(en, expKey(contracts.BreakKindInvoiceScheduleMissing, o.Ref), o, "billing command with invoice schedule sent")
		}
		x.setExpected(en, contracts.JournalKindInvoice, o.Ref, o.Period, o.Schedule)
		x.compareLedger(en, o)
	case EvRevenueSchedule:
		x.mergeExpected(en, contracts.JournalKindRecognition, o.Ref, o.Schedule)
		x.compareLedger(en, o)
	case EvJournalCommand:
		x.expect(en, contracts.BreakKindJournalNotPosted, "", o, sla.Journal,
			fmt.Sprintf("ERP to post journal %s within %s", o.Ref, sla.Journal))
	case EvJournal:
		if o.Status == contracts.JournalStatusPosted {
			x.meet(en, contracts.BreakKindJournalNotPosted, o, "journal posted")
		} else if ex := en.Exp[contracts.BreakKindJournalNotPosted]; ex != nil {
			ex.Actual = strings.TrimSpace("journal " + o.Status + " " + o.Detail)
		}
	case EvLedgerCommanded:
		j := en.journal(o.Ref)
		j.Kind, j.Period, j.Amount = o.Kind, o.Period, *o.Amount
		x.compareLedger(en, o)
	case EvLedgerPosted:
		j := en.journal(o.Ref)
		j.Posted = true
		if o.Amount != nil && o.Amount.Currency != "" { // the answer carried its lines
			a := *o.Amount
			j.PostedAmount = &a
		}
		x.compareLedger(en, o)
	case EvAccount:
		switch {
		case o.Status == contracts.ChangeOperationDelete || o.Status == contracts.ChangeOperationErase:
			x.meet(en, contracts.BreakKindCustomerNotInERP, o, "account "+strings.ToLower(o.Status)+"d in CRM")
		case o.Ref != "":
			x.meet(en, contracts.BreakKindCustomerNotInERP, o, "CRM account carries ERP customer "+o.Ref)
		default:
			x.expect(en, contracts.BreakKindCustomerNotInERP, "", o, sla.CustomerXref,
				fmt.Sprintf("an ERP customer id for the CRM account within %s", sla.CustomerXref))
		}
	case EvXrefLinked:
		x.meet(en, contracts.BreakKindCustomerNotInERP, o, "xref links ERP customer "+o.Ref)
	case EvExceptionRaised:
		en.Exception = &ExceptionRef{ID: o.Ref, Queue: o.Kind, Category: o.Detail, Status: o.Status}
	case EvCase, EvCaseUpdate, EvServiceOrderStatus, EvServiceCostJournal, EvReturnStatus:
		x.applyFieldService(en, o)
	}
}

// applyFieldService checks the field-service flows of a case (key S:):
//
//   - a service case OPEN expects ERP's service order (any status of it)
//     within SLA.ServiceOrder. Withdrawn (CRM CANCELLED) or refused or
//     cancelled by field-service, the case expects nothing more; waiting
//     for sales-ops (ENTITLEMENT NOT_ENTITLED) the expectation is paused,
//     and the next WORK_ORDER resumes it with a fresh deadline;
//   - a service order COMPLETED with a cost expects its SERVICE_COST
//     journal (or a repost of it) POSTED within SLA.ServiceCost;
//   - a return INSPECTED with accepted units expects CREDITED within
//     SLA.ReturnCredit.
func (x *op) applyFieldService(en *Entity, o *Observation) {
	sla := x.e.SLA
	const noOrder = contracts.BreakKindCaseWithoutServiceOrder
	orderExpected := fmt.Sprintf("an ERP service order %s for the case within %s", caseOf(en), sla.ServiceOrder)
	switch o.Event {
	case EvCase:
		if o.Kind == CaseKindReturn || en.isReturn() {
			return
		}
		switch o.Status {
		case contracts.CaseStatusOpen:
			if _, paused := en.Paused[noOrder]; !paused {
				x.expect(en, noOrder, "", o, sla.ServiceOrder, orderExpected+" of it opening")
			}
		case contracts.CaseStatusCancelled:
			x.withdraw(en, noOrder, o, "case withdrawn in CRM")
		}
	case EvCaseUpdate:
		switch o.Status {
		case contracts.CaseEventEntitlement:
			if o.Kind == contracts.CoverageNotEntitled && !en.isReturn() {
				x.pause(en, noOrder, o, "not entitled: the case waits for a sales-ops decision")
			}
		case contracts.CaseEventWorkOrder:
			if !en.isReturn() {
				x.resume(en, noOrder, o, sla.ServiceOrder, orderExpected+" of the work order after the operator's decision")
			}
		case contracts.CaseEventRefused, contracts.CaseEventCancelled:
			x.withdraw(en, noOrder, o, "case "+strings.ToLower(o.Status)+" by field-service")
		}
	case EvServiceOrderStatus:
		x.meet(en, noOrder, o, "ERP reported service order "+o.Status)
		if o.Status == contracts.ServiceOrderStateCompleted && o.Amount != nil && o.Amount.Minor != 0 {
			x.expect(en, contracts.BreakKindServiceCostNotSettled, "", o, sla.ServiceCost,
				fmt.Sprintf("ERP to post journal %s (or a repost of it) booking the cost of %s within %s of completion",
					ServiceCostJournalID(caseOf(en)), o.Amount, sla.ServiceCost))
		}
	case EvServiceCostJournal:
		if o.Status == contracts.JournalStatusPosted {
			x.meet(en, contracts.BreakKindServiceCostNotSettled, o, "journal "+o.Ref+" posted")
		} else if ex := en.Exp[contracts.BreakKindServiceCostNotSettled]; ex != nil {
			ex.Actual = strings.TrimSpace("journal " + o.Ref + " " + o.Status + " " + o.Detail)
		}
	case EvReturnStatus:
		const kind = contracts.BreakKindReturnNotCredited
		switch o.Status {
		case contracts.ReturnStateInspected:
			if o.Units > 0 {
				x.expect(en, kind, "", o, sla.ReturnCredit,
					fmt.Sprintf("ERP to credit the %d accepted units of return %s within %s of inspection", o.Units, caseOf(en), sla.ReturnCredit))
			} else {
				// Inspection (again) accepted nothing: nothing to credit,
				// unless a later inspection accepts units.
				x.drop(en, kind, o, "withdrawn", "inspection accepted no units")
			}
		case contracts.ReturnStateCredited:
			res := "ERP credited the return"
			if m := en.IDs["credit_memo_id"]; m != "" {
				res += " (credit memo " + m + ")"
			}
			x.meet(en, kind, o, res)
		case contracts.ReturnStateRejected, contracts.ReturnStateCancelled:
			if ex := en.Exp[kind]; ex != nil {
				ex.Actual = strings.TrimSpace("ERP reported the return " + o.Status + " " + o.Detail)
			}
		}
	}
}

// caseOf is the case id of an S: entity.
func caseOf(en *Entity) string { return strings.TrimPrefix(en.Key, "S:") }

// isReturn reports whether the case is a return (RMA).
func (en *Entity) isReturn() bool { return en.IDs["return_id"] != "" }

func (en *Entity) journal(id string) *JournalRef {
	if en.Journals == nil {
		en.Journals = map[string]*JournalRef{}
	}
	j := en.Journals[id]
	if j == nil {
		j = &JournalRef{}
		en.Journals[id] = j
	}
	return j
}

func expKey(kind, qual string) string {
	if qual == "" {
		return kind
	}
	return kind + "#" + qual
}

// expect opens an expectation unless it is open or was already met.
func (x *op) expect(en *Entity, kind, qual string, o *Observation, sla time.Duration, expected string) {
	k := expKey(kind, qual)
	if _, done := en.Done[k]; done {
		return
	}
	if _, open := en.Exp[k]; open {
		return
	}
	dl := o.At + sla.Milliseconds()
	en.Exp[k] = &Expectation{Kind: kind, Opened: o.At, Deadline: dl, Expected: expected, Corr: o.CorrelationID, Cause: o.EventID}
	setTimer(x.st, en.Key, k, dl)
	x.stats.Win.ExpOpened++
}

// meet settles an expectation; a breached one gets its CLOSED event.
func (x *op) meet(en *Entity, key string, o *Observation, resolution string) {
	en.Done[key] = o.At
	x.drop(en, key, o, "late", resolution)
}

// withdraw settles an expectation that no longer applies (the case was
// withdrawn or refused): like meet, nothing of it is expected any more.
func (x *op) withdraw(en *Entity, key string, o *Observation, resolution string) {
	en.Done[key] = o.At
	delete(en.Paused, key)
	x.drop(en, key, o, "withdrawn", resolution)
}

// drop removes an open expectation (its timer, or its break with a CLOSED
// event saying how: "late: …", "withdrawn: …", "paused: …"). It returns
// the expectation, nil when none was open.
func (x *op) drop(en *Entity, key string, o *Observation, how, resolution string) *Expectation {
	ex, ok := en.Exp[key]
	if !ok {
		return nil
	}
	delete(en.Exp, key)
	if !ex.Breached {
		cancelTimer(x.st, en.Key, key, ex.Deadline)
		if how == "late" {
			x.stats.Win.ExpMet++
		}
		return ex
	}
	x.stats.Win.closed(ex.Kind)
	b := x.e.slaBreak(en, key, ex, contracts.BreakStatusClosed, o.At, o.EventID)
	at := time.UnixMilli(o.At).UTC()
	res := fmt.Sprintf("%s: %s (%s %s)", how, resolution, o.Topic, o.EventID)
	b.ClosedAt, b.Resolution = &at, &res
	b.Actual = ptr(fmt.Sprintf("%s at %s, %s after the deadline", resolution, at.Format(time.RFC3339), time.Duration(o.At-ex.Deadline)*time.Millisecond))
	x.out = append(x.out, b)
	return ex
}

// pause puts an expectation on hold while a person decides: its timer is
// stopped (an open break closes) and it is not expected again until
// resume. An expectation already met or withdrawn stays so.
func (x *op) pause(en *Entity, key string, o *Observation, resolution string) {
	if _, done := en.Done[key]; done {
		return
	}
	if en.Paused == nil {
		en.Paused = map[string]int{}
	}
	emitted := en.Paused[key]
	if ex := x.drop(en, key, o, "paused", resolution); ex != nil {
		emitted = ex.gen() - 1
		if ex.Breached {
			emitted = ex.gen()
		}
	}
	en.Paused[key] = emitted
}

// resume opens a paused expectation again with a fresh deadline from o; it
// does nothing to an expectation that is not paused.
func (x *op) resume(en *Entity, key string, o *Observation, sla time.Duration, expected string) {
	emitted, paused := en.Paused[key]
	if !paused {
		return
	}
	delete(en.Paused, key)
	x.expect(en, key, "", o, sla, expected)
	if ex := en.Exp[key]; ex != nil {
		ex.Gen = emitted + 1
	}
}

// meetQualified settles kind#qual, or every open kind#* when qual is empty.
func (x *op) meetQualified(en *Entity, kind, qual string, o *Observation, resolution string) {
	if qual != "" {
		x.meet(en, expKey(kind, qual), o, resolution)
		return
	}
	keys := make([]string, 0)
	for k, ex := range en.Exp {
		if ex.Kind == kind {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.meet(en, k, o, resolution)
	}
}

// compareOrder checks quote total vs order command total (at the quote) and
// order command total vs the total ERP accepted (at the order).
func (x *op) compareOrder(en *Entity, o *Observation) {
	cmd, okc := en.Amounts["command"]
	if !okc {
		return
	}
	if q, ok := en.Amounts["quote"]; ok {
		x.compare(en, contracts.BreakKindOrderAmountMismatch, "quote", q, cmd, "quote total vs order total sent to ERP", o)
	}
	if erp, ok := en.Amounts["erp"]; ok && en.ERPStatus == contracts.ErpOrderStateAccepted {
		x.compare(en, contracts.BreakKindOrderAmountMismatch, "erp", cmd, erp, "order total sent to ERP vs ERP order total", o)
	}
}

// compareInvoice checks the sum of the order's posted invoices (net) against
// the ERP order total (or the commanded total when ERP reported none):
// over-invoicing breaks at once, under-invoicing once ERP reports INVOICED.
func (x *op) compareInvoice(en *Entity, o *Observation) {
	var sum Money
	n := 0
	for k, m := range en.Amounts {
		if strings.HasPrefix(k, "inv:") {
			if n == 0 {
				sum.Currency = m.Currency
			} else if m.Currency != sum.Currency {
				sum.Currency = "MIXED"
			}
			sum.Minor += m.Minor
			n++
		}
	}
	if n == 0 {
		return
	}
	total, ok := en.Amounts["erp"]
	if !ok {
		if total, ok = en.Amounts["command"]; !ok {
			return
		}
	}
	// Under-invoicing is only final once ERP says the order is invoiced;
	// until then further (partial-shipment) invoices may follow.
	if en.ERPStatus != contracts.ErpOrderStateInvoiced && sum.Currency == total.Currency && sum.Minor < total.Minor {
		if b := en.Breaks[contracts.BreakKindInvoiceAmountMismatch]; b == nil || !b.Open {
			return
		}
	}
	x.compare(en, contracts.BreakKindInvoiceAmountMismatch, "", total, sum, "order total vs posted invoices (net)", o)
}

// ledgerSide maps a journal kind onto the schedule it settles (INVOICE: the
// billing invoice schedule, RECOGNITION: the revenue schedule) and its sign.
// Journal lines are always positive: a credit, a cancellation or a
// recognition reversal takes back what an invoice or a recognition booked
// by debiting the other account, so it counts negative.
var ledgerSide = map[string]struct {
	group string
	sign  int64
}{
	contracts.JournalKindInvoice:      {contracts.JournalKindInvoice, 1},
	contracts.JournalKindCredit:       {contracts.JournalKindInvoice, -1},
	contracts.JournalKindCancellation: {contracts.JournalKindInvoice, -1},
	contracts.JournalKindRecognition:  {contracts.JournalKindRecognition, 1},
	contracts.JournalKindReversal:     {contracts.JournalKindRecognition, -1},
}

// settlePrefix names a ledger settle timer in the timer index.
const settlePrefix = "settle#"

// setExpected applies an amendment's invoice schedule. A billing command
// lists the documents dated on or after its effective date (from):
// everything the change re-planned, adjusted or credited, and the issued
// documents billing keeps. Documents dated before it are not touched by the
// change, so only the periods from the effective date on (and any period
// the command lists) are replaced; a period no longer listed expects
// nothing. Without an effective date every period is replaced.
func (x *op) setExpected(en *Entity, kind, seqText, from string, sched []PeriodAmount) {
	seq, _ := strconv.Atoi(seqText)
	if en.SchedSeq == nil {
		en.SchedSeq = map[string]int{}
	}
	if cur, ok := en.SchedSeq[kind]; ok && seq < cur {
		return
	}
	en.SchedSeq[kind] = seq
	en.sawBase(kind, seq)
	if en.Expected == nil {
		en.Expected = map[string]Money{}
	}
	for k := range en.Expected {
		if p, ok := strings.CutPrefix(k, kind+"|"); ok && p >= from {
			delete(en.Expected, k)
		}
	}
	for _, p := range sched {
		delete(en.Expected, kind+"|"+p.Period)
	}
	for _, p := range sched {
		k := kind + "|" + p.Period
		cur := en.Expected[k]
		cur.Minor += p.Amount.Minor
		cur.Currency = p.Amount.Currency
		en.Expected[k] = cur
	}
}

// mergeExpected sets single periods (revenue schedule rows).
func (x *op) mergeExpected(en *Entity, kind, seqText string, sched []PeriodAmount) {
	if en.Expected == nil {
		en.Expected = map[string]Money{}
	}
	if en.SchedSeq == nil {
		en.SchedSeq = map[string]int{}
	}
	seq, _ := strconv.Atoi(seqText)
	if cur, ok := en.SchedSeq[kind]; !ok || seq > cur {
		en.SchedSeq[kind] = seq
	}
	en.sawBase(kind, seq)
	for _, p := range sched {
		en.Expected[kind+"|"+p.Period] = p.Amount
	}
}

func (en *Entity) sawBase(kind string, seq int) {
	if seq != 0 {
		return
	}
	if en.Base == nil {
		en.Base = map[string]bool{}
	}
	en.Base[kind] = true
}

// ledgerTally is the net of a contract's journals for one ledger key.
type ledgerTally struct {
	posted    Money // net of the journals ERP posted
	commanded Money // net of every journal commanded
	pending   bool  // a journal is commanded but not (yet) posted
}

func addMoney(m *Money, sign int64, a Money) {
	switch {
	case m.Currency == "":
		m.Currency = a.Currency
	case a.Currency != "" && a.Currency != m.Currency:
		m.Currency = "MIXED"
	}
	m.Minor += sign * a.Minor
}

// sameMoney compares exactly; zero is zero in any currency (a period with
// no journals has none).
func sameMoney(a, b Money) bool {
	if a.Minor == 0 && b.Minor == 0 {
		return true
	}
	return a == b
}

// ledger nets the contract's journals per ledger key ("INVOICE|period",
// "RECOGNITION|period").
func (en *Entity) ledger() map[string]*ledgerTally {
	t := map[string]*ledgerTally{}
	for _, j := range en.Journals {
		side, ok := ledgerSide[j.Kind]
		if !ok || j.Period == "" {
			continue // kind unknown yet: ERP's answer arrived before the command
		}
		k := side.group + "|" + j.Period
		lt := t[k]
		if lt == nil {
			lt = &ledgerTally{}
			t[k] = lt
		}
		addMoney(&lt.commanded, side.sign, j.Amount)
		if !j.Posted {
			lt.pending = true
			continue
		}
		a := j.Amount
		if j.PostedAmount != nil {
			a = *j.PostedAmount
		}
		addMoney(&lt.posted, side.sign, a)
	}
	return t
}

// compareLedger checks, per ledger key, the net of the contract's posted
// journals against the billing schedule (INVOICE) or the revenue schedule
// (RECOGNITION); see checkLedger.
func (x *op) compareLedger(en *Entity, o *Observation) {
	tally := en.ledger()
	keys := make([]string, 0, len(tally)+len(en.Expected))
	for k := range tally {
		keys = append(keys, k)
	}
	for k := range en.Expected {
		if _, ok := tally[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k := range en.Settle {
		if _, ok := tally[k]; !ok {
			if _, ok := en.Expected[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.checkLedger(en, k, tally[k], o, false)
	}
}

// checkLedger compares one ledger key. Amounts that agree close an open
// break. A difference that unposted journals explain (their commanded net
// equals the schedule) is a posting gap, which JOURNAL_NOT_POSTED reports
// per journal (with ERP's rejection) after its SLA: it raises no amount
// break. Any other difference is in flight until the settle deadline
// (schedule, revenue and journals travel on three topics, and a correction
// is seen one side at a time); final is the check at that deadline, which
// opens the break. An open break follows the amounts at once.
func (x *op) checkLedger(en *Entity, k string, t *ledgerTally, o *Observation, final bool) {
	group := k[:strings.IndexByte(k, '|')]
	if !en.Base[group] {
		// Nothing to compare with yet, or the contract's history started
		// before this state (an amendment after the entity was collected).
		x.unsettle(en, k)
		return
	}
	if t == nil {
		t = &ledgerTally{}
	}
	exp, ok := en.Expected[k]
	if !ok {
		exp = Money{Currency: t.commanded.Currency}
	}
	actual := t.posted
	if actual.Currency == "" {
		actual.Currency = exp.Currency
	}
	kind := contracts.BreakKindBillingJournalMismatch
	b := en.Breaks[expKey(kind, k)]
	open := b != nil && b.Open
	lk := strings.ToLower(group)
	what := fmt.Sprintf("%s schedule vs posted %s journals (net of credits and reversals) for period %s", lk, lk, k[len(group)+1:])
	if t.pending && !sameMoney(t.commanded, t.posted) {
		what += fmt.Sprintf("; commanded %s", t.commanded)
	}
	switch {
	case sameMoney(exp, actual):
		x.unsettle(en, k)
		if open {
			x.compare(en, kind, k, exp, exp, what, o)
		}
	case open:
		x.compare(en, kind, k, exp, actual, what, o)
	case t.pending && sameMoney(exp, t.commanded):
		x.unsettle(en, k)
	case final:
		x.unsettle(en, k)
		x.compare(en, kind, k, exp, actual, what, o)
	default:
		x.settle(en, k, o.At)
	}
}

// settle starts the settle timer of a ledger key unless it runs already.
func (x *op) settle(en *Entity, k string, at int64) {
	if _, ok := en.Settle[k]; ok {
		return
	}
	if en.Settle == nil {
		en.Settle = map[string]int64{}
	}
	dl := max(at, recognitionOpens(k)) + x.e.SLA.LedgerSettle.Milliseconds()
	en.Settle[k] = dl
	setTimer(x.st, en.Key, settlePrefix+k, dl)
}

// recognitionOpens is when the posting period of a RECOGNITION ledger key
// opens (Unix ms; 0 for other keys): billing-bridge posts a month's
// recognition when the month opens, so the revenue schedule of a future
// month is not expected in the ledger before then.
func recognitionOpens(k string) int64 {
	group, period, ok := strings.Cut(k, "|")
	if !ok || group != contracts.JournalKindRecognition {
		return 0
	}
	d, err := time.Parse(time.DateOnly, period)
	if err != nil {
		return 0
	}
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).UnixMilli()
}

// unsettle stops the settle timer of a ledger key.
func (x *op) unsettle(en *Entity, k string) {
	dl, ok := en.Settle[k]
	if !ok {
		return
	}
	delete(en.Settle, k)
	cancelTimer(x.st, en.Key, settlePrefix+k, dl)
}

// settleDue is the check of a ledger key at its settle deadline.
func (x *op) settleDue(en *Entity, k string, nowMs int64) {
	if _, ok := en.Settle[k]; !ok {
		return
	}
	delete(en.Settle, k) // the tick deleted the timer entry
	o := &Observation{Key: en.Key, Topic: "settle deadline", CorrelationID: en.Corr, At: nowMs}
	x.checkLedger(en, k, en.ledger()[k], o, true)
}

// compare opens or closes an amount break.
func (x *op) compare(en *Entity, kind, qual string, expected, actual Money, what string, o *Observation) {
	k := expKey(kind, qual)
	b := en.Breaks[k]
	if expected == actual {
		if b != nil && b.Open {
			b.Open, b.Actual = false, actual
			x.stats.Win.closed(kind)
			ev := x.e.amountBreak(en, k, b, contracts.BreakStatusClosed, o)
			at := time.UnixMilli(o.At).UTC()
			res := fmt.Sprintf("amounts agree after %s %s", o.Topic, o.EventID)
			ev.ClosedAt, ev.Resolution = &at, &res
			x.out = append(x.out, ev)
		}
		return
	}
	if b != nil && b.Open && b.Expected == expected && b.Actual == actual {
		return
	}
	if b == nil {
		b = &AmountBreak{Kind: kind}
		en.Breaks[k] = b
	}
	if !b.Open {
		b.Gen++
		x.stats.Win.opened(kind)
		x.stats.Breaches[kind]++
	}
	b.Open, b.Expected, b.Actual, b.What = true, expected, actual, what
	x.out = append(x.out, x.e.amountBreak(en, k, b, contracts.BreakStatusOpen, o))
}

// BreakID is the deterministic id of an entity's break.
func BreakID(matchKey, expKey string) string {
	return event.ID("recon-break", matchKey, expKey)
}

var severities = map[string]string{
	contracts.BreakKindOrderNotSubmitted:          contracts.SeverityMedium,
	contracts.BreakKindERPAckMissing:              contracts.SeverityHigh,
	contracts.BreakKindInvoiceNotPosted:           contracts.SeverityHigh,
	contracts.BreakKindSubscriptionNotProvisioned: contracts.SeverityHigh,
	contracts.BreakKindInvoiceScheduleMissing:     contracts.SeverityMedium,
	contracts.BreakKindJournalNotPosted:           contracts.SeverityHigh,
	contracts.BreakKindCustomerNotInERP:           contracts.SeverityMedium,
	contracts.BreakKindOrderAmountMismatch:        contracts.SeverityHigh,
	contracts.BreakKindInvoiceAmountMismatch:      contracts.SeverityCritical,
	contracts.BreakKindBillingJournalMismatch:     contracts.SeverityCritical,
	contracts.BreakKindCaseWithoutServiceOrder:    contracts.SeverityHigh,
	contracts.BreakKindServiceCostNotSettled:      contracts.SeverityHigh,
	contracts.BreakKindReturnNotCredited:          contracts.SeverityHigh,
}

var titles = map[string]string{
	contracts.BreakKindOrderNotSubmitted:          "order stuck in validation: accepted quote not submitted to ERP within SLA",
	contracts.BreakKindERPAckMissing:              "ERP did not acknowledge the order within SLA",
	contracts.BreakKindInvoiceNotPosted:           "invoice not posted within SLA",
	contracts.BreakKindSubscriptionNotProvisioned: "subscription not provisioned within SLA",
	contracts.BreakKindInvoiceScheduleMissing:     "invoice schedule not created within SLA",
	contracts.BreakKindJournalNotPosted:           "journal not posted within SLA",
	contracts.BreakKindCustomerNotInERP:           "CRM account has no ERP customer id within SLA",
	contracts.BreakKindOrderAmountMismatch:        "order amount mismatch",
	contracts.BreakKindInvoiceAmountMismatch:      "invoice amount mismatch",
	contracts.BreakKindBillingJournalMismatch:     "billing schedule vs journals mismatch",
	contracts.BreakKindCaseWithoutServiceOrder:    "service case has no ERP service order within SLA",
	contracts.BreakKindServiceCostNotSettled:      "cost of a completed service order not booked (no posted SERVICE_COST journal) within SLA",
	contracts.BreakKindReturnNotCredited:          "inspected return with accepted units not credited within SLA",
}

func ptr[T any](v T) *T { return &v }

func entityIDs(en *Entity) map[string]string {
	m := map[string]string{"match_key": en.Key}
	for k, v := range en.IDs {
		m[k] = v
	}
	if en.Exception != nil {
		m["exception_id"] = en.Exception.ID
	}
	return m
}

// header is a break event of en: its id derived from the break, its
// generation and status; its correlation the opening input's (else the
// entity's, else the break id); caused by cause ("" none), detected at at
// (Unix ms).
func (e *Engine) header(en *Entity, breakID, status string, gen int, corr, cause string, at int64) *contracts.ReconBreak {
	if corr == "" {
		corr = en.Corr
	}
	if corr == "" {
		corr = breakID
	}
	detected := time.UnixMilli(at).UTC()
	return &contracts.ReconBreak{
		Metadata: event.Metadata(event.ID("recon-break-event", breakID, status, strconv.Itoa(gen)), corr, cause,
			contracts.SourceSystemReconciler, detected),
		BreakID: breakID, Status: status, EntityIds: entityIDs(en), DetectedAt: detected,
	}
}

func describe(en *Entity, kind, detail string) string {
	d := titles[kind]
	if detail != "" {
		d += ": " + detail
	}
	if en.Exception != nil {
		d += fmt.Sprintf(" (exception %s in %s: %s, %s)", en.Exception.ID, en.Exception.Queue, en.Exception.Category, en.Exception.Status)
	}
	return d
}

// slaBreak is the event of an expectation's break, caused by cause (the
// opening input for OPEN, the late one for CLOSED).
func (e *Engine) slaBreak(en *Entity, key string, ex *Expectation, status string, at int64, cause string) *contracts.ReconBreak {
	b := e.header(en, BreakID(en.Key, key), status, ex.gen(), ex.Corr, cause, at)
	b.Kind, b.Severity = ex.Kind, severities[ex.Kind]
	b.Description = describe(en, ex.Kind, "")
	actual := ex.Actual
	if actual == "" {
		actual = "nothing observed by the deadline"
	}
	b.Expected, b.Actual = ptr(ex.Expected), ptr(actual)
	dl := time.UnixMilli(ex.Deadline).UTC()
	b.Deadline = &dl
	return b
}

func (e *Engine) amountBreak(en *Entity, key string, ab *AmountBreak, status string, o *Observation) *contracts.ReconBreak {
	b := e.header(en, BreakID(en.Key, key), status, ab.Gen, o.CorrelationID, o.EventID, o.At)
	b.Kind, b.Severity = ab.Kind, severities[ab.Kind]
	b.Description = describe(en, ab.Kind, ab.What)
	b.Expected, b.Actual = ptr(ab.Expected.String()), ptr(ab.Actual.String())
	b.ExpectedAmount, b.ActualAmount = ab.Expected.Contract(), ab.Actual.Contract()
	return b
}
