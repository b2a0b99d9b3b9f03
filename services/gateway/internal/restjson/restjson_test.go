package restjson

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	typev1 "github.com/isthmus/isthmus/pkg/api/isthmus/type/v1"
)

// served are the request and response types of every method the REST face
// serves, found from the service descriptors (a new method is covered as
// soon as it is declared).
func served(t *testing.T) []protoreflect.MessageType {
	t.Helper()
	var out []protoreflect.MessageType
	seen := map[protoreflect.FullName]bool{}
	for _, fd := range []protoreflect.FileDescriptor{pricingv1.File_isthmus_pricing_v1_pricing_proto, creditv1.File_isthmus_credit_v1_credit_proto,
		inventoryv1.File_isthmus_inventory_v1_inventory_proto, customerv1.File_isthmus_customer_v1_customer_proto} {
		for i := range fd.Services().Len() {
			ms := fd.Services().Get(i).Methods()
			for j := range ms.Len() {
				for _, md := range []protoreflect.MessageDescriptor{ms.Get(j).Input(), ms.Get(j).Output()} {
					if seen[md.FullName()] {
						continue
					}
					seen[md.FullName()] = true
					mt, err := protoregistryType(md)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, mt)
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d message types", len(out))
	}
	return out
}

func protoregistryType(md protoreflect.MessageDescriptor) (protoreflect.MessageType, error) {
	return protoTypes.FindMessageByName(md.FullName())
}

var texts = []string{"", "a", "ACME GmbH", "Zürich – Straße", "quote\"and\\slash", "line\nbreak\ttab\x01\x1f", "</script>&<", "日本語", "emoji 🚀", "\u2028\u2029"}

// fill sets a random subset of m's fields to random values, depth-bounded.
func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		m.Set(fds.ByNumber(1), protoreflect.ValueOfInt64(r.Int64N(4_000_000_000)-1_000_000_000))
		m.Set(fds.ByNumber(2), protoreflect.ValueOfInt32(int32([]int64{0, 5_000_000, 123_000, 7, 999_999_999}[r.IntN(5)])))
		return
	case "google.protobuf.Duration":
		s := r.Int64N(100_000) - 50_000
		n := int32([]int64{0, 500_000_000, 1_000, 3}[r.IntN(4)])
		if s < 0 {
			n = -n
		}
		m.Set(fds.ByNumber(1), protoreflect.ValueOfInt64(s))
		m.Set(fds.ByNumber(2), protoreflect.ValueOfInt32(n))
		return
	}
	for i := range fds.Len() {
		fd := fds.Get(i)
		if r.IntN(3) == 0 || (fd.Kind() == protoreflect.MessageKind && depth > 4) {
			continue // unpopulated
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fill(r, e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(r, fd))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				k := scalar(r, fd.MapKey()).MapKey()
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					v := mp.NewValue()
					fill(r, v.Message(), depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, scalar(r, fd.MapValue()))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			fill(r, m.Mutable(fd).Message(), depth+1)
		default:
			m.Set(fd, scalar(r, fd))
		}
	}
}

func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -7, math.MaxInt32, math.MinInt32}[r.IntN(5)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 3, math.MaxUint32}[r.IntN(3)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 42, -1250, math.MaxInt64, math.MinInt64, r.Int64()}[r.IntN(6)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 9, math.MaxUint64}[r.IntN(3)])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{0, 0.5, -1.25e-7, 3.4e38, 1e21, 123456.789}[r.IntN(6)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, 0.97, -2.5e-9, 1e300, 1e21, 0.1 + 0.2, math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(9)])
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(texts[r.IntN(len(texts))])
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(texts[r.IntN(len(texts))]))
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if r.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(99) // a number this build does not know
		}
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	}
	panic("kind " + fd.Kind().String())
}

// sameJSON compares two documents as JSON values.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: restjson wrote invalid JSON %v:\n%s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: protojson: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s differs from protojson\n got %s\nwant %s", what, got, want)
	}
}

func TestSameAsProtojson(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pj := protojson.MarshalOptions{EmitUnpopulated: true}
	// The error details the REST face may put in a google.rpc.Status (maps,
	// Duration) besides the served types.
	details := []protoreflect.MessageType{
		(&errdetails.ErrorInfo{}).ProtoReflect().Type(), (&errdetails.RetryInfo{}).ProtoReflect().Type(),
		(&errdetails.BadRequest{}).ProtoReflect().Type(), (&errdetails.QuotaFailure{}).ProtoReflect().Type(),
		(&errdetails.PreconditionFailure{}).ProtoReflect().Type(), (&errdetails.ResourceInfo{}).ProtoReflect().Type(),
	}
	for _, mt := range append(served(t), details...) {
		for i := range 300 {
			m := mt.New()
			if i > 0 { // the first one empty
				fill(r, m, 0)
			}
			got, err := Marshal(m.Interface())
			if err != nil {
				t.Fatalf("%s: %v", mt.Descriptor().FullName(), err)
			}
			want, err := pj.Marshal(m.Interface())
			if err != nil {
				t.Fatalf("%s: protojson: %v", mt.Descriptor().FullName(), err)
			}
			sameJSON(t, string(mt.Descriptor().FullName()), got, want)
		}
	}
}

