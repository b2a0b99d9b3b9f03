package compat

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// base is version 1 of a small customer record.
const base = `{"type":"record","name":"Account","namespace":"crm","fields":[
 {"name":"id","type":"string"},
 {"name":"name","type":"string"},
 {"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER","BRONZE"]}},
 {"name":"tax_id","type":["null","string"],"default":null},
 {"name":"employees","type":"int"}
]}`

func mustParse(t *testing.T, s string) Version {
	t.Helper()
	sc, err := Parse(s)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, s)
	}
	return Version{Schema: sc}
}

// edit replaces one substring of base and fails the test if it is absent.
func edit(t *testing.T, from, to string) string {
	t.Helper()
	if !strings.Contains(base, from) {
		t.Fatalf("base lacks %q", from)
	}
	return strings.Replace(base, from, to, 1)
}

func TestChangesUnderModes(t *testing.T) {
	type want struct {
		ok    bool
		field string // expected in the message when !ok
	}
	tests := []struct {
		name      string
		from, to  string
		backward  want
		forward   want
		full      want
		extraText string // must appear in the message when it fails
	}{
		{
			name:     "added field without default",
			from:     `{"name":"employees","type":"int"}`,
			to:       `{"name":"employees","type":"int"},{"name":"region","type":"string"}`,
			backward: want{false, "field region"}, forward: want{ok: true}, full: want{false, "field region"},
		},
		{
			name:     "removed field without default",
			from:     ",\n {\"name\":\"employees\",\"type\":\"int\"}",
			to:       ``,
			backward: want{ok: true}, forward: want{false, "field employees"}, full: want{false, "field employees"},
		},
		{
			name:     "type change int to string",
			from:     `{"name":"employees","type":"int"}`,
			to:       `{"name":"employees","type":"string"}`,
			backward: want{false, "field employees"}, forward: want{false, "field employees"}, full: want{false, "field employees"},
			extraText: "type changed",
		},
		{
			name:     "type widening int to long",
			from:     `{"name":"employees","type":"int"}`,
			to:       `{"name":"employees","type":"long"}`,
			backward: want{ok: true}, forward: want{false, "field employees"}, full: want{false, "field employees"},
		},
		{
			name:     "narrowed union",
			from:     `{"name":"tax_id","type":["null","string"],"default":null}`,
			to:       `{"name":"tax_id","type":"string"}`,
			backward: want{false, "field tax_id"}, forward: want{ok: true}, full: want{false, "field tax_id"},
			extraText: "null",
		},
		{
			name:     "removed enum symbol without enum default",
			from:     `"symbols":["GOLD","SILVER","BRONZE"]`,
			to:       `"symbols":["GOLD","SILVER"]`,
			backward: want{false, "field tier"}, forward: want{ok: true}, full: want{false, "field tier"},
			extraText: "BRONZE",
		},
		{
			name:     "removed enum symbol with enum default",
			from:     `"symbols":["GOLD","SILVER","BRONZE"]}`,
			to:       `"symbols":["GOLD","SILVER","UNKNOWN"],"default":"UNKNOWN"}`,
			backward: want{ok: true}, forward: want{false, "field tier"}, full: want{false, "field tier"},
		},
		{
			name:     "renamed field without alias",
			from:     `{"name":"name","type":"string"}`,
			to:       `{"name":"legal_name","type":"string"}`,
			backward: want{false, "field legal_name"}, forward: want{false, "field name"}, full: want{false, "field"},
		},
		{
			name:     "renamed field with alias",
			from:     `{"name":"name","type":"string"}`,
			to:       `{"name":"legal_name","type":"string","aliases":["name"]}`,
			backward: want{ok: true}, forward: want{false, "field name"}, full: want{false, "field name"},
		},
		{
			name:     "renamed field with alias and default",
			from:     `{"name":"name","type":"string"}`,
			to:       `{"name":"legal_name","type":"string","aliases":["name"],"default":""}`,
			backward: want{ok: true}, forward: want{false, "field name"}, full: want{false, "field name"},
		},
		{
			name:     "optional field with default",
			from:     `{"name":"employees","type":"int"}`,
			to:       `{"name":"employees","type":"int"},{"name":"region","type":["null","string"],"default":null}`,
			backward: want{ok: true}, forward: want{ok: true}, full: want{ok: true},
		},
		{
			name:     "doc only change",
			from:     `{"name":"id","type":"string"}`,
			to:       `{"name":"id","type":"string","doc":"CRM account id"}`,
			backward: want{ok: true}, forward: want{ok: true}, full: want{ok: true},
		},
	}
	c := NewChecker()
	for _, tt := range tests {
		old := mustParse(t, base)
		old.Version = 1
		next := mustParse(t, edit(t, tt.from, tt.to))
		for _, mc := range []struct {
			mode Mode
			want want
		}{{Backward, tt.backward}, {Forward, tt.forward}, {Full, tt.full}, {None, want{ok: true}}} {
			t.Run(tt.name+"/"+string(mc.mode), func(t *testing.T) {
				err := c.Check("crm.account.v1-value", mc.mode, next.Schema, []Version{old})
				if mc.want.ok {
					if err != nil {
						t.Fatalf("want compatible, got %v", err)
					}
					return
				}
				if err == nil {
					t.Fatal("want incompatible, got nil")
				}
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("want *compat.Error, got %T", err)
				}
				msg := err.Error()
				for _, s := range []string{"crm.account.v1-value", "version 1", mc.want.field, string(mc.mode), tt.extraText} {
					if !strings.Contains(msg, s) {
						t.Errorf("message lacks %q: %s", s, msg)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("message spans lines: %q", msg)
				}
			})
		}
	}
}

