package survivorship

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecide(t *testing.T) {
	c := Default()
	crm := func(ms int64, id string) Lineage { return Lineage{System: CRM, RecordID: id, OccurredAt: ms} }
	erp := func(ms int64, id string) Lineage { return Lineage{System: ERP, RecordID: id, OccurredAt: ms} }
	tests := []struct {
		name     string
		f        Field
		cur      *Value
		proposed string
		src      Lineage
		erased   bool
		want     Outcome
	}{
		{"owner fills empty", Name, nil, "Acme", crm(1, "a"), false,
			Outcome{Applied: true, Next: Value{"Acme", crm(1, "a")}, Rule: RuleOwner}},
		{"owner newer wins", Name, &Value{"Acme", crm(1, "a")}, "Acme Corp", crm(2, "a"), false,
			Outcome{Applied: true, Next: Value{"Acme Corp", crm(2, "a")}, Rule: RuleOwner}},
		{"owner older is stale", Name, &Value{"Acme", crm(5, "a")}, "Old", crm(2, "a"), false,
			Outcome{Rule: RuleStale}},
		{"owner tie broken by record id", Name, &Value{"Acme", crm(5, "a")}, "B", crm(5, "b"), false,
			Outcome{Applied: true, Next: Value{"B", crm(5, "b")}, Rule: RuleOwner}},
		{"owner tie lower record id loses", Name, &Value{"B", crm(5, "b")}, "A", crm(5, "a"), false,
			Outcome{Rule: RuleStale}},
		{"non-owner conflict", PaymentTerms, &Value{"NET30", erp(1, "E1")}, "NET60", crm(9, "a"), false,
			Outcome{Conflict: true, Rule: RuleConflict}},
		{"non-owner conflict on empty", PaymentTerms, nil, "NET60", crm(9, "a"), false,
			Outcome{Conflict: true, Rule: RuleConflict}},
		{"non-owner same value is no conflict", PaymentTerms, &Value{"NET30", erp(1, "E1")}, "NET30", crm(9, "a"), false,
			Outcome{Rule: RuleUnchanged}},
		{"fallback fills", Country, nil, "DE", crm(1, "a"), false,
			Outcome{Applied: true, Next: Value{"DE", crm(1, "a")}, Rule: RuleFallback}},
		{"owner replaces fallback even if older", Country, &Value{"DE", crm(9, "a")}, "AT", erp(1, "E1"), false,
			Outcome{Applied: true, Next: Value{"AT", erp(1, "E1")}, Rule: RuleOwner}},
		{"fallback cannot override owner", Country, &Value{"AT", erp(1, "E1")}, "DE", crm(9, "a"), false,
			Outcome{Conflict: true, Rule: RuleConflict}},
		{"same value newer lineage", Name, &Value{"Acme", crm(1, "a")}, "Acme", crm(2, "a"), false,
			Outcome{LineageOnly: true, Next: Value{"Acme", crm(2, "a")}, Rule: RuleOwner}},
		{"erased PII not applied", Email, nil, "x@y.com", crm(2, "a"), true,
			Outcome{Rule: RuleErased}},
		{"unknown field", Field("shoe_size"), nil, "42", crm(2, "a"), false,
			Outcome{Conflict: true, Rule: RuleUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cur Value
			if tt.cur != nil {
				cur = *tt.cur
			}
			got := c.Decide(tt.f, cur, tt.cur != nil, tt.proposed, tt.src, tt.erased)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`
version: 2
fields:
  name: {owner: crm, fallback: [erp]}
  payment_terms: {owner: erp}
pii: [name]
conflict_exceptions: false
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Version: 2, Fields: map[Field]Rule{Name: {Owner: CRM, Fallback: []System{ERP}}, PaymentTerms: {Owner: ERP}}, PII: []Field{Name}}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for _, bad := range []struct{ yaml, msg string }{
		{"version: 0\nfields: {name: {owner: crm}}", "version must be >= 1"},
		{"version: 1\nfields: {name: {}}", "field name has no owner"},
		{"version: 1\nfields: {name: {owner: crm}}\npii: [email]", "PII field email is not a configured field"},
		{"version: 1\nfields: {name: {owner: crm, fallback: [crm]}}", "lists its owner crm as fallback"},
		{"version: 1\nfeilds: {}", "field feilds not found"},
	} {
		if _, err := Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("Parse(%q) err = %v, want %q", bad.yaml, err, bad.msg)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default: %v", err)
	}
}
