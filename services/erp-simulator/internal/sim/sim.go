// Package sim is the simulated ERP and billing system at their topic
// boundary: a pkg/processor handler that takes commands
// (erp.order-commands.v1, erp.customer-commands.v1, erp.journal-commands.v1,
// billing.commands.v1), decides the answers at once with the rules of
// package erp, and keeps them as timers in changelog-backed state; the
// processor's tick emits each answer when its latency has passed and the
// ERP is not in a maintenance window. A restarted simulator therefore
// neither loses nor repeats a scheduled answer.
//
// For the routed flows (customers, orders; package flowmode) the simulator
// is the new ERP path (contracts.ErpPathNew): each customer command, and
// each order by its first command, is answered, only reported on
// erp.path-results.v1 (shadow), or left to the legacy path, by the flow's
// mode at the command's record timestamp (route.go).
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// Stores of the simulator processor.
const (
	StoreTimers    = "timers"    // timer id ("<due unix ms, 13 digits>|<kind>|<id>") → timer; and indexedKey → indexProgress
	StoreDue       = "due"       // the timer index (processor.Timers): timer id at its due time
	StoreOrders    = "orders"    // order id → orderState
	StoreCustomers = "customers" // golden id → customerState
	StoreContracts = "contracts" // contract id → contractState
	StoreSeq       = "seq"       // counter name → decimal
)

// Stores lists every store.
var Stores = []string{StoreTimers, StoreDue, StoreOrders, StoreCustomers, StoreContracts, StoreSeq, StoreServiceOrders, StoreReturns, StoreAssets}

// The stores, typed. A value the simulator cannot read back follows the
// runtime's one policy for corrupt own state (processor.Store).
var (
	timers         = processor.NewStore(StoreTimers, processor.JSON[timer]())
	deadlines      = processor.NewTimers(StoreDue)
	orders         = processor.NewStore(StoreOrders, processor.JSON[orderState]())
	customers      = processor.NewStore(StoreCustomers, processor.JSON[customerState]())
	contractStates = processor.NewStore(StoreContracts, processor.JSON[contractState]())
	counters       = processor.NewStore(StoreSeq, processor.JSON[int64]())
	serviceOrders  = processor.NewStore(StoreServiceOrders, processor.JSON[serviceOrderState]())
	returnOrders   = processor.NewStore(StoreReturns, processor.JSON[returnState]())
	installedBase  = processor.NewStore(StoreAssets, processor.JSON[contracts.Asset]())
)

// TopicAssets is the internal topic installed-base changes are re-keyed
// onto (by serial), so each asset lives on one partition's state: a
// shipment and a return are handled on their order's or return's
// partition.
const TopicAssets = "erp-simulator.assets.v1"

// InternalTopics are the simulator's re-keying topics.
var InternalTopics = []string{TopicAssets}

// Topics are the command topics the simulator answers.
var Topics = []string{contracts.TopicERPOrderCommandsV1, contracts.TopicERPCustomerCommandsV1, contracts.TopicERPJournalCommandsV1, contracts.TopicBillingCommandsV1,
	contracts.TopicERPServiceOrderCommandsV1, contracts.TopicERPWarrantyClaimCommandsV1, contracts.TopicERPReturnCommandsV1}

// Settings are the simulator's behaviour.
type Settings struct {
	Service  string // processor service name (deterministic ids)
	Rules    erp.Rules
	Latency  erp.Latency // order acknowledgement, customer and journal answers
	Ship     erp.Latency // from acknowledgement to shipment
	Invoice  erp.Latency // from shipment to invoice
	Downtime erp.Downtime
	// Modes is the routing mode of the customers and orders flows
	// (ops.flow-mode.v1, a flowmode.Watcher in the service): the simulator
	// is their new path. Nil: every flow NEW (flowmode.Fixed{}), the
	// simulator answers everything.
	Modes flowmode.Source
	// Live, when set, is the configuration operators change at run time
	// (export licences, tax configuration); orders are decided with it.
	Live *erp.Live
	// MaxPerTick bounds the answers one tick emits per partition (default 500).
	MaxPerTick int
	// IndexPerTick bounds the timers of an earlier release one tick adds
	// to the due index per partition until they all are (default 1000;
	// see indexEarlierTimers).
	IndexPerTick int
}

