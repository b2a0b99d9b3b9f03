package contracts_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
)

// filler sets every field of a generated value from its Avro schema, each
// with a distinct value, so a round trip proves every field survives.
type filler struct{ n int }

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(t *testing.T, v reflect.Value, s avro.Schema) {
	t.Helper()
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	switch st := s.(type) {
	case *avro.RecordSchema:
		byTag := map[string]reflect.Value{}
		for i := 0; i < v.NumField(); i++ {
			byTag[v.Type().Field(i).Tag.Get("avro")] = v.Field(i)
		}
		if len(byTag) != len(st.Fields()) {
			t.Fatalf("%s: Go type %s has %d fields, schema %d", st.FullName(), v.Type(), len(byTag), len(st.Fields()))
		}
		for _, fd := range st.Fields() {
			fv, ok := byTag[fd.Name()]
			if !ok {
				t.Fatalf("%s: Go type %s has no field for %s", st.FullName(), v.Type(), fd.Name())
			}
			f.fill(t, fv, fd.Type())
		}
	case *avro.EnumSchema:
		syms := st.Symbols()
		v.SetString(syms[f.next()%len(syms)])
	case *avro.UnionSchema:
		if !st.Nullable() || v.Kind() != reflect.Pointer {
			t.Fatalf("only nullable unions are used; got %s", st)
		}
		p := reflect.New(v.Type().Elem())
		for _, e := range st.Types() {
			if e.Type() != avro.Null {
				f.fill(t, p.Elem(), e)
			}
		}
		v.Set(p)
	case *avro.ArraySchema:
		sl := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(t, sl.Index(i), st.Items())
		}
		v.Set(sl)
	case *avro.MapSchema:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(t, e, st.Values())
			m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%d", f.next())), e)
		}
		v.Set(m)
	case *avro.PrimitiveSchema:
		n := f.next()
		var logical avro.LogicalType
		if ls := st.Logical(); ls != nil {
			logical = ls.Type()
		}
		switch {
		case logical == avro.UUID:
			v.SetString(fmt.Sprintf("00000000-0000-4000-8000-%012d", n))
		case logical == avro.Date:
			v.Set(reflect.ValueOf(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n)))
		case logical == avro.TimestampMillis:
			v.Set(reflect.ValueOf(time.UnixMilli(1_750_000_000_000 + int64(n)).UTC()))
		case st.Type() == avro.String:
			v.SetString(fmt.Sprintf("s%d", n))
		case st.Type() == avro.Int || st.Type() == avro.Long:
			v.SetInt(int64(n))
		case st.Type() == avro.Boolean:
			v.SetBool(true)
		default:
			t.Fatalf("unexpected primitive %s", st.Type())
		}
	default:
		t.Fatalf("unexpected schema %T", s)
	}
}

func TestEveryTopicRoundTrips(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var avroTopics []string
	for _, tp := range cat.Topics() {
		if tp.IsAvro() {
			avroTopics = append(avroTopics, tp.Name)
		}
	}
	if diff := cmp.Diff(avroTopics, contracts.Topics()); diff != "" {
		t.Fatalf("contracts.Topics differs from the catalog; run make generate-contracts (-catalog +contracts):\n%s", diff)
	}
	for _, tp := range cat.Topics() {
		if !tp.IsAvro() {
			continue
		}
		t.Run(tp.Name, func(t *testing.T) {
			in, err := contracts.NewValue(tp.Name)
			if err != nil {
				t.Fatal(err)
			}
			// The generated type's schema is the catalog's schema.
			if in.Schema().Fingerprint() != tp.Schema.Fingerprint() {
				t.Fatalf("generated schema of %T differs from the catalog; run make generate-contracts", in)
			}
			(&filler{}).fill(t, reflect.ValueOf(in).Elem(), tp.Schema)
			b, err := in.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			out, _ := contracts.NewValue(tp.Name)
			if err := out.Unmarshal(b); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(in, out); diff != "" {
				t.Errorf("round trip (-in +out):\n%s", diff)
			}
			// Decoding with the catalog's standalone schema gives the same.
			again, _ := contracts.NewValue(tp.Name)
			if err := avro.Unmarshal(tp.Schema, b, again); err != nil {
				t.Fatalf("Unmarshal with catalog schema: %v", err)
			}
			if diff := cmp.Diff(in, again); diff != "" {
				t.Errorf("catalog-schema decode (-in +out):\n%s", diff)
			}
		})
	}
}

