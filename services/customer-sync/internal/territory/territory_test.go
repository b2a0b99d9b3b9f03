package territory

import "testing"

func TestAssign(t *testing.T) {
	r, err := Parse([]byte(`
version: "v1"
rules:
  - territory: DACH-ENT
    countries: [DE, AT, CH]
    min_employees: 1000
  - territory: DACH
    countries: [DE, AT, CH]
  - territory: US-WEST
    countries: [US]
    regions: [US-CA, us-wa]
  - territory: HEALTH
    industries: [Healthcare]
default: REST
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    Facts
		want string
	}{
		{Facts{Country: "DE", Employees: 5000}, "DACH-ENT"},
		{Facts{Country: "DE", Employees: 999}, "DACH"},
		{Facts{Country: "AT"}, "DACH"}, // unknown size never matches a bounded rule
		{Facts{Country: "US", Region: "US-WA"}, "US-WEST"},
		{Facts{Country: "US", Region: "US-NY", Industry: " healthcare "}, "HEALTH"},
		{Facts{Country: "FR"}, "REST"},
	} {
		if got := r.Assign(tc.f); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, y := range map[string]string{
		"no version":    "rules: [{territory: A}]",
		"no territory":  "version: v1\nrules: [{countries: [DE]}]",
		"bad country":   "version: v1\nrules: [{territory: A, countries: [Germany]}]",
		"bad bounds":    "version: v1\nrules: [{territory: A, min_employees: 10, max_employees: 5}]",
		"unknown field": "version: v1\nrules: [{territory: A, country: DE}]",
	} {
		if _, err := Parse([]byte(y)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
