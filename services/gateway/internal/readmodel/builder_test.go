package readmodel

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/processor/processortest"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// The builder reads its topics with a plain consumer; here its batches are
// handed to it directly (no broker), with Redis in miniredis and the dead
// letters kept in memory.

type builderKit struct {
	t      *testing.T
	b      *Builder
	store  *Store
	serde  *serde.Serde
	dlq    []*kgo.Record
	offset int64
}

func newBuilderKit(t *testing.T) *builderKit {
	t.Helper()
	sd := serde.New(processortest.Registry(t), serde.AutoRegister(true))
	store, _ := newStore(t)
	b, err := NewBuilder(store, kafka.Config{}, sd, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &builderKit{t: t, b: b, store: store, serde: sd}
}

func (k *builderKit) encode(topic string, v serde.Record) []byte {
	k.t.Helper()
	data, err := k.serde.Encode(context.Background(), topic, v)
	if err != nil {
		k.t.Fatalf("encode %s: %v", topic, err)
	}
	return data
}

// apply hands one record to the builder as the next of partition 0 of m's
// topic and returns the dead letters it wrote.
func (k *builderKit) apply(m Model, key string, value []byte) []*kgo.Record {
	k.t.Helper()
	ctx := context.Background()
	epoch, _, err := k.store.Begin(ctx, m, "e1")
	if err != nil {
		k.t.Fatal(err)
	}
	before := len(k.dlq)
	produce := func(_ context.Context, r *kgo.Record) error { k.dlq = append(k.dlq, r); return nil }
	r := &kgo.Record{Topic: string(m), Partition: 0, Offset: k.offset, Value: value}
	if key != "" {
		r.Key = []byte(key)
	}
	k.offset++
	p := &position{next: map[int32]int64{}, target: map[int32]int64{}, epoch: epoch}
	if err := k.b.apply(ctx, produce, m, p, 0, []*kgo.Record{r}); err != nil {
		k.t.Fatalf("apply %s/%s: %v", m, key, err)
	}
	if p.next[0] != r.Offset+1 {
		k.t.Errorf("%s: next offset %d after %d", m, p.next[0], r.Offset)
	}
	return k.dlq[before:]
}

// field is the stored value of field in m ("" when unset).
func (k *builderKit) field(m Model, field string) string {
	k.t.Helper()
	v, err := k.store.Redis().HGet(context.Background(), k.store.Data(m), field).Result()
	if err != nil {
		return ""
	}
	return v
}

func header(r *kgo.Record, key string) string {
	v, _ := tracing.Header(r.Headers, key)
	return v
}

var unitAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func usd(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }

func strp(s string) *string { return &s }

// modelCase is one topic the builder reads: a good record and the field it
// must set, and a record of valid Avro the model refuses ("" invalid when
// the model checks nothing beyond its schema).
type modelCase struct {
	m           Model
	key         string
	good        serde.Record
	field, want string // want: a fragment of the stored value (JSON)
	invalid     serde.Record
	reason      string
}

func modelCases() []modelCase {
	md := contracts.EventMetadata{EventID: "e1", CorrelationID: "c1", SourceSystem: contracts.SourceSystemERP, OccurredAt: unitAt}
	return []modelCase{
		{PriceBook, "W|NA|USD", &contracts.PriceBookEntry{Metadata: md, PriceBookID: "pb", PriceBookVersion: 1, SKU: "W", Region: "NA", Currency: "USD",
			ListPrice: usd(1000), VolumeTiers: []contracts.VolumeTier{{MinQuantity: 10, UnitPrice: usd(900)}}, Active: true},
			"W|NA|USD", `"list_price":1000`,
			&contracts.PriceBookEntry{Metadata: md, SKU: "W", Region: "NA", Currency: "USD", ListPrice: usd(1000),
				VolumeTiers: []contracts.VolumeTier{{MinQuantity: 10, UnitPrice: contracts.Money{AmountMinor: 900, Currency: "EUR"}}}}, "inconsistent_record"},
		{Credit, "C1", &contracts.CreditAccount{Metadata: md, ERPCustomerID: "C1", CreditLimit: usd(100000), ArBalance: usd(2), OpenOrders: usd(1),
			CreditStatus: contracts.CreditStatusActive, AsOf: unitAt}, "C1", `"limit":100000`,
			&contracts.CreditAccount{Metadata: md, ERPCustomerID: "C1", CreditLimit: usd(100000), ArBalance: contracts.Money{AmountMinor: 2, Currency: "EUR"},
				OpenOrders: usd(1), CreditStatus: contracts.CreditStatusActive}, "inconsistent_record"},
		{Inventory, "W|S1", &contracts.InventoryLevel{Metadata: md, SKU: "W", Site: "S1", OnHand: 10, Allocated: 2, AsOf: unitAt}, "W|S1", `"on_hand":10`, nil, ""},
		{Customer, "C1", &contracts.Customer{Metadata: md, Op: contracts.ChangeOperationUpsert, ERPCustomerID: "C1", CRMAccountID: strp("CRM1"), Name: "C1",
			CreditStatus: contracts.CreditStatusActive, Currency: strp("USD"), SourceUpdatedAt: unitAt}, "C1", `"crm_account_id":"CRM1"`, nil, ""},
		{Xref, "CRM:CRM1", &contracts.CrossReference{Metadata: md, System: contracts.SourceSystemCRM, SystemID: "CRM1", GoldenID: "G1",
			Status: contracts.XrefStatusActive, OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: "C1"}}},
			"CRM:CRM1", `"erp_ids":["C1"]`, nil, ""},
		{Contract, "K1", &contracts.Deal{Metadata: md, DealID: "d1", ContractID: "K1", DealType: contracts.DealTypeNew, AccountID: "A1", Currency: "USD",
			StartDate: unitAt, EndDate: unitAt.AddDate(1, 0, 0), BillingFrequency: contracts.BillingFrequencyMonthly, ClosedAt: unitAt},
			"K1", `"account_id":"A1"`, nil, ""},
		{Golden, "G1", &contracts.GoldenCustomer{Metadata: md, GoldenID: "G1", Version: 1, Status: contracts.GoldenStatusActive, Name: "Acme",
			CreditStatus: contracts.CreditStatusActive, ERPCustomerID: strp("C1"), Members: []contracts.SystemRef{{System: contracts.SourceSystemCRM, ID: "CRM1"}}},
			"G1", `"name":"Acme","features":{"Name":"acme"`,
			&contracts.GoldenCustomer{Metadata: md, Status: contracts.GoldenStatusActive, Name: "No id", CreditStatus: contracts.CreditStatusActive}, "inconsistent_record"},
		{Asset, "SN1", &contracts.Asset{Metadata: md, Serial: "SN1", SKU: "W", ERPCustomerID: "C1", Status: contracts.AssetStatusInstalled,
			InstallDate: unitAt, AsOf: unitAt}, "SN1", `"erp_customer_id":"C1"`, nil, ""},
	}
}