func TestNewValue(t *testing.T) {
	v, err := contracts.NewValue(contracts.TopicCRMAccountV1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*contracts.Account); !ok {
		t.Errorf("crm.account.v1 value is %T, want *contracts.Account", v)
	}
	if _, err := contracts.NewValue(contracts.TopicDlqGatewayV1); err == nil || !strings.Contains(err.Error(), "raw bytes") {
		t.Errorf("DLQ topic: %v", err)
	}
	if _, err := contracts.NewValue("crm.nope.v1"); err == nil || !strings.Contains(err.Error(), `unknown topic "crm.nope.v1"`) {
		t.Errorf("unknown topic: %v", err)
	}
}

func ExampleNewValue() {
	q := &contracts.Quote{QuoteID: "Q-1", Status: contracts.QuoteStatusAccepted,
		Total: contracts.Money{AmountMinor: 12345, Currency: "USD"}}
	fmt.Println(q.Status, q.Total.AmountMinor, q.Total.Currency)
	// Output: ACCEPTED 12345 USD
}

func TestDeref(t *testing.T) {
	s, n := "EUR", 7
	if contracts.Deref(&s) != "EUR" || contracts.Deref((*string)(nil)) != "" || contracts.Deref(&n) != 7 || contracts.Deref((*int)(nil)) != 0 {
		t.Fatal("Deref")
	}
}

func TestEnumSymbols(t *testing.T) {
	if got := contracts.EnumSymbols(&contracts.ReconBreak{}, "kind"); len(got) == 0 || got[0] != contracts.BreakKindOther || got[len(got)-1] != contracts.BreakKindReturnNotCredited {
		t.Errorf("BreakKind symbols %v", got)
	}
	if got := contracts.EnumSymbols(&contracts.OrderLifecycle{}, "previous_state"); len(got) == 0 || got[0] != contracts.OrderStateUnknown {
		t.Errorf("nullable OrderState symbols %v", got)
	}
	if got := contracts.EnumSymbols(&contracts.ReconBreak{}, "description"); got != nil {
		t.Errorf("a string field has symbols %v", got)
	}
}

func TestFieldServiceJournalID(t *testing.T) {
	for _, tt := range []struct {
		caseID, kind string
		attempt      int
		want         string
	}{
		{"CASE-1", "SERVICE_COST", 0, "FS/CASE-1/SERVICE_COST"},
		{"a/b c", "CREDIT", 2, "FS/a%2Fb%20c/CREDIT/r2"},
	} {
		id := contracts.FieldServiceJournalID(tt.caseID, tt.kind, tt.attempt)
		if id != tt.want {
			t.Errorf("FieldServiceJournalID = %q, want %q", id, tt.want)
		}
		c, k, n, ok := contracts.ParseFieldServiceJournalID(id)
		if !ok || c != tt.caseID || k != tt.kind || n != tt.attempt {
			t.Errorf("Parse(%q) = %q %q %d %v", id, c, k, n, ok)
		}
	}
	for _, bad := range []string{"JE/C-1/INVOICE", "FS/", "FS/C-1", "FS//CREDIT", "FS/C-1/CREDIT/r0", "FS/C-1/CREDIT/x1", "FS/C-1/CREDIT/r1/x", "FS/a%2/CREDIT"} {
		if _, _, _, ok := contracts.ParseFieldServiceJournalID(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// Every topic value has event metadata, and MetadataOf reaches it.
func TestMetadataOf(t *testing.T) {
	for _, topic := range contracts.Topics() {
		v, err := contracts.NewValue(topic)
		if err != nil {
			t.Fatal(err)
		}
		md := contracts.MetadataOf(v)
		if md == nil {
			t.Errorf("%s: no metadata", topic)
			continue
		}
		md.EventID = "e-" + topic
		if again := contracts.MetadataOf(v); again.EventID != "e-"+topic {
			t.Errorf("%s: MetadataOf is not the value's own metadata", topic)
		}
	}
	if contracts.MetadataOf(&contracts.EventMetadata{}) != nil || contracts.MetadataOf(nil) != nil || contracts.MetadataOf((*contracts.Account)(nil)) != nil {
		t.Error("metadata of a value without one")
	}
}
