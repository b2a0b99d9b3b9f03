// Package survivorship decides which value of an attribute the golden record
// keeps, by ownership: a versioned configuration says which system owns
// which attribute; the owner's newest value wins (by occurred_at, ties by
// source record id); a non-owner's different value is not applied and is an
// ownership conflict. Every kept value carries its lineage.
package survivorship

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// System is a source system.
type System string

// The source systems.
const (
	CRM     System = "crm"
	ERP     System = "erp"
	Billing System = "billing"
)

// Field is a golden-record attribute.
type Field string

// Attributes of the golden customer (DESIGN.md §1).
const (
	// CRM: prospect, pipeline and engagement.
	Name            Field = "name" // name as sold
	Owner           Field = "owner"
	Industry        Field = "industry"
	Territory       Field = "territory"
	Website         Field = "website"
	Phone           Field = "phone"
	Email           Field = "email"
	ShippingAddress Field = "shipping_address"
	ParentAccount   Field = "parent_account"
	LifecycleStage  Field = "lifecycle_stage"
	Employees       Field = "employees" // headcount: the size dimension of territory rules
	// ERP: legal entity, tax, terms, credit, receivables.
	LegalName         Field = "legal_name"
	Country           Field = "country"
	PostalCode        Field = "postal_code"
	TaxID             Field = "tax_id"
	TaxProfile        Field = "tax_profile"
	PaymentTerms      Field = "payment_terms"
	CreditLimit       Field = "credit_limit" // "EUR 1250000" (ISO 4217 + minor units)
	CreditStatus      Field = "credit_status"
	ReceivablesStatus Field = "receivables_status"
	ERPCustomerNumber Field = "erp_customer_number"
	BillingAddress    Field = "billing_address"
	ParentERPCustomer Field = "parent_erp_customer" // the ERP's parent customer number (legal hierarchy)
	// Billing: subscriptions.
	Subscriptions  Field = "subscriptions"
	BillingAccount Field = "billing_account"
)

// Rule is the ownership of one attribute.
type Rule struct {
	// Owner is the system whose values win.
	Owner System `yaml:"owner" json:"owner"`
	// Fallback systems may fill the attribute while the owner has never
	// supplied a value (a new CRM prospect has a country before the ERP knows
	// the customer). The owner's first value replaces it.
	Fallback []System `yaml:"fallback,omitempty" json:"fallback,omitempty"`
}

// Config is a versioned ownership configuration.
type Config struct {
	// Version is recorded on every audit entry.
	Version int `yaml:"version" json:"version"`
	// Fields maps each attribute to its rule.
	Fields map[Field]Rule `yaml:"fields" json:"fields"`
	// PII lists the attributes removed by an erase request.
	PII []Field `yaml:"pii" json:"pii"`
	// ConflictExceptions raises an OWNERSHIP_CONFLICT exception (besides the
	// audit entry) for every conflict.
	ConflictExceptions bool `yaml:"conflict_exceptions" json:"conflict_exceptions"`
}

// Default is ownership version 1, after DESIGN.md §1.
func Default() Config {
	crm := Rule{Owner: CRM}
	crmFB := Rule{Owner: CRM, Fallback: []System{ERP}}
	erp := Rule{Owner: ERP}
	erpFB := Rule{Owner: ERP, Fallback: []System{CRM}}
	return Config{
		Version: 1,
		Fields: map[Field]Rule{
			Name: crmFB, Owner: crm, Industry: crm, Territory: crm, Website: crmFB, Phone: crmFB,
			Email: crmFB, ShippingAddress: crm, ParentAccount: crm, LifecycleStage: crm, Employees: crm,
			LegalName: erp, Country: erpFB, PostalCode: erpFB, TaxID: erp, TaxProfile: erp,
			PaymentTerms: erp, CreditLimit: erp, CreditStatus: erp, ReceivablesStatus: erp,
			ERPCustomerNumber: erp, BillingAddress: erpFB, ParentERPCustomer: erp,
			Subscriptions: {Owner: Billing}, BillingAccount: {Owner: Billing},
		},
		PII:                []Field{Phone, Email, ShippingAddress, BillingAddress, Owner},
		ConflictExceptions: true,
	}
}

// Parse reads a YAML ownership configuration and validates it.
func Parse(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("ownership config: %w", err)
	}
	return c, c.Validate()
}

