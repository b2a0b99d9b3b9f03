package adapter

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Output is one record to emit: logical topic, key and value.
type Output struct {
	Topic string
	Key   string
	Value serde.Record
}

// EntityType is the audit entity type of golden records.
const EntityType = "golden_customer"

// Outputs maps the outputs of one Apply to records, in a fixed order:
// golden records, cross-references, ERP commands, CRM updates, audit
// entries, exceptions, golden contacts. Every record's metadata
// (event.Metadata) has a deterministic event id (event.ID(idBase, index)),
// the input's correlation id and occurred_at (normalised by event.Time),
// and the input's event id as causation id, so replaying the input yields
// identical records.
func Outputs(o golden.Outputs, in contracts.EventMetadata, idBase string) []Output {
	var out []Output
	md := func() contracts.EventMetadata {
		return event.Metadata(event.ID(idBase, strconv.Itoa(len(out))), in.CorrelationID, in.EventID, golden.Owner.Source, in.OccurredAt)
	}
	records := map[string]golden.Record{}
	for _, r := range o.Golden {
		records[r.ID] = r
		out = append(out, Output{contracts.TopicMDMCustomerV1, r.ID, GoldenCustomer(r, md())})
		if r.MergedInto != "" {
			// The merged-away id itself resolves through the xref.
			out = append(out, Output{contracts.TopicMDMXrefV1, XrefKey(contracts.SourceSystemMDM, r.ID), &contracts.CrossReference{
				Metadata: md(), System: contracts.SourceSystemMDM, SystemID: r.ID, GoldenID: r.MergedInto,
				Status: contracts.XrefStatusRedirected, MergedInto: ptr(r.MergedInto), OtherIds: []contracts.SystemRef{},
			}})
		}
	}
	for _, x := range o.Xrefs {
		cr := CrossReference(x, md())
		out = append(out, Output{contracts.TopicMDMXrefV1, XrefKey(cr.System, cr.SystemID), cr})
	}
	for _, c := range o.ERPCommands {
		out = append(out, Output{contracts.TopicERPCustomerCommandsV1, c.GoldenID, CustomerCommand(c, records[c.GoldenID], md())})
	}
	for _, u := range o.CRMUpdates {
		out = append(out, Output{contracts.TopicCRMAccountUpdatesV1, u.AccountID, AccountUpdate(u, records[u.GoldenID], md())})
	}
	for _, a := range o.Audit {
		out = append(out, Output{contracts.TopicAuditFieldChangeV1, a.GoldenID, FieldChange(a, md())})
	}
	for _, e := range o.Exceptions {
		out = append(out, Output{contracts.TopicOpsExceptionsV1, e.ID, Exception(e, md())})
	}
	for _, c := range o.Contacts {
		out = append(out, Output{contracts.TopicMDMContactV1, c.ID, GoldenContact(c, md())})
	}
	for _, u := range o.LeadUpdates {
		out = append(out, Output{contracts.TopicCRMLeadUpdatesV1, u.LeadID, LeadUpdate(u, md())})
	}
	return out
}

// GoldenContact maps a golden contact to mdm.contact.v1.
func GoldenContact(c golden.GoldenContact, md contracts.EventMetadata) *contracts.GoldenContact {
	members := c.Members
	if members == nil {
		members = []string{}
	}
	return &contracts.GoldenContact{
		Metadata: md, ContactID: c.ID, Status: c.Status, MergedInto: opt(c.MergedInto), GoldenID: c.GoldenID,
		FullName: opt(c.Name), Email: opt(c.Email), Phone: opt(c.Phone), Role: opt(c.Role), Members: members,
		UpdatedAt: time.UnixMilli(c.UpdatedAt).UTC(),
	}
}

// XrefKey is the key of mdm.xref.v1: "SYSTEM:id" (e.g. CRM:001A000001).
func XrefKey(system, id string) string { return system + ":" + id }

// System maps a domain system name to the contract's SourceSystem symbol.
func System(s string) string {
	switch sv.System(s) {
	case sv.CRM:
		return contracts.SourceSystemCRM
	case sv.ERP:
		return contracts.SourceSystemERP
	case sv.Billing:
		return contracts.SourceSystemBilling
	case "steward":
		return contracts.SourceSystemOperator
	}
	return contracts.SourceSystemUnknown
}

