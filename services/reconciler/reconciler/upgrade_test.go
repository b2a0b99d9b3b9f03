package reconciler

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// earlierRelease writes a matcher partition's state as a release that
// kept its timers in match.StoreDeadlines left it: entities and stats as
// they are, each timer under "<deadline millis, 13 digits>|<hash>" →
// match key NUL expectation key.
type earlierRelease struct {
	t      *testing.T
	k      *processortest.Kit
	legacy []string // the deadline keys written
}

func (r *earlierRelease) seed(store, key string, v any) {
	r.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.k.Seed(store, key, b)
}

func (r *earlierRelease) deadline(at time.Time, matchKey, expKey string) {
	k := fmt.Sprintf("%013d|%s", at.UnixMilli(), event.ID(matchKey, expKey))
	r.k.Seed(match.StoreDeadlines, k, []byte(matchKey+"\x00"+expKey))
	r.legacy = append(r.legacy, k)
}

// waiting is the entity of key (its id under idName) waiting for an
// expectation of kind opened at opened until deadline, and its timers.
func (r *earlierRelease) waiting(key, idName, id, kind string, opened, deadline time.Time) {
	r.t.Helper()
	gc := opened.Add(24 * time.Hour).UnixMilli()
	r.seed(match.StoreEntities, key, &match.Entity{Key: key, IDs: map[string]string{idName: id}, Corr: "corr-" + id,
		Seen: opened.UnixMilli(), GCAt: gc,
		Exp: map[string]*match.Expectation{kind: {Kind: kind, Opened: opened.UnixMilli(), Deadline: deadline.UnixMilli(),
			Expected: "what the check expects", Corr: "corr-" + id, Cause: "cause-" + id}}})
	r.deadline(deadline, key, kind)
	r.deadline(time.UnixMilli(gc), key, "~gc")
}

func (r *earlierRelease) account(id string, opened, deadline time.Time) {
	r.waiting(match.AccountKey(id), "account_id", id, contracts.BreakKindCustomerNotInERP, opened, deadline)
}

