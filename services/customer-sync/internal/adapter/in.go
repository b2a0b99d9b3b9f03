// Package adapter maps between the Avro contracts of customer-sync's topics
// (pkg/contracts) and the domain (package golden): input records become
// golden events, golden outputs become output records. It holds no state
// and does no I/O; the entry package decodes and emits.
package adapter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Decision parameters (ops.decisions.v1 `parameters`) customer-sync reads.
const (
	// ParamSurvivor and ParamMerged name the golden records of a MERGE.
	ParamSurvivor = "survivor_golden_id"
	ParamMerged   = "merged_golden_id"
	// ParamGolden and ParamOther name the pair of a NOT_DUPLICATE.
	ParamGolden = "golden_id"
	ParamOther  = "other_golden_id"
	// ParamField and ParamValue are the attribute and its surviving value
	// of a PICK_SURVIVOR (ParamGolden defaults to the exception's record).
	ParamField = "field"
	ParamValue = "value"
	// ParamSystem and ParamRecord name the source record a SPLIT moves out
	// of the golden record (ParamGolden, default the exception's).
	ParamSystem = "system"
	ParamRecord = "record_id"
)

// AllowedActions are the decisions customer-sync accepts for an exception
// of category (golden.ProbableDuplicate, golden.OwnershipConflict).
func AllowedActions(category string) []string {
	switch category {
	case golden.ProbableDuplicate:
		return []string{contracts.DecisionActionMerge, contracts.DecisionActionNotDuplicate, contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
	case golden.OwnershipConflict:
		return []string{contracts.DecisionActionPickSurvivor, contracts.DecisionActionSplit, contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
	}
	return []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
}

// Metadata returns the event metadata of a decoded input.
func Metadata(v any) contracts.EventMetadata {
	switch x := v.(type) {
	case *contracts.Account:
		return x.Metadata
	case *contracts.Contact:
		return x.Metadata
	case *contracts.Customer:
		return x.Metadata
	case *contracts.Decision:
		return x.Metadata
	case *contracts.Lead:
		return x.Metadata
	}
	return contracts.EventMetadata{}
}

// Event maps a decoded input record to a golden event. A nil event with a
// nil error means the record needs nothing from customer-sync (see
// Decision) and is skipped. Errors are errs.Poison: the record can never be
// applied as it is. A decision must be customer-sync's (Decision).
func Event(v any) (golden.Event, error) {
	switch x := v.(type) {
	case *contracts.Account:
		return Account(x)
	case *contracts.Contact:
		return Contact(x)
	case *contracts.Customer:
		return Customer(x)
	case *contracts.Decision:
		return Decision(x)
	case *contracts.Lead:
		return Lead(x)
	}
	return nil, errs.Poisonf(errs.ReasonContract, "adapter: unsupported input %T", v)
}

// meta is the domain metadata of an input: its event and correlation id,
// and the source's last-modified time (source_updated_at, which orders a
// record's changes for survivorship) or, when the source did not set it,
// the event's occurred_at.
func meta(m contracts.EventMetadata, updated time.Time) golden.Meta {
	at := m.OccurredAt
	if updated.UnixMilli() > 0 {
		at = updated
	}
	if at.UnixMilli() <= 0 {
		at = time.Time{} // Apply rejects a missing time
	}
	return golden.Meta{EventID: m.EventID, CorrelationID: m.CorrelationID, OccurredAt: at.UTC()}
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return errs.Poison(errs.ReasonContract, &normalize.Error{Field: field, Reason: "is required"})
	}
	return nil
}

// Account maps a CRM account: UPSERT → SourceUpserted, DELETE →
// SourceDeleted, ERASE → EraseRequested for the account's golden record.
func Account(a *contracts.Account) (golden.Event, error) {
	if err := required("account_id", a.AccountID); err != nil {
		return nil, err
	}
	m := meta(a.Metadata, a.SourceUpdatedAt)
	switch a.Op {
	case contracts.ChangeOperationUpsert:
	case contracts.ChangeOperationDelete:
		return golden.SourceDeleted{Meta: m, System: sv.CRM, RecordID: a.AccountID}, nil
	case contracts.ChangeOperationErase:
		return golden.EraseRequested{Meta: m, Ref: xref.Ref{System: string(sv.CRM), ID: a.AccountID}}, nil
	default:
		return nil, errs.Poisonf(errs.ReasonContract, "account %s: op %q is not UPSERT, DELETE or ERASE", a.AccountID, a.Op)
	}
	attrs := map[sv.Field]string{sv.Name: a.Name}
	setAttr(attrs, sv.LegalName, a.LegalName)
	setAttr(attrs, sv.ParentAccount, a.ParentAccountID)
	setAttr(attrs, sv.Website, a.Website)
	setAttr(attrs, sv.Phone, a.Phone)
	setAttr(attrs, sv.Email, a.Email)
	setAttr(attrs, sv.Industry, a.Industry)
	setAttr(attrs, sv.Owner, a.OwnerID)
	setAttr(attrs, sv.Territory, a.Territory)
	setAttr(attrs, sv.TaxID, a.TaxID)
	if a.Employees != nil {
		attrs[sv.Employees] = strconv.Itoa(*a.Employees)
	}
	if a.Status != "" && a.Status != contracts.AccountStatusUnknown {
		attrs[sv.LifecycleStage] = strings.ToLower(a.Status)
	}
	if err := addresses(attrs, a.BillingAddress, a.ShippingAddress); err != nil {
		return nil, errs.Poison(errs.ReasonValidation, fmt.Errorf("account %s: %w", a.AccountID, err))
	}
	return golden.SourceUpserted{Meta: m, System: sv.CRM, RecordID: a.AccountID, Attrs: attrs}, nil
}

// Customer maps an ERP customer: UPSERT → SourceUpserted (golden_id, echoed
// from our CREATE command, links it to that golden record), DELETE →
// SourceDeleted, ERASE → EraseRequested.
func Customer(c *contracts.Customer) (golden.Event, error) {
	if err := required("erp_customer_id", c.ERPCustomerID); err != nil {
		return nil, err
	}
	m := meta(c.Metadata, c.SourceUpdatedAt)
	switch c.Op {
	case contracts.ChangeOperationUpsert:
	case contracts.ChangeOperationDelete:
		return golden.SourceDeleted{Meta: m, System: sv.ERP, RecordID: c.ERPCustomerID}, nil
	case contracts.ChangeOperationErase:
		return golden.EraseRequested{Meta: m, Ref: xref.Ref{System: string(sv.ERP), ID: c.ERPCustomerID}}, nil
	default:
		return nil, errs.Poisonf(errs.ReasonContract, "customer %s: op %q is not UPSERT, DELETE or ERASE", c.ERPCustomerID, c.Op)
	}
	attrs := map[sv.Field]string{sv.Name: c.Name, sv.ERPCustomerNumber: c.ERPCustomerID}
	setAttr(attrs, sv.LegalName, c.LegalName)
	setAttr(attrs, sv.TaxID, c.TaxID)
	setAttr(attrs, sv.Phone, c.Phone)
	setAttr(attrs, sv.Email, c.Email)
	setAttr(attrs, sv.Industry, c.Industry)
	setAttr(attrs, sv.Territory, c.Territory)
	setAttr(attrs, sv.PaymentTerms, c.PaymentTerms)
	setAttr(attrs, sv.ParentERPCustomer, c.ParentERPCustomerID)
	if c.TaxExempt {
		attrs[sv.TaxProfile] = "exempt"
	} else {
		attrs[sv.TaxProfile] = "taxable"
	}
	if c.CreditStatus != "" && c.CreditStatus != contracts.CreditStatusUnknown {
		attrs[sv.CreditStatus] = c.CreditStatus
	}
	if c.CreditLimit != nil {
		v, err := normalize.Money(c.CreditLimit.AmountMinor, c.CreditLimit.Currency)
		if err != nil {
			return nil, errs.Poison(errs.ReasonValidation, fmt.Errorf("customer %s: credit_limit: %w", c.ERPCustomerID, err))
		}
		attrs[sv.CreditLimit] = v
	}
	if err := addresses(attrs, c.BillingAddress, c.ShippingAddress); err != nil {
		return nil, errs.Poison(errs.ReasonValidation, fmt.Errorf("customer %s: %w", c.ERPCustomerID, err))
	}
	ev := golden.SourceUpserted{Meta: m, System: sv.ERP, RecordID: c.ERPCustomerID, Attrs: attrs}
	if c.GoldenID != nil {
		ev.GoldenRef = *c.GoldenID
	}
	if c.CommandID != nil {
		ev.CommandID = *c.CommandID
	}
	return ev, nil
}

// Contact maps a CRM contact: UPSERT → ContactUpserted (parked by the
// domain until its account is known), DELETE and ERASE → ContactDeleted
// (an erased person's data leaves the golden record).
func Contact(c *contracts.Contact) (golden.Event, error) {
	if err := required("contact_id", c.ContactID); err != nil {
		return nil, err
	}
	if err := required("account_id", c.AccountID); err != nil {
		return nil, err
	}
	m := meta(c.Metadata, c.SourceUpdatedAt)
	switch c.Op {
	case contracts.ChangeOperationUpsert:
	case contracts.ChangeOperationDelete, contracts.ChangeOperationErase:
		return golden.ContactDeleted{Meta: m, ContactID: c.ContactID, AccountID: c.AccountID}, nil
	default:
		return nil, errs.Poisonf(errs.ReasonContract, "contact %s: op %q is not UPSERT, DELETE or ERASE", c.ContactID, c.Op)
	}
	name := strings.TrimSpace(c.LastName)
	if c.FirstName != nil && strings.TrimSpace(*c.FirstName) != "" {
		name = strings.TrimSpace(*c.FirstName) + " " + name
	}
	ev := golden.ContactUpserted{Meta: m, ContactID: c.ContactID, AccountID: c.AccountID, Name: name}
	if c.Email != nil {
		ev.Email = *c.Email
	}
	switch {
	case c.Phone != nil && *c.Phone != "":
		ev.Phone = *c.Phone
	case c.MobilePhone != nil:
		ev.Phone = *c.MobilePhone
	}
	roles := slices.Clone(c.Roles)
	slices.Sort(roles)
	ev.Role = strings.Join(roles, ",")
	if ev.Role == "" && c.Title != nil {
		ev.Role = *c.Title
	}
	return ev, nil
}

// Decision maps a steward decision owned by customer-sync onto a golden
// event carrying its Ruling (decision, exception, category, actor):
// MERGE → StewardMerge (survivor_golden_id, merged_golden_id),
// NOT_DUPLICATE → StewardNotDuplicate (golden_id, other_golden_id),
// PICK_SURVIVOR → StewardPick (golden_id, field, value), SPLIT →
// StewardSplit (golden_id, system, record_id), RESOLVE and DISMISS →
// StewardClose. golden_id defaults to the record the exception id names
// (golden.ExceptionOf). An action the exception does not accept is a
// StewardRefused. RESOLVE and DISMISS of an exception id of the older form
// (golden.Owner.Legacy) return nil: there is nothing to route them by.
// d is a decision golden.Owner.Decision (pkg/ops) routed to customer-sync:
// it decides what is another service's and what cannot be acted on.
func Decision(d *contracts.Decision) (golden.Event, error) {
	m := meta(d.Metadata, time.Time{})
	category, exGolden, parsed := golden.ExceptionOf(d.ExceptionID)
	if !parsed {
		switch d.Action {
		case contracts.DecisionActionMerge, contracts.DecisionActionNotDuplicate:
			category = golden.ProbableDuplicate
		case contracts.DecisionActionPickSurvivor, contracts.DecisionActionSplit:
			category = golden.OwnershipConflict
		}
	}
	r := golden.Ruling{DecisionID: d.DecisionID, ExceptionID: d.ExceptionID, Category: category, Actor: d.Actor}
	param := func(k, def string) string {
		if v := strings.TrimSpace(d.Parameters[k]); v != "" {
			return v
		}
		return def
	}
	if !parsed && (d.Action == contracts.DecisionActionResolve || d.Action == contracts.DecisionActionDismiss) {
		return nil, nil
	}
	if allowed := AllowedActions(category); !slices.Contains(allowed, d.Action) {
		return golden.StewardRefused{Meta: m, Ruling: r, Reason: fmt.Sprintf("%s is not an allowed action for a %s exception (allowed: %s)", d.Action, category, strings.Join(allowed, ", "))}, nil
	}
	switch d.Action {
	case contracts.DecisionActionMerge:
		return golden.StewardMerge{Meta: m, Ruling: r, Survivor: param(ParamSurvivor, ""), Merged: param(ParamMerged, "")}, nil
	case contracts.DecisionActionNotDuplicate:
		return golden.StewardNotDuplicate{Meta: m, Ruling: r, A: param(ParamGolden, exGolden), B: param(ParamOther, "")}, nil
	case contracts.DecisionActionPickSurvivor:
		return golden.StewardPick{Meta: m, Ruling: r, Golden: param(ParamGolden, exGolden), Field: param(ParamField, ""), Value: d.Parameters[ParamValue]}, nil
	case contracts.DecisionActionSplit:
		return golden.StewardSplit{Meta: m, Ruling: r, Golden: param(ParamGolden, exGolden),
			Ref: xref.Ref{System: strings.ToLower(param(ParamSystem, "")), ID: param(ParamRecord, "")}}, nil
	case contracts.DecisionActionResolve:
		return golden.StewardClose{Meta: m, Ruling: r, Golden: exGolden, Status: contracts.ExceptionStatusResolved}, nil
	}
	return golden.StewardClose{Meta: m, Ruling: r, Golden: exGolden, Status: contracts.ExceptionStatusClosed}, nil
}

// address is the text form of an address in a golden attribute: JSON with
// a fixed field order, so equal addresses are equal strings.
type address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country"`
}

