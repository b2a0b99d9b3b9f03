package match

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// state is one partition's real processor state, without a broker: each
// Apply and Tick runs in a handler of a processortest kit, and what it
// wrote is committed before the next one, as the matcher's transactions
// would be.
type state struct {
	t    testing.TB
	k    *processortest.Kit
	call func(m *processor.Message) error
}

const (
	stateTopic = "match.test.v1"
	stateTick  = time.Hour
)

func newState(t testing.TB) *state {
	t.Helper()
	st := &state{t: t}
	run := func(m *processor.Message) error { return st.call(m) }
	st.k = processortest.New(t, processor.Config{
		Service: "match-test", Topics: []string{stateTopic}, Stores: []string{StoreEntities, StoreTimers, StoreDeadlines},
		Handler: func(_ context.Context, m *processor.Message) error { return run(m) },
		Tick:    stateTick, OnTick: func(_ context.Context, m *processor.Message, _ time.Time) error { return run(m) },
	})
	return st
}

// do runs fn on the partition's state and commits what it wrote; fn's
// error is returned (nothing is committed then).
func (st *state) do(fn func(m *processor.Message) error) error {
	st.t.Helper()
	var ferr error
	st.call = func(m *processor.Message) error {
		if ferr = fn(m); ferr != nil {
			m.Discard()
		}
		return nil
	}
	if res := st.k.Send(stateTopic, "k", []byte("x")); res.Err != nil {
		st.t.Fatal(res.Err)
	}
	return ferr
}

func (st *state) apply(e *Engine, o *Observation) ([]*contracts.ReconBreak, error) {
	var out []*contracts.ReconBreak
	err := st.do(func(m *processor.Message) (err error) { out, err = e.Apply(m, o); return err })
	return out, err
}

func (st *state) tick(e *Engine, partition int32, now time.Time, busy bool) (*TickResult, error) {
	var out *TickResult
	err := st.do(func(m *processor.Message) (err error) { out, err = e.Tick(m, partition, now, busy); return err })
	return out, err
}

// has reports whether key is set in store.
func (st *state) has(store, key string) bool {
	_, ok := st.k.State(store, key)
	return ok
}

// count is the number of keys of store.
func (st *state) count(store string) int {
	n := 0
	_ = st.do(func(m *processor.Message) error {
		m.Range(store, func(string, []byte) bool { n++; return true })
		return nil
	})
	return n
}

func (st *state) entity(key string) (*Entity, error) {
	var en *Entity
	err := st.do(func(m *processor.Message) (err error) { en, err = loadEntity(m, key); return err })
	return en, err
}

func (st *state) stats() (*Stats, error) {
	var s *Stats
	err := st.do(func(m *processor.Message) (err error) { s, err = ReadStats(m); return err })
	return s, err
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func eur(n int64) *Money { return &Money{Minor: n, Currency: "EUR"} }

var testSLA = SLA{OrderSubmit: time.Minute, ERPAck: time.Minute, Invoice: time.Minute, Provision: time.Minute,
	InvoiceSchedule: time.Minute, Journal: time.Minute, CustomerXref: time.Minute, LedgerSettle: 30 * time.Second,
	ServiceOrder: time.Minute, ServiceCost: time.Minute, ReturnCredit: time.Minute}

// step is one observation, or a tick when obs is nil.
type step struct {
	obs  *Observation
	tick time.Duration
}

func ob(key string, ev Event, d time.Duration, mod func(*Observation)) step {
	o := &Observation{Key: key, Event: ev, Topic: "t", EventID: key + string(ev) + d.String(), CorrelationID: "corr-" + key, At: at(d)}
	if mod != nil {
		mod(o)
	}
	return step{obs: o}
}

func tick(d time.Duration) step { return step{tick: d} }

type got struct{ Kind, Status, Expected, Actual string }

// play applies the steps to a fresh engine and store and returns every
// break event, in order.
func play(t *testing.T, steps []step) ([]*contracts.ReconBreak, *state) {
	t.Helper()
	e := &Engine{SLA: testSLA, ReportEvery: time.Hour}
	st := newState(t)
	var all []*contracts.ReconBreak
	for _, s := range steps {
		if s.obs != nil {
			bs, err := st.apply(e, s.obs)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, bs...)
			continue
		}
		r, err := st.tick(e, 0, t0.Add(s.tick), false)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r.Breaks...)
	}
	return all, st
}

func run(t *testing.T, steps []step) ([]got, *state) {
	t.Helper()
	all, st := play(t, steps)
	var out []got
	for _, b := range all {
		g := got{Kind: b.Kind, Status: b.Status}
		if b.ExpectedAmount != nil {
			g.Expected, g.Actual = *b.Expected, *b.Actual
		}
		out = append(out, g)
	}
	return out, st
}

