// Package territory assigns sales territories to golden customers from a
// versioned rules file: the first rule whose every condition holds names
// the territory. Conditions are the legal entity's country and region
// (subdivision code of the billing address), the CRM's industry and the
// company size (employees). A rule without a condition on a dimension
// matches any value of it, including unknown.
//
//	version: "2026-12"
//	rules:
//	  - territory: EMEA-DACH-ENTERPRISE
//	    countries: [DE, AT, CH]
//	    min_employees: 1000
//	  - territory: EMEA-DACH
//	    countries: [DE, AT, CH]
//	  - territory: NA-WEST
//	    countries: [US]
//	    regions: [US-CA, US-WA, US-OR]
//	  - territory: HEALTHCARE
//	    industries: [Healthcare, Pharma]
//	default: UNASSIGNED
package territory

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule is one assignment rule.
type Rule struct {
	Territory  string   `yaml:"territory"`
	Countries  []string `yaml:"countries,omitempty"`  // ISO 3166-1 alpha-2
	Regions    []string `yaml:"regions,omitempty"`    // ISO 3166-2 codes, e.g. US-CA
	Industries []string `yaml:"industries,omitempty"` // compared case-insensitively
	// MinEmployees and MaxEmployees bound the size (inclusive; 0: no bound).
	// A bounded rule never matches a company of unknown size.
	MinEmployees int `yaml:"min_employees,omitempty"`
	MaxEmployees int `yaml:"max_employees,omitempty"`
}

// Rules is a versioned rules file. Version is published with every
// territory it assigns (mdm.customer.v1 territory_rules_version); a new
// version re-assigns every golden record.
type Rules struct {
	Version string `yaml:"version"`
	Rules   []Rule `yaml:"rules"`
	// Default is the territory when no rule matches; empty: keep the
	// CRM's own territory.
	Default string `yaml:"default,omitempty"`
}

// Facts are what rules look at.
type Facts struct {
	Country, Region, Industry string
	Employees                 int // 0: unknown
}

// Parse reads and validates a rules file.
func Parse(data []byte) (*Rules, error) {
	var r Rules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("territory rules: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks the rules.
func (r *Rules) Validate() error {
	if strings.TrimSpace(r.Version) == "" {
		return fmt.Errorf("territory rules: version is required")
	}
	for i, x := range r.Rules {
		if strings.TrimSpace(x.Territory) == "" {
			return fmt.Errorf("territory rules %s: rule %d has no territory", r.Version, i+1)
		}
		if x.MaxEmployees != 0 && x.MaxEmployees < x.MinEmployees || x.MinEmployees < 0 || x.MaxEmployees < 0 {
			return fmt.Errorf("territory rules %s: rule %d (%s): want 0 <= min_employees <= max_employees", r.Version, i+1, x.Territory)
		}
		for _, c := range x.Countries {
			if len(c) != 2 || strings.ToUpper(c) != c {
				return fmt.Errorf("territory rules %s: rule %d (%s): country %q is not an ISO 3166-1 alpha-2 code", r.Version, i+1, x.Territory, c)
			}
		}
	}
	return nil
}

// Assign returns the territory of f ("" when no rule matches and there is
// no default).
func (r *Rules) Assign(f Facts) string {
	for _, x := range r.Rules {
		if x.matches(f) {
			return x.Territory
		}
	}
	return r.Default
}

func (x Rule) matches(f Facts) bool {
	if len(x.Countries) > 0 && !slices.Contains(x.Countries, f.Country) {
		return false
	}
	if len(x.Regions) > 0 && !slices.ContainsFunc(x.Regions, func(r string) bool { return strings.EqualFold(r, f.Region) }) {
		return false
	}
	if len(x.Industries) > 0 && !slices.ContainsFunc(x.Industries, func(i string) bool { return strings.EqualFold(i, strings.TrimSpace(f.Industry)) }) {
		return false
	}
	if x.MinEmployees > 0 || x.MaxEmployees > 0 {
		if f.Employees <= 0 || f.Employees < x.MinEmployees || x.MaxEmployees > 0 && f.Employees > x.MaxEmployees {
			return false
		}
	}
	return true
}