// addresses sets billing_address, shipping_address, and country and
// postal_code from the billing address (else the shipping address).
func addresses(attrs map[sv.Field]string, billing, shipping *contracts.Address) error {
	first := true
	for _, x := range []struct {
		f sv.Field
		a *contracts.Address
	}{{sv.BillingAddress, billing}, {sv.ShippingAddress, shipping}} {
		if x.a == nil {
			continue
		}
		text, a, err := encodeAddress(x.f, x.a)
		if err != nil {
			return err
		}
		attrs[x.f] = text
		if first {
			first = false
			attrs[sv.Country] = a.Country
			if a.PostalCode != "" {
				attrs[sv.PostalCode] = a.PostalCode
			}
		}
	}
	return nil
}

func encodeAddress(f sv.Field, in *contracts.Address) (string, address, error) {
	c, err := normalize.Country(in.Country)
	if err != nil {
		return "", address{}, &normalize.Error{Field: string(f) + ".country", Value: in.Country, Reason: "not an ISO 3166-1 alpha-2 country code"}
	}
	a := address{Line1: strings.TrimSpace(in.Line1), City: strings.TrimSpace(in.City), Country: c}
	if in.Line2 != nil {
		a.Line2 = strings.TrimSpace(*in.Line2)
	}
	if in.Region != nil {
		a.Region = strings.TrimSpace(*in.Region)
	}
	if in.PostalCode != nil {
		a.PostalCode = strings.TrimSpace(*in.PostalCode)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", address{}, err
	}
	return string(b), a, nil
}

// decodeAddress turns a golden address attribute back into the contract's
// Address. A value that is not the JSON form (written by other means) is
// kept whole as line1 with the golden record's country.
func decodeAddress(v, country string) *contracts.Address {
	if v == "" {
		return nil
	}
	var a address
	if err := json.Unmarshal([]byte(v), &a); err != nil || a.Country == "" {
		return &contracts.Address{Line1: v, Country: country}
	}
	out := &contracts.Address{Line1: a.Line1, City: a.City, Country: a.Country}
	if a.Line2 != "" {
		out.Line2 = &a.Line2
	}
	if a.Region != "" {
		out.Region = &a.Region
	}
	if a.PostalCode != "" {
		out.PostalCode = &a.PostalCode
	}
	return out
}

// setAttr records an attribute a source record holds (null: not held).
func setAttr(attrs map[sv.Field]string, f sv.Field, v *string) {
	if v != nil {
		attrs[f] = *v
	}
}
