package bridge

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

func ids(js []journal.Journal) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

// A contract signed in January posts its invoices and January's
// recognition at once; every later month's recognition waits for its
// period to open (stream time), and goes then, once.
func TestJournalsPostedWhenTheirPeriodOpens(t *testing.T) {
	b, s := New(), NewState("C-P")
	out, err := b.ApplyDeal(s, newDeal("C-P", contract.Quarterly, "2025-01-15", "2025-07-15", seat(10, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(out.Journals); fmt.Sprint(got) != "[JE/C-P/1/2025-01-15/INVOICE JE/C-P/1/2025-01/RECOGNITION JE/C-P/1/2025-04-15/INVOICE]" {
		t.Fatalf("sent at signing: %v", got)
	}
	for _, j := range out.Journals {
		if err := j.Check(); err != nil {
			t.Fatal(err)
		}
	}
	if next, ok := s.NextRelease(); !ok || next != day("2025-02-01") {
		t.Fatalf("next release %s %v, want 2025-02-01", next, ok)
	}
	steps := []struct {
		now  string
		want []string
	}{
		{"2025-01-31", nil},
		{"2025-02-01", []string{"JE/C-P/1/2025-02/RECOGNITION"}},
		{"2025-02-20", nil},
		{"2025-04-02", []string{"JE/C-P/1/2025-03/RECOGNITION", "JE/C-P/1/2025-04/RECOGNITION"}},
		{"2025-04-03", nil},
	}
	for _, st := range steps {
		rel := b.Release(s, day(st.now))
		if diff := cmp.Diff(st.want, ids(rel.Journals)); diff != "" {
			t.Errorf("release at %s (-want +got)\n%s", st.now, diff)
		}
		for _, j := range rel.Journals {
			if err := j.Check(); err != nil {
				t.Fatal(err)
			}
			if Opens(j.Date) > day(st.now) {
				t.Errorf("%s posted on %s before its period opened", j.ID, st.now)
			}
			if s.Journals[j.ID].Status != JournalPending {
				t.Errorf("%s is %s after its release", j.ID, s.Journals[j.ID].Status)
			}
		}
	}
}

// The rules of an ERP rejection: PERIOD_CLOSED reposts on its own into the
// next open period (scheduled when it has not opened), up to MaxAutoReposts;
// any other reason is raised with the journal actions.
func TestJournalRejections(t *testing.T) {
	jan := "JE/C-R/1/2025-01/RECOGNITION"
	reject := func(id, reason string, at time.Time) JournalEvent {
		return JournalEvent{ContractID: "C-R", JournalID: id, Kind: JournalRejectedEvent, Reason: reason, OccurredAt: at}
	}
	jan10 := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	mar5 := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		events     []JournalEvent
		wantSent   []string // journals sent at once by the last event
		wantRepost []string // "rejected → new @date scheduled?"
		wantExc    []string // id/status
	}{
		{
			name:       "period closed in January: repost into February, sent when February opens",
			events:     []JournalEvent{reject(jan, "PERIOD_CLOSED: posting period 2025-01 is closed", jan10)},
			wantRepost: []string{jan + " → " + jan + "/R1 @2025-02-01 scheduled=true"},
		},
		{
			name:       "period closed answered in March: repost into March, at once",
			events:     []JournalEvent{reject(jan, "PERIOD_CLOSED: posting period 2025-01 is closed", mar5)},
			wantSent:   []string{jan + "/R1"},
			wantRepost: []string{jan + " → " + jan + "/R1 @2025-03-01 scheduled=false"},
		},
		{
			name: "the same rejection twice is one repost",
			events: []JournalEvent{reject(jan, "PERIOD_CLOSED: posting period 2025-01 is closed", mar5),
				reject(jan, "PERIOD_CLOSED: posting period 2025-01 is closed", mar5)},
		},
		{
			name: "closed again and again: after the third repost it is raised",
			events: []JournalEvent{reject(jan, "PERIOD_CLOSED: a", mar5), reject(jan+"/R1", "PERIOD_CLOSED: b", mar5),
				reject(jan+"/R2", "PERIOD_CLOSED: c", mar5), reject(jan+"/R3", "PERIOD_CLOSED: d", mar5)},
			wantExc: []string{jan + "/journal_rejected/OPEN"},
		},
		{
			name:    "an invalid account is raised for finance-ops",
			events:  []JournalEvent{reject(jan, "INVALID_ACCOUNT: GL account 4000 blocked", jan10)},
			wantExc: []string{jan + "/journal_rejected/OPEN"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, s := New(), NewState("C-R")
			mustApply(t, b, s, newDeal("C-R", contract.Monthly, "2025-01-01", "2025-06-30", seat(1, 1000)))
			var out Outputs
			for _, ev := range tc.events {
				var err error
				if out, err = b.ApplyJournal(s, ev); err != nil {
					t.Fatal(err)
				}
			}
			var reposts, excs []string
			for _, r := range out.Reposts {
				reposts = append(reposts, fmt.Sprintf("%s → %s @%s scheduled=%v", r.Rejected, r.Journal, r.Date, r.Scheduled))
			}
			for _, x := range out.Exceptions {
				st := x.Status
				if st == "" {
					st = ExceptionOpen
				}
				excs = append(excs, x.ID+"/"+st)
			}
			if diff := cmp.Diff(tc.wantSent, ids(out.Journals)); diff != "" {
				t.Errorf("sent (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRepost, reposts); diff != "" {
				t.Errorf("reposts (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantExc, excs); diff != "" {
				t.Errorf("exceptions (-want +got)\n%s", diff)
			}
			for _, j := range out.Journals {
				if err := j.Check(); err != nil {
					t.Error(err)
				}
				if orig := s.Journals[jan]; j.Amount() != orig.Amount || j.Period != orig.Period || j.Kind != orig.Kind {
					t.Errorf("repost %s changed the journal: %+v vs %+v", j.ID, j, orig)
				}
			}
		})
	}
}

// The operator's decisions on a journal_rejected exception: each allowed
// action moves it once, a repeat is a no-op, a refused one comes back OPEN.
func TestJournalDecisions(t *testing.T) {
	jan := "JE/C-D/1/2025-01/RECOGNITION"
	exID := jan + "/journal_rejected"
	mar5 := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	type step struct {
		decision *Decision
		answer   *JournalEvent
	}
	dec := func(id, action string) step {
		return step{decision: &Decision{ID: id, ExceptionID: exID, Action: action, Actor: "fin@example.com"}}
	}
	answer := func(id string, kind JournalEventKind) step {
		return step{answer: &JournalEvent{ContractID: "C-D", JournalID: id, Kind: kind, Reason: "INVALID_ACCOUNT: again", OccurredAt: mar5}}
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // per step: exception updates and journals sent
	}{
		{"REPOST, ERP posts it: RESOLVED", []step{dec("d1", ActionRepost), answer(jan+"/R1", JournalPostedEvent)},
			[]string{"RETRYING/d1 sent " + jan + "/R1", "RESOLVED/d1"}},
		{"REPOST, ERP rejects it again: OPEN; REPOST again", []step{dec("d1", ActionRepost), answer(jan+"/R1", JournalRejectedEvent), dec("d2", ActionRepost)},
			[]string{"RETRYING/d1 sent " + jan + "/R1", "OPEN/d1", "RETRYING/d2 sent " + jan + "/R2"}},
		{"the same REPOST twice reposts once", []step{dec("d1", ActionRepost), dec("d1", ActionRepost), dec("d2", ActionRepost)},
			[]string{"RETRYING/d1 sent " + jan + "/R1", "noop", "noop"}},
		{"ROUTE_TO_FINANCE: RESOLVED, nothing sent", []step{dec("d1", ActionRouteToFinance), dec("d2", ActionRepost)},
			[]string{"RESOLVED/d1", "noop"}},
		{"DISMISS: CLOSED", []step{dec("d1", ActionDismiss), dec("d1", ActionDismiss)}, []string{"CLOSED/d1", "noop"}},
		{"an action it does not allow comes back OPEN", []step{dec("d1", "MERGE"), dec("d2", ActionResolve)},
			[]string{"OPEN/d1", "RESOLVED/d2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, s := New(), NewState("C-D")
			mustApply(t, b, s, newDeal("C-D", contract.Monthly, "2025-01-01", "2025-06-30", seat(1, 1000)))
			if _, err := b.ApplyJournal(s, JournalEvent{ContractID: "C-D", JournalID: jan, Kind: JournalRejectedEvent, Reason: "INVALID_ACCOUNT: blocked", OccurredAt: mar5}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range tc.steps {
				var out Outputs
				if st.decision != nil {
					out = b.ApplyDecision(s, *st.decision, contract.DateOf(mar5))
				} else {
					var err error
					if out, err = b.ApplyJournal(s, *st.answer); err != nil {
						t.Fatal(err)
					}
				}
				if out.Status == StatusDuplicate {
					got = append(got, "noop")
					continue
				}
				var parts []string
				for _, x := range out.Exceptions {
					parts = append(parts, x.Status+"/"+x.DecisionID)
				}
				if len(out.Journals) > 0 {
					parts = append(parts, "sent "+strings.Join(ids(out.Journals), ","))
				}
				got = append(got, strings.Join(parts, " "))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// An exception a release before pkg/ops raised is tracked under its id of
// then (EX/…): decisions on it and its later updates, automatic ones and a
// raise again, keep that id, and no second exception of today's form
// appears.
func TestLegacyExceptionKeepsItsID(t *testing.T) {
	jan := "JE/C-L/1/2025-01/RECOGNITION"
	legacy := LegacyExceptionPrefix + jan + "/journal_rejected"
	mar5 := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	b, s := New(), NewState("C-L")
	mustApply(t, b, s, newDeal("C-L", contract.Monthly, "2025-01-01", "2025-06-30", seat(1, 1000)))
	answer := func(id string, kind JournalEventKind, reason string) Outputs {
		t.Helper()
		out, err := b.ApplyJournal(s, JournalEvent{ContractID: "C-L", JournalID: id, Kind: kind, Reason: reason, OccurredAt: mar5})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	answer(jan, JournalRejectedEvent, "INVALID_ACCOUNT: blocked")
	// The state as that release saved it: the exception under EX/….
	s.Exceptions = map[string]ExceptionState{legacy: s.Exceptions[jan+"/journal_rejected"]}

	updates := func(out Outputs) string {
		var parts []string
		for _, x := range out.Exceptions {
			parts = append(parts, x.ID+" "+x.Status)
		}
		return strings.Join(parts, ", ")
	}
	steps := []struct {
		name string
		out  func() Outputs
		want string
	}{
		{"ERP rejects it again with another reason: raised again", func() Outputs { return answer(jan, JournalRejectedEvent, "INVALID_ACCOUNT: still blocked") },
			legacy + " "},
		{"REPOST", func() Outputs {
			return b.ApplyDecision(s, Decision{ID: "d1", ExceptionID: legacy, Action: ActionRepost, Actor: "ann"}, contract.DateOf(mar5))
		}, legacy + " RETRYING"},
		{"ERP rejects the repost: OPEN", func() Outputs { return answer(jan+"/R1", JournalRejectedEvent, "INVALID_ACCOUNT: blocked") }, legacy + " OPEN"},
		{"REPOST again", func() Outputs {
			return b.ApplyDecision(s, Decision{ID: "d2", ExceptionID: legacy, Action: ActionRepost, Actor: "ann"}, contract.DateOf(mar5))
		}, legacy + " RETRYING"},
		{"ERP posts it: RESOLVED", func() Outputs { return answer(jan+"/R2", JournalPostedEvent, "") }, legacy + " RESOLVED"},
	}
	for _, st := range steps {
		if got := updates(st.out()); got != st.want {
			t.Errorf("%s: updates %q, want %q", st.name, got, st.want)
		}
	}
	if len(s.Exceptions) != 1 || s.Exceptions[legacy].Status != ExceptionResolved {
		t.Errorf("exceptions tracked: %+v", s.Exceptions)
	}
}
