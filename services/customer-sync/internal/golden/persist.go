package golden

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Changelog keys: "g/<golden id>" holds a Record (JSON), "p/<crm account
// id>" the contacts parked for that account (JSON array). The match index
// and the xref are derived from the records on Load.
const (
	keyRecord = "g/"
	keyParked = "p/"
)

// finish sorts the collected effects into Outputs.
func (t *tx) finish() Outputs {
	s := t.s
	ids := make([]string, 0, len(t.dirty))
	for id := range t.dirty {
		ids = append(ids, id)
	}
	for id := range t.keep {
		if !t.dirty[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := s.records[id]
		if t.dirty[id] {
			r.Version++
			t.out.Golden = append(t.out.Golden, r.clone())
		}
		t.out.State = append(t.out.State, StateWrite{Key: keyRecord + id, Value: mustJSON(r)})
	}
	accts := make([]string, 0, len(t.parked))
	for a := range t.parked {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	for _, a := range accts {
		w := StateWrite{Key: keyParked + a}
		if list, ok := s.parked[a]; ok {
			w.Value = mustJSON(list)
		}
		t.out.State = append(t.out.State, w)
	}
	t.goldenContacts()
	// An xref carries the other systems' active ids, and mdm.xref.v1 is
	// compacted: when a golden record's membership changes, every member's
	// entry is republished, or CRM:<account> would keep saying it has no
	// ERP customer after the ERP customer linked (quote-to-order waits for
	// exactly that entry).
	linked := map[xref.Ref]bool{}
	for r := range t.xrefs {
		linked[r] = true
		if g, ok := s.xref.Golden(r); ok {
			for _, m := range s.xref.Members(s.xref.Resolve(g)) {
				linked[m] = true
			}
		}
	}
	refs := make([]xref.Ref, 0, len(linked))
	for r := range linked {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b xref.Ref) int {
		if c := strings.Compare(a.System, b.System); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, ref := range refs {
		g, others, _ := s.xref.Lookup(ref)
		rec := s.records[g]
		x := XrefUpsert{Ref: ref, GoldenID: g}
		if mb := rec.member(ref); mb != nil && !mb.Active {
			x.Retired = true
		}
		for _, o := range others {
			if mb := rec.member(o); mb != nil && mb.Active {
				x.Others = append(x.Others, o)
			}
		}
		t.out.Xrefs = append(t.out.Xrefs, x)
	}
	return t.out
}

// goldenContacts publishes every golden contact the event touched, from
// the contacts of the golden record now holding it.
func (t *tx) goldenContacts() {
	ids := make([]string, 0, len(t.gcs))
	for id := range t.gcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rec := t.s.records[t.gcs[id]]
		gc := GoldenContact{ID: id, GoldenID: rec.ID, Status: ContactStatusActive}
		var name, email, phone, role survivorship.Lineage
		for _, c := range rec.Contacts {
			if c.Golden != id {
				continue
			}
			gc.Members = append(gc.Members, c.ID)
			gc.UpdatedAt = max(gc.UpdatedAt, c.Lineage.OccurredAt)
			for _, f := range []struct {
				v    string
				dst  *string
				from *survivorship.Lineage
			}{{c.Name, &gc.Name, &name}, {c.Email, &gc.Email, &email}, {c.Phone, &gc.Phone, &phone}, {c.Role, &gc.Role, &role}} {
				if f.v != "" && (*f.dst == "" || newer(c.Lineage, *f.from)) {
					*f.dst, *f.from = f.v, c.Lineage
				}
			}
		}
		if len(gc.Members) == 0 {
			gc.Status, gc.UpdatedAt = ContactStatusDeleted, t.at
			if into, ok := t.gcInto[id]; ok {
				gc.Status, gc.MergedInto = ContactStatusMerged, into
			}
		}
		t.out.Contacts = append(t.out.Contacts, gc)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("golden: marshal state: %v", err)) // only plain data types: cannot fail
	}
	return b
}

// Load restores one changelog entry written by Apply (State[i].Key and
// Value). Entries may come in any order; a later entry for a key replaces
// the earlier one, a nil value deletes it.
func (s *State) Load(key string, value []byte) error {
	switch {
	case strings.HasPrefix(key, keyRecord):
		id := strings.TrimPrefix(key, keyRecord)
		if old, ok := s.records[id]; ok {
			s.unload(old)
		}
		if value == nil {
			return nil
		}
		var r Record
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("load %s: %w", key, err)
		}
		if r.ID != id {
			return fmt.Errorf("load %s: record id %q does not match its key", key, r.ID)
		}
		if r.Attrs == nil && r.MergedInto == "" {
			r.Attrs = map[Field]survivorship.Value{}
		}
		s.records[id] = &r
		if r.MergedInto != "" {
			s.xref.Redirect(id, r.MergedInto)
			// A record handed over to another match block keeps its
			// members here, so their events are forwarded.
			for _, m := range r.Members {
				s.xref.Link(xref.Ref{System: string(m.System), ID: m.RecordID}, id)
			}
			return nil
		}
		for _, m := range r.Members {
			s.xref.Link(xref.Ref{System: string(m.System), ID: m.RecordID}, id)
		}
		for _, g := range r.NotDuplicates {
			s.xref.MarkNotDuplicate(id, g)
		}
		for i := range r.Contacts {
			if r.Contacts[i].Golden == "" { // written before golden contacts
				r.Contacts[i].Golden = newContactID(r.Contacts[i].ID)
			}
		}
		s.index.Upsert(idOf(id), s.features(&r))
	case strings.HasPrefix(key, keyParked):
		acct := strings.TrimPrefix(key, keyParked)
		if value == nil {
			delete(s.parked, acct)
			return nil
		}
		var list []parkedContact
		if err := json.Unmarshal(value, &list); err != nil {
			return fmt.Errorf("load %s: %w", key, err)
		}
		s.parked[acct] = list
	case key == keyTerritory:
		s.territoryVersion = string(value)
	default:
		return fmt.Errorf("load: unknown key %q", key)
	}
	return nil
}

func (s *State) unload(r *Record) {
	for _, m := range r.Members {
		ref := xref.Ref{System: string(m.System), ID: m.RecordID}
		if g, ok := s.xref.Golden(ref); ok && g == r.ID {
			s.xref.Unlink(ref)
		}
	}
	s.index.Remove(idOf(r.ID))
	delete(s.records, r.ID)
}

// Snapshot is the whole state as deterministic bytes: every changelog entry
// in key order. Two states that answer every future event identically have
// equal snapshots; replay tests compare them.
func (s *State) Snapshot() []byte {
	var buf bytes.Buffer
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&buf, "%s%s\t%s\n", keyRecord, id, mustJSON(s.records[id]))
	}
	accts := make([]string, 0, len(s.parked))
	for a := range s.parked {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	for _, a := range accts {
		fmt.Fprintf(&buf, "%s%s\t%s\n", keyParked, a, mustJSON(s.parked[a]))
	}
	if s.territoryVersion != "" {
		fmt.Fprintf(&buf, "%s\t%s\n", keyTerritory, s.territoryVersion)
	}
	return buf.Bytes()
}