// Every topic the builder reads: a good record lands in its model, a
// tombstone removes it; bad bytes, an unknown schema id, a record of
// another contract, a tombstone without key and (where the model checks
// its records) invalid data are dead-lettered to dlq.gateway.v1 with their
// original bytes, and the next record is applied.
func TestBuilderAppliesEveryTopic(t *testing.T) {
	var covered []Model
	for _, tc := range modelCases() {
		covered = append(covered, tc.m)
		t.Run(string(tc.m), func(t *testing.T) {
			k := newBuilderKit(t)
			topic := string(tc.m)
			if dl := k.apply(tc.m, tc.key, k.encode(topic, tc.good)); len(dl) != 0 {
				t.Fatalf("good record dead-lettered: %s", header(dl[0], catalog.DLQHeaderErrorMessage))
			}
			got := k.field(tc.m, tc.field)
			if !strings.Contains(got, tc.want) {
				t.Fatalf("field %q = %q, want it to hold %s", tc.field, got, tc.want)
			}

			other := k.encode(contracts.TopicERPJournalV1, &contracts.Journal{Metadata: contracts.EventMetadata{EventID: "j", SourceSystem: contracts.SourceSystemERP, OccurredAt: unitAt},
				JournalCommandID: "j1", Status: contracts.JournalStatusPosted})
			bad := []struct {
				name   string
				key    string
				value  []byte
				reason string // "" any
			}{
				{"bad bytes", tc.key, []byte("not avro"), ""},
				{"unknown schema id", tc.key, []byte{0, 0, 0, 0x7a, 0x69, 2, 4}, ""},
				{"another contract", tc.key, other, ""},
				{"tombstone without key", "", nil, "tombstone_without_key"},
			}
			if tc.invalid != nil {
				bad = append(bad, struct {
					name   string
					key    string
					value  []byte
					reason string
				}{"invalid data", tc.key, k.encode(topic, tc.invalid), tc.reason})
			}
			for _, c := range bad {
				dl := k.apply(tc.m, c.key, c.value)
				if len(dl) != 1 {
					t.Fatalf("%s: %d dead letters, want 1", c.name, len(dl))
				}
				d := dl[0]
				if d.Topic != catalog.DLQTopic("gateway") || string(d.Value) != string(c.value) || header(d, catalog.DLQHeaderTopic) != topic ||
					header(d, catalog.DLQHeaderErrorClass) != "poison" {
					t.Errorf("%s: dead letter on %s, value %q, topic %q, class %q", c.name, d.Topic, d.Value, header(d, catalog.DLQHeaderTopic), header(d, catalog.DLQHeaderErrorClass))
				}
				if reason := header(d, catalog.DLQHeaderErrorReason); reason == "" || (c.reason != "" && reason != c.reason) {
					t.Errorf("%s: reason %q, want %q", c.name, reason, c.reason)
				}
			}
			if k.field(tc.m, tc.field) != got {
				t.Errorf("bad records changed the model: %q", k.field(tc.m, tc.field))
			}
			// the partition flows on: a tombstone of the key removes it
			if dl := k.apply(tc.m, tc.key, nil); len(dl) != 0 {
				t.Fatalf("tombstone dead-lettered: %s", header(dl[0], catalog.DLQHeaderErrorMessage))
			}
			if k.field(tc.m, tc.field) != "" {
				t.Errorf("tombstone kept %q", k.field(tc.m, tc.field))
			}
		})
	}
	for _, m := range append(append([]Model{Golden}, Models...), ServiceModels...) {
		if !slices.Contains(covered, m) {
			t.Errorf("no builder test for %s", m)
		}
	}
}
