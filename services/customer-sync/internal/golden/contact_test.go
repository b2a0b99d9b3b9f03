package golden

import (
	"slices"
	"testing"

	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

func contactOf(out Outputs, id string) *GoldenContact {
	for i := range out.Contacts {
		if out.Contacts[i].ID == id {
			return &out.Contacts[i]
		}
	}
	return nil
}

// TestGoldenContacts: contacts of one golden record with one e-mail are one
// golden contact, each attribute from the most recent change that has it;
// a steward merge of two golden records merges their contacts with equal
// e-mails (the merged-away golden contact is published MERGED); deleting
// every member publishes DELETED.
func TestGoldenContacts(t *testing.T) {
	s := newState(t)
	g1 := mustApply(t, s, crm(1, "A1", map[Field]string{sv.Name: "Acme GmbH", sv.Country: "DE"})).Golden[0].ID
	g2 := mustApply(t, s, crm(2, "A2", map[Field]string{sv.Name: "Globex SA", sv.Country: "FR"})).Golden[0].ID

	out := mustApply(t, s, ContactUpserted{Meta: meta(3), ContactID: "C1", AccountID: "A1", Name: "Eva Muster", Email: "Eva@Acme.example", Phone: "+49891234567"})
	gc := out.Contacts[0]
	if gc.Status != ContactStatusActive || gc.GoldenID != g1 || gc.Email != "eva@acme.example" || !slices.Equal(gc.Members, []string{"C1"}) {
		t.Fatalf("first contact: %+v", gc)
	}
	// A second CRM contact with the same e-mail: same golden contact, its
	// newer name survives, the phone it lacks stays.
	out = mustApply(t, s, ContactUpserted{Meta: meta(4), ContactID: "C2", AccountID: "A1", Name: "Eva Muster-Beispiel", Email: "eva@acme.example", Role: "CFO"})
	if c := contactOf(out, gc.ID); c == nil || c.Name != "Eva Muster-Beispiel" || c.Phone != "+49891234567" || c.Role != "CFO" || !slices.Equal(c.Members, []string{"C1", "C2"}) {
		t.Fatalf("merged contact: %+v", out.Contacts)
	}
	// The other customer has the same person: after a steward merge of the
	// customers, her golden contact merges into the survivor's.
	other := mustApply(t, s, ContactUpserted{Meta: meta(5), ContactID: "C3", AccountID: "A2", Name: "E. Muster", Email: "eva@acme.example"}).Contacts[0]
	if other.ID == gc.ID || other.GoldenID != g2 {
		t.Fatalf("contact of another customer shares a golden contact: %+v", other)
	}
	out = mustApply(t, s, StewardMerge{Meta: meta(6), Survivor: g1, Merged: g2})
	if c := contactOf(out, other.ID); c == nil || c.Status != ContactStatusMerged || c.MergedInto != gc.ID {
		t.Errorf("merged-away golden contact: %+v", out.Contacts)
	}
	if c := contactOf(out, gc.ID); c == nil || !slices.Equal(c.Members, []string{"C1", "C2", "C3"}) || c.GoldenID != g1 {
		t.Errorf("survivor golden contact: %+v", out.Contacts)
	}
	// Deleting every member deletes the golden contact.
	for i, id := range []string{"C1", "C2"} {
		mustApply(t, s, ContactDeleted{Meta: meta(7 + i), ContactID: id, AccountID: "A1"})
	}
	out = mustApply(t, s, ContactDeleted{Meta: meta(9), ContactID: "C3", AccountID: "A2"})
	if c := contactOf(out, gc.ID); c == nil || c.Status != ContactStatusDeleted || len(c.Members) != 0 {
		t.Errorf("after deleting every member: %+v", out.Contacts)
	}
}