// Sim is the handler and tick of the simulator processor.
type Sim struct{ s Settings }

// Tick is how often the simulator's processor looks for due answers.
const Tick = 250 * time.Millisecond

// Processor is the simulator's processor without Kafka: its command and
// internal topics, its stores, its handler and its tick on the wall clock
// (the simulated ERP ships and invoices after real delays, like the system
// it stands in for). instance is the replica's stable id.
func (s *Sim) Processor(instance string) processor.Config {
	return processor.Config{
		Service:        s.s.Service,
		Instance:       instance,
		Topics:         Topics,
		Stores:         Stores,
		InternalTopics: InternalTopics,
		Handler:        s.Handle,
		Tick:           Tick,
		OnTick:         s.Tick,
		Timers:         processor.WallClock,
	}
}

// New returns a simulator.
func New(s Settings) *Sim {
	if s.MaxPerTick <= 0 {
		s.MaxPerTick = 500
	}
	if s.IndexPerTick <= 0 {
		s.IndexPerTick = 1000
	}
	if s.Service == "" {
		s.Service = "erp-simulator"
	}
	if s.Modes == nil {
		s.Modes = flowmode.Fixed{}
	}
	return &Sim{s: s}
}

type origin struct {
	Corr        string `json:"corr"`
	Causation   string `json:"causation"`
	Traceparent string `json:"traceparent,omitempty"`
}

func originOf(m *processor.Message, meta contracts.EventMetadata) origin {
	o := origin{Corr: meta.CorrelationID, Causation: meta.EventID}
	if o.Corr == "" {
		o.Corr = m.CorrelationID()
	}
	o.Traceparent, _ = m.Header(tracing.HeaderTraceparent)
	return o
}

func (o origin) headers() []kgo.RecordHeader {
	h := []kgo.RecordHeader{{Key: tracing.HeaderCorrelationID, Value: []byte(o.Corr)}}
	if o.Traceparent != "" {
		h = append(h, kgo.RecordHeader{Key: tracing.HeaderTraceparent, Value: []byte(o.Traceparent)})
	}
	return h
}

// timer is a scheduled piece of work, kept in StoreTimers under its id
// and in the index StoreDue at its due time.
type timer struct {
	Kind string `json:"kind"` // order | emit | invoice | service | return
	ID   string `json:"id"`
	// Records to emit (kind emit), with occurred_at set at emission.
	Records []pending `json:"records,omitempty"`
	Origin  origin    `json:"origin"`
	// Seq is the contract amendment a billing invoice belongs to.
	Seq int `json:"seq,omitempty"`
}

// pending is a record to emit: its value is kept as the JSON of its
// topic's contract type and read back into that type, so a timer whose
// records cannot be read is corrupt state like any other.
type pending struct {
	Topic string
	Key   string
	Value contracts.Value
}

