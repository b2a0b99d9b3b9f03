package xref

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLookupMergeRedirect(t *testing.T) {
	s := New()
	crm1, crm2, erp1 := Ref{"crm", "A-1"}, Ref{"crm", "A-2"}, Ref{"erp", "C-9"}
	s.Link(crm1, "g1")
	s.Link(erp1, "g1")
	s.Link(crm2, "g2")
	g, others, ok := s.Lookup(erp1)
	if !ok || g != "g1" {
		t.Fatalf("Lookup(erp1) = %q %v", g, ok)
	}
	if d := cmp.Diff([]Ref{crm1}, others); d != "" {
		t.Errorf("others (-want +got)\n%s", d)
	}
	s.MarkNotDuplicate("g2", "g3")
	moved := s.Merge("g1", "g2")
	if d := cmp.Diff([]Ref{crm2}, moved); d != "" {
		t.Errorf("moved (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]Ref{crm1, crm2, erp1}, s.Members("g1")); d != "" {
		t.Errorf("members (-want +got)\n%s", d)
	}
	if got := s.Resolve("g2"); got != "g1" {
		t.Errorf("Resolve(g2) = %q", got)
	}
	if !s.IsNotDuplicate("g3", "g1") {
		t.Error("not-duplicate mark did not carry over to the survivor")
	}
	s.Merge("g0", "g1")
	if got := s.Resolve("g2"); got != "g0" {
		t.Errorf("Resolve(g2) after second merge = %q", got)
	}
	s.Unlink(crm1)
	if _, _, ok := s.Lookup(crm1); ok {
		t.Error("crm1 still linked")
	}
	if d := cmp.Diff([]string{"g0", "g1", "g2"}, s.NotDuplicates("g3")); d != "" {
		t.Errorf("NotDuplicates (-want +got)\n%s", d)
	}
}