// Validate checks version, owners and PII fields.
func (c Config) Validate() error {
	if c.Version < 1 {
		return fmt.Errorf("ownership config: version must be >= 1, got %d", c.Version)
	}
	if len(c.Fields) == 0 {
		return fmt.Errorf("ownership config v%d: no fields", c.Version)
	}
	for _, f := range slices.Sorted(maps.Keys(c.Fields)) {
		r := c.Fields[f]
		if r.Owner == "" {
			return fmt.Errorf("ownership config v%d: field %s has no owner", c.Version, f)
		}
		if slices.Contains(r.Fallback, r.Owner) {
			return fmt.Errorf("ownership config v%d: field %s lists its owner %s as fallback", c.Version, f, r.Owner)
		}
	}
	for _, f := range c.PII {
		if _, ok := c.Fields[f]; !ok {
			return fmt.Errorf("ownership config v%d: PII field %s is not a configured field", c.Version, f)
		}
	}
	return nil
}

// IsPII reports whether f is erased by an erase request.
func (c Config) IsPII(f Field) bool { return slices.Contains(c.PII, f) }

// Lineage says where a golden value came from.
type Lineage struct {
	System     System `json:"system"`
	RecordID   string `json:"record_id"`
	OccurredAt int64  `json:"occurred_at"` // Unix milliseconds
	EventID    string `json:"event_id,omitempty"`
}

// newer reports whether l is newer than o: later occurred_at, ties broken by
// the larger record id (then event id), so the order is total and replay
// gives the same winner.
func (l Lineage) newer(o Lineage) bool {
	if l.OccurredAt != o.OccurredAt {
		return l.OccurredAt > o.OccurredAt
	}
	if l.RecordID != o.RecordID {
		return l.RecordID > o.RecordID
	}
	return l.EventID > o.EventID
}

// Value is a golden attribute value with its lineage.
type Value struct {
	Value   string  `json:"value"`
	Lineage Lineage `json:"lineage"`
}

// Rules applied, as written on audit entries.
const (
	RuleOwner      = "owner_newest_wins"
	RuleFallback   = "fallback_until_owner"
	RuleConflict   = "ownership_conflict"
	RuleStale      = "stale_owner_value"
	RuleUnchanged  = "unchanged"
	RuleUnknown    = "no_owner_configured"
	RuleErased     = "erased"
	RuleEraseApply = "gdpr_erase"
	RuleMerge      = "steward_merge"
	// RuleNotOwnerCopy: a non-owner's value that differs from the golden
	// value but is not a change by that system (its first copy, or an echo
	// of a value we sent it); not applied, audited, no exception.
	RuleNotOwnerCopy = "non_owner_copy"
)

// Outcome of proposing a value.
type Outcome struct {
	// Applied: the golden value changes to Next (and an audit entry is due).
	Applied bool
	// LineageOnly: the value is the same but newer lineage is kept.
	LineageOnly bool
	// Conflict: a non-owner proposed a different value; not applied.
	Conflict bool
	Next     Value
	Rule     string
}

// Decide applies the rule of field f to a proposed value from src, given
// the current golden value (ok false when absent). erased is true when the
// golden record was erased and f is PII.
func (c Config) Decide(f Field, cur Value, ok bool, proposed string, src Lineage, erased bool) Outcome {
	next := Value{Value: proposed, Lineage: src}
	if erased && c.IsPII(f) {
		return Outcome{Rule: RuleErased}
	}
	r, known := c.Fields[f]
	if !known {
		if ok && cur.Value == proposed {
			return Outcome{Rule: RuleUnchanged}
		}
		return Outcome{Conflict: true, Rule: RuleUnknown}
	}
	switch {
	case src.System == r.Owner:
		if ok && cur.Lineage.System == r.Owner && !src.newer(cur.Lineage) {
			return Outcome{Rule: RuleStale}
		}
		if ok && cur.Value == proposed {
			return Outcome{LineageOnly: true, Next: next, Rule: RuleOwner}
		}
		return Outcome{Applied: true, Next: next, Rule: RuleOwner}
	case slices.Contains(r.Fallback, src.System) && (!ok || cur.Lineage.System != r.Owner):
		if ok && !src.newer(cur.Lineage) {
			return Outcome{Rule: RuleStale}
		}
		if ok && cur.Value == proposed {
			return Outcome{LineageOnly: true, Next: next, Rule: RuleFallback}
		}
		return Outcome{Applied: true, Next: next, Rule: RuleFallback}
	case ok && cur.Value == proposed:
		return Outcome{Rule: RuleUnchanged}
	}
	return Outcome{Conflict: true, Rule: RuleConflict}
}
