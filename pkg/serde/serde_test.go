package serde

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
)

// accountV1 and accountV2 are two versions of one record; v2 adds an
// optional field and an enum symbol, a BACKWARD-compatible change.
var (
	schemaV1 = avro.MustParse(`{"type":"record","name":"Account","namespace":"serdetest","fields":[
		{"name":"id","type":"string"},
		{"name":"name","type":"string"},
		{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["UNKNOWN","GOLD","SILVER"],"default":"UNKNOWN"}},
		{"name":"credit_limit_minor","type":"long"},
		{"name":"currency","type":"string"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"tax_id","type":["null","string"],"default":null}
	]}`)
	schemaV2 = avro.MustParse(`{"type":"record","name":"Account","namespace":"serdetest","fields":[
		{"name":"id","type":"string"},
		{"name":"name","type":"string"},
		{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["UNKNOWN","GOLD","SILVER","BRONZE"],"default":"UNKNOWN"}},
		{"name":"credit_limit_minor","type":"long"},
		{"name":"currency","type":"string"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"tax_id","type":["null","string"],"default":null},
		{"name":"region","type":"string","default":"EMEA"}
	]}`)
)

type AccountV1 struct {
	ID               string   `avro:"id"`
	Name             string   `avro:"name"`
	Tier             string   `avro:"tier"`
	CreditLimitMinor int64    `avro:"credit_limit_minor"`
	Currency         string   `avro:"currency"`
	Tags             []string `avro:"tags"`
	TaxID            *string  `avro:"tax_id"`
}

func (*AccountV1) Schema() avro.Schema { return schemaV1 }

type AccountV2 struct {
	ID               string   `avro:"id"`
	Name             string   `avro:"name"`
	Tier             string   `avro:"tier"`
	CreditLimitMinor int64    `avro:"credit_limit_minor"`
	Currency         string   `avro:"currency"`
	Tags             []string `avro:"tags"`
	TaxID            *string  `avro:"tax_id"`
	Region           string   `avro:"region"`
}

func (*AccountV2) Schema() avro.Schema { return schemaV2 }

func sample() *AccountV1 {
	tax := "DE811907980"
	return &AccountV1{ID: "acc-42", Name: "Acme GmbH", Tier: "GOLD", CreditLimitMinor: 5_000_000, Currency: "EUR", Tags: []string{"key", "emea"}, TaxID: &tax}
}