// SLA timers an earlier release left in its own index ("deadlines") move
// into the timer index and fire at their deadline, once; one met after the
// upgrade, before it moved, never fires; one paused and resumed before it
// moved fires at its fresh deadline, not the earlier one; a settled
// entity's GC timer collects it; the earlier index ends empty.
func TestTimersOfEarlierReleaseFireOnce(t *testing.T) {
	p := newPipeline(t, matcherConfig())
	old := &earlierRelease{t: t, k: p.matcher}
	// The upgrade happens at unitT0: the partition had applied events up
	// to then.
	old.account("a1", unitT0.Add(-30*time.Second), unitT0.Add(30*time.Second))
	old.account("a2", unitT0, unitT0.Add(time.Minute))
	old.account("a3", unitT0.Add(-10*time.Second), unitT0.Add(50*time.Second))
	settledSeen := unitT0.Add(-24*time.Hour + 35*time.Second)
	old.seed(match.StoreEntities, match.AccountKey("a0"), &match.Entity{Key: match.AccountKey("a0"), Seen: settledSeen.UnixMilli(),
		GCAt: settledSeen.Add(24 * time.Hour).UnixMilli(), Done: map[string]int64{contracts.BreakKindCustomerNotInERP: settledSeen.UnixMilli()}})
	old.deadline(settledSeen.Add(24*time.Hour), match.AccountKey("a0"), "~gc")
	const noOrder = contracts.BreakKindCaseWithoutServiceOrder
	old.waiting(match.CaseKey("c1"), "case_id", "c1", noOrder, unitT0.Add(-30*time.Second), unitT0.Add(30*time.Second))
	old.seed(match.StoreEntities, "~stats", &match.Stats{Open: map[string]int64{contracts.BreakKindCustomerNotInERP: 3, noOrder: 1},
		Watermark: unitT0.UnixMilli()})

	fired := map[string]int{}
	tick := func(at time.Time) []contracts.ReconBreak {
		t.Helper()
		res := p.matcher.Tick(at)
		if res.Err != nil {
			t.Fatalf("tick at %s: %v", at, res.Err)
		}
		b := breaksOf(t, p.matcher, res)
		for _, x := range b {
			fired[x.BreakID]++
		}
		return b
	}
	xref := func(id string, at time.Time) contracts.Value {
		return &contracts.CrossReference{Metadata: unitMD("x-"+id, at), System: contracts.SourceSystemCRM, SystemID: id, GoldenID: "G-" + id,
			Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: "E-" + id}}}
	}
	caseUpdate := func(event, coverage string, at time.Time) contracts.Value {
		return &contracts.CaseUpdate{Metadata: unitMD("u-"+event, at), CaseID: "c1", Event: event, Coverage: coverage,
			Parts: []contracts.PartUsed{}, ReturnLines: []contracts.ReturnLineUpdate{}}
	}
	breakOf := func(id string) string {
		return match.BreakID(match.AccountKey(id), contracts.BreakKindCustomerNotInERP)
	}
	caseBreak := match.BreakID(match.CaseKey("c1"), noOrder)

	// c1 waits for an operator, then resumes with a fresh deadline
	// (T0+15s + 1m), before any tick moved its earlier one (T0+30s).
	p.send(contracts.TopicCRMCaseUpdatesV1, "c1", caseUpdate(contracts.CaseEventEntitlement, contracts.CoverageNotEntitled, unitT0.Add(5*time.Second)))
	p.send(contracts.TopicCRMCaseUpdatesV1, "c1", caseUpdate(contracts.CaseEventWorkOrder, contracts.CoverageWarranty, unitT0.Add(15*time.Second)))

	// a3 is met before any tick moved its timer.
	if res := p.send(contracts.TopicMDMXrefV1, "CRM:a3", xref("a3", unitT0.Add(20*time.Second))); len(res.On(contracts.TopicReconBreaksV1)) != 0 {
		t.Fatalf("meeting a3 emitted %+v", res.Outputs)
	}
	if b := tick(unitT0.Add(20 * time.Second)); len(b) != 0 {
		t.Fatalf("fired before any deadline: %+v", b)
	}
	for _, k := range old.legacy {
		if _, ok := p.matcher.State(match.StoreDeadlines, k); ok {
			t.Errorf("deadline %q still in the earlier index after a tick", k)
		}
	}

	// a1's deadline (T0+30s) passed, a2's (T0+1m) did not.
	p.send(contracts.TopicCRMAccountV1, "a4", account("a4", unitT0.Add(40*time.Second)))
	b := tick(unitT0.Add(40 * time.Second))
	if len(b) != 1 || b[0].BreakID != breakOf("a1") || b[0].Status != contracts.BreakStatusOpen || b[0].Metadata.CorrelationID != "corr-a1" ||
		b[0].Deadline == nil || !b[0].Deadline.Equal(unitT0.Add(30*time.Second)) {
		t.Fatalf("at T0+40s fired %+v, want a1's break with its deadline T0+30s", b)
	}
	if _, ok := p.matcher.State(match.StoreEntities, match.AccountKey("a0")); ok {
		t.Error("a0, settled and past retention, was not collected by its moved GC timer")
	}
	if b := tick(unitT0.Add(45 * time.Second)); len(b) != 0 {
		t.Fatalf("fired again: %+v", b)
	}

	// a2's deadline passed; a4's (T0+1m40s, set by this release) did not.
	p.send(contracts.TopicCRMAccountV1, "a5", account("a5", unitT0.Add(70*time.Second)))
	b = tick(unitT0.Add(70 * time.Second))
	if len(b) != 1 || b[0].BreakID != breakOf("a2") || !b[0].Deadline.Equal(unitT0.Add(time.Minute)) {
		t.Fatalf("at T0+70s fired %+v, want a2's break", b)
	}
	p.send(contracts.TopicCRMAccountV1, "a6", account("a6", unitT0.Add(5*time.Minute)))
	b = tick(unitT0.Add(5 * time.Minute))
	for _, x := range b {
		if x.BreakID == caseBreak && !x.Deadline.Equal(unitT0.Add(75*time.Second)) {
			t.Errorf("c1 broke with deadline %s, want its fresh one T0+75s", x.Deadline)
		}
	}
	tick(unitT0.Add(6 * time.Minute))
	want := map[string]int{breakOf("a1"): 1, breakOf("a2"): 1, caseBreak: 1, breakOf("a4"): 1, breakOf("a5"): 1}
	if len(fired) != len(want) {
		t.Errorf("fired %v, want a1, a2, c1, a4, a5 once each", fired)
	}
	for id, n := range want {
		if fired[id] != n {
			t.Errorf("break %s fired %d times, want %d", id, fired[id], n)
		}
	}
	if fired[breakOf("a3")] != 0 {
		t.Error("a3, met after the upgrade, broke")
	}
	s := stateStats(t, p)
	if s.Breaks[contracts.BreakKindCustomerNotInERP] != 4 || s.Open[contracts.BreakKindCustomerNotInERP] != 5 || s.Breaks[noOrder] != 1 || s.Open[noOrder] != 1 {
		t.Errorf("stats open %v breaks %v, want accounts 5 open (a1, a2, a4, a5 breached, a6 pending) and 4 breaks, c1 open and breached", s.Open, s.Breaks)
	}
}

// An entry of the earlier index that cannot be read is our own state gone
// bad: the tick fails retriable (corrupt_state) and nothing is dropped.
func TestUnreadableEarlierTimerIsCorruptState(t *testing.T) {
	k := processortest.New(t, matcherConfig())
	k.Seed(match.StoreDeadlines, "not-a-deadline", []byte("A:a1\x00"+contracts.BreakKindCustomerNotInERP))
	res := k.Tick(unitT0)
	if errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != string(errs.ReasonCorruptState) {
		t.Fatalf("err %v, want retriable corrupt_state", res.Err)
	}
	if _, ok := k.State(match.StoreDeadlines, "not-a-deadline"); !ok {
		t.Error("the unreadable entry was dropped")
	}
}

func stateStats(t *testing.T, p *pipeline) *match.Stats {
	t.Helper()
	raw, ok := p.matcher.State(match.StoreEntities, "~stats")
	if !ok {
		t.Fatal("no stats")
	}
	var s match.Stats
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}
