package golden

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/normalize"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func meta(n int) Meta {
	return Meta{EventID: fmt.Sprintf("ev-%03d", n), CorrelationID: fmt.Sprintf("corr-%03d", n), OccurredAt: t0.Add(time.Duration(n) * time.Minute)}
}

func crm(n int, id string, attrs map[Field]string) SourceUpserted {
	return SourceUpserted{Meta: meta(n), System: sv.CRM, RecordID: id, Attrs: attrs}
}

func erp(n int, id, ref string, attrs map[Field]string) SourceUpserted {
	return SourceUpserted{Meta: meta(n), System: sv.ERP, RecordID: id, Attrs: attrs, GoldenRef: ref}
}

func newState(t *testing.T) *State {
	t.Helper()
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustApply(t *testing.T, s *State, ev Event) Outputs {
	t.Helper()
	out, err := s.Apply(ev)
	if err != nil {
		t.Fatalf("Apply(%T): %v", ev, err)
	}
	return out
}

func attr(t *testing.T, s *State, g string, f Field) string {
	t.Helper()
	r, ok := s.Record(g)
	if !ok {
		t.Fatalf("no golden %s", g)
	}
	return r.Attrs[f].Value
}

func golden(t *testing.T, s *State, sys System, id string) string {
	t.Helper()
	g, _, ok := s.Lookup(xref.Ref{System: string(sys), ID: id})
	if !ok {
		t.Fatalf("no xref for %s/%s", sys, id)
	}
	return s.xref.Resolve(g)
}

// scenario is a realistic stream of CRM, ERP and steward events; the
// assertions in TestScenario refer to it by index.
func scenario() []Event {
	return []Event{
		/*0*/ crm(1, "A1", map[Field]string{sv.Name: "Müller Maschinenbau GmbH", sv.Country: "de", sv.Website: "https://www.mueller-mb.de/kontakt",
			sv.Phone: "089 1234567", sv.PostalCode: "80331", sv.Industry: "Machinery", sv.LifecycleStage: "prospect", sv.Owner: "jane"}),
		/*1*/ ContactUpserted{Meta: meta(2), ContactID: "C9", AccountID: "A2", Name: "Ola Nordmann", Email: "Ola@Fjord.no", Phone: "+47 22 33 44 55"},
		/*2*/ crm(3, "A1", map[Field]string{sv.Name: "Müller Maschinenbau GmbH", sv.LifecycleStage: "customer"}),
		/*3*/ erp(4, "100042", "", map[Field]string{sv.LegalName: "Müller Maschinenbau Gesellschaft mit beschränkter Haftung", sv.Country: "DE",
			sv.TaxID: "DE 123 456 789", sv.PaymentTerms: "NET30", sv.CreditStatus: "OK", sv.CreditLimit: "EUR 5000000", sv.PostalCode: "80331",
			sv.BillingAddress: "Marienplatz 1, 80331 München"}),
		/*4*/ crm(5, "A1", map[Field]string{sv.Name: "Müller Maschinenbau GmbH", sv.PaymentTerms: "NET90"}),
		/*5*/ crm(6, "A3", map[Field]string{sv.Name: "MUELLER MASCHINENBAU", sv.Country: "DE", sv.Website: "mueller-mb.de"}),
		/*6*/ crm(7, "A1", map[Field]string{sv.Name: "Müller Maschinenbau & Service GmbH"}),
		/*7*/ crm(8, "A2", map[Field]string{sv.Name: "Fjord Shipping AS", sv.Country: "NO", sv.Website: "fjordshipping.no"}),
		/*8*/ crm(9, "A4", map[Field]string{sv.Name: "Fjord Cargo Shipping", sv.Country: "NO", sv.PostalCode: "0150"}),
		/*9*/ SourceDeleted{Meta: meta(10), System: sv.CRM, RecordID: "A3"},
		/*10*/ erp(11, "100042", "", map[Field]string{sv.LegalName: "Müller Maschinenbau Gesellschaft mit beschränkter Haftung", sv.PaymentTerms: "NET45"}),
	}
}

func TestScenario(t *testing.T) {
	s := newState(t)
	evs := scenario()
	outs := make([]Outputs, len(evs))
	for i, ev := range evs {
		outs[i] = mustApply(t, s, ev)
	}

	g1 := golden(t, s, sv.CRM, "A1")
	// 0: new golden record, xref, audit entry per attribute, canonical values.
	if n := len(outs[0].Golden); n != 1 {
		t.Fatalf("event 0: %d golden upserts", n)
	}
	if d := cmp.Diff([]XrefUpsert{{Ref: xref.Ref{System: "crm", ID: "A1"}, GoldenID: g1}}, outs[0].Xrefs); d != "" {
		t.Errorf("event 0 xref (-want +got)\n%s", d)
	}
	if got := len(outs[0].Audit); got != 8 {
		t.Errorf("event 0: %d audit entries, want 8 (one per attribute)", got)
	}
	for _, a := range outs[0].Audit {
		if a.Field == "country" && (a.Rule != sv.RuleFallback || a.New != "DE") {
			t.Errorf("country audit = %+v, want fallback DE", a)
		}
	}
	// 1: contact for an unknown account is parked, nothing published.
	if len(outs[1].Golden)+len(outs[1].Audit) != 0 || len(outs[1].State) != 1 || outs[1].State[0].Key != "p/A2" {
		t.Errorf("event 1: want only the parked-contact state write, got %+v", outs[1])
	}
	// 2: lifecycle → customer: one CREATE command; never twice.
	if n := len(outs[2].ERPCommands); n != 1 || outs[2].ERPCommands[0].Kind != CreateCustomer {
		t.Fatalf("event 2: ERP commands %+v", outs[2].ERPCommands)
	}
	if got := outs[2].ERPCommands[0].Fields[sv.Website]; got != "mueller-mb.de" {
		t.Errorf("CREATE website = %q", got)
	}
	// 3: the ERP customer matches by name+country+postal and links; ERP-owned
	// fields flow back to the CRM account.
	if g := golden(t, s, sv.ERP, "100042"); g != g1 {
		t.Errorf("ERP customer linked to %s, want %s", g, g1)
	}
	// The CRM account's entry is republished with the ERP id: it is what
	// quote-to-order waits for (CRM:<account> with an ERP other id).
	if d := cmp.Diff([]XrefUpsert{
		{Ref: xref.Ref{System: "crm", ID: "A1"}, GoldenID: g1, Others: []xref.Ref{{System: "erp", ID: "100042"}}},
		{Ref: xref.Ref{System: "erp", ID: "100042"}, GoldenID: g1, Others: []xref.Ref{{System: "crm", ID: "A1"}}},
	}, outs[3].Xrefs); d != "" {
		t.Errorf("event 3 xrefs (-want +got)\n%s", d)
	}
	wantCRM := []CRMUpdate{{AccountID: "A1", GoldenID: g1, CorrelationID: "corr-004", Fields: map[Field]string{
		sv.ERPCustomerNumber: "100042", sv.PaymentTerms: "NET30", sv.CreditStatus: "OK", sv.CreditLimit: "EUR 5000000"}}}
	if d := cmp.Diff(wantCRM, outs[3].CRMUpdates); d != "" {
		t.Errorf("event 3 CRM updates (-want +got)\n%s", d)
	}
	if got := attr(t, s, g1, sv.TaxID); got != "DE123456789" {
		t.Errorf("tax id = %q", got)
	}
	// 4: CRM changes an ERP-owned field: not applied, audited, exception.
	if got := attr(t, s, g1, sv.PaymentTerms); got != "NET45" { // NET45 from event 10; NET90 never applied
		t.Errorf("payment terms = %q", got)
	}
	conflict := find(outs[4].Audit, func(a Audit) bool { return a.Field == "payment_terms" })
	if conflict == nil || conflict.Applied || conflict.Rule != sv.RuleConflict || conflict.Old != "NET30" || conflict.New != "NET90" {
		t.Errorf("event 4 conflict audit = %+v", conflict)
	}
	if len(outs[4].Exceptions) != 1 || outs[4].Exceptions[0].Category != OwnershipConflict {
		t.Errorf("event 4 exceptions = %+v", outs[4].Exceptions)
	}
	// 5: near-identical CRM account auto-merges into the same golden record.
	if g := golden(t, s, sv.CRM, "A3"); g != g1 {
		t.Errorf("A3 → %s, want auto-merge into %s", g, g1)
	}
	// 6: CRM-owned name change the ERP keeps → UPDATE command to the ERP customer.
	if len(outs[6].ERPCommands) != 1 || outs[6].ERPCommands[0].Kind != UpdateCustomer ||
		outs[6].ERPCommands[0].ERPCustomerNumber != "100042" || outs[6].ERPCommands[0].Fields[sv.Name] != "Müller Maschinenbau & Service GmbH" {
		t.Errorf("event 6 ERP commands = %+v", outs[6].ERPCommands)
	}
	// 7: the account arrives; its parked contact is applied.
	g2 := golden(t, s, sv.CRM, "A2")
	r2, _ := s.Record(g2)
	if len(r2.Contacts) != 1 || r2.Contacts[0].Email != "ola@fjord.no" || r2.Contacts[0].Phone != "+4722334455" {
		t.Errorf("contacts of A2 = %+v", r2.Contacts)
	}
	if w := find(outs[7].State, func(w StateWrite) bool { return w.Key == "p/A2" }); w == nil || w.Value != nil {
		t.Errorf("parked contacts not deleted: %+v", w)
	}
	// 8: a typo without other evidence lands in the review band: new golden
	// record plus PROBABLE_DUPLICATE naming g2.
	g4 := golden(t, s, sv.CRM, "A4")
	if g4 == g2 {
		t.Fatal("A4 auto-merged; want review band")
	}
	if len(outs[8].Exceptions) != 1 || outs[8].Exceptions[0].Category != ProbableDuplicate || outs[8].Exceptions[0].Candidates[0].GoldenID != g2 {
		t.Fatalf("event 8 exceptions = %+v", outs[8].Exceptions)
	}
	// 9: deleting a CRM account retires the membership, keeps the golden
	// record; the other members' entries no longer list it (mdm.xref.v1 is
	// compacted: the latest entry per key must be the truth).
	if d := cmp.Diff([]XrefUpsert{
		{Ref: xref.Ref{System: "crm", ID: "A1"}, GoldenID: g1, Others: []xref.Ref{{System: "erp", ID: "100042"}}},
		{Ref: xref.Ref{System: "crm", ID: "A3"}, GoldenID: g1, Retired: true,
			Others: []xref.Ref{{System: "crm", ID: "A1"}, {System: "erp", ID: "100042"}}},
		{Ref: xref.Ref{System: "erp", ID: "100042"}, GoldenID: g1, Others: []xref.Ref{{System: "crm", ID: "A1"}}},
	}, outs[9].Xrefs); d != "" {
		t.Errorf("event 9 xref (-want +got)\n%s", d)
	}
	if _, ok := s.Record(g1); !ok {
		t.Error("golden record gone after member delete")
	}
	// 10: ERP changes payment terms → CRM updates for the active account only.
	if len(outs[10].CRMUpdates) != 1 || outs[10].CRMUpdates[0].AccountID != "A1" {
		t.Errorf("event 10 CRM updates = %+v", outs[10].CRMUpdates)
	}
	// Lineage on every golden attribute.
	r1, _ := s.Record(g1)
	if l := r1.Attrs[sv.LegalName].Lineage; l.System != sv.ERP || l.RecordID != "100042" || l.OccurredAt != meta(11).OccurredAt.UnixMilli() {
		t.Errorf("legal name lineage = %+v", l)
	}
}

func TestStewardDecisions(t *testing.T) {
	s := newState(t)
	for _, ev := range scenario()[:9] {
		mustApply(t, s, ev)
	}
	g2, g4 := golden(t, s, sv.CRM, "A2"), golden(t, s, sv.CRM, "A4")

	// Not a duplicate: a later change of A4 does not propose g2 again.
	mustApply(t, s, StewardNotDuplicate{Meta: meta(20), A: g4, B: g2})
	out := mustApply(t, s, crm(21, "A4", map[Field]string{sv.Name: "Fjord Shipping", sv.Website: "fjord-shipping.no"}))
	if len(out.Exceptions) != 0 {
		t.Errorf("pair proposed again after NOT_DUPLICATE: %+v", out.Exceptions)
	}

	// Merge: xrefs re-pointed, redirect recorded, contacts and members moved.
	out = mustApply(t, s, StewardMerge{Meta: meta(22), Survivor: g2, Merged: g4})
	if got := golden(t, s, sv.CRM, "A4"); got != g2 {
		t.Errorf("A4 → %s after merge, want %s", got, g2)
	}
	stub, _ := s.Record(g4)
	if stub.MergedInto != g2 {
		t.Errorf("merged-away record = %+v", stub)
	}
	// A4 re-pointed; the survivor's member A2 now lists A4 as well.
	if d := cmp.Diff([]XrefUpsert{
		{Ref: xref.Ref{System: "crm", ID: "A2"}, GoldenID: g2, Others: []xref.Ref{{System: "crm", ID: "A4"}}},
		{Ref: xref.Ref{System: "crm", ID: "A4"}, GoldenID: g2, Others: []xref.Ref{{System: "crm", ID: "A2"}}},
	}, out.Xrefs); d != "" {
		t.Errorf("merge xrefs (-want +got)\n%s", d)
	}
	// A later event for the merged-away id follows the redirect.
	if _, err := s.Apply(EraseRequested{Meta: meta(23), GoldenID: g4}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Record(g2)
	if !r.Erased || r.Attrs[sv.Phone].Value != "" || len(r.Contacts) != 0 {
		t.Errorf("erase through redirect: %+v", r)
	}
	// After erase PII changes are not applied and audits are masked.
	out = mustApply(t, s, crm(24, "A2", map[Field]string{sv.Name: "Fjord Shipping AS", sv.Email: "ceo@fjordshipping.no"}))
	a := find(out.Audit, func(a Audit) bool { return a.Field == "email" })
	if a == nil || a.Applied || a.New != "[erased]" {
		t.Errorf("email audit after erase = %+v", a)
	}
	if r, _ := s.Record(g2); r.Attrs[sv.Email].Value != "" {
		t.Error("email stored after erase")
	}
	// Unknown golden id in a decision is poison, state untouched.
	before := s.Snapshot()
	_, err := s.Apply(StewardMerge{Meta: meta(25), Survivor: g2, Merged: "cus-doesnotexist"})
	if errs.ClassOf(err) != errs.ClassPoison || !errors.Is(err, ErrUnknownGolden) {
		t.Errorf("err = %v", err)
	}
	if !slices.Equal(before, s.Snapshot()) {
		t.Error("state changed by a refused decision")
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		msg  string
	}{
		{"missing name", crm(1, "A1", map[Field]string{sv.Country: "DE"}), "name: name is required"},
		{"invalid country", crm(1, "A1", map[Field]string{sv.Name: "Acme", sv.Country: "Germany"}), `country "Germany": not an ISO 3166-1 alpha-2 country code`},
		{"malformed email", crm(1, "A1", map[Field]string{sv.Name: "Acme", sv.Email: "info-at-acme.com"}), `email "info-at-acme.com": must be local-part@domain`},
		{"malformed phone", crm(1, "A1", map[Field]string{sv.Name: "Acme", sv.Country: "US", sv.Phone: "call me"}), `phone "call me": invalid character 'c'`},
		{"malformed tax id", erp(1, "E1", "", map[Field]string{sv.LegalName: "Acme GmbH", sv.Country: "DE", sv.TaxID: "DE12345"}), `tax_id "DE12345": DE tax ids are 9 digits`},
		{"malformed credit limit", erp(1, "E1", "", map[Field]string{sv.LegalName: "Acme GmbH", sv.CreditLimit: "5000.00"}), `credit_limit "5000.00"`},
		{"contact without name", ContactUpserted{Meta: meta(1), ContactID: "C1", AccountID: "A1"}, "a contact needs a name or an e-mail"},
		{"contact bad email", ContactUpserted{Meta: meta(1), ContactID: "C1", AccountID: "A1", Name: "X", Email: "x@"}, `email "x@"`},
		{"no time", SourceUpserted{System: sv.CRM, RecordID: "A1", Attrs: map[Field]string{sv.Name: "Acme"}}, "occurred_at is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t)
			_, err := s.Apply(tt.ev)
			if errs.ClassOf(err) != errs.ClassPoison || errs.ReasonOf(err) != string(errs.ReasonValidation) {
				t.Fatalf("err = %v (class %s), want poison/validation", err, errs.ClassOf(err))
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			if !errors.Is(err, normalize.ErrInvalid) && tt.name != "no time" {
				t.Errorf("err does not wrap normalize.ErrInvalid")
			}
			if len(s.Snapshot()) != 0 {
				t.Error("state changed")
			}
		})
	}
}

// TestReplayIsDeterministic: replaying the input gives identical outputs and
// state; restoring from the changelog gives the same state, which then
// decides the next event identically.
func TestReplayIsDeterministic(t *testing.T) {
	evs := scenario()
	run := func() ([]Outputs, *State, []StateWrite) {
		s := newState(t)
		var outs []Outputs
		var log []StateWrite
		for _, ev := range evs {
			o := mustApply(t, s, ev)
			outs = append(outs, o)
			log = append(log, o.State...)
		}
		return outs, s, log
	}
	o1, s1, log := run()
	o2, s2, _ := run()
	if d := cmp.Diff(o1, o2); d != "" {
		t.Fatalf("replay outputs differ (-first +second)\n%s", d)
	}
	if !slices.Equal(s1.Snapshot(), s2.Snapshot()) {
		t.Fatal("replay state differs")
	}
	restored := newState(t)
	for _, w := range log {
		if err := restored.Load(w.Key, w.Value); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(string(s1.Snapshot()), string(restored.Snapshot())); d != "" {
		t.Fatalf("restored state differs (-live +restored)\n%s", d)
	}
	next := crm(50, "A5", map[Field]string{sv.Name: "Muller Maschinenbau und Service", sv.Country: "DE", sv.Website: "mueller-mb.de"})
	if d := cmp.Diff(mustApply(t, s1, next), mustApply(t, restored, next)); d != "" {
		t.Errorf("restored state decides differently (-live +restored)\n%s", d)
	}
}

// TestNearSimultaneousAccountsOneGolden: the single-writer guarantee at the
// domain level. Two near-identical accounts (different ids, same company)
// that reach the match partition in either order become one golden record.
func TestNearSimultaneousAccountsOneGolden(t *testing.T) {
	a := crm(1, "A-100", map[Field]string{sv.Name: "Globex Corporation", sv.Country: "US", sv.Website: "https://globex.com", sv.Phone: "(212) 555-0100"})
	b := crm(1, "A-200", map[Field]string{sv.Name: "GLOBEX CORP.", sv.Country: "us", sv.Website: "www.globex.com", sv.Phone: "+1 212 555 0100"})
	for _, order := range [][]Event{{a, b}, {b, a}} {
		s := newState(t)
		for _, ev := range order {
			mustApply(t, s, ev)
		}
		if s.Len() != 1 {
			t.Errorf("%d golden records, want 1", s.Len())
		}
	}
}

func find[T any](xs []T, f func(T) bool) *T {
	for i := range xs {
		if f(xs[i]) {
			return &xs[i]
		}
	}
	return nil
}

// TestOwnershipConflictNeedsAChange: a non-owner's value is an
// OWNERSHIP_CONFLICT only when that source changed its copy. A CRM account
// arrives with its own (stale) copies of ERP-owned fields and resends them
// with every change; the ERP echoes the CRM-owned values of our commands.
func TestOwnershipConflictNeedsAChange(t *testing.T) {
	s := newState(t)
	conflicts := func(o Outputs) []string {
		var out []string
		for _, x := range o.Exceptions {
			if x.Category == OwnershipConflict {
				out = append(out, x.Source.System+":"+x.Context["field"])
			}
		}
		return out
	}
	auditRule := func(o Outputs, f Field) string {
		if a := find(o.Audit, func(a Audit) bool { return a.Field == string(f) }); a != nil {
			return fmt.Sprintf("%s applied=%v", a.Rule, a.Applied)
		}
		return "none"
	}
	steps := []struct {
		name      string
		ev        func() Event
		conflicts []string
		audit     map[Field]string // field → rule of its audit entry ("none": no entry)
	}{
		{"new CRM account with its copy of ERP-owned legal name and tax id",
			func() Event {
				return crm(1, "A1", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Cobalt Logistics Ltd.", sv.TaxID: "GB123456789",
					sv.Country: "GB", sv.Industry: "Logistics", sv.LifecycleStage: "customer"})
			},
			nil, map[Field]string{sv.LegalName: "non_owner_copy applied=false", sv.TaxID: "non_owner_copy applied=false"}},
		{"ERP answers our CREATE, echoing an older CRM-owned value",
			func() Event {
				return SourceUpserted{Meta: meta(2), System: sv.ERP, RecordID: "E1", GoldenRef: golden(t, s, sv.CRM, "A1"), CommandID: "cmd-1",
					Attrs: map[Field]string{sv.Name: "Cobalt Logistics", sv.Industry: "Mining", sv.LegalName: "Cobalt Logistics Limited", sv.TaxID: "GB123456789"}}
			},
			nil, map[Field]string{sv.Industry: "non_owner_copy applied=false", sv.LegalName: "owner_newest_wins applied=true"}},
		{"CRM resends its stale legal name with an unrelated change",
			func() Event {
				return crm(3, "A1", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Cobalt Logistics Ltd.", sv.TaxID: "GB123456789", sv.Industry: "Shipping"})
			},
			nil, map[Field]string{sv.LegalName: "none", sv.Industry: "owner_newest_wins applied=true"}},
		{"CRM sends the golden value (after crm.account-updates.v1)",
			func() Event {
				return crm(4, "A1", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Cobalt Logistics Limited"})
			},
			nil, map[Field]string{sv.LegalName: "none"}},
		{"CRM changes its copy to another value",
			func() Event {
				return crm(5, "A1", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Cobalt Freight Ltd."})
			},
			[]string{"crm:legal_name"}, map[Field]string{sv.LegalName: "ownership_conflict applied=false"}},
		{"CRM resends that changed copy: raised once",
			func() Event {
				return crm(6, "A1", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Cobalt Freight Ltd."})
			},
			nil, map[Field]string{sv.LegalName: "none"}},
		{"ERP clerk changes a CRM-owned field on its own (no command)",
			func() Event {
				return erp(7, "E1", "", map[Field]string{sv.Name: "Cobalt Logistics", sv.Industry: "Retail"})
			},
			[]string{"erp:industry"}, map[Field]string{sv.Industry: "ownership_conflict applied=false"}},
		{"duplicate CRM account merges with a typo'd copy of the legal name",
			func() Event {
				return crm(8, "A2", map[Field]string{sv.Name: "Cobalt Logistics", sv.LegalName: "Coablt Logistics Ltd", sv.TaxID: "GB123456789", sv.Country: "GB"})
			},
			nil, map[Field]string{sv.LegalName: "non_owner_copy applied=false"}},
	}
	for _, st := range steps {
		out := mustApply(t, s, st.ev())
		if d := cmp.Diff(st.conflicts, conflicts(out)); d != "" {
			t.Errorf("%s: conflicts (-want +got)\n%s", st.name, d)
		}
		for f, want := range st.audit {
			if got := auditRule(out, f); got != want {
				t.Errorf("%s: %s audit = %s, want %s", st.name, f, got, want)
			}
		}
	}
	if g1, g2 := golden(t, s, sv.CRM, "A1"), golden(t, s, sv.CRM, "A2"); g1 != g2 {
		t.Fatalf("A2 did not merge into A1's golden record (%s, %s)", g2, g1)
	}
	g := golden(t, s, sv.CRM, "A1")
	if got := attr(t, s, g, sv.LegalName); got != "Cobalt Logistics Limited" {
		t.Errorf("legal name = %q, want the ERP's", got)
	}
	if got := attr(t, s, g, sv.Industry); got != "Shipping" {
		t.Errorf("industry = %q, want the CRM's", got)
	}
}
