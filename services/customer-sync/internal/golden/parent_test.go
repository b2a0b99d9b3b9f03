package golden

import (
	"testing"

	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// TestParentHierarchy: a CRM parent account asks for its golden id; the
// answer sets the parent and, once the child has an ERP customer, an ERP
// UPDATE carries the parent's customer number. An ERP parent wins over
// the CRM's; a stale answer (for a parent the record no longer has) is
// ignored.
func TestParentHierarchy(t *testing.T) {
	s := newState(t)
	out := mustApply(t, s, crm(1, "A2", map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT", sv.ParentAccount: "A1"}))
	child := out.Golden[0].ID
	crmParent := xref.Ref{System: "crm", ID: "A1"}
	if len(out.ParentAsks) != 1 || out.ParentAsks[0] != (ParentAsk{Child: child, Ref: crmParent}) {
		t.Fatalf("asks = %+v", out.ParentAsks)
	}
	out = mustApply(t, s, ParentResolved{Meta: meta(2), Child: child, Ref: crmParent, Golden: "cus-4445000000000001", ERP: "100042"})
	if r, _ := s.Record(child); r.Parent != "cus-4445000000000001" || r.ParentERP != "100042" || len(out.Golden) != 1 || len(out.ERPCommands) != 0 {
		t.Fatalf("after the answer: %+v, outputs %+v", r, out)
	}
	// The ERP customer links: it gets the parent number.
	out = mustApply(t, s, erp(3, "200001", child, map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT"}))
	if len(out.ERPCommands) != 1 || out.ERPCommands[0].Fields[sv.ParentERPCustomer] != "100042" || out.ERPCommands[0].ERPCustomerNumber != "200001" {
		t.Fatalf("ERP commands on link = %+v", out.ERPCommands)
	}
	// The ERP names its own parent: it wins; the CRM answer is now stale.
	out = mustApply(t, s, erp(4, "200001", child, map[Field]string{sv.Name: "Acme Austria GmbH", sv.Country: "AT", sv.ParentERPCustomer: "100099"}))
	erpParent := xref.Ref{System: "erp", ID: "100099"}
	if len(out.ParentAsks) != 1 || out.ParentAsks[0].Ref != erpParent {
		t.Fatalf("asks after the ERP parent = %+v", out.ParentAsks)
	}
	if out = mustApply(t, s, ParentResolved{Meta: meta(5), Child: child, Ref: crmParent, Golden: "cus-4445000000000002"}); len(out.Golden) != 0 {
		t.Errorf("stale answer changed the record: %+v", out.Golden)
	}
	out = mustApply(t, s, ParentResolved{Meta: meta(6), Child: child, Ref: erpParent, Golden: "cus-4445000000000003", ERP: "100099"})
	if r, _ := s.Record(child); r.Parent != "cus-4445000000000003" || len(out.ERPCommands) != 0 {
		t.Errorf("ERP parent: %+v, commands %+v (the ERP named it: no command)", r, out.ERPCommands)
	}
}