func ptr(s string) *string { return &s }

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func creditStatus(v string) string {
	switch s := strings.ToUpper(v); s {
	case contracts.CreditStatusActive, contracts.CreditStatusHold, contracts.CreditStatusBlocked:
		return s
	}
	return contracts.CreditStatusUnknown
}

func money(v string) *contracts.Money {
	if v == "" {
		return nil
	}
	minor, cur, err := normalize.ParseMoney(v)
	if err != nil {
		return nil // validated on the way in; never stored otherwise
	}
	return &contracts.Money{AmountMinor: minor, Currency: cur}
}

// GoldenCustomer maps a golden record to mdm.customer.v1.
func GoldenCustomer(r golden.Record, md contracts.EventMetadata) *contracts.GoldenCustomer {
	v := func(f sv.Field) string { return r.Attrs[f].Value }
	g := &contracts.GoldenCustomer{
		Metadata: md, GoldenID: r.ID, Version: r.Version, Status: contracts.GoldenStatusActive,
		Name: v(sv.Name), LegalName: opt(v(sv.LegalName)), Domain: opt(v(sv.Website)), Phone: opt(v(sv.Phone)),
		Email: opt(v(sv.Email)), TaxID: opt(v(sv.TaxID)), Industry: opt(v(sv.Industry)), OwnerID: opt(v(sv.Owner)),
		Territory: opt(v(sv.Territory)), PaymentTerms: opt(v(sv.PaymentTerms)), CreditStatus: creditStatus(v(sv.CreditStatus)),
		CreditLimit: money(v(sv.CreditLimit)), ERPCustomerID: opt(v(sv.ERPCustomerNumber)), ParentGoldenID: opt(r.Parent),
		BillingAddress:  decodeAddress(v(sv.BillingAddress), v(sv.Country)),
		ShippingAddress: decodeAddress(v(sv.ShippingAddress), v(sv.Country)),
		Members:         []contracts.SystemRef{}, Lineage: []contracts.AttributeLineage{}, Erased: r.Erased,
		Country: opt(v(sv.Country)), PostalCode: opt(v(sv.PostalCode)), Employees: employees(v(sv.Employees)),
	}
	if r.Territory != "" {
		g.Territory = ptr(r.Territory)
	}
	if r.TerritoryVersion != "" {
		g.TerritoryRulesVersion = ptr(r.TerritoryVersion)
	}
	if g.Name == "" {
		g.Name = v(sv.LegalName)
	}
	if r.MergedInto != "" {
		g.Status, g.MergedInto = contracts.GoldenStatusMerged, ptr(r.MergedInto)
	}
	active := 0
	for _, m := range r.Members {
		if m.Active {
			active++
			g.Members = append(g.Members, contracts.SystemRef{System: System(string(m.System)), ID: m.RecordID})
		}
	}
	if active == 0 && r.MergedInto == "" && len(r.Members) > 0 {
		g.Status = contracts.GoldenStatusRetired
	}
	version := strconv.Itoa(r.OwnershipVersion)
	fields := make([]string, 0, len(r.Attrs))
	for f := range r.Attrs {
		fields = append(fields, string(f))
	}
	slices.Sort(fields)
	for _, f := range fields {
		l := r.Attrs[sv.Field(f)].Lineage
		g.Lineage = append(g.Lineage, contracts.AttributeLineage{Attribute: f, SourceSystem: System(string(l.System)),
			RecordID: l.RecordID, UpdatedAt: unixMilli(l.OccurredAt), OwnershipVersion: &version})
	}
	return g
}

// CrossReference maps an xref upsert to mdm.xref.v1.
func CrossReference(x golden.XrefUpsert, md contracts.EventMetadata) *contracts.CrossReference {
	cr := &contracts.CrossReference{Metadata: md, System: System(x.Ref.System), SystemID: x.Ref.ID, GoldenID: x.GoldenID,
		Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{}}
	if x.Retired {
		cr.Status = contracts.XrefStatusRetired
	}
	for _, o := range x.Others {
		cr.OtherIds = append(cr.OtherIds, contracts.SystemRef{System: System(o.System), ID: o.ID})
	}
	return cr
}

