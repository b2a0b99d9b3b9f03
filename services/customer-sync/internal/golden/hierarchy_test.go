package golden

import (
	"slices"
	"strings"
	"testing"

	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/territory"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

func exceptionsOf(out Outputs, category string) []Exception {
	var es []Exception
	for _, e := range out.Exceptions {
		if e.Category == category {
			es = append(es, e)
		}
	}
	return es
}

// TestHierarchyCycleAndOrphan: an unknown parent is an orphan (once); an
// answer whose ancestry holds the record itself is a cycle: raised once,
// the closing edge not applied; when the cycle is broken the parent is set.
// The ancestry travels down (PathNotices for every member).
func TestHierarchyCycleAndOrphan(t *testing.T) {
	s := newState(t)
	out := mustApply(t, s, crm(1, "A", map[Field]string{sv.Name: "Alpha Holding AG", sv.Country: "DE", sv.ParentAccount: "B"}))
	a := out.Golden[0].ID
	pb := xref.Ref{System: "crm", ID: "B"}
	out = mustApply(t, s, ParentResolved{Meta: meta(2), Child: a, Ref: pb, Unknown: true})
	if es := exceptionsOf(out, HierarchyOrphan); len(es) != 1 || es[0].GoldenID != a || len(out.Golden) != 0 {
		t.Fatalf("orphan: %+v", out)
	}
	if out = mustApply(t, s, ParentResolved{Meta: meta(3), Child: a, Ref: pb, Unknown: true}); len(out.Exceptions) != 0 {
		t.Errorf("orphan raised twice: %+v", out.Exceptions)
	}
	// B arrives with parent A: B's answer says B's ancestry is [A].
	out = mustApply(t, s, ParentResolved{Meta: meta(4), Child: a, Ref: pb, Golden: "cus-ffffffffffffffbb", CRM: "B", Path: []string{a}})
	if es := exceptionsOf(out, HierarchyCycle); len(es) != 1 || es[0].Context["chain"] != a+" > cus-ffffffffffffffbb > "+a {
		t.Fatalf("cycle: %+v", out.Exceptions)
	}
	if r, _ := s.Record(a); r.Parent != "" || !r.Cycle {
		t.Errorf("after the cycle: parent %q cycle %v", r.Parent, r.Cycle)
	}
	if out = mustApply(t, s, ParentResolved{Meta: meta(5), Child: a, Ref: pb, Golden: "cus-ffffffffffffffbb", CRM: "B", Path: []string{a}}); len(out.Exceptions) != 0 {
		t.Errorf("cycle raised twice: %+v", out.Exceptions)
	}
	// Seen from B (a larger id than A) the same cycle keeps B's parent, with
	// the ancestry cut before B, and raises nothing: one refusal per cycle.
	sb := newState(t)
	b := mustApply(t, sb, crm(1, "B", map[Field]string{sv.Name: "Beta Trading GmbH", sv.Country: "DE", sv.ParentAccount: "A"})).Golden[0].ID
	out = mustApply(t, sb, ParentResolved{Meta: meta(2), Child: b, Ref: xref.Ref{System: "crm", ID: "A"}, Golden: "cus-0000000000000001", CRM: "A", Path: []string{b}})
	if rb, _ := sb.Record(b); rb.Parent != "cus-0000000000000001" || rb.Cycle || !slices.Equal(rb.Ancestors, []string{"cus-0000000000000001"}) || len(out.Exceptions) != 0 {
		t.Errorf("larger id in a cycle: %+v, exceptions %+v", rb, out.Exceptions)
	}
	// B's parent changes to C: the cycle is gone, A gets B as parent and
	// tells its children its ancestry.
	out = mustApply(t, s, ParentResolved{Meta: meta(6), Child: a, Ref: pb, Golden: "cus-ffffffffffffffbb", CRM: "B", Path: []string{"cus-ffffffffffffffcc"}})
	r, _ := s.Record(a)
	if r.Parent != "cus-ffffffffffffffbb" || r.Cycle || !slices.Equal(r.Ancestors, []string{"cus-ffffffffffffffbb", "cus-ffffffffffffffcc"}) {
		t.Fatalf("after the fix: %+v", r)
	}
	if len(out.PathNotices) != 1 || out.PathNotices[0].Ref != (xref.Ref{System: "crm", ID: "A"}) || len(out.PathNotices[0].Path) != 2 {
		t.Errorf("path notices: %+v", out.PathNotices)
	}
	if len(out.CRMUpdates) != 0 {
		t.Errorf("the CRM named the parent itself, no update: %+v", out.CRMUpdates)
	}
}

// TestHierarchyFromERPToCRM: the ERP names the parent customer; the CRM
// account of the child is told the parent's CRM account.
func TestHierarchyFromERPToCRM(t *testing.T) {
	s := newState(t)
	child := mustApply(t, s, crm(1, "A2", map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT"})).Golden[0].ID
	mustApply(t, s, erp(2, "200001", child, map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT", sv.ParentERPCustomer: "100001"}))
	out := mustApply(t, s, ParentResolved{Meta: meta(3), Child: child, Ref: xref.Ref{System: "erp", ID: "100001"}, Golden: "cus-00000000000000aa", ERP: "100001", CRM: "A1"})
	if len(out.CRMUpdates) != 1 || out.CRMUpdates[0].AccountID != "A2" || out.CRMUpdates[0].Fields[sv.ParentAccount] != "A1" {
		t.Errorf("CRM updates: %+v", out.CRMUpdates)
	}
	if len(out.ERPCommands) != 0 {
		t.Errorf("the ERP named the parent: %+v", out.ERPCommands)
	}
	// A second CRM account joining later hears the parent account at once.
	out = mustApply(t, s, crm(4, "A2-bis", map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT", sv.TaxID: "ATU12345678"}))
	var got []CRMUpdate
	for _, u := range out.CRMUpdates {
		if u.AccountID == "A2-bis" {
			got = append(got, u)
		}
	}
	if golden(t, s, sv.CRM, "A2-bis") != child || len(got) != 1 || got[0].Fields[sv.ParentAccount] != "A1" {
		t.Errorf("joining CRM account: %+v", out.CRMUpdates)
	}
}

// TestTerritoryRules: the territory follows the rules on every change and
// is pushed to CRM once per change; a new rules version re-assigns every
// record with the next event.
func TestTerritoryRules(t *testing.T) {
	v1, err := territory.Parse([]byte("version: v1\nrules:\n  - {territory: DACH, countries: [DE, AT, CH]}\n  - {territory: DACH-ENT, countries: [DE], min_employees: 1000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Territory = v1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := mustApply(t, s, crm(1, "A1", map[Field]string{sv.Name: "Acme GmbH", sv.Country: "DE", sv.Employees: "5000"}))
	g := out.Golden[0]
	if g.Territory != "DACH" || g.TerritoryVersion != "v1" || len(out.CRMUpdates) != 1 || out.CRMUpdates[0].Fields[sv.Territory] != "DACH" {
		t.Fatalf("v1: %+v, updates %+v", g, out.CRMUpdates)
	}
	if out = mustApply(t, s, crm(2, "A1", map[Field]string{sv.Name: "Acme GmbH", sv.Owner: "u7"})); len(out.CRMUpdates) != 0 {
		t.Errorf("unchanged territory pushed again: %+v", out.CRMUpdates)
	}
	other := mustApply(t, s, crm(3, "B1", map[Field]string{sv.Name: "Brightwater SARL", sv.Country: "FR"})).Golden[0].ID

	// Version 2 puts large German companies first; restart with it.
	v2, err := territory.Parse([]byte("version: v2\nrules:\n  - {territory: DACH-ENT, countries: [DE], min_employees: 1000}\n  - {territory: DACH, countries: [DE, AT, CH]}\ndefault: REST\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Territory = v2
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range splitSnapshot(s.Snapshot()) {
		if err := s2.Load(line[0], []byte(line[1])); err != nil {
			t.Fatal(err)
		}
	}
	out = mustApply(t, s2, crm(4, "C1", map[Field]string{sv.Name: "Cobalt AB", sv.Country: "SE"}))
	pushed := map[string]string{}
	for _, u := range out.CRMUpdates {
		pushed[u.AccountID] = u.Fields[sv.Territory]
	}
	if pushed["A1"] != "DACH-ENT" || pushed["B1"] != "REST" || pushed["C1"] != "REST" || len(out.CRMUpdates) != 3 {
		t.Errorf("v2 sweep pushed %v", pushed)
	}
	if r, _ := s2.Record(other); r.Territory != "REST" || r.TerritoryVersion != "v2" {
		t.Errorf("v2 record: %+v", r)
	}
	if out = mustApply(t, s2, crm(5, "A1", map[Field]string{sv.Name: "Acme GmbH", sv.Owner: "u8"})); len(out.CRMUpdates) != 0 {
		t.Errorf("pushed twice: %+v", out.CRMUpdates)
	}
}

func splitSnapshot(b []byte) [][2]string {
	var out [][2]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, _ := strings.Cut(l, "\t")
		out = append(out, [2]string{k, v})
	}
	return out
}