type pendingJSON struct {
	Topic string          `json:"topic"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (p pending) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(p.Value)
	if err != nil {
		return nil, err
	}
	return json.Marshal(pendingJSON{Topic: p.Topic, Key: p.Key, Value: b})
}

func (p *pending) UnmarshalJSON(b []byte) error {
	var j pendingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	v, err := contracts.NewValue(j.Topic)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(j.Value, v); err != nil {
		return fmt.Errorf("record %s/%s: %w", j.Topic, j.Key, err)
	}
	*p = pending{Topic: j.Topic, Key: j.Key, Value: v}
	return nil
}

// Order steps.
const (
	stepDecide    = "decide"
	stepShip      = "ship"
	stepInvoice   = "invoice"
	stepDone      = "done"
	stepCancelled = "cancelled"
	// stepElsewhere: the order lives on the legacy ERP path (routed there
	// by its first command); the simulator ignores its commands.
	stepElsewhere = "elsewhere"
)

type orderState struct {
	Cmd        contracts.OrderCommand `json:"cmd"`
	Origin     origin                 `json:"origin"`
	ERPOrderID string                 `json:"erp_order_id"`
	Decision   erp.OrderDecision      `json:"decision"`
	Step       string                 `json:"step"`
	Timer      string                 `json:"timer,omitempty"`
	Last       string                 `json:"last,omitempty"` // last status sent
	InvoiceID  string                 `json:"invoice_id,omitempty"`
	ShipmentID string                 `json:"shipment_id,omitempty"`
	// Mode is the orders flow's mode at the order's first command: it
	// fixes the simulator's role for the whole order (route.go). Empty in
	// state of a release before routing: NEW, as it answered every order.
	Mode string `json:"mode,omitempty"`
}

type customerState struct {
	ERPCustomerID string `json:"erp_customer_id"`
	// Record is the customer master as last published: a later command
	// changes the fields it carries and keeps the rest (country, currency,
	// terms and credit are the ERP's, set once at creation).
	Record *contracts.Customer `json:"record,omitempty"`
	// Unpublished: the record exists only as the simulator's shadow
	// answer, never published on erp.customer.v1, so its ERP number is
	// provisional: the first authoritative answer takes the number the
	// command names (the one the authoritative path gave), so a flow
	// switched to NEW does not give a customer a second number.
	Unpublished bool `json:"unpublished,omitempty"`
}

type contractState struct {
	Seq       int             `json:"seq"`
	Cancelled bool            `json:"cancelled"`
	Issued    map[string]bool `json:"issued"` // period start dates issued
}

func timerKey(due time.Time, kind, id string) string {
	return fmt.Sprintf("%013d|%s|%s", due.UnixMilli(), kind, id)
}

// timerDue is the due time a timer id holds (timerKey).
func timerDue(id string) (time.Time, error) {
	if len(id) < 14 || id[13] != '|' {
		return time.Time{}, fmt.Errorf("timer id %q does not start with its due time", id)
	}
	ms, err := strconv.ParseInt(id[:13], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timer id %q: due time: %w", id, err)
	}
	return time.UnixMilli(ms), nil
}

// schedule keeps t until at and returns its timer id. The id holds the
// due time, so two answers of one command scheduled at different times
// are two timers.
func (s *Sim) schedule(m *processor.Message, at time.Time, t timer) (string, error) {
	k := timerKey(at, t.Kind, t.ID)
	if err := timers.Put(m, k, t); err != nil {
		return "", err
	}
	deadlines.Set(m, k, at)
	return k, nil
}

// unschedule drops timer id ("" is none).
func unschedule(m *processor.Message, id string) {
	if id == "" {
		return
	}
	deadlines.Cancel(m, id)
	timers.Delete(m, id)
}

// emitLater keeps recs until due (nothing when there are none).
func (s *Sim) emitLater(m *processor.Message, due time.Time, id string, o origin, recs ...pending) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := s.schedule(m, due, timer{Kind: "emit", ID: id, Records: recs, Origin: o})
	return err
}

func record(topic, key string, v contracts.Value) pending {
	return pending{Topic: topic, Key: key, Value: v}
}

// Handle is the processor handler: it decides and schedules the answer to
// one command.
func (s *Sim) Handle(ctx context.Context, m *processor.Message) error {
	at := m.Record.Timestamp
	switch m.Topic {
	case contracts.TopicERPOrderCommandsV1:
		var cmd contracts.OrderCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.order(ctx, m, at, &cmd)
	case contracts.TopicERPCustomerCommandsV1:
		var cmd contracts.CustomerCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.customer(ctx, m, at, &cmd)
	case contracts.TopicERPJournalCommandsV1:
		var cmd contracts.JournalCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.journal(m, at, &cmd)
	case contracts.TopicBillingCommandsV1:
		var cmd contracts.BillingCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.billing(m, at, &cmd)
	case contracts.TopicERPServiceOrderCommandsV1:
		var cmd contracts.ServiceOrderCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.serviceOrder(m, at, &cmd)
	case contracts.TopicERPWarrantyClaimCommandsV1:
		var cmd contracts.WarrantyClaimCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.warrantyClaim(m, at, &cmd)
	case contracts.TopicERPReturnCommandsV1:
		var cmd contracts.ReturnCommand
		if err := m.Decode(&cmd); err != nil {
			return err
		}
		return s.returnOrder(m, at, &cmd)
	case TopicAssets:
		return s.assetChange(m)
	}
	return errs.Poisonf(errs.ReasonUnknownTopic, "erp-simulator does not consume %s", m.Topic)
}

// meta is the metadata of an answer: its id derived from what it answers
// and its step, in the command's correlation, caused by the command;
// occurred_at is set when it is emitted (stamp).
func (s *Sim) meta(kind, id, step string, o origin, source string) contracts.EventMetadata {
	return event.Metadata(answerID(s.s.Service, kind, id, step), o.Corr, o.Causation, source, time.Time{})
}

// answerID is the event id of service's answer of kind for id at step.
func answerID(service, kind, id, step string) string { return event.ID(service, kind, id, step) }

func (s *Sim) order(ctx context.Context, m *processor.Message, at time.Time, cmd *contracts.OrderCommand) error {
	if cmd.OrderID == "" {
		return errs.Poisonf(errs.ReasonValidation, "order command %s has no order_id", cmd.CommandID)
	}
	o := originOf(m, cmd.Metadata)
	st, exists, err := orders.Get(m, cmd.OrderID)
	if err != nil {
		return err
	}
	// The order's route: fixed by its first command, followed by the rest.
	mode := st.Mode
	if !exists {
		if mode, err = s.mode(ctx, flowmode.Orders, at); err != nil {
			return fmt.Errorf("order %s, command %s: %w", cmd.OrderID, cmd.CommandID, err)
		}
		if flowmode.RoleOf(mode, contracts.ErpPathNew) == flowmode.Off {
			return orders.Put(m, cmd.OrderID, orderState{Cmd: *cmd, Origin: o, Step: stepElsewhere, Mode: mode})
		}
	} else if st.role() == flowmode.Off {
		return nil
	}
	lat := s.s.Latency.For(s.s.Rules, "order", cmd.OrderID, cmd.CommandID)
	switch cmd.Action {
	case contracts.OrderCommandActionCancel:
		if !exists {
			st = orderState{Cmd: *cmd, Origin: o, ERPOrderID: erpOrderID(cmd.OrderID), Mode: mode}
		}
		if st.Step == stepShip || st.Step == stepDecide || !exists {
			if st.Timer != "" {
				unschedule(m, st.Timer)
			}
			st.Step, st.Timer = stepCancelled, ""
			st.Last = contracts.ErpOrderStateCancelled
			v := s.status(&st, contracts.ErpOrderStateCancelled, "cancel-"+cmd.CommandID,
				contracts.ERPMessage{Code: "CANCELLED", Text: "order cancelled on request " + cmd.CommandID})
			if err := s.emitLater(m, at.Add(lat), cmd.OrderID+"/cancel/"+cmd.CommandID, o, orderAnswer(&st, v)...); err != nil {
				return err
			}
			return orders.Put(m, cmd.OrderID, st)
		}
		v := s.status(&st, st.Last, "cancel-refused-"+cmd.CommandID,
			contracts.ERPMessage{Code: "CANCEL_REFUSED", Text: "order is already " + strings.ToLower(st.Last) + "; raise a return instead"})
		return s.emitLater(m, at.Add(lat), cmd.OrderID+"/cancel/"+cmd.CommandID, o, orderAnswer(&st, v)...)
	case contracts.OrderCommandActionCreate:
	default:
		return errs.Poisonf(errs.ReasonValidation, "order command %s: unknown action %q", cmd.CommandID, cmd.Action)
	}
	replaceable := st.Step == stepDecide || st.Step == stepShip || st.Step == stepDone && st.Last == contracts.ErpOrderStateRejected
	if exists && revision(cmd) > revision(&st.Cmd) && replaceable {
		// A new revision of the order (a resubmission after a rejection):
		// it replaces the order and is decided again with today's
		// configuration; the previous revision's pending answers are
		// dropped.
		if st.Timer != "" {
			unschedule(m, st.Timer)
		}
		st = orderState{Cmd: *cmd, Origin: o, ERPOrderID: st.ERPOrderID, Decision: s.rules().DecideOrder(cmd), Step: stepDecide, Mode: mode}
		k, err := s.schedule(m, at.Add(lat), timer{Kind: "order", ID: cmd.OrderID, Origin: o})
		if err != nil {
			return err
		}
		st.Timer = k
		return orders.Put(m, cmd.OrderID, st)
	}
	if exists {
		// Idempotent by order id: a re-sent command gets the current
		// status again once ERP has decided; otherwise the pending answer
		// will come.
		if st.Last == "" {
			return nil
		}
		v := s.status(&st, st.Last, "resend-"+cmd.CommandID)
		return s.emitLater(m, at.Add(lat), cmd.OrderID+"/resend/"+cmd.CommandID, o, orderAnswer(&st, v)...)
	}
	st = orderState{Cmd: *cmd, Origin: o, ERPOrderID: erpOrderID(cmd.OrderID), Decision: s.rules().DecideOrder(cmd), Step: stepDecide, Mode: mode}
	k, err := s.schedule(m, at.Add(lat), timer{Kind: "order", ID: cmd.OrderID, Origin: o})
	if err != nil {
		return err
	}
	st.Timer = k
	return orders.Put(m, cmd.OrderID, st)
}

// rules are the decision rules with the live configuration.
func (s *Sim) rules() erp.Rules {
	if s.s.Live != nil {
		return s.s.Live.Apply(s.s.Rules)
	}
	return s.s.Rules
}

// revision is the order revision a command carries (0 is the first, 1).
func revision(cmd *contracts.OrderCommand) int { return max(1, cmd.Revision) }

// revisionSuffix tells the ids of a later revision's answers (status
// events, shipment, invoice) from the first's.
func revisionSuffix(cmd *contracts.OrderCommand) string {
	if r := revision(cmd); r > 1 {
		return "/r" + strconv.Itoa(r)
	}
	return ""
}

func erpOrderID(orderID string) string {
	return "SO" + strings.ReplaceAll(event.ID("erp-order", orderID), "-", "")[:10]
}

// status builds an order status event for the current step.
func (s *Sim) status(st *orderState, status, step string, extra ...contracts.ERPMessage) *contracts.OrderStatus {
	v := st.Decision.Report(&st.Cmd, st.ERPOrderID, status, extra...)
	v.Metadata = s.meta("order-status", st.Cmd.OrderID, step+revisionSuffix(&st.Cmd), st.Origin, contracts.SourceSystemERP)
	if st.InvoiceID != "" {
		v.InvoiceID = &st.InvoiceID
	}
	if st.ShipmentID != "" {
		v.ShipmentID = &st.ShipmentID
	}
	return v
}

func (s *Sim) customer(ctx context.Context, m *processor.Message, at time.Time, cmd *contracts.CustomerCommand) error {
	if cmd.GoldenID == "" {
		return errs.Poisonf(errs.ReasonValidation, "customer command %s has no golden_id", cmd.CommandID)
	}
	// Each customer command is routed by its own time. Off: the legacy
	// path answers it; the simulator neither answers nor learns anything
	// (no ERP number of its own for a customer the legacy ERP made).
	mode, err := s.mode(ctx, flowmode.Customers, at)
	if err != nil {
		return fmt.Errorf("customer %s, command %s: %w", cmd.GoldenID, cmd.CommandID, err)
	}
	role := flowmode.RoleOf(mode, contracts.ErpPathNew)
	if role == flowmode.Off {
		return nil
	}
	o := originOf(m, cmd.Metadata)
	cs, _, err := customers.Get(m, cmd.GoldenID)
	if err != nil {
		return err
	}
	if named := cmd.ERPCustomerID; named != nil && *named != "" && (cs.ERPCustomerID == "" || cs.Unpublished && role == flowmode.Authoritative) {
		cs.ERPCustomerID = *named
	}
	r := customerRoute{mode: mode, role: role, created: cs.Record == nil}
	if role == flowmode.Authoritative {
		cs.Unpublished = false
	} else if r.created {
		cs.Unpublished = true
	}
	if cs.ERPCustomerID == "" {
		seq, _, err := counters.Get(m, "customer")
		if err != nil {
			return err
		}
		seq++
		if err := counters.Put(m, "customer", seq); err != nil {
			return err
		}
		cs.ERPCustomerID = erp.ERPNumber(m.Partition(), seq)
	}
	if cs.Record != nil {
		return s.updateCustomer(m, at, o, cmd, &cs, r)
	}
	cust, terms := s.s.Rules.NewCustomer(cmd, cs.ERPCustomerID)
	cust.Metadata = s.meta("customer", cmd.GoldenID, cmd.CommandID, o, contracts.SourceSystemERP)
	credit := &contracts.CreditAccount{
		Metadata:      s.meta("credit", cs.ERPCustomerID, cmd.CommandID, o, contracts.SourceSystemERP),
		ERPCustomerID: cs.ERPCustomerID,
		CreditLimit:   contracts.Money{AmountMinor: terms.CreditLimit, Currency: terms.Currency},
		ArBalance:     contracts.Money{Currency: terms.Currency},
		OpenOrders:    contracts.Money{Currency: terms.Currency},
		Hold:          terms.CreditStatus == contracts.CreditStatusHold,
		CreditStatus:  terms.CreditStatus,
	}
	if credit.Hold {
		r := "new customer: credit check pending"
		credit.HoldReason = &r
	}
	cs.Record = cust
	if err := customers.Put(m, cmd.GoldenID, cs); err != nil {
		return err
	}
	// Credit first, so the gateway knows the customer's credit before
	// anything can order for it.
	var recs []pending
	if role == flowmode.Authoritative {
		recs = append(recs, record(contracts.TopicERPCreditV1, cs.ERPCustomerID, credit), record(contracts.TopicERPCustomerV1, cs.ERPCustomerID, cust))
	}
	recs = append(recs, customerResult(r, cust))
	return s.emitLater(m, at.Add(s.s.Latency.For(s.s.Rules, "customer", cmd.CommandID)), cmd.GoldenID+"/"+cmd.CommandID, o, recs...)
}

// updateCustomer answers a command for a customer the ERP already has: the
// fields the command carries change, the rest of the master record stays
// (an UPDATE of the name does not move the customer to another country,
// currency or credit limit), and the whole record is published again, as
// an ERP does on its compacted customer topic. Credit is not re-issued:
// the credit position (receivables, holds) lives on.
func (s *Sim) updateCustomer(m *processor.Message, at time.Time, o origin, cmd *contracts.CustomerCommand, cs *customerState, route customerRoute) error {
	c := erp.UpdateCustomer(cs.Record, cmd)
	c.ERPCustomerID = cs.ERPCustomerID // changes once: a shadow-only record's number replaced by the authoritative one
	c.Metadata = s.meta("customer", cmd.GoldenID, cmd.CommandID, o, contracts.SourceSystemERP)
	cs.Record = c
	if err := customers.Put(m, cmd.GoldenID, *cs); err != nil {
		return err
	}
	var recs []pending
	if route.role == flowmode.Authoritative {
		recs = append(recs, record(contracts.TopicERPCustomerV1, cs.ERPCustomerID, c))
	}
	recs = append(recs, customerResult(route, c))
	return s.emitLater(m, at.Add(s.s.Latency.For(s.s.Rules, "customer", cmd.CommandID)), cmd.GoldenID+"/"+cmd.CommandID, o, recs...)
}

func (s *Sim) journal(m *processor.Message, at time.Time, cmd *contracts.JournalCommand) error {
	if cmd.JournalCommandID == "" {
		return errs.Poisonf(errs.ReasonValidation, "journal command without journal_command_id (contract %s)", cmd.ContractID)
	}
	o := originOf(m, cmd.Metadata)
	d := s.s.Rules.DecideJournal(cmd)
	contract, posting := cmd.ContractID, cmd.PostingDate
	j := &contracts.Journal{
		Metadata:         s.meta("journal", cmd.JournalCommandID, "", o, contracts.SourceSystemERP),
		JournalCommandID: cmd.JournalCommandID,
		Status:           d.Status,
		ContractID:       &contract,
		PostingDate:      &posting,
		Lines:            cmd.Lines,
	}
	if j.Lines == nil {
		j.Lines = []contracts.JournalLine{}
	}
	if d.Status == contracts.JournalStatusPosted {
		id := "JE" + strings.ReplaceAll(event.ID("journal", cmd.JournalCommandID), "-", "")[:10]
		j.ERPJournalID = &id
	} else {
		code, msg := d.Code, d.Message
		j.RejectionCode, j.ERPMessage = &code, &msg
	}
	rec := record(contracts.TopicERPJournalV1, cmd.JournalCommandID, j)
	return s.emitLater(m, at.Add(s.s.Latency.For(s.s.Rules, "journal", cmd.JournalCommandID)), cmd.JournalCommandID, o, rec)
}

func (s *Sim) billing(m *processor.Message, at time.Time, cmd *contracts.BillingCommand) error {
	if cmd.ContractID == "" {
		return errs.Poisonf(errs.ReasonValidation, "billing command %s has no contract_id", cmd.CommandID)
	}
	o := originOf(m, cmd.Metadata)
	cs, _, err := contractStates.Get(m, cmd.ContractID)
	if err != nil {
		return err
	}
	if cs.Issued == nil {
		cs.Issued = map[string]bool{}
	}
	lat := s.s.Latency.For(s.s.Rules, "billing", cmd.CommandID)
	cmdID, seq := cmd.CommandID, cmd.AmendmentSequence
	sub := "SUB-" + cmd.ContractID
	ev := &contracts.BillingEvent{
		Metadata:          s.meta("billing", cmd.ContractID, cmd.CommandID, o, contracts.SourceSystemBilling),
		ContractID:        cmd.ContractID,
		CommandID:         &cmdID,
		AmendmentSequence: &seq,
		SubscriptionID:    &sub,
	}
	if cmd.AmendmentSequence < cs.Seq {
		msg := fmt.Sprintf("amendment %d is older than the applied amendment %d", cmd.AmendmentSequence, cs.Seq)
		ev.EventType, ev.Message = contracts.BillingEventTypeCommandRejected, &msg
	} else {
		switch cmd.Action {
		case contracts.BillingActionProvision:
			ev.EventType = contracts.BillingEventTypeSubscriptionProvisioned
		case contracts.BillingActionUpdate:
			ev.EventType = contracts.BillingEventTypeSubscriptionUpdated
		case contracts.BillingActionCancel:
			ev.EventType = contracts.BillingEventTypeSubscriptionCancelled
			cs.Cancelled = true
		default:
			msg := fmt.Sprintf("unknown action %q", cmd.Action)
			ev.EventType, ev.Message = contracts.BillingEventTypeCommandRejected, &msg
		}
	}
	rec := record(contracts.TopicBillingEventsV1, cmd.ContractID, ev)
	if err := s.emitLater(m, at.Add(lat), cmd.ContractID+"/"+cmd.CommandID, o, rec); err != nil {
		return err
	}
	if ev.EventType == contracts.BillingEventTypeCommandRejected {
		return contractStates.Put(m, cmd.ContractID, cs)
	}
	cs.Seq = cmd.AmendmentSequence
	if !cs.Cancelled {
		// Invoices in advance: each on its invoice date (at once when
		// already due), unless a later amendment replaced the schedule.
		for _, inv := range cmd.InvoiceSchedule {
			due := inv.InvoiceDate
			if due.Before(at) {
				due = at
			}
			t := timer{Kind: "invoice", ID: cmd.ContractID + "/" + strconv.Itoa(cmd.AmendmentSequence) + "/" + strconv.Itoa(inv.Sequence), Origin: o, Seq: cmd.AmendmentSequence}
			r := record(contracts.TopicBillingEventsV1, cmd.ContractID, &contracts.BillingEvent{
				Metadata:          s.meta("billing-invoice", cmd.ContractID, inv.PeriodStart.Format("2006-01-02"), o, contracts.SourceSystemBilling),
				EventType:         contracts.BillingEventTypeInvoiceIssued,
				ContractID:        cmd.ContractID,
				CommandID:         &cmdID,
				AmendmentSequence: &seq,
				SubscriptionID:    &sub,
				InvoiceID:         ptr("BINV-" + strings.ReplaceAll(event.ID("billing-invoice", cmd.ContractID, inv.PeriodStart.Format("2006-01-02")), "-", "")[:10]),
				InvoiceAmount:     &contracts.Money{AmountMinor: inv.Amount.AmountMinor, Currency: inv.Amount.Currency},
				PeriodStart:       ptr(inv.PeriodStart),
				PeriodEnd:         ptr(inv.PeriodEnd),
			})
			t.Records = []pending{r}
			if _, err := s.schedule(m, due.Add(lat+time.Millisecond), t); err != nil {
				return err
			}
		}
	}
	return contractStates.Put(m, cmd.ContractID, cs)
}

func ptr[T any](v T) *T { return &v }
