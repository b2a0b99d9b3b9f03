package golden

import (
	"math"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Leads. A CRM lead that sales qualifies asks for conversion into an
// account. The lead's company is matched against the golden records of its
// match block exactly as an account would be (the same index, the same
// thresholds), and the CRM is told what to do before it creates anything:
//   - NEW_ACCOUNT (no candidate): create the account; it then arrives on
//     crm.account.v1 and becomes a golden record the usual way;
//   - EXISTING_CUSTOMER (a candidate at or above auto-merge): the lead is
//     that golden customer; convert it into its CRM account (AccountID;
//     none for an ERP-only customer, whose new CRM account then merges);
//   - REVIEW (best candidate in the review band): a PROBABLE_DUPLICATE
//     exception asks master data; the CRM holds the lead.
// A lead changes no golden record: only accounts and customers do.

// Lead conversion outcomes (crm.lead-updates.v1 outcome).
const (
	LeadNewAccount       = "NEW_ACCOUNT"
	LeadExistingCustomer = "EXISTING_CUSTOMER"
	LeadReview           = "REVIEW"
)

// LeadSystem names a lead in exceptions ("lead_id").
const LeadSystem = "lead"

// LeadDuplicate is the category of a lead that may be an existing
// customer. Its exception id names the best candidate golden record, so a
// RESOLVE or DISMISS routes to that record's block and settles there; it
// is published as a PROBABLE_DUPLICATE answered in CRM (no MERGE: there is
// no golden record of the lead to merge).
const LeadDuplicate = "LEAD_DUPLICATE"

// LeadQualified is a CRM lead qualified for conversion: its company's
// attributes (name, website, tax id, phone, country, postal code,
// industry, employees).
type LeadQualified struct {
	Meta
	LeadID string
	Attrs  map[Field]string
}

// LeadUpdate answers a lead's conversion request.
type LeadUpdate struct {
	LeadID        string
	Outcome       string
	GoldenID      string
	AccountID     string
	ERPID         string
	ScoreBps      int
	Territory     string
	Candidates    []string
	CorrelationID string
}

func (t *tx) lead(e LeadQualified) error {
	_, f, err := identity(SourceUpserted{Meta: e.Meta, System: survivorship.CRM, RecordID: e.LeadID, Attrs: e.Attrs})
	if err != nil {
		return validation(err)
	}
	d := t.s.index.Match(f, nil)
	u := LeadUpdate{LeadID: e.LeadID, CorrelationID: t.m.CorrelationID}
	for _, c := range d.Candidates {
		u.Candidates = append(u.Candidates, strID(c.ID))
	}
	bps := func(score float64) int { return int(math.Round(score * 10000)) }
	switch d.Outcome {
	case match.Merge:
		rec := t.s.records[strID(d.Target)]
		u.Outcome, u.GoldenID, u.ScoreBps = LeadExistingCustomer, rec.ID, bps(d.Candidates[0].Score)
		u.AccountID = memberOf(rec, survivorship.CRM)
		u.ERPID = rec.Attrs[survivorship.ERPCustomerNumber].Value
		u.Territory = rec.Territory
		if u.Territory == "" {
			u.Territory = rec.Attrs[survivorship.Territory].Value
		}
	case match.Review:
		u.Outcome, u.GoldenID, u.ScoreBps = LeadReview, strID(d.Candidates[0].ID), bps(d.Candidates[0].Score)
		cands := make([]Candidate, len(d.Candidates))
		for i, c := range d.Candidates {
			cands[i] = Candidate{GoldenID: strID(c.ID), Score: c.Score, Evidence: c.Evidence}
		}
		t.out.Exceptions = append(t.out.Exceptions, Exception{
			ID: exceptionID(LeadDuplicate, u.GoldenID, LeadSystem+"\x00"+e.LeadID+"\x00"+t.m.EventID), Category: LeadDuplicate,
			Severity: "MEDIUM", GoldenID: u.GoldenID, Source: xref.Ref{System: LeadSystem, ID: e.LeadID},
			Message:    "lead " + e.LeadID + " may be an existing customer: convert it into the right account in CRM, or requalify it with more data",
			Candidates: cands, Context: map[string]string{"kind": "LEAD_PROBABLE_DUPLICATE", "lead_id": e.LeadID},
			CorrelationID: t.m.CorrelationID, CausationID: t.m.EventID, OccurredAt: t.at,
		})
	default:
		u.Outcome = LeadNewAccount
	}
	if u.Outcome != LeadExistingCustomer {
		u.Territory = t.s.territoryOf(e.Attrs)
	}
	t.out.LeadUpdates = append(t.out.LeadUpdates, u)
	return nil
}
