package serde

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
)

const plainAccount = `{"metadata":{"event_id":"0b6c4d2e-3f4a-4b5c-8d6e-7f8091a2b3c4","correlation_id":"c-1",
 "source_system":"CRM","occurred_at":"2026-03-01T10:00:00Z"},
 "account_id":"A-1","name":"Acme","status":"CUSTOMER","email":"ap@acme.example",
 "billing_address":{"line1":"1 Main St","city":"Springfield","country":"US"},
 "source_updated_at":1772359200000}`

const avroJSONAccount = `{"metadata":{"event_id":"0b6c4d2e-3f4a-4b5c-8d6e-7f8091a2b3c4","correlation_id":"c-1",
 "causation_id":null,"source_system":"CRM","occurred_at":1772359200000},
 "op":"UPSERT","account_id":"A-1","name":"Acme","status":"CUSTOMER","email":{"string":"ap@acme.example"},
 "billing_address":{"isthmus.common.v1.Address":{"line1":"1 Main St","line2":null,"city":"Springfield","region":null,"postal_code":null,"country":"US"}},
 "source_updated_at":1772359200000}`

func TestParseJSONEncodesLikeTheGeneratedType(t *testing.T) {
	schema := catalog.MustEmbedded().MustTopic("crm.account.v1").Schema
	at := time.UnixMilli(1772359200000).UTC()
	email := "ap@acme.example"
	want := contracts.Account{
		Metadata: contracts.EventMetadata{EventID: "0b6c4d2e-3f4a-4b5c-8d6e-7f8091a2b3c4", CorrelationID: "c-1", SourceSystem: "CRM", OccurredAt: at},
		Op:       "UPSERT", AccountID: "A-1", Name: "Acme", Status: "CUSTOMER", Email: &email,
		BillingAddress:  &contracts.Address{Line1: "1 Main St", City: "Springfield", Country: "US"},
		SourceUpdatedAt: at,
	}
	for _, tc := range []struct {
		format JSONFormat
		doc    string
	}{{JSONPlain, plainAccount}, {JSONAvro, avroJSONAccount}, {JSONPlain, avroJSONAccount}} {
		v, err := ParseJSON(schema, []byte(tc.doc), tc.format)
		if err != nil {
			t.Fatalf("%s: ParseJSON: %v", tc.format, err)
		}
		b, err := avro.Marshal(schema, v)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", tc.format, err)
		}
		var got contracts.Account
		if err := avro.Unmarshal(schema, b, &got); err != nil {
			t.Fatalf("%s: Unmarshal: %v", tc.format, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: decoded record differs (-want +got):\n%s", tc.format, diff)
		}
	}
}

func TestParseJSONOrderStatusArraysAndNestedUnions(t *testing.T) {
	schema := catalog.MustEmbedded().MustTopic("erp.order-status.v1").Schema
	doc := `{"metadata":{"event_id":"0b6c4d2e-3f4a-4b5c-8d6e-7f8091a2b3c4","correlation_id":"c-1","source_system":"ERP","occurred_at":1},
	 "order_id":"O-1","status":"ACCEPTED","total":{"amount_minor":12345,"currency":"EUR"},
	 "lines":[{"line_number":1,"sku":"S-1","status":"ACCEPTED","quantity_confirmed":2}]}`
	v, err := ParseJSON(schema, []byte(doc), JSONPlain)
	if err != nil {
		t.Fatalf("ParseJSON: %v", err)
	}
	b, err := avro.Marshal(schema, v)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var got contracts.OrderStatus
	if err := avro.Unmarshal(schema, b, &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if got.Total == nil || got.Total.AmountMinor != 12345 || len(got.Lines) != 1 || got.Lines[0].QuantityConfirmed != 2 || got.Lines[0].Status != "ACCEPTED" {
		t.Errorf("decoded %+v", got)
	}
}

func TestParseJSONErrorsNameTheField(t *testing.T) {
	schema := catalog.MustEmbedded().MustTopic("crm.account.v1").Schema
	tests := []struct {
		name, doc, want string
		format          JSONFormat
	}{
		{"not json", `{"account_id":`, "invalid JSON", JSONPlain},
		{"two values", plainAccount + " {}", "more than one value", JSONPlain},
		{"missing required", strings.Replace(plainAccount, `"name":"Acme",`, "", 1), "field name: required", JSONPlain},
		{"unknown field", strings.Replace(plainAccount, `"name":"Acme"`, `"name":"Acme","nmae":"x"`, 1), "field nmae: not in isthmus.crm.v1.Account", JSONPlain},
		{"bad enum", strings.Replace(plainAccount, `"CUSTOMER"`, `"VIP"`, 1), `field status: "VIP" is not one of`, JSONPlain},
		{"bad uuid", strings.Replace(plainAccount, "0b6c4d2e-", "zz-", 1), "field metadata.event_id: want a UUID", JSONPlain},
		{"bad time", strings.Replace(plainAccount, `"2026-03-01T10:00:00Z"`, `"yesterday"`, 1), "field metadata.occurred_at: want milliseconds", JSONPlain},
		{"number for string", strings.Replace(plainAccount, `"A-1"`, `17`, 1), "field account_id: want a string, got number 17", JSONPlain},
		{"nested", strings.Replace(plainAccount, `"city":"Springfield",`, "", 1), "field billing_address.city: required", JSONPlain},
		{"avro-json union unwrapped", strings.Replace(avroJSONAccount, `{"string":"ap@acme.example"}`, `"ap@acme.example"`, 1), `field email: want null or {"<type>": value}`, JSONAvro},
		{"avro-json rfc3339", strings.Replace(avroJSONAccount, `"occurred_at":1772359200000`, `"occurred_at":"2026-03-01T10:00:00Z"`, 1), "field metadata.occurred_at: want milliseconds", JSONAvro},
		{"not an object", `[1]`, "value: want an object", JSONPlain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJSON(schema, []byte(tc.doc), tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseJSON error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := ParseJSONFormat("xml"); err == nil {
		t.Error("ParseJSONFormat(xml) succeeded")
	}
}
