package golden

import (
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
