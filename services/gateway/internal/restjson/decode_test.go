package restjson

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
)

// original is grpc-gateway's default decoding, the behaviour to keep.
func original(body []byte, m proto.Message) error {
	j := runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true}}
	return j.NewDecoder(bytes.NewReader(body)).Decode(m)
}

func ours(body []byte, m proto.Message) error {
	return New().NewDecoder(bytes.NewReader(body)).Decode(m)
}

func sameDecoding(t *testing.T, mt protoreflect.MessageType, body []byte) {
	t.Helper()
	got, want := mt.New().Interface(), mt.New().Interface()
	gerr, werr := ours(body, got), original(body, want)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("%s %q: error %v, grpc-gateway's %v", mt.Descriptor().FullName(), body, gerr, werr)
	}
	if gerr == nil && !proto.Equal(got, want) {
		t.Fatalf("%s %q:\n got %v\nwant %v", mt.Descriptor().FullName(), body, got, want)
	}
}

// TestDecodeSameAsGateway: every served type, randomly filled and written by
// protojson in its several styles, decodes to the message grpc-gateway's
// decoder gives, and the common shape is decoded directly.
func TestDecodeSameAsGateway(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast, total := 0, 0
	for _, mt := range served(t) {
		for i := range 300 {
			m := mt.New()
			if i > 0 {
				fill(r, m, 0)
			}
			o := protojson.MarshalOptions{UseProtoNames: r.IntN(3) == 0, EmitUnpopulated: r.IntN(3) == 0}
			if r.IntN(4) == 0 {
				o.Multiline, o.Indent = true, "  "
			}
			body, err := o.Marshal(m.Interface())
			if err != nil {
				t.Fatal(err)
			}
			sameDecoding(t, mt, body)
			total++
			if decodeFast(body, mt.New().Interface()) {
				fast++
			}
		}
	}
	if fast*4 < total {
		t.Fatalf("only %d of %d bodies took the direct path", fast, total)
	}
	t.Logf("%d of %d bodies decoded directly", fast, total)
}

// TestDecodeEdges: bodies at the edge of the common shape are accepted or
// refused exactly as grpc-gateway does, with its messages.
func TestDecodeEdges(t *testing.T) {
	quote := (&pricingv1.PriceQuoteRequest{}).ProtoReflect().Type()
	credit := (&creditv1.CheckCreditRequest{}).ProtoReflect().Type()
	dup := (&customerv1.CheckDuplicateRequest{}).ProtoReflect().Type()
	for _, c := range []struct {
		mt   protoreflect.MessageType
		body string
	}{
		{quote, `{"erpCustomerId":"C1","currencyCode":"USD","region":"NA","lines":[{"sku":"S1","quantity":"5"},{"sku":"S2","quantity":15}]}`},
		{quote, `{"erp_customer_id":"C1","currency_code":"USD","lines":[]}`},
		{quote, ` {"region" : "NA" ,"lines" : [ ] } ` + "\n"},
		{quote, `{"erpCustomerId":"C1","crmAccountId":"A1"}`},
		{quote, `{"region":"NA","region":"EU"}`},
		{quote, `{"currency_code":"USD","currencyCode":"EUR"}`},
		{quote, `{"lines":[{"sku":"S","quantity":5.0}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":1e2}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":"05"}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":-0}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":99999999999999999999}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":"-9223372036854775808"}]}`},
		{quote, `{"lines":[{"sku":"S","quantity":"12x"}]}`},
		{quote, `{"lines":[null]}`},
		{quote, `{"lines":{}}`},
		{quote, `{"region":"N\u0041"}`},
		{quote, `{"region":"tab	inside"}`},
		{quote, "{\"region\":\"\xff\"}"},
		{quote, `{"region":null}`},
		{quote, `{"region":5}`},
		{quote, `{"unknown":1,"region":"NA"}`},
		{quote, `{"region":"NA"} trailing`},
		{quote, `{"region":"NA"}{"region":"EU"}`},
		{quote, ``},
		{quote, `   `},
		{quote, `[]`},
		{quote, `{`},
		{quote, `{"region":}`},
		{quote, `{"region":"NA",}`},
		{quote, `"NA"`},
		{quote, `{}`},
		{credit, `{"erpCustomerId":"C1","amount":{"currencyCode":"USD","unitsMinor":"100"},"reserve":true,"orderId":"O1","idempotencyKey":"k"}`},
		{credit, `{"reserve":"true"}`},
		{credit, `{"reserve":truex}`},
		{credit, `{"reserve":1}`},
		{credit, `{"amount":null}`},
		{credit, `{"amount":{"unitsMinor":"1"},"amount":{"unitsMinor":"2"}}`},
		{dup, `{"account":{"name":"Acme GmbH","address":{"line1":"Weg 1","city":"Köln","postalCode":"50667","country":"DE"},"taxId":"DE123456789"},"maxCandidates":3}`},
		{dup, `{"account":{"name":"Acme"},"maxCandidates":"3"}`},
		{dup, `{"account":{"name":"Acme"},"maxCandidates":2147483648}`},
		{dup, `{"account":{"name":"Acme"},"maxCandidates":-1}`},
	} {
		sameDecoding(t, c.mt, []byte(c.body))
	}
}

func BenchmarkQuoteRequest(b *testing.B) {
	body := []byte(`{"erpCustomerId":"C1","currencyCode":"USD","region":"NA","lines":[{"sku":"S1","quantity":"5"},{"sku":"S2","quantity":"15"},{"sku":"S3","quantity":"25"},{"sku":"S4","quantity":"35"},{"sku":"S5","quantity":"45"}]}`)
	for name, dec := range map[string]func([]byte, proto.Message) error{"restjson": ours, "grpc-gateway": original} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m pricingv1.PriceQuoteRequest
				if err := dec(body, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