func TestNestedFieldPath(t *testing.T) {
	v1 := `{"type":"record","name":"Order","fields":[{"name":"lines","type":{"type":"array","items":
	 {"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}}]}`
	v2 := strings.Replace(v1, `{"name":"qty","type":"int"}`, `{"name":"qty","type":"string"}`, 1)
	err := NewChecker().Check("orders-value", Backward, mustParse(t, v2).Schema, []Version{{Version: 1, Schema: mustParse(t, v1).Schema}})
	if err == nil || !strings.Contains(err.Error(), "field lines[].qty") {
		t.Fatalf("want nested path lines[].qty, got %v", err)
	}
}

func TestTransitive(t *testing.T) {
	// v1 has no region, v2 adds it with a default, v3 drops the default.
	v1 := mustParse(t, base)
	v2 := mustParse(t, edit(t, `{"name":"employees","type":"int"}`, `{"name":"employees","type":"int"},{"name":"region","type":"string","default":"EU"}`))
	v3 := mustParse(t, edit(t, `{"name":"employees","type":"int"}`, `{"name":"employees","type":"int"},{"name":"region","type":"string"}`))
	v1.Version, v2.Version = 1, 2
	existing := []Version{v2, v1}
	c := NewChecker()
	if err := c.Check("s", Backward, v3.Schema, existing); err != nil {
		t.Fatalf("BACKWARD checks only the latest (v2) and must pass: %v", err)
	}
	err := c.Check("s", BackwardTransitive, v3.Schema, existing)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("BACKWARD_TRANSITIVE must fail against v1, got %v", err)
	}
	if diff := cmp.Diff([]int{1}, ce.Versions()); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	// FULL_TRANSITIVE: v3 vs v1 fails backward (region), v2 forward passes.
	err = c.Check("s", FullTransitive, v3.Schema, existing)
	if !errors.As(err, &ce) {
		t.Fatalf("FULL_TRANSITIVE must fail, got %v", err)
	}
	want := []Violation{{Version: 1, Direction: DirBackward, Field: "region"}}
	if diff := cmp.Diff(want, ce.Violations, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Reason" }, cmp.Ignore())); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range Modes {
		got, err := ParseMode(strings.ToLower(string(m)))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("SIDEWAYS"); err == nil {
		t.Error("ParseMode(SIDEWAYS) must fail")
	}
}

func TestParseIsolated(t *testing.T) {
	// A reference to a type defined in another parse must not resolve.
	if _, err := Parse(base); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(`{"type":"record","name":"X","fields":[{"name":"t","type":"crm.Tier"}]}`); err == nil {
		t.Fatal("want unknown type crm.Tier, got nil")
	}
}
