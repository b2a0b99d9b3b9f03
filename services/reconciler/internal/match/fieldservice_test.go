package match

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// fsGot is a break event of the field-service checks: how a CLOSED one was
// closed is the part of its resolution before ":" (late, withdrawn, paused).
type fsGot struct{ Kind, Status, How string }

func runFS(t *testing.T, steps []step) ([]fsGot, []*contracts.ReconBreak) {
	t.Helper()
	all, _ := play(t, steps)
	var out []fsGot
	for _, b := range all {
		g := fsGot{Kind: b.Kind, Status: b.Status}
		if b.Resolution != nil {
			g.How, _, _ = strings.Cut(*b.Resolution, ":")
		}
		out = append(out, g)
	}
	return out, all
}

func TestFieldServiceChecks(t *testing.T) {
	S := CaseKey("c1")
	const (
		noOrder  = contracts.BreakKindCaseWithoutServiceOrder
		noCost   = contracts.BreakKindServiceCostNotSettled
		noCredit = contracts.BreakKindReturnNotCredited
	)
	opened := func(k string) fsGot { return fsGot{Kind: k, Status: contracts.BreakStatusOpen} }
	closed := func(k, how string) fsGot { return fsGot{Kind: k, Status: contracts.BreakStatusClosed, How: how} }
	caseRec := func(d time.Duration, status string) step {
		return ob(S, EvCase, d, func(o *Observation) { o.Status, o.Kind = status, CaseKindService })
	}
	update := func(d time.Duration, event, coverage string) step {
		return ob(S, EvCaseUpdate, d, func(o *Observation) { o.Status, o.Kind = event, coverage })
	}
	order := func(d time.Duration, status string, cost *Money) step {
		return ob(S, EvServiceOrderStatus, d, func(o *Observation) { o.Status, o.Amount = status, cost })
	}
	journal := func(d time.Duration, id, status string) step {
		return ob(S, EvServiceCostJournal, d, func(o *Observation) { o.Ref, o.Status = id, status })
	}
	ret := func(d time.Duration, status string, accepted int64) step {
		return ob(S, EvReturnStatus, d, func(o *Observation) { o.Status, o.Units = status, accepted })
	}
	tests := []struct {
		name  string
		steps []step
		want  []fsGot
	}{
		// CASE_WITHOUT_SERVICE_ORDER
		{"service order in time", []step{
			caseRec(0, "OPEN"), update(time.Second, "ENTITLEMENT", "WARRANTY"), update(2*time.Second, "WORK_ORDER", "WARRANTY"),
			order(30*time.Second, "CREATED", nil), tick(time.Hour),
		}, nil},
		{"no service order: opens after the deadline, not before, closes on the late status", []step{
			caseRec(0, "OPEN"), tick(59 * time.Second), tick(61 * time.Second), tick(2 * time.Minute),
			order(3*time.Minute, "CREATED", nil), tick(time.Hour),
		}, []fsGot{opened(noOrder), closed(noOrder, "late")}},
		{"an entitled verdict and the work order do not meet it: only ERP's service order does", []step{
			caseRec(0, "OPEN"), update(time.Second, "ENTITLEMENT", "BILLABLE"), update(2*time.Second, "WORK_ORDER", "BILLABLE"), tick(61 * time.Second),
		}, []fsGot{opened(noOrder)}},
		{"ERP refusing the service order is an answer", []step{
			caseRec(0, "OPEN"), order(10*time.Second, "REJECTED", nil), update(11*time.Second, "REFUSED", "WARRANTY"), tick(time.Hour),
		}, nil},
		{"service order status routed before the case", []step{
			order(0, "CREATED", nil), caseRec(time.Second, "OPEN"), tick(time.Hour),
		}, nil},
		{"case re-sent by CRM (priority change) keeps its first deadline", []step{
			caseRec(0, "OPEN"), caseRec(50*time.Second, "OPEN"), tick(61 * time.Second),
		}, []fsGot{opened(noOrder)}},
		{"case withdrawn in CRM before the deadline expects nothing", []step{
			caseRec(0, "OPEN"), caseRec(30*time.Second, "CANCELLED"), tick(time.Hour),
		}, nil},
		{"case withdrawn in CRM after the break opened closes it", []step{
			caseRec(0, "OPEN"), tick(2 * time.Minute), caseRec(3*time.Minute, "CANCELLED"), tick(time.Hour),
		}, []fsGot{opened(noOrder), closed(noOrder, "withdrawn")}},
		{"case withdrawn before it was seen open expects nothing", []step{
			caseRec(0, "CANCELLED"), caseRec(time.Second, "OPEN"), tick(time.Hour),
		}, nil},
		{"case refused by field-service", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "REFUSED", "NOT_ENTITLED"), tick(time.Hour),
		}, nil},
		{"case cancelled by field-service after the break opened closes it", []step{
			caseRec(0, "OPEN"), tick(2 * time.Minute), update(3*time.Minute, "CANCELLED", "WARRANTY"), tick(time.Hour),
		}, []fsGot{opened(noOrder), closed(noOrder, "withdrawn")}},
		{"paused while not entitled, resumed by the work order with a fresh deadline", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), tick(time.Hour),
			update(2*time.Hour, "WORK_ORDER", "BILLABLE"), tick(2*time.Hour + 59*time.Second), tick(2*time.Hour + 61*time.Second),
			order(2*time.Hour+2*time.Minute, "CREATED", nil),
		}, []fsGot{opened(noOrder), closed(noOrder, "late")}},
		{"paused while not entitled: no break however long the operator takes", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), tick(time.Hour), tick(72 * time.Hour),
		}, nil},
		{"resumed: nothing before the fresh deadline", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), update(2*time.Hour, "WORK_ORDER", "BILLABLE"),
			tick(2*time.Hour + 59*time.Second),
		}, nil},
		{"paused and resumed, ERP answers in time", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), update(time.Hour, "WORK_ORDER", "BILLABLE"),
			order(time.Hour+30*time.Second, "CREATED", nil), tick(3 * time.Hour),
		}, nil},
		{"a case re-sent while paused stays paused", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), caseRec(20*time.Second, "OPEN"), tick(time.Hour),
		}, nil},
		{"not-entitled verdict routed before the case", []step{
			update(0, "ENTITLEMENT", "NOT_ENTITLED"), caseRec(time.Second, "OPEN"), tick(time.Hour),
		}, nil},
		{"paused, then refused: nothing resumes", []step{
			caseRec(0, "OPEN"), update(10*time.Second, "ENTITLEMENT", "NOT_ENTITLED"), update(time.Hour, "REFUSED", "NOT_ENTITLED"),
			update(2*time.Hour, "WORK_ORDER", "BILLABLE"), tick(3 * time.Hour),
		}, nil},
		{"an open break closes when the case is paused, and breaks again after the resumed deadline", []step{
			caseRec(0, "OPEN"), tick(2 * time.Minute), update(3*time.Minute, "ENTITLEMENT", "NOT_ENTITLED"), tick(time.Hour),
			update(2*time.Hour, "WORK_ORDER", "BILLABLE"), tick(2*time.Hour + 61*time.Second), order(2*time.Hour+2*time.Minute, "CREATED", nil),
		}, []fsGot{opened(noOrder), closed(noOrder, "paused"), opened(noOrder), closed(noOrder, "late")}},
		{"a return case expects no service order", []step{
			ob(S, EvCase, 0, func(o *Observation) {
				o.Status, o.Kind, o.IDs = "OPEN", CaseKindReturn, map[string]string{"return_id": "c1"}
			}),
			update(time.Second, "WORK_ORDER", "UNKNOWN"), tick(time.Hour),
		}, nil},

		// SERVICE_COST_NOT_SETTLED
		{"completed with a cost, journal posted in time", []step{
			order(0, "COMPLETED", eur(500)), journal(30*time.Second, "FS/c1/SERVICE_COST", "POSTED"), tick(time.Hour),
		}, nil},
		{"completed with a cost, no journal: opens after the deadline, not before, closes when posted", []step{
			order(0, "COMPLETED", eur(500)), tick(59 * time.Second), tick(61 * time.Second),
			journal(2*time.Minute, "FS/c1/SERVICE_COST", "POSTED"), tick(time.Hour),
		}, []fsGot{opened(noCost), closed(noCost, "late")}},
		{"rejected journal, then a repost satisfies it", []step{
			order(0, "COMPLETED", eur(500)), journal(10*time.Second, "FS/c1/SERVICE_COST", "REJECTED"), tick(61 * time.Second),
			journal(2*time.Minute, "FS/c1/SERVICE_COST/r1", "POSTED"),
		}, []fsGot{opened(noCost), closed(noCost, "late")}},
		{"repost posted before its deadline", []step{
			order(0, "COMPLETED", eur(500)), journal(10*time.Second, "FS/c1/SERVICE_COST", "REJECTED"),
			journal(20*time.Second, "FS/c1/SERVICE_COST/r1", "POSTED"), tick(time.Hour),
		}, nil},
		{"journal posted before the completion was routed", []step{
			journal(0, "FS/c1/SERVICE_COST", "POSTED"), order(time.Second, "COMPLETED", eur(500)), tick(time.Hour),
		}, nil},
		{"completed without a cost expects no journal", []step{
			order(0, "COMPLETED", &Money{Currency: "EUR"}), tick(time.Hour),
		}, nil},
		{"the completion also answers the case", []step{
			caseRec(0, "OPEN"), order(10*time.Second, "COMPLETED", eur(500)), tick(71 * time.Second),
		}, []fsGot{opened(noCost)}},

		// RETURN_NOT_CREDITED
		{"inspected with accepted units, credited in time", []step{
			ret(0, "RECEIVED", 0), ret(time.Second, "INSPECTED", 2), ret(30*time.Second, "CREDITED", 2), tick(time.Hour),
		}, nil},
		{"not credited: opens after the deadline, not before, closes when credited", []step{
			ret(0, "INSPECTED", 2), tick(59 * time.Second), tick(61 * time.Second), ret(2*time.Minute, "CREDITED", 2), tick(time.Hour),
		}, []fsGot{opened(noCredit), closed(noCredit, "late")}},
		{"inspection accepted nothing: nothing to credit", []step{
			ret(0, "INSPECTED", 0), tick(time.Hour),
		}, nil},
		{"a re-inspection accepting nothing withdraws the expectation", []step{
			ret(0, "INSPECTED", 2), ret(10*time.Second, "INSPECTED", 0), tick(time.Hour),
		}, nil},
		{"a return rejected after inspection stays a break", []step{
			ret(0, "INSPECTED", 1), ret(10*time.Second, "REJECTED", 0), tick(61 * time.Second), tick(time.Hour),
		}, []fsGot{opened(noCredit)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := runFS(t, tc.steps)
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("breaks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFieldServiceBreakContent checks what the breaks say: the entity ids,
// the correlation id of the opening input, the deadline, the expected and
// actual text, and, for a break paused and resumed, one break id with
// distinct event ids per generation.
func TestFieldServiceBreakContent(t *testing.T) {
	S := CaseKey("c/1")
	corr := func(c string) func(*Observation) { return func(o *Observation) { o.CorrelationID = c } }
	with := func(fns ...func(*Observation)) func(*Observation) {
		return func(o *Observation) {
			for _, f := range fns {
				f(o)
			}
		}
	}
	// Routed as the router does, so the ids are those of real records.
	routed := func(topic string, v contracts.Value, d time.Duration) step {
		obs := Route(topic, v)
		if len(obs) == 0 {
			t.Fatalf("%T routes nowhere", v)
		}
		for _, o := range obs {
			if o.Key == S {
				o.At = at(d)
				return step{obs: &o}
			}
		}
		t.Fatalf("%T not routed to %s", v, S)
		return step{}
	}
	md := func(c string) contracts.EventMetadata {
		return contracts.EventMetadata{EventID: "ev-" + c, CorrelationID: c, OccurredAt: t0}
	}
	_, bs := runFS(t, []step{
		routed(contracts.TopicCRMCaseV1, &contracts.Case{Metadata: md("corr-case"), CaseID: "c/1", AccountID: "a1", Status: "OPEN"}, 0),
		tick(2 * time.Minute),
		ob(S, EvCaseUpdate, 3*time.Minute, with(corr("corr-fs"), func(o *Observation) { o.Status, o.Kind = "ENTITLEMENT", "NOT_ENTITLED" })),
		ob(S, EvCaseUpdate, 4*time.Minute, with(corr("corr-fs"), func(o *Observation) { o.Status, o.Kind = "WORK_ORDER", "BILLABLE" })),
		tick(6 * time.Minute),
		routed(contracts.TopicERPServiceOrderStatusV1, &contracts.ServiceOrderStatus{Metadata: md("corr-erp"), ServiceOrderID: "c/1", CaseID: "c/1",
			ERPServiceOrderID: ptr("SO-9"), Status: "COMPLETED", Parts: []contracts.PartUsed{{SKU: "P", Quantity: 2, UnitCost: contracts.Money{AmountMinor: 100, Currency: "EUR"}}},
			LabourCost: &contracts.Money{AmountMinor: 300, Currency: "EUR"}}, 7*time.Minute),
		routed(contracts.TopicERPJournalV1, &contracts.Journal{Metadata: md("corr-j"), JournalCommandID: "FS/c%2F1/SERVICE_COST", Status: "REJECTED",
			RejectionCode: ptr("PERIOD_CLOSED")}, 7*time.Minute+time.Second),
		tick(9 * time.Minute),
	})
	if len(bs) != 5 {
		for _, b := range bs {
			t.Logf("%s %s %s", b.Kind, b.Status, contracts.Deref(b.Resolution))
		}
		t.Fatalf("%d break events, want 5 (open, paused, open again, closed by the order, cost open)", len(bs))
	}
	first, paused, again, late, cost := bs[0], bs[1], bs[2], bs[3], bs[4]
	for _, b := range []*contracts.ReconBreak{first, paused, again, late} {
		if b.Kind != contracts.BreakKindCaseWithoutServiceOrder || b.BreakID != first.BreakID {
			t.Errorf("%s %s break %s, want one CASE_WITHOUT_SERVICE_ORDER break %s", b.Kind, b.Status, b.BreakID, first.BreakID)
		}
	}
	ids := map[string]bool{}
	for _, b := range bs {
		if ids[b.Metadata.EventID] {
			t.Errorf("event id %s repeated (%s %s)", b.Metadata.EventID, b.Kind, b.Status)
		}
		ids[b.Metadata.EventID] = true
	}
	if first.Metadata.CorrelationID != "corr-case" || again.Metadata.CorrelationID != "corr-fs" {
		t.Errorf("correlation ids %q and %q, want the opening inputs' corr-case and corr-fs", first.Metadata.CorrelationID, again.Metadata.CorrelationID)
	}
	if want := t0.Add(time.Minute); first.Deadline == nil || !first.Deadline.Equal(want) {
		t.Errorf("first deadline %v, want %v (case opened + SLA)", first.Deadline, want)
	}
	if want := t0.Add(5 * time.Minute); again.Deadline == nil || !again.Deadline.Equal(want) {
		t.Errorf("resumed deadline %v, want %v (work order + SLA)", again.Deadline, want)
	}
	wantIDs := map[string]string{"match_key": "S:c/1", "case_id": "c/1", "service_order_id": "c/1", "account_id": "a1"}
	for k, v := range wantIDs {
		if first.EntityIds[k] != v {
			t.Errorf("entity id %s = %q, want %q (all: %v)", k, first.EntityIds[k], v, first.EntityIds)
		}
	}
	if !strings.Contains(contracts.Deref(first.Expected), "service order c/1") || contracts.Deref(first.Actual) != "nothing observed by the deadline" {
		t.Errorf("expected %q actual %q", contracts.Deref(first.Expected), contracts.Deref(first.Actual))
	}
	if !strings.HasPrefix(contracts.Deref(paused.Resolution), "paused: not entitled") {
		t.Errorf("paused resolution %q", contracts.Deref(paused.Resolution))
	}
	if cost.Kind != contracts.BreakKindServiceCostNotSettled || cost.Status != contracts.BreakStatusOpen {
		t.Fatalf("last break %s %s, want SERVICE_COST_NOT_SETTLED OPEN", cost.Kind, cost.Status)
	}
	if got := cost.EntityIds["journal_command_id"]; got != "FS/c%2F1/SERVICE_COST" {
		t.Errorf("journal_command_id %q", got)
	}
	if got := cost.EntityIds["erp_service_order_id"]; got != "SO-9" {
		t.Errorf("erp_service_order_id %q", got)
	}
	if exp := contracts.Deref(cost.Expected); !strings.Contains(exp, "FS/c%2F1/SERVICE_COST") || !strings.Contains(exp, "500 EUR") {
		t.Errorf("expected %q, want the journal id and the cost (2×100 + 300 EUR)", exp)
	}
	if act := contracts.Deref(cost.Actual); act != "journal FS/c%2F1/SERVICE_COST REJECTED PERIOD_CLOSED" {
		t.Errorf("actual %q, want ERP's rejection", act)
	}
	if cost.Metadata.CorrelationID != "corr-erp" || cost.Severity != contracts.SeverityHigh || cost.Description == "" {
		t.Errorf("cost break: correlation %q severity %q description %q", cost.Metadata.CorrelationID, cost.Severity, cost.Description)
	}
}

// TestFieldServiceGC: a paused case is kept (something is pending); a
// withdrawn one is collected after retention.
func TestFieldServiceGC(t *testing.T) {
	e := &Engine{SLA: testSLA, Retention: time.Hour}
	st := newState(t)
	apply := func(o *Observation) {
		t.Helper()
		if _, err := st.apply(e, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"paused", "refused"} {
		apply(&Observation{Key: CaseKey(id), Event: EvCase, Status: "OPEN", Kind: CaseKindService, At: at(0)})
		apply(&Observation{Key: CaseKey(id), Event: EvCaseUpdate, Status: "ENTITLEMENT", Kind: "NOT_ENTITLED", At: at(time.Second)})
	}
	apply(&Observation{Key: CaseKey("refused"), Event: EvCaseUpdate, Status: "REFUSED", Kind: "NOT_ENTITLED", At: at(2 * time.Second)})
	for _, d := range []time.Duration{2 * time.Hour, 4 * time.Hour} {
		if _, err := st.tick(e, 0, t0.Add(d), false); err != nil {
			t.Fatal(err)
		}
	}
	if !st.has(StoreEntities, CaseKey("paused")) {
		t.Error("paused case collected while it waits for an operator")
	}
	if st.has(StoreEntities, CaseKey("refused")) {
		t.Error("refused case not collected after retention")
	}
}