// commandFields are the contract names of the golden fields a customer
// command carries.
var commandFields = map[sv.Field]string{
	sv.Name: "name", sv.LegalName: "legal_name", sv.TaxID: "tax_id", sv.BillingAddress: "billing_address",
	sv.ShippingAddress: "shipping_address", sv.Phone: "phone", sv.Email: "email", sv.Industry: "industry",
	sv.Territory: "territory", sv.Owner: "owner_id", sv.Website: "website", sv.Country: "country", sv.PostalCode: "postal_code",
	sv.ParentERPCustomer: "parent_erp_customer_id",
}

// CustomerCommand maps an ERP command to erp.customer-commands.v1. The
// command carries the fields the domain chose; the golden record (as
// published by the same Apply) supplies the name, which the contract
// requires, and the CRM account id.
func CustomerCommand(c golden.ERPCommand, r golden.Record, md contracts.EventMetadata) *contracts.CustomerCommand {
	country := r.Attrs[sv.Country].Value
	if v, ok := c.Fields[sv.Country]; ok {
		country = v
	}
	f := func(k sv.Field) *string { return opt(c.Fields[k]) }
	cmd := &contracts.CustomerCommand{
		Metadata: md, CommandID: c.CommandID, Action: contracts.CustomerCommandActionCreate, GoldenID: c.GoldenID,
		Name: c.Fields[sv.Name], LegalName: f(sv.LegalName), TaxID: f(sv.TaxID), Phone: f(sv.Phone), Email: f(sv.Email),
		Industry: f(sv.Industry), Territory: f(sv.Territory), OwnerID: f(sv.Owner), ParentERPCustomerID: opt(r.ParentERP),
		BillingAddress:  decodeAddress(c.Fields[sv.BillingAddress], country),
		ShippingAddress: decodeAddress(c.Fields[sv.ShippingAddress], country),
		ChangedFields:   []string{},
	}
	if c.Kind == golden.UpdateCustomer {
		cmd.Action, cmd.ERPCustomerID = contracts.CustomerCommandActionUpdate, opt(c.ERPCustomerNumber)
	}
	if cmd.Name == "" {
		cmd.Name = r.Attrs[sv.Name].Value
	}
	if cmd.Name == "" {
		cmd.Name = r.Attrs[sv.LegalName].Value
	}
	for _, m := range r.Members {
		if m.Active && m.System == sv.CRM {
			cmd.CRMAccountID = ptr(m.RecordID)
			break
		}
	}
	for k := range c.Fields {
		if n, ok := commandFields[k]; ok {
			cmd.ChangedFields = append(cmd.ChangedFields, n)
		} else {
			cmd.ChangedFields = append(cmd.ChangedFields, string(k))
		}
	}
	slices.Sort(cmd.ChangedFields)
	return cmd
}

// updateFields are the contract names of the ERP-owned fields an account
// update carries.
var updateFields = map[sv.Field]string{
	sv.ERPCustomerNumber: "erp_customer_id", sv.LegalName: "legal_name", sv.TaxID: "tax_id",
	sv.PaymentTerms: "payment_terms", sv.CreditStatus: "credit_status", sv.CreditLimit: "credit_limit",
	sv.Territory: "territory", sv.ParentAccount: "parent_account_id",
}

// AccountUpdate maps a CRM update to crm.account-updates.v1: the current
// ERP-owned values of the golden record, and the names of those that
// changed.
func AccountUpdate(u golden.CRMUpdate, r golden.Record, md contracts.EventMetadata) *contracts.AccountUpdate {
	v := func(f sv.Field) string {
		if x, ok := u.Fields[f]; ok {
			return x
		}
		return r.Attrs[f].Value
	}
	au := &contracts.AccountUpdate{
		Metadata: md, AccountID: u.AccountID, GoldenID: u.GoldenID, ERPCustomerID: opt(v(sv.ERPCustomerNumber)),
		LegalName: opt(v(sv.LegalName)), TaxID: opt(v(sv.TaxID)), PaymentTerms: opt(v(sv.PaymentTerms)),
		CreditStatus: creditStatus(v(sv.CreditStatus)), CreditLimit: money(v(sv.CreditLimit)), ChangedFields: []string{},
		Territory: opt(r.Territory), ParentAccountID: opt(r.ParentCRM), ParentGoldenID: opt(r.Parent),
	}
	if t, ok := u.Fields[sv.Territory]; ok {
		au.Territory = opt(t)
	}
	if p, ok := u.Fields[sv.ParentAccount]; ok {
		au.ParentAccountID = opt(p)
	}
	for k := range u.Fields {
		if n, ok := updateFields[k]; ok {
			au.ChangedFields = append(au.ChangedFields, n)
		} else {
			au.ChangedFields = append(au.ChangedFields, string(k))
		}
	}
	slices.Sort(au.ChangedFields)
	return au
}