func withAmount(n int64) func(*Observation) { return func(o *Observation) { o.Amount = eur(n) } }
func withStatus(s string) func(*Observation) {
	return func(o *Observation) { o.Status = s }
}

func TestEngine(t *testing.T) {
	Q, O, C, J, A := QuoteKey("q1"), OrderKey("o1"), ContractKey("c1"), JournalKey("j1"), AccountKey("a1")
	open := func(k string) got { return got{Kind: k, Status: contracts.BreakStatusOpen} }
	closed := func(k string) got { return got{Kind: k, Status: contracts.BreakStatusClosed} }
	tests := []struct {
		name  string
		steps []step
		want  []got
	}{
		{"quote submitted in time", []step{
			ob(Q, EvQuoteAccepted, 0, withAmount(100)), ob(Q, EvOrderProgressed, 30*time.Second, withStatus("SUBMITTED")), tick(5 * time.Minute),
		}, nil},
		{"quote stuck in validation, then late submit closes", []step{
			ob(Q, EvQuoteAccepted, 0, withAmount(100)), tick(59 * time.Second), tick(61 * time.Second), tick(2 * time.Minute),
			ob(Q, EvOrderProgressed, 3*time.Minute, withStatus("SUBMITTED")), tick(4 * time.Minute),
		}, []got{open(contracts.BreakKindOrderNotSubmitted), closed(contracts.BreakKindOrderNotSubmitted)}},
		{"resolution before the opening event raises nothing", []step{
			ob(Q, EvOrderProgressed, 0, withStatus("SUBMITTED")), ob(Q, EvQuoteAccepted, time.Second, withAmount(1)), tick(10 * time.Minute),
		}, nil},
		{"quote vs order command amount", []step{
			ob(Q, EvQuoteAccepted, 0, withAmount(100)), ob(Q, EvOrderCommand, time.Second, func(o *Observation) { o.Status = "CREATE"; o.Amount = eur(90) }),
		}, []got{{Kind: contracts.BreakKindOrderAmountMismatch, Status: "OPEN", Expected: "100 EUR", Actual: "90 EUR"}}},
		{"ERP ack missing then late ack", []step{
			ob(O, EvOrderCommand, 0, func(o *Observation) { o.Status = "CREATE"; o.Amount = eur(100) }), tick(2 * time.Minute),
			ob(O, EvERPOrderStatus, 3*time.Minute, withStatus("ACCEPTED")),
		}, []got{open(contracts.BreakKindERPAckMissing), closed(contracts.BreakKindERPAckMissing)}},
		{"ERP accepted a different total", []step{
			ob(O, EvOrderCommand, 0, func(o *Observation) { o.Status = "CREATE"; o.Amount = eur(100) }),
			ob(O, EvERPOrderStatus, time.Second, func(o *Observation) { o.Status = "ACCEPTED"; o.Amount = eur(101) }),
		}, []got{{Kind: contracts.BreakKindOrderAmountMismatch, Status: "OPEN", Expected: "100 EUR", Actual: "101 EUR"}}},
		{"shipped, invoice not posted, late invoice with wrong amount, credit fixes it", []step{
			ob(O, EvOrderCommand, 0, func(o *Observation) { o.Status = "CREATE"; o.Amount = eur(100) }),
			ob(O, EvERPOrderStatus, time.Second, func(o *Observation) { o.Status = "ACCEPTED"; o.Amount = eur(100) }),
			ob(O, EvERPOrderStatus, 2*time.Second, withStatus("SHIPPED")), tick(90 * time.Second),
			ob(O, EvInvoicePosted, 2*time.Minute, func(o *Observation) { o.Ref = "i1"; o.Amount = eur(120) }),
			ob(O, EvInvoicePosted, 3*time.Minute, func(o *Observation) { o.Ref = "i2"; o.Amount = eur(-20) }),
		}, []got{open(contracts.BreakKindInvoiceNotPosted), closed(contracts.BreakKindInvoiceNotPosted),
			{Kind: contracts.BreakKindInvoiceAmountMismatch, Status: "OPEN", Expected: "100 EUR", Actual: "120 EUR"},
			{Kind: contracts.BreakKindInvoiceAmountMismatch, Status: "CLOSED", Expected: "100 EUR", Actual: "100 EUR"}}},
		{"partial shipment invoices wait for the rest", []step{
			ob(O, EvOrderCommand, 0, func(o *Observation) { o.Status = "CREATE"; o.Amount = eur(100) }),
			ob(O, EvERPOrderStatus, time.Second, func(o *Observation) { o.Status = "PARTIALLY_SHIPPED"; o.Amount = eur(100) }),
			ob(O, EvInvoicePosted, 2*time.Second, func(o *Observation) { o.Ref = "i1"; o.Amount = eur(40) }),
			ob(O, EvERPOrderStatus, 3*time.Second, func(o *Observation) { o.Status = "SHIPPED"; o.Amount = eur(100) }),
			ob(O, EvInvoicePosted, 4*time.Second, func(o *Observation) { o.Ref = "i2"; o.Amount = eur(60) }), tick(time.Hour),
		}, nil},
		{"deal closed, provisioned but no schedule", []step{
			ob(C, EvDealClosed, 0, func(o *Observation) { o.Status = "NEW"; o.Ref = "0" }),
			ob(C, EvBillingEvent, 10*time.Second, func(o *Observation) { o.Status = "SUBSCRIPTION_PROVISIONED"; o.Ref = "0" }),
			tick(2 * time.Minute),
			ob(C, EvBillingCommand, 3*time.Minute, func(o *Observation) {
				o.Status, o.Ref, o.Schedule = "PROVISION", "0", []PeriodAmount{{Period: "2025-03-01", Amount: *eur(500)}}
			}),
		}, []got{open(contracts.BreakKindInvoiceScheduleMissing), closed(contracts.BreakKindInvoiceScheduleMissing)}},
		{"subscription event without amendment settles every open one", []step{
			ob(C, EvDealClosed, 0, func(o *Observation) { o.Status = "CANCEL"; o.Ref = "2" }),
			ob(C, EvBillingEvent, 10*time.Second, func(o *Observation) { o.Status = "SUBSCRIPTION_CANCELLED" }), tick(time.Hour),
		}, nil},
		{"journal rejected then the deadline fires", []step{
			ob(J, EvJournalCommand, 0, func(o *Observation) { o.Ref = "j1"; o.Kind = "INVOICE"; o.Amount = eur(500) }),
			ob(J, EvJournal, time.Second, func(o *Observation) { o.Status = "REJECTED"; o.Detail = "PERIOD_CLOSED" }),
			tick(time.Minute), tick(2 * time.Minute),
			ob(J, EvJournal, 3*time.Minute, withStatus("POSTED")),
		}, []got{open(contracts.BreakKindJournalNotPosted), closed(contracts.BreakKindJournalNotPosted)}},
		{"billing schedule vs posted journals", []step{
			ob(C, EvBillingCommand, 0, func(o *Observation) {
				o.Status, o.Ref, o.Schedule = "PROVISION", "0", []PeriodAmount{{Period: "2025-03-01", Amount: *eur(500)}, {Period: "2025-04-01", Amount: *eur(500)}}
			}),
			ob(C, EvLedgerCommanded, time.Second, func(o *Observation) { o.Ref, o.Kind, o.Period, o.Amount = "j1", "INVOICE", "2025-03-01", eur(500) }),
			ob(C, EvLedgerPosted, 2*time.Second, func(o *Observation) { o.Ref, o.Amount = "j1", eur(500) }),
			ob(C, EvLedgerCommanded, 3*time.Second, func(o *Observation) { o.Ref, o.Kind, o.Period, o.Amount = "j2", "INVOICE", "2025-04-01", eur(450) }),
			ob(C, EvLedgerPosted, 4*time.Second, func(o *Observation) { o.Ref, o.Amount = "j2", eur(450) }),
			tick(33 * time.Second), tick(35 * time.Second),
			ob(C, EvLedgerCommanded, 40*time.Second, func(o *Observation) { o.Ref, o.Kind, o.Period, o.Amount = "j3", "INVOICE", "2025-04-01", eur(50) }),
			ob(C, EvLedgerPosted, 41*time.Second, func(o *Observation) { o.Ref, o.Amount = "j3", eur(50) }),
		}, []got{{Kind: contracts.BreakKindBillingJournalMismatch, Status: "OPEN", Expected: "500 EUR", Actual: "450 EUR"},
			{Kind: contracts.BreakKindBillingJournalMismatch, Status: "CLOSED", Expected: "500 EUR", Actual: "500 EUR"}}},
		{"account without ERP id, xref arrives late", []step{
			ob(A, EvAccount, 0, withStatus("UPSERT")), tick(time.Minute + time.Millisecond),
			ob(A, EvXrefLinked, 2*time.Minute, func(o *Observation) { o.Ref = "100042" }),
		}, []got{open(contracts.BreakKindCustomerNotInERP), closed(contracts.BreakKindCustomerNotInERP)}},
		{"account already carrying its ERP id", []step{
			ob(A, EvAccount, 0, func(o *Observation) { o.Status = "UPSERT"; o.Ref = "100042" }), tick(time.Hour),
		}, nil},
		{"a break fires once across many ticks", []step{
			ob(A, EvAccount, 0, withStatus("UPSERT")), tick(2 * time.Minute), tick(3 * time.Minute), tick(4 * time.Minute),
		}, []got{open(contracts.BreakKindCustomerNotInERP)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := run(t, tc.steps)
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("breaks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatsAndGC(t *testing.T) {
	Q := QuoteKey("q9")
	_, st := run(t, []step{ob(Q, EvQuoteAccepted, 0, withAmount(1)), tick(2 * time.Minute)})
	s, err := st.stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{Open: map[string]int64{"ORDER_NOT_SUBMITTED": 1}, Breaks: map[string]int64{"ORDER_NOT_SUBMITTED": 1},
		Breaches: map[string]int64{"ORDER_NOT_SUBMITTED": 1}}
	if diff := cmp.Diff(want.Open, s.Open); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(want.Breaks, s.Breaks); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(want.Breaches, s.Breaches); diff != "" {
		t.Error(diff)
	}
	e := &Engine{SLA: testSLA, ReportEvery: time.Hour, Retention: time.Hour}
	if _, err := st.apply(e, &Observation{Key: Q, Event: EvOrderProgressed, At: at(3 * time.Minute), Status: "SUBMITTED"}); err != nil {
		t.Fatal(err)
	}
	s, _ = st.stats()
	if len(s.Open)+len(s.Breaks) != 0 {
		t.Errorf("after the late event: open %v breaks %v, want none", s.Open, s.Breaks)
	}
	// the entity goes once settled and past retention (default 7 days in run; here re-armed)
	if _, err := st.tick(e, 0, t0.Add(8*24*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if st.has(StoreEntities, Q) {
		t.Error("settled entity not collected after retention")
	}
	if n := st.count(StoreTimers); n != 0 {
		t.Errorf("%d timer keys left, want 0", n)
	}
}

func TestReportWindow(t *testing.T) {
	e := &Engine{SLA: testSLA, ReportEvery: time.Minute}
	st := newState(t)
	if _, err := st.tick(e, 3, t0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.apply(e, &Observation{Key: "A:x", Event: EvAccount, Status: "UPSERT", At: at(time.Second)}); err != nil {
		t.Fatal(err)
	}
	r, err := st.tick(e, 3, t0.Add(61*time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Reports) != 1 || len(r.Breaks) != 1 {
		t.Fatalf("reports %d breaks %d, want 1 and 1", len(r.Reports), len(r.Breaks))
	}
	rep := r.Reports[0]
	if rep.ExpectationsOpened != 1 || !rep.WindowStart.Equal(t0) || rep.ReportID == "" {
		t.Errorf("report %+v", rep)
	}
	r2, _ := st.tick(e, 3, t0.Add(62*time.Second), false)
	if len(r2.Reports) != 0 {
		t.Errorf("second report in the same window")
	}
}

func TestBusyPartitionWaitsForWatermark(t *testing.T) {
	e := &Engine{SLA: testSLA}
	st := newState(t)
	if _, err := st.apply(e, &Observation{Key: "A:w", Event: EvAccount, Status: "UPSERT", At: at(0)}); err != nil {
		t.Fatal(err)
	}
	// the clock is past the deadline but the backlog's newest event is not
	r, _ := st.tick(e, 0, t0.Add(time.Hour), true)
	if len(r.Breaks) != 0 {
		t.Fatalf("busy partition fired %d breaks before its watermark passed the deadline", len(r.Breaks))
	}
	// the backlog held the resolution: no break at all
	if _, err := st.apply(e, &Observation{Key: "A:w", Event: EvXrefLinked, Ref: "1", At: at(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.apply(e, &Observation{Key: "A:v", Event: EvAccount, Status: "UPSERT", At: at(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	r, _ = st.tick(e, 0, t0.Add(time.Hour), true)
	if len(r.Breaks) != 0 {
		t.Fatalf("fired %d breaks, want 0", len(r.Breaks))
	}
	r, _ = st.tick(e, 0, t0.Add(time.Hour), false)
	if len(r.Breaks) != 1 || r.Breaks[0].EntityIds["match_key"] != "A:v" {
		t.Fatalf("idle partition: got %d breaks, want the one of A:v", len(r.Breaks))
	}
}

func TestDeterministicIDs(t *testing.T) {
	steps := []step{ob(AccountKey("z"), EvAccount, 0, withStatus("UPSERT")), tick(time.Hour)}
	ids := func() []string {
		e := &Engine{SLA: testSLA}
		st := newState(t)
		var out []string
		for _, s := range steps {
			if s.obs != nil {
				_, _ = st.apply(e, s.obs)
				continue
			}
			r, _ := st.tick(e, 0, t0.Add(s.tick), false)
			for _, b := range r.Breaks {
				out = append(out, b.BreakID, b.Metadata.EventID)
			}
		}
		return out
	}
	a, b := ids(), ids()
	if len(a) != 2 || !cmp.Equal(a, b) {
		t.Errorf("ids not deterministic: %v vs %v", a, b)
	}
}
