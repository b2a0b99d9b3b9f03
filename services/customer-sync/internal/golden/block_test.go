package golden

import (
	"slices"
	"strings"
	"testing"

	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

func TestBlockOf(t *testing.T) {
	for _, c := range []struct {
		name  string
		attrs map[Field]string
		want  string
	}{
		{"address country", map[Field]string{sv.Name: "Acme GmbH", sv.Country: "de", sv.TaxID: "FR12345678901"}, "DE"},
		{"tax id prefix without country", map[Field]string{sv.Name: "Acme SARL", sv.TaxID: "FR 12 345678901"}, "FR"},
		{"phone country", map[Field]string{sv.Name: "Acme", sv.Phone: "+49 89 1234567"}, "DE"},
		{"shared calling code", map[Field]string{sv.Name: "Acme", sv.Phone: "+1 415 555 0100"}, NoCountry},
		{"nothing", map[Field]string{sv.Name: "Acme", sv.Website: "acme.example"}, NoCountry},
		{"invalid record", map[Field]string{sv.Name: ""}, NoCountry},
	} {
		if got := BlockOf(crm(1, "A1", c.attrs)); got != c.want {
			t.Errorf("%s: BlockOf = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestGoldenIDCarriesBlock: a golden record created in a block names it
// in its id, and the id still round-trips through the match index.
func TestGoldenIDCarriesBlock(t *testing.T) {
	s := newState(t)
	for _, block := range []string{"DE", NoCountry} {
		id := "A-" + block
		out, err := s.ApplyIn(block, crm(1, id, map[Field]string{sv.Name: "Firma " + block, sv.Country: "DE"}))
		if err != nil {
			t.Fatal(err)
		}
		g := out.Golden[0].ID
		if b, ok := BlockOfID(g); !ok || b != block {
			t.Errorf("BlockOfID(%s) = %q, %v; want %q", g, b, ok, block)
		}
		if strID(idOf(g)) != g {
			t.Errorf("golden id %s does not round-trip through the index id", g)
		}
	}
	for _, bad := range []string{"", "cus-", "cus-0000000000000000", "cus-zz00000000000000", "other-4445000000000000"} {
		if b, ok := BlockOfID(bad); ok {
			t.Errorf("BlockOfID(%q) = %q, want no block", bad, b)
		}
	}
}

// blocks simulates the service's wiring: each block's events go to the
// state of its partition, forwards and handovers to the target block's.
type blocks struct {
	t     *testing.T
	parts map[string]*State // block → state of its partition
}

func (b *blocks) apply(block string, ev Event) Outputs {
	b.t.Helper()
	out, err := b.parts[block].ApplyIn(block, ev)
	if err != nil {
		b.t.Fatalf("ApplyIn(%s, %T): %v", block, ev, err)
	}
	if ho := out.Handover; ho != nil {
		m := ev.(StewardMerge)
		b.apply(ho.Block, Absorb{StewardMerge: m, Record: ho.Record})
	}
	if out.Forward != "" {
		if nd, ok := ev.(StewardNotDuplicate); ok && out.Partial {
			nd.Forwarded = true
			ev = nd
		}
		return b.apply(out.Forward, ev)
	}
	return out
}

// TestMergeAcrossBlocks: a steward merges golden records of two blocks held
// by two partitions. The merged record is handed over and absorbed; the
// survivor then holds both members, later events of the merged record's
// source records (still routed to its old block) are forwarded, also after
// the old partition's state is reloaded from its changelog.
func TestMergeAcrossBlocks(t *testing.T) {
	de, fr := newState(t), newState(t)
	b := &blocks{t: t, parts: map[string]*State{"DE": de, "FR": fr}}
	outDE := b.apply("DE", crm(1, "A1", map[Field]string{sv.Name: "Acme Holding", sv.Country: "DE", sv.Website: "acme.example"}))
	outFR := b.apply("FR", crm(2, "A2", map[Field]string{sv.Name: "Acme Holding SAS", sv.Country: "FR", sv.Website: "acme.example"}))
	gDE, gFR := outDE.Golden[0].ID, outFR.Golden[0].ID

	b.apply("DE", StewardMerge{Meta: meta(3), Survivor: gFR, Merged: gDE})
	surv, _ := fr.Record(gFR)
	if len(surv.Members) != 2 {
		t.Fatalf("survivor members = %+v", surv.Members)
	}
	if got := golden(t, fr, sv.CRM, "A1"); got != gFR {
		t.Errorf("A1 → %s in the survivor's partition, want %s", got, gFR)
	}
	if de.Len() != 0 {
		t.Errorf("old partition still indexes %d records", de.Len())
	}

	// Reload the old partition from its state writes.
	reloaded := newState(t)
	for _, line := range strings.Split(strings.TrimSpace(string(de.Snapshot())), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		if err := reloaded.Load(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	b.parts["DE"] = reloaded
	out := b.apply("DE", crm(4, "A1", map[Field]string{sv.Name: "Acme Holding", sv.Country: "DE", sv.Industry: "Chemicals"}))
	if len(out.Golden) != 1 || out.Golden[0].ID != gFR || out.Golden[0].Attrs[sv.Industry].Value != "Chemicals" {
		t.Errorf("A1's change after the merge: %+v", out.Golden)
	}
	out = b.apply("DE", ContactUpserted{Meta: meta(5), ContactID: "C1", AccountID: "A1", Name: "Eva Muster"})
	if len(out.Golden) != 1 || out.Golden[0].ID != gFR || len(out.Golden[0].Contacts) != 1 {
		t.Errorf("A1's contact after the merge: %+v", out.Golden)
	}
	// A decision naming the merged-away id follows it.
	b.apply("DE", EraseRequested{Meta: meta(6), GoldenID: gDE})
	if r, _ := fr.Record(gFR); !r.Erased {
		t.Error("erase by the merged-away id did not reach the survivor")
	}
}

// TestNotDuplicateAcrossBlocks: each side marks its own record, once.
func TestNotDuplicateAcrossBlocks(t *testing.T) {
	de, fr := newState(t), newState(t)
	b := &blocks{t: t, parts: map[string]*State{"DE": de, "FR": fr}}
	gDE := b.apply("DE", crm(1, "A1", map[Field]string{sv.Name: "Acme", sv.Country: "DE"})).Golden[0].ID
	gFR := b.apply("FR", crm(2, "A2", map[Field]string{sv.Name: "Acme", sv.Country: "FR"})).Golden[0].ID
	b.apply("DE", StewardNotDuplicate{Meta: meta(3), A: gDE, B: gFR})
	a, _ := de.Record(gDE)
	c, _ := fr.Record(gFR)
	if !slices.Equal(a.NotDuplicates, []string{gFR}) || !slices.Equal(c.NotDuplicates, []string{gDE}) {
		t.Errorf("not-duplicate marks: %v / %v", a.NotDuplicates, c.NotDuplicates)
	}
}