// FieldChange maps an audit entry to audit.field-change.v1. Erased values
// ("[erased]") are published as null.
func FieldChange(a golden.Audit, md contracts.EventMetadata) *contracts.FieldChange {
	text := func(s string) *string {
		if s == "" || s == "[erased]" {
			return nil
		}
		return &s
	}
	outcome := contracts.ChangeOutcomeApplied
	switch {
	case a.Rule == sv.RuleErased || strings.HasSuffix(a.Rule, "/"+sv.RuleErased):
		outcome = contracts.ChangeOutcomeErased
	case a.Rule == sv.RuleStale || strings.HasSuffix(a.Rule, "/"+sv.RuleStale):
		outcome = contracts.ChangeOutcomeRejectedStale
	case !a.Applied:
		outcome = contracts.ChangeOutcomeRejectedNotOwner
	}
	version := strconv.Itoa(a.OwnershipVersion)
	return &contracts.FieldChange{
		Metadata: md, EntityType: EntityType, EntityID: a.GoldenID, Field: a.Field,
		OldValue: text(a.Old), NewValue: text(a.New), SourceSystem: System(string(a.Source.System)),
		SourceRecordID: opt(a.Source.RecordID), Outcome: outcome, Rule: a.Rule, OwnershipVersion: &version,
	}
}

// Exception maps a business exception to ops.exceptions.v1 (golden.Owner's:
// queue MASTER_DATA), with the decisions customer-sync accepts for it.
func Exception(e golden.Exception, md contracts.EventMetadata) *contracts.OperationalException {
	x := ops.Exception{
		ID: e.ID, Category: contracts.ExceptionCategoryOther, Severity: e.Severity, Status: e.Status, Summary: e.Message,
		Entities: map[string]string{"golden_id": e.GoldenID}, Context: maps.Clone(e.Context), Decision: e.DecisionID,
	}
	if x.Context == nil {
		x.Context = map[string]string{}
	}
	if e.Source != (xref.Ref{}) {
		switch sv.System(e.Source.System) {
		case sv.CRM:
			x.Entities["crm_account_id"] = e.Source.ID
		case sv.ERP:
			x.Entities["erp_customer_id"] = e.Source.ID
		default:
			x.Entities[e.Source.System+"_id"] = e.Source.ID
		}
	}
	switch e.Category {
	case golden.ProbableDuplicate, golden.LeadDuplicate:
		x.Category = contracts.ExceptionCategoryProbableDuplicate
		if b, err := json.Marshal(e.Candidates); err == nil {
			x.Context["candidates"] = string(b)
		}
		if len(e.Candidates) > 0 {
			x.Entities["candidate_golden_id"] = e.Candidates[0].GoldenID
		}
		x.Suggested = "Compare the golden record with the candidates. MERGE with parameters " + ParamSurvivor + " and " +
			ParamMerged + ", or NOT_DUPLICATE with " + ParamGolden + " and " + ParamOther + " (never proposed again)."
		x.Allowed = AllowedActions(e.Category)
		if e.Category == golden.LeadDuplicate {
			leadException(&x)
		}
	case golden.HierarchyCycle, golden.HierarchyOrphan:
		hierarchyException(&x, e)
	case golden.OwnershipConflict:
		x.Category = contracts.ExceptionCategoryOwnershipConflict
		x.Suggested = "The change was not applied. PICK_SURVIVOR with parameters " + ParamField + " and " + ParamValue +
			" to set the surviving value, SPLIT with " + ParamSystem + " and " + ParamRecord + " when the source record is another party, or correct the value in the owning system and RESOLVE."
		x.Allowed = AllowedActions(e.Category)
	}
	if e.Status != "" {
		// An update answering a steward decision: no suggestion, and no
		// action once it is no longer open.
		x.Suggested = ""
		if e.Status != contracts.ExceptionStatusOpen {
			x.Allowed = nil
		}
	}
	v := golden.Owner.Event(x, md)
	return &v
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func employees(v string) *int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return nil
	}
	return &n
}
