package golden

import (
	"slices"
	"strings"

	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// The company hierarchy. A golden record's parent is the source record its
// surviving attributes name (parentRef: the ERP parent customer, else the
// CRM parent account); the service resolves it to the parent's golden id,
// ERP customer number, CRM account id and ancestry (ParentResolved), and
// again whenever any of those change, so a change anywhere in a chain
// travels down to every descendant.
//
// Exceptions for master data (queue master-data):
//   - HIERARCHY_CYCLE: the parent's ancestry contains the record itself.
//     The record of the cycle with the smallest golden id does not apply
//     the edge that closes it (it keeps no parent) until the cycle is
//     broken, so the golden hierarchy stays a tree; raised by that record,
//     once per parent reference.
//   - HIERARCHY_ORPHAN: the parent source record is unknown to every
//     system; the parent is set as soon as it arrives. Raised once per
//     parent reference.
//
// Changes propagate: an ERP customer of the record gets an UPDATE with the
// parent's customer number (unless the ERP named the parent itself), and
// every CRM account of the record gets the parent's CRM account id
// (crm.account-updates.v1 parent_account_id) unless the CRM named it.

// Exception categories of the hierarchy.
const (
	HierarchyCycle  = "HIERARCHY_CYCLE"
	HierarchyOrphan = "HIERARCHY_ORPHAN"
)

// MaxDepth bounds a hierarchy: ancestry beyond it is cut (and reported as
// a cycle would be, it is almost always one through a stale path).
const MaxDepth = 32

// PathNotice tells the service that the source record Ref (a member of
// golden record Golden) now stands for this parent information, for the
// golden records whose parent it is.
type PathNotice struct {
	Ref    xref.Ref
	Golden string
	ERP    string
	CRM    string
	Path   []string
}

// parentResolved applies the answer for the child's current parent source
// record; a stale answer (the parent changed since) is ignored.
func (t *tx) parentResolved(e ParentResolved) error {
	if b, away := t.away(e.Child); away {
		t.out.Forward = b
		return nil
	}
	rec, ok := t.s.records[t.s.xref.Resolve(e.Child)]
	if !ok || rec.ParentRef != e.Ref {
		return nil // gone, or the parent changed since: a later answer comes
	}
	if e.Unknown {
		if rec.Parent == "" && rec.OrphanRef != e.Ref {
			rec.OrphanRef = e.Ref
			t.keep[rec.ID] = true
			t.hierarchyException(rec, HierarchyOrphan, "MEDIUM", "parent "+refText(e.Ref)+" is not known to any system: the hierarchy is incomplete until it arrives",
				map[string]string{"parent_ref": refText(e.Ref)})
		}
		return nil
	}
	g, crm, path := e.Golden, e.CRM, slices.Clone(e.Path)
	if g == rec.ID {
		g = "" // the parent was merged into the record itself
	}
	anc := []string(nil)
	if g != "" {
		anc = append([]string{g}, path...)
	}
	if i := slices.Index(anc, rec.ID); i >= 0 || len(anc) > MaxDepth {
		chain := anc
		if i >= 0 {
			chain = anc[:i]
		}
		// Exactly one record of a cycle refuses its parent: the smallest
		// golden id. The others keep their parent with the ancestry cut
		// before themselves, so the answers settle (a record that refused
		// whenever it saw itself would make two of them take turns).
		if i >= 0 && slices.Min(chain) < rec.ID {
			t.setCycle(rec, false)
			rec.OrphanRef = xref.Ref{}
			t.setParent(rec, g, e.ERP, crm, chain)
			return nil
		}
		t.setCycle(rec, true)
		if rec.CycleRef != e.Ref {
			rec.CycleRef = e.Ref
			t.hierarchyException(rec, HierarchyCycle, "HIGH", "parent "+refText(e.Ref)+" ("+g+") would make the hierarchy a cycle: "+rec.ID+" > "+strings.Join(append(slices.Clone(chain), rec.ID), " > "),
				map[string]string{"parent_ref": refText(e.Ref), "parent_golden_id": g, "chain": strings.Join(append(append([]string{rec.ID}, chain...), rec.ID), " > ")})
		}
		// The closing edge is not applied: the record stands alone.
		t.setParent(rec, "", "", "", nil)
		return nil
	}
	t.setCycle(rec, false)
	rec.OrphanRef = xref.Ref{}
	t.setParent(rec, g, e.ERP, crm, anc)
	return nil
}

// setCycle records whether rec refuses its parent for a cycle; a change keeps
// the record for persisting.
func (t *tx) setCycle(rec *Record, cycle bool) {
	if rec.Cycle != cycle {
		rec.Cycle = cycle
		t.keep[rec.ID] = true
	}
}

// clearParent removes the parent (the record no longer names one).
func (t *tx) clearParent(rec *Record) {
	if rec.Cycle || rec.OrphanRef != (xref.Ref{}) || rec.CycleRef != (xref.Ref{}) {
		rec.Cycle, rec.OrphanRef, rec.CycleRef = false, xref.Ref{}, xref.Ref{}
		t.keep[rec.ID] = true
	}
	t.setParent(rec, "", "", "", nil)
}

// setParent records the parent, audits it, asks every ERP customer of the
// record to update its parent customer number, tells every CRM account the
// parent account, and tells the children when the ancestry changed.
func (t *tx) setParent(rec *Record, golden, erp, crm string, anc []string) {
	if golden != rec.Parent {
		src := survivorship.Lineage{System: System(rec.ParentRef.System), RecordID: rec.ParentRef.ID, OccurredAt: t.at, EventID: t.m.EventID}
		t.audit(rec, "parent", rec.Parent, golden, src, survivorship.RuleOwner, true)
		rec.Parent = golden
		t.touch(rec)
	}
	if erp != rec.ParentERP {
		rec.ParentERP = erp
		t.touch(rec)
		if rec.ParentRef.System != string(survivorship.ERP) { // else the ERP named the parent itself
			for _, m := range rec.Members {
				if m.Active && m.System == survivorship.ERP {
					t.out.ERPCommands = append(t.out.ERPCommands, t.parentCommand(rec, m.RecordID))
				}
			}
		}
	}
	if crm != rec.ParentCRM {
		rec.ParentCRM = crm
		t.touch(rec)
		crmNamedIt := rec.ParentRef.System == string(survivorship.CRM) && rec.ParentRef.ID == crm && crm != ""
		if !crmNamedIt {
			for _, m := range rec.Members {
				if m.Active && m.System == survivorship.CRM {
					t.out.CRMUpdates = append(t.out.CRMUpdates, CRMUpdate{AccountID: m.RecordID, GoldenID: rec.ID,
						Fields: map[Field]string{survivorship.ParentAccount: crm}, CorrelationID: t.m.CorrelationID})
				}
			}
		}
	}
	if !slices.Equal(anc, rec.Ancestors) {
		rec.Ancestors = anc
		t.keep[rec.ID] = true
		t.notifyPath(rec)
	}
}

// notifyPath tells the children of rec (through each of its active source
// records) its current parent information.
func (t *tx) notifyPath(rec *Record) {
	erp, crm := memberOf(rec, survivorship.ERP), memberOf(rec, survivorship.CRM)
	for _, m := range rec.Members {
		if m.Active {
			t.out.PathNotices = append(t.out.PathNotices, PathNotice{Ref: xref.Ref{System: string(m.System), ID: m.RecordID},
				Golden: rec.ID, ERP: erp, CRM: crm, Path: slices.Clone(rec.Ancestors)})
		}
	}
}

func memberOf(rec *Record, sys System) string {
	for _, m := range rec.Members {
		if m.Active && m.System == sys {
			return m.RecordID
		}
	}
	return ""
}

func refText(r xref.Ref) string { return strings.ToUpper(r.System) + ":" + r.ID }

func (t *tx) hierarchyException(rec *Record, category, severity, msg string, ctx map[string]string) {
	ctx["kind"] = category
	t.out.Exceptions = append(t.out.Exceptions, Exception{
		ID: exceptionID(category, rec.ID, t.m.EventID), Category: category, Severity: severity,
		GoldenID: rec.ID, Source: rec.ParentRef, Message: msg, Context: ctx,
		CorrelationID: t.m.CorrelationID, CausationID: t.m.EventID, OccurredAt: t.at,
	})
}

// welcomeCRM tells a CRM account that just joined rec what the golden
// record already knows for CRM: the parent account (unless the CRM named
// it) and the assigned territory.
func (t *tx) welcomeCRM(rec *Record, account string) {
	fields := map[Field]string{}
	if rec.ParentCRM != "" && !(rec.ParentRef.System == string(survivorship.CRM) && rec.ParentRef.ID == rec.ParentCRM) {
		fields[survivorship.ParentAccount] = rec.ParentCRM
	}
	if rec.Territory != "" {
		fields[survivorship.Territory] = rec.Territory
	}
	if len(fields) > 0 {
		t.out.CRMUpdates = append(t.out.CRMUpdates, CRMUpdate{AccountID: account, GoldenID: rec.ID, Fields: fields, CorrelationID: t.m.CorrelationID})
	}
}