// harness is the in-process registry with a request counter.
type harness struct {
	srv      *httptest.Server
	cl       *sr.Client
	requests atomic.Int64
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	reg, err := schemaregistry.New()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.cl, err = sr.NewClient(sr.URLs(h.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) register(t testing.TB, topic string, s avro.Schema) int {
	t.Helper()
	text, err := SchemaText(s)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.cl.RegisterSchema(context.Background(), Subject(topic), sr.Schema{Schema: text}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRoundTripLookupOnly(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := h.register(t, "crm.account.v1", schemaV1)
	s := New(h.cl)
	in := sample()
	data, err := s.Encode(ctx, "crm.account.v1", in)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 0 {
		t.Fatalf("magic %d", data[0])
	}
	if got, _ := ID(data); int(got) != id {
		t.Fatalf("id in payload %d, registered %d", got, id)
	}
	plain, _ := avro.Marshal(schemaV1, in)
	if diff := cmp.Diff(plain, data[HeaderSize:]); diff != "" {
		t.Fatalf("body differs from avro.Marshal (-want +got):\n%s", diff)
	}
	var out AccountV1
	if err := s.Decode(ctx, data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, &out); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// Ids and writer schemas are cached: no more registry traffic.
	before := h.requests.Load()
	for range 10 {
		d, err := s.Encode(ctx, "crm.account.v1", in)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Decode(ctx, d, &out); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.requests.Load() - before; n != 0 {
		t.Fatalf("%d registry requests after warm-up, want 0", n)
	}
}

func TestEncodeNotRegistered(t *testing.T) {
	h := newHarness(t)
	_, err := New(h.cl).Encode(context.Background(), "crm.account.v1", sample())
	assertClass(t, err, errs.ClassRetriable, string(errs.ReasonSchemaNotRegistered))
	if !strings.Contains(err.Error(), "crm.account.v1-value") {
		t.Errorf("error does not name the subject: %v", err)
	}
}

func TestEncodeAutoRegister(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := New(h.cl, AutoRegister(true))
	data, err := s.Encode(ctx, "dev.crm.account.v1", sample())
	if err != nil {
		t.Fatal(err)
	}
	vs, err := h.cl.SubjectVersions(ctx, "dev.crm.account.v1-value")
	if err != nil || len(vs) != 1 {
		t.Fatalf("subject versions %v %v", vs, err)
	}
	var out AccountV1
	if err := New(h.cl).Decode(ctx, data, &out); err != nil {
		t.Fatal(err)
	}
	// A BACKWARD-incompatible value type is refused by the registry.
	_, err = s.Encode(ctx, "dev.crm.account.v1", &intAccount{ID: 1})
	assertClass(t, err, errs.ClassRetriable, string(errs.ReasonSchemaRejected))
}

// intAccount changes the type of id: incompatible with AccountV1 both ways.
type intAccount struct {
	ID int `avro:"id"`
}

var intAccountSchema = avro.MustParse(`{"type":"record","name":"Account","namespace":"serdetest","fields":[{"name":"id","type":"int"}]}`)

func (*intAccount) Schema() avro.Schema { return intAccountSchema }

func TestDecodeOldVersionIntoNewType(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.register(t, "crm.account.v1", schemaV1)
	s := New(h.cl)
	old, err := s.Encode(ctx, "crm.account.v1", sample())
	if err != nil {
		t.Fatal(err)
	}
	h.register(t, "crm.account.v1", schemaV2) // compatible change
	var got AccountV2
	if err := s.Decode(ctx, old, &got); err != nil {
		t.Fatal(err)
	}
	in := sample()
	want := AccountV2{ID: in.ID, Name: in.Name, Tier: in.Tier, CreditLimitMinor: in.CreditLimitMinor, Currency: in.Currency, Tags: in.Tags, TaxID: in.TaxID, Region: "EMEA"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("v1 data as v2 (-want +got):\n%s", diff)
	}
	// And v2 data into the v1 type (forward direction) drops the new field.
	v2 := &AccountV2{ID: "a", Name: "n", Tier: "GOLD", Currency: "USD", Tags: []string{}, Region: "APAC"}
	data, err := s.Encode(ctx, "crm.account.v1", v2)
	if err != nil {
		t.Fatal(err)
	}
	var back AccountV1
	if err := s.Decode(ctx, data, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != "a" || back.Tier != "GOLD" {
		t.Fatalf("v2 data as v1: %+v", back)
	}
}

func TestDecodeIncompatibleWriter(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.register(t, "other", intAccountSchema)
	data, err := New(h.cl).Encode(ctx, "other", &intAccount{ID: 7})
	if err != nil {
		t.Fatal(err)
	}
	err = New(h.cl).Decode(ctx, data, &AccountV1{})
	assertClass(t, err, errs.ClassPoison, string(errs.ReasonSchemaIncompatible))
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := h.register(t, "crm.account.v1", schemaV1)
	s := New(h.cl)
	tests := []struct {
		name   string
		data   []byte
		class  errs.Class
		reason string
	}{
		{"empty", nil, errs.ClassPoison, "truncated"},
		{"short header", []byte{0, 0, 0}, errs.ClassPoison, "truncated"},
		{"bad magic", []byte{1, 0, 0, 0, byte(id), 2, 'a'}, errs.ClassPoison, "bad-magic"},
		{"json instead of avro", []byte(`{"id":"x"}`), errs.ClassPoison, "bad-magic"},
		{"unknown id", []byte{0, 0, 0, 0x30, 0x39, 2, 'a'}, errs.ClassPoison, "unknown-schema-id"},
		{"garbage body", []byte{0, 0, 0, 0, byte(id), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, errs.ClassPoison, string(errs.ReasonAvroDecode)},
		{"body cut short", []byte{0, 0, 0, 0, byte(id), 12, 'a', 'c'}, errs.ClassPoison, string(errs.ReasonAvroDecode)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertClass(t, s.Decode(ctx, tt.data, &AccountV1{}), tt.class, tt.reason)
		})
	}
}

func TestRegistryUnavailable(t *testing.T) {
	ctx := context.Background()
	// 5xx answers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error_code":50003,"message":"Error while forwarding the request to the leader"}`))
	}))
	defer srv.Close()
	cl, _ := sr.NewClient(sr.URLs(srv.URL))
	s := New(cl)
	assertClass(t, s.Decode(ctx, []byte{0, 0, 0, 0, 1, 0}, &AccountV1{}), errs.ClassRetriable, string(errs.ReasonRegistryUnavailable))
	_, err := s.Encode(ctx, "t", sample())
	assertClass(t, err, errs.ClassRetriable, string(errs.ReasonRegistryUnavailable))

	// Nothing listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cl, _ = sr.NewClient(sr.URLs(dead.URL))
	assertClass(t, New(cl).Decode(ctx, []byte{0, 0, 0, 0, 1, 0}, &AccountV1{}), errs.ClassRetriable, string(errs.ReasonRegistryUnavailable))

	// A 404 that is not the registry's "schema not found" (a wrong path or
	// ingress) is the deployment's fault, not the record's.
	misrouted := httptest.NewServer(http.NotFoundHandler())
	defer misrouted.Close()
	cl, _ = sr.NewClient(sr.URLs(misrouted.URL))
	assertClass(t, New(cl).Decode(ctx, []byte{0, 0, 0, 0, 1, 0}, &AccountV1{}), errs.ClassRetriable, string(errs.ReasonRegistryUnavailable))
}

func TestEncodeInvalidValue(t *testing.T) {
	h := newHarness(t)
	h.register(t, "crm.account.v1", schemaV1)
	bad := sample()
	bad.Tier = "PLATINUM" // not a symbol
	_, err := New(h.cl).Encode(context.Background(), "crm.account.v1", bad)
	assertClass(t, err, errs.ClassPoison, string(errs.ReasonAvroEncode))
}

func assertClass(t *testing.T, err error, class errs.Class, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s/%s error, got nil", class, reason)
	}
	if c, r := errs.ClassOf(err), errs.ReasonOf(err); c != class || r != reason {
		t.Fatalf("got %s/%s (%v), want %s/%s", c, r, err, class, reason)
	}
	if class == errs.ClassPoison && !errors.Is(err, errs.ErrPoison) {
		t.Fatalf("errors.Is(err, ErrPoison) = false")
	}
}
