package golden

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/errs"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// outcomes renders the exception updates of steward decisions.
func outcomes(out Outputs) []string {
	var o []string
	for _, x := range out.Exceptions {
		if x.Status != "" {
			o = append(o, x.Status+"/"+x.DecisionID)
		}
	}
	return o
}

// TestStewardActions: each action on an ownership conflict or a probable
// duplicate changes the golden state once and publishes its outcome on the
// exception; the same action again changes nothing; a decision that cannot
// be carried out is refused (state untouched).
func TestStewardActions(t *testing.T) {
	// scenario()[:5]: A1 and ERP 100042 in one golden record; event 4 (CRM
	// changed the ERP-owned payment terms) raised an ownership conflict.
	setup := func(t *testing.T) (*State, string, Exception) {
		s := newState(t)
		var conflict Exception
		for _, ev := range scenario()[:5] {
			for _, x := range mustApply(t, s, ev).Exceptions {
				if x.Category == OwnershipConflict {
					conflict = x
				}
			}
		}
		if conflict.ID == "" {
			t.Fatal("no ownership conflict raised")
		}
		cat, g, ok := ExceptionOf(conflict.ID)
		if !ok || cat != OwnershipConflict || g != conflict.GoldenID {
			t.Fatalf("exception id %q names %q %q", conflict.ID, cat, g)
		}
		return s, golden(t, s, sv.CRM, "A1"), conflict
	}
	ruling := func(x Exception, id string) Ruling {
		return Ruling{DecisionID: id, ExceptionID: x.ID, Category: x.Category, Actor: "steward@example.com"}
	}

	t.Run("PICK_SURVIVOR sets the value, pushes it, resolves; the same pick again is a no-op", func(t *testing.T) {
		s, g, x := setup(t)
		out := mustApply(t, s, StewardPick{Meta: meta(30), Ruling: ruling(x, "d1"), Golden: g, Field: "payment_terms", Value: "NET60"})
		if got := attr(t, s, g, sv.PaymentTerms); got != "NET60" {
			t.Errorf("payment terms %q, want NET60", got)
		}
		if d := cmp.Diff([]string{"RESOLVED/d1"}, outcomes(out)); d != "" {
			t.Errorf("outcomes (-want +got)\n%s", d)
		}
		a := find(out.Audit, func(a Audit) bool { return a.Field == "payment_terms" })
		if a == nil || !a.Applied || a.Rule != "steward_pick" || a.Old != "NET30" || a.New != "NET60" {
			t.Errorf("audit %+v", a)
		}
		if len(out.CRMUpdates) != 1 || out.CRMUpdates[0].Fields[sv.PaymentTerms] != "NET60" {
			t.Errorf("CRM updates %+v, want the picked terms pushed to A1", out.CRMUpdates)
		}
		if len(out.ERPCommands) != 0 {
			t.Errorf("ERP commands %+v for an ERP-owned field", out.ERPCommands)
		}
		again := mustApply(t, s, StewardPick{Meta: meta(31), Ruling: ruling(x, "d2"), Golden: g, Field: "payment_terms", Value: "NET60"})
		if len(again.Exceptions)+len(again.Audit)+len(again.CRMUpdates)+len(again.Golden) != 0 {
			t.Errorf("second pick on a settled exception changed something: %+v", again)
		}
		// The owner's next change applies as usual.
		mustApply(t, s, erp(32, "100042", "", map[Field]string{sv.LegalName: "Müller Maschinenbau Gesellschaft mit beschränkter Haftung", sv.PaymentTerms: "NET45"}))
		if got := attr(t, s, g, sv.PaymentTerms); got != "NET45" {
			t.Errorf("payment terms %q after the owner's change, want NET45", got)
		}
	})

	t.Run("SPLIT moves the source record to a new golden record, marked not a duplicate", func(t *testing.T) {
		s, g, x := setup(t)
		out := mustApply(t, s, StewardSplit{Meta: meta(30), Ruling: ruling(x, "d1"), Golden: g, Ref: xref.Ref{System: "erp", ID: "100042"}})
		ng := golden(t, s, sv.ERP, "100042")
		if ng == g || golden(t, s, sv.CRM, "A1") != g {
			t.Fatalf("after split ERP 100042 → %s, CRM A1 → %s (was %s)", ng, golden(t, s, sv.CRM, "A1"), g)
		}
		if got := attr(t, s, ng, sv.TaxID); got != "DE123456789" {
			t.Errorf("the new record lacks the attributes 100042 contributed: tax id %q", got)
		}
		if !s.xref.IsNotDuplicate(g, ng) {
			t.Error("split records not marked not duplicates")
		}
		if d := cmp.Diff([]string{"RESOLVED/d1"}, outcomes(out)); d != "" {
			t.Errorf("outcomes (-want +got)\n%s", d)
		}
		again := mustApply(t, s, StewardSplit{Meta: meta(31), Ruling: ruling(x, "d2"), Golden: g, Ref: xref.Ref{System: "erp", ID: "100042"}})
		if len(again.Exceptions)+len(again.Golden) != 0 {
			t.Errorf("second split changed something: %+v", again)
		}
	})

	t.Run("refusals leave the state as it was", func(t *testing.T) {
		s, g, x := setup(t)
		before := s.Snapshot()
		for _, ev := range []Event{
			StewardPick{Meta: meta(30), Ruling: ruling(x, "d1"), Golden: g, Field: "no_such_field", Value: "x"},
			StewardSplit{Meta: meta(31), Ruling: ruling(x, "d2"), Golden: g, Ref: xref.Ref{System: "crm", ID: "NOT-A-MEMBER"}},
		} {
			_, err := s.Apply(ev)
			if errs.ClassOf(err) != errs.ClassPoison || errs.ReasonOf(err) != string(errs.ReasonDecisionRefused) {
				t.Errorf("%T: err %v, want a refusal", ev, err)
			}
		}
		if !slices.Equal(before, s.Snapshot()) {
			t.Error("a refused decision changed the state")
		}
	})

	t.Run("RESOLVE and DISMISS only change the status, once", func(t *testing.T) {
		s, g, x := setup(t)
		out := mustApply(t, s, StewardClose{Meta: meta(30), Ruling: ruling(x, "d1"), Golden: g, Status: "CLOSED"})
		if d := cmp.Diff([]string{"CLOSED/d1"}, outcomes(out)); d != "" {
			t.Errorf("outcomes (-want +got)\n%s", d)
		}
		if out := mustApply(t, s, StewardClose{Meta: meta(31), Ruling: ruling(x, "d2"), Golden: g, Status: "RESOLVED"}); len(out.Exceptions) != 0 {
			t.Errorf("second close: %+v", out.Exceptions)
		}
	})

	t.Run("MERGE and NOT_DUPLICATE resolve their exception once", func(t *testing.T) {
		s := newState(t)
		for _, ev := range scenario()[:9] {
			mustApply(t, s, ev)
		}
		g2, g4 := golden(t, s, sv.CRM, "A2"), golden(t, s, sv.CRM, "A4")
		dup := Ruling{DecisionID: "m1", ExceptionID: exceptionID(ProbableDuplicate, g4, "x"), Category: ProbableDuplicate, Actor: "steward@example.com"}
		var got []string
		for _, ev := range []Event{
			StewardMerge{Meta: meta(30), Ruling: dup, Survivor: g2, Merged: g4},
			StewardMerge{Meta: meta(31), Ruling: dup, Survivor: g2, Merged: g4},
		} {
			got = append(got, strings.Join(outcomes(mustApply(t, s, ev)), ","))
		}
		if d := cmp.Diff([]string{"RESOLVED/m1", ""}, got); d != "" {
			t.Errorf("merge outcomes (-want +got)\n%s", d)
		}
		s2 := newState(t)
		for _, ev := range scenario()[:9] {
			mustApply(t, s2, ev)
		}
		nd := dup
		nd.DecisionID = "n1"
		got = nil
		for i := range 2 {
			got = append(got, fmt.Sprint(outcomes(mustApply(t, s2, StewardNotDuplicate{Meta: meta(40 + i), Ruling: nd, A: g4, B: g2}))))
		}
		if d := cmp.Diff([]string{"[RESOLVED/n1]", "[]"}, got); d != "" {
			t.Errorf("not-duplicate outcomes (-want +got)\n%s", d)
		}
	})
}
