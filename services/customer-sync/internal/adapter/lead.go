package adapter

import (
	"strconv"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

// Lead maps a CRM lead: status QUALIFIED → golden.LeadQualified (a
// conversion request); any other status is not for customer-sync (nil).
func Lead(l *contracts.Lead) (golden.Event, error) {
	if err := required("lead_id", l.LeadID); err != nil {
		return nil, err
	}
	if l.Status != contracts.LeadStatusQualified {
		return nil, nil
	}
	if err := required("company", l.Company); err != nil {
		return nil, errs.Poison(errs.ReasonValidation, err)
	}
	attrs := map[sv.Field]string{sv.Name: l.Company}
	setAttr(attrs, sv.Website, l.Website)
	setAttr(attrs, sv.TaxID, l.TaxID)
	setAttr(attrs, sv.Phone, l.Phone)
	setAttr(attrs, sv.Country, l.Country)
	setAttr(attrs, sv.PostalCode, l.PostalCode)
	setAttr(attrs, sv.Industry, l.Industry)
	if l.Employees != nil {
		attrs[sv.Employees] = strconv.Itoa(*l.Employees)
	}
	return golden.LeadQualified{Meta: meta(l.Metadata, l.SourceUpdatedAt), LeadID: l.LeadID, Attrs: attrs}, nil
}

var leadOutcomes = map[string]string{
	golden.LeadNewAccount:       contracts.LeadConversionOutcomeNewAccount,
	golden.LeadExistingCustomer: contracts.LeadConversionOutcomeExistingCustomer,
	golden.LeadReview:           contracts.LeadConversionOutcomeReview,
}

// LeadUpdate maps a lead conversion answer to crm.lead-updates.v1.
func LeadUpdate(u golden.LeadUpdate, md contracts.EventMetadata) *contracts.LeadUpdate {
	lu := &contracts.LeadUpdate{Metadata: md, LeadID: u.LeadID, Outcome: leadOutcomes[u.Outcome], GoldenID: opt(u.GoldenID),
		AccountID: opt(u.AccountID), ERPCustomerID: opt(u.ERPID), Territory: opt(u.Territory), Candidates: []string{}}
	if lu.Outcome == "" {
		lu.Outcome = contracts.LeadConversionOutcomeUnknown
	}
	if u.GoldenID != "" {
		lu.ScoreBps = &u.ScoreBps
	}
	lu.Candidates = append(lu.Candidates, u.Candidates...)
	return lu
}

// hierarchyException completes the ops.exceptions.v1 description of a
// hierarchy exception (golden.HierarchyCycle, golden.HierarchyOrphan).
func hierarchyException(x *ops.Exception, e golden.Exception) {
	x.Category = contracts.ExceptionCategoryInvalidMasterData
	if p := e.Context["parent_golden_id"]; p != "" {
		x.Entities["parent_golden_id"] = p
	}
	switch e.Category {
	case golden.HierarchyCycle:
		x.Suggested = "Correct the parent account in CRM or the parent customer in ERP so that the chain ends at a top-level company; the parent is applied as soon as the cycle is gone. Then RESOLVE."
	default:
		x.Suggested = "Create the parent company in CRM or ERP, or remove the parent reference; the hierarchy completes when it arrives. Then RESOLVE."
	}
	x.Allowed = []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
}

// leadException completes a lead's PROBABLE_DUPLICATE: there is no golden
// record of the lead to merge, so the steward answers in CRM.
func leadException(x *ops.Exception) {
	x.Suggested = "Compare the lead with the candidates, then convert it in CRM into the right account (or requalify it with more data). DISMISS when done."
	x.Allowed = []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
}
