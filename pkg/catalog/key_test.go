package catalog

import (
	"strings"
	"testing"
)

func TestKeyFields(t *testing.T) {
	tests := []struct {
		name    string
		fields  string
		value   map[string]any
		want    string
		wantErr string
	}{
		{"nested string", "[contact.email]", map[string]any{"contact": map[string]any{"email": "a@b"}}, "a@b", ""},
		{"composite", "[contact.email, price.amount_minor]", map[string]any{
			"contact": map[string]any{"email": "a@b"}, "price": map[string]any{"amount_minor": int64(12)}}, "a@b|12", ""},
		{"nullable trailing part left out", "[contact.email, cost.currency]", map[string]any{
			"contact": map[string]any{"email": "a@b"}, "cost": nil}, "a@b", ""},
		{"union branch map", "[cost.currency]", map[string]any{
			"cost": map[string]any{"isthmus.common.v1.Money": map[string]any{"currency": "EUR"}}}, "EUR", ""},
		{"empty first part", "[contact.email]", map[string]any{"contact": map[string]any{"email": ""}}, "", "key field contact.email is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(goodTopic, "key: thing id", "key: thing id\n    key_fields: "+tc.fields, 1)
			c, err := LoadFS(fsWith(yaml, map[string]string{"t.avsc": goodSchema}))
			if err != nil {
				t.Fatalf("LoadFS: %v", err)
			}
			got, err := c.MustTopic("t.thing.v1").KeyOf(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("KeyOf = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("KeyOf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestKeyFieldsRejected(t *testing.T) {
	for fields, wantErr := range map[string]string{
		"[nope]":             `no field "nope"`,
		"[price]":            "want a string, int or long field",
		"[contact.x]":        `no field "x"`,
		"[metadata.y.z]":     `no field "y"`,
		"[price.currency.q]": "is not a record",
	} {
		yaml := strings.Replace(goodTopic, "key: thing id", "key: thing id\n    key_fields: "+fields, 1)
		_, err := LoadFS(fsWith(yaml, map[string]string{"t.avsc": goodSchema}))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("key_fields %s: %v, want error containing %q", fields, err, wantErr)
		}
	}
	if _, err := MustEmbedded().MustTopic("crm.account.v1").KeyOf(map[string]any{"account_id": "A-1"}); err != nil {
		t.Errorf("crm.account.v1 KeyOf: %v", err)
	}
}