// TestErrorBody: the error body (google.rpc.Status with Any details) is the
// same as protojson's.
func TestErrorBody(t *testing.T) {
	d, err := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "lines[0].quantity", Description: "must be positive"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := &spb.Status{Code: 3, Message: "invalid request", Details: []*anypb.Any{d}}
	got, err := New().Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st)
	sameJSON(t, "status", got, want)
	if !strings.Contains(string(got), `"@type":"type.googleapis.com/google.rpc.BadRequest"`) {
		t.Fatalf("details lost their type: %s", got)
	}
}

// TestLeftToProtojson: what protojson refuses it still refuses, with its error.
func TestLeftToProtojson(t *testing.T) {
	bad := []proto.Message{
		&pricingv1.PriceQuoteResponse{Region: "\xff"},                                                   // invalid UTF-8
		&typev1.Freshness{AsOf: &timestamppb.Timestamp{Seconds: 1 << 40}},                               // year beyond 9999
		&typev1.Freshness{Lag: &durationpb.Duration{Seconds: 5, Nanos: -1}},                             // signs differ
		&pricingv1.PriceQuoteResponse{Lines: []*pricingv1.PricedLine{{Sku: "ok", PriceBookId: "\xc3"}}}, // nested
	}
	for _, m := range bad {
		_, err := Marshal(m)
		_, want := protojson.Marshal(m)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%T: error %v, protojson's %v", m, err, want)
		}
	}
}

// TestPlainValues: values that are not messages go to JSONPb.
func TestPlainValues(t *testing.T) {
	b, err := New().Marshal(map[string]int{"a": 1})
	if err != nil || string(b) != `{"a":1}` {
		t.Fatalf("%s %v", b, err)
	}
}

func quote() *pricingv1.PriceQuoteResponse {
	r := &pricingv1.PriceQuoteResponse{ErpCustomerId: "C1", CurrencyCode: "USD", Region: "NA", PriceBookVersion: 1772359200000,
		Subtotal: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 1234567}, TaxTotal: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 101851},
		GrandTotal: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 1336418},
		Freshness:  &typev1.Freshness{AsOf: timestamppb.Now(), Lag: durationpb.New(1500000)}}
	for i := range 5 {
		r.Lines = append(r.Lines, &pricingv1.PricedLine{LineNumber: int32(i + 1), Sku: "S1", Quantity: 25, ListPrice: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 1000},
			VolumeTier: &pricingv1.VolumeTier{MinQuantity: 10, UnitPrice: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 900}}, CustomerDiscountBps: 1250, PriceBookId: "PB-NA-USD",
			NetUnitPrice: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 788}, LineTotal: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 19700}, TaxRateBps: 825,
			Tax: &typev1.Money{CurrencyCode: "USD", UnitsMinor: 1625}})
	}
	return r
}

func BenchmarkQuoteResponse(b *testing.B) {
	m := quote()
	b.Run("restjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		o := protojson.MarshalOptions{EmitUnpopulated: true}
		for b.Loop() {
			if _, err := o.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var protoTypes = protoregistry.GlobalTypes

// TestTypedSameAsPlanned: the PriceQuote answer's typed encoder writes the
// planned encoder's bytes, for an empty answer and for every field filled
// at random (a field added to the messages and not to the typed encoder
// fails it), and hands what the JSON mapping refuses to protojson alike.
func TestTypedSameAsPlanned(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		m := &pricingv1.PriceQuoteResponse{}
		if i > 0 {
			fill(r, m.ProtoReflect(), 0)
		}
		typed, terr := appendPriceQuote(nil, m)
		planned, perr := appendMessage(nil, m.ProtoReflect())
		if (terr != nil) != (perr != nil) {
			t.Fatalf("answer %d: typed error %v, planned error %v", i, terr, perr)
		}
		if terr == nil && string(typed) != string(planned) {
			t.Fatalf("answer %d: typed encoder differs\n got %s\nwant %s", i, typed, planned)
		}
		got, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "PriceQuoteResponse", got, want)
	}
	bad := &pricingv1.PriceQuoteResponse{Lines: []*pricingv1.PricedLine{{Sku: "\xff"}}}
	if _, err := appendPriceQuote(nil, bad); err != errFallback {
		t.Fatalf("invalid UTF-8: %v, want the protojson fallback", err)
	}
}
