package golden

import (
	"fmt"
	"testing"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

func lead(n int, id string, attrs map[Field]string) LeadQualified {
	return LeadQualified{Meta: meta(n), LeadID: id, Attrs: attrs}
}

// TestLeadConversion: a lead of a known company is that customer (with its
// CRM account and ERP number), a new company is a new account, a near miss
// asks master data; a lead never changes a golden record.
func TestLeadConversion(t *testing.T) {
	s := newState(t)
	acme := mustApply(t, s, crm(1, "A1", map[Field]string{sv.Name: "Acme Maschinenbau GmbH", sv.Country: "DE", sv.Website: "acme-mb.de", sv.TaxID: "DE123456789"})).Golden[0].ID
	mustApply(t, s, erp(2, "100042", acme, map[Field]string{sv.LegalName: "Acme Maschinenbau GmbH", sv.Country: "DE", sv.TaxID: "DE123456789"}))
	before := s.Snapshot()

	out := mustApply(t, s, lead(3, "L1", map[Field]string{sv.Name: "ACME Maschinenbau", sv.Country: "de", sv.Website: "https://www.acme-mb.de/"}))
	if len(out.LeadUpdates) != 1 || len(out.Golden) != 0 || string(s.Snapshot()) != string(before) {
		t.Fatalf("duplicate lead: %+v (golden %d)", out.LeadUpdates, len(out.Golden))
	}
	u := out.LeadUpdates[0]
	if u.Outcome != LeadExistingCustomer || u.GoldenID != acme || u.AccountID != "A1" || u.ERPID != "100042" || u.ScoreBps < 9000 {
		t.Errorf("duplicate lead: %+v", u)
	}

	out = mustApply(t, s, lead(4, "L2", map[Field]string{sv.Name: "Brightwater Analytics", sv.Country: "DE"}))
	if u := out.LeadUpdates[0]; u.Outcome != LeadNewAccount || u.GoldenID != "" || len(out.Exceptions) != 0 {
		t.Errorf("new company: %+v", out)
	}

	// Same domain, a name that differs by a word: the review band.
	out = mustApply(t, s, lead(5, "L3", map[Field]string{sv.Name: "Acme Maschinenbau Service", sv.Country: "DE"}))
	u = out.LeadUpdates[0]
	if u.Outcome != LeadReview || u.GoldenID != acme || len(out.Exceptions) != 1 || out.Exceptions[0].Category != LeadDuplicate ||
		out.Exceptions[0].Source.System != LeadSystem {
		t.Errorf("probable duplicate: %+v, exceptions %+v", u, out.Exceptions)
	}
	// The steward's DISMISS routes to the candidate's record and settles
	// the exception there, once.
	x := out.Exceptions[0]
	if cat, g, ok := ExceptionOf(x.ID); !ok || cat != LeadDuplicate || g != acme {
		t.Fatalf("ExceptionOf(%q) = %q, %q, %v", x.ID, cat, g, ok)
	}
	dismiss := StewardClose{Meta: meta(7), Ruling: Ruling{DecisionID: "d-lead", ExceptionID: x.ID, Category: LeadDuplicate, Actor: "steward@example.com"},
		Golden: acme, Status: "CLOSED"}
	if out := mustApply(t, s, dismiss); len(out.Exceptions) != 1 || out.Exceptions[0].ID != x.ID || out.Exceptions[0].Status != "CLOSED" {
		t.Errorf("dismissing the lead's exception: %+v", out.Exceptions)
	}
	if out := mustApply(t, s, dismiss); len(out.Exceptions) != 0 {
		t.Errorf("a second dismissal published again: %+v", out.Exceptions)
	}

	bad := lead(6, "L4", map[Field]string{sv.Name: "Acme", sv.TaxID: "DE12"})
	if _, err := s.Apply(bad); err == nil {
		t.Error("a lead with a malformed tax id was accepted")
	}
	if err := Validate(bad); err == nil {
		t.Error("Validate accepted a lead with a malformed tax id")
	}
	if err := Validate(lead(7, "L5", map[Field]string{sv.Name: "Acme"})); err != nil {
		t.Errorf("Validate refused a good lead: %v", err)
	}
}

// TestStreamAgreesOnPairs: every labelled pair through the golden state as
// the stream sees it — record A as an ERP customer (its golden record keeps
// every identity attribute: the ERP owns legal name and tax id and may fill
// the CRM-owned ones), then B
// as a lead asking whether it is a duplicate — decides exactly what
// pkg/match decides over A's golden record, and precision and recall meet
// the floors. The gateway's CheckDuplicate runs the same pairs against the
// same decision (services/gateway TestCustomerDuplicatePairs).
func TestStreamAgreesOnPairs(t *testing.T) {
	pairs, err := matchtest.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	var q matchtest.Quality
	disagree := 0
	for _, p := range pairs {
		s := newState(t)
		out := mustApply(t, s, erp(1, "A", "", map[Field]string{sv.Name: p.A.Name, sv.LegalName: p.A.LegalName, sv.Country: p.A.Country,
			sv.Website: p.A.Website, sv.TaxID: p.A.TaxID, sv.Phone: p.A.Phone, sv.PostalCode: p.A.PostalCode}))
		rec := out.Golden[0]
		ix := match.NewIndex(match.DefaultConfig())
		ix.Upsert(idOf(rec.ID), s.features(&rec))
		out = mustApply(t, s, lead(2, "L"+p.ID, map[Field]string{sv.Name: p.B.Name, sv.LegalName: p.B.LegalName, sv.Country: p.B.Country,
			sv.Website: p.B.Website, sv.TaxID: p.B.TaxID, sv.Phone: p.B.Phone, sv.PostalCode: p.B.PostalCode}))
		u := out.LeadUpdates[0]
		fb, err := match.FromRaw(p.B)
		if err != nil {
			t.Fatal(err)
		}
		d := ix.Match(fb, nil)
		want := map[match.Outcome]string{match.New: LeadNewAccount, match.Review: LeadReview, match.Merge: LeadExistingCustomer}[d.Outcome]
		var cands []string
		for _, c := range d.Candidates {
			cands = append(cands, strID(c.ID))
		}
		if u.Outcome != want || fmt.Sprint(u.Candidates) != fmt.Sprint(cands) {
			disagree++
			t.Errorf("%s: stream %s %v, pkg/match %s %v", p.ID, u.Outcome, u.Candidates, d.Outcome, cands)
		}
		q.Add(p, map[string]match.Outcome{LeadNewAccount: match.New, LeadReview: match.Review, LeadExistingCustomer: match.Merge}[u.Outcome])
	}
	t.Logf("stream (golden state) on %d labelled pairs: %s; %d disagreements with pkg/match", len(pairs), q, disagree)
	if err := q.Check(0.98, 0.95); err != nil {
		t.Error(err)
	}
}
