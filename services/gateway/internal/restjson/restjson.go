// Package restjson encodes the REST face's responses: the JSON mapping of
// protobuf that grpc-gateway's default marshaler produces (protojson with
// unpopulated fields emitted, lowerCamelCase names), without protojson's
// per-call reflection cost. A message's fields are planned once per type; the
// values are read through protoreflect, so a field added to a proto is encoded
// without a change here.
//
// The output is the same JSON value protojson gives for every message the
// gateway serves (restjson_test.go compares them on randomly filled messages of
// every request and response type): unpopulated scalars as their zero value,
// unpopulated message fields as null, unset oneof members and proto3 optional
// fields left out, 64-bit integers as strings, enums by name, bytes in base64,
// Timestamp and Duration in their RFC 3339 and "1.5s" forms. Other well-known
// types, and anything protojson would refuse (invalid UTF-8, a timestamp out of
// range), are handed to protojson itself, so its errors stay its own.
package restjson

import (
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Marshaler is grpc-gateway's JSONPb (its defaults: unpopulated fields emitted,
// unknown request fields discarded) with the faster Marshal.
type Marshaler struct {
	runtime.JSONPb
}

// New returns the marshaler to register for every MIME type, wrapped as
// grpc-gateway's default is (google.api.HttpBody passes through).
func New() runtime.Marshaler {
	return &runtime.HTTPBodyMarshaler{Marshaler: &Marshaler{JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
	}}}
}

// Marshal encodes v: protobuf messages here, anything else as JSONPb does.
func (m *Marshaler) Marshal(v any) ([]byte, error) {
	msg, ok := v.(proto.Message)
	if !ok || m.Indent != "" || m.UseProtoNames || m.UseEnumNumbers || !m.EmitUnpopulated {
		return m.JSONPb.Marshal(v)
	}
	return Marshal(msg)
}

// Marshal encodes msg as protojson.MarshalOptions{EmitUnpopulated: true} does.
func Marshal(msg proto.Message) ([]byte, error) {
	m := msg.ProtoReflect()
	p := planOf(m.Descriptor())
	size := 512
	if p != nil {
		size = max(size, int(p.size.Load()))
	}
	var (
		b   []byte
		err error
	)
	if r, ok := msg.(*pricingv1.PriceQuoteResponse); ok && r != nil {
		b, err = appendPriceQuote(make([]byte, 0, size), r)
	} else {
		b, err = appendMessage(make([]byte, 0, size), m)
	}
	if err != nil {
		// Let protojson encode it and say what is wrong.
		return protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(msg)
	}
	if p != nil && len(b) > size && len(b) <= maxSizeHint {
		p.size.Store(int64(len(b)))
	}
	return b, nil
}

// maxSizeHint bounds the buffer a message type's largest answer so far makes
// Marshal start with: one answer of a megabyte does not make every later
// answer of its type take a megabyte.
const maxSizeHint = 64 << 10

// errFallback makes Marshal hand the message to protojson.
var errFallback = errors.New("restjson: left to protojson")

type field struct {
	fd    protoreflect.FieldDescriptor
	key   string // `"jsonName":`
	oneof bool   // in a oneof (real or proto3 optional): left out when unset
	null  bool   // unset is null (message fields, proto2 optional)
	sub   *plan  // message fields (and lists and map values of messages) of a plain type
}

// plan is how a message type is written; nil for the well-known types and
// types with extensions, which go their own way.
type plan struct {
	fields []field
	size   atomic.Int64 // the largest encoding so far (up to maxSizeHint): Marshal's first buffer, so one allocation
}

var plans sync.Map // protoreflect.MessageDescriptor -> *plan

// planOf returns md's plan, made once per type with the plans of the types it
// contains, and published only when complete.
func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md); ok {
		return p.(*plan)
	}
	made := map[protoreflect.MessageDescriptor]*plan{}
	p := build(md, made)
	for d, q := range made {
		plans.LoadOrStore(d, q)
	}
	return p
}

func build(md protoreflect.MessageDescriptor, made map[protoreflect.MessageDescriptor]*plan) *plan {
	if md.FullName().Parent() == "google.protobuf" || md.ExtensionRanges().Len() > 0 {
		return nil
	}
	if p, ok := plans.Load(md); ok {
		return p.(*plan)
	}
	if p, ok := made[md]; ok {
		return p // a type that contains itself
	}
	p := &plan{}
	made[md] = p
	fds := md.Fields()
	p.fields = make([]field, fds.Len())
	for i := range p.fields {
		fd := fds.Get(i)
		f := field{fd: fd, key: strconv.Quote(fd.JSONName()) + ":", oneof: fd.ContainingOneof() != nil, null: fd.HasPresence()}
		vd := fd
		if fd.IsMap() {
			vd = fd.MapValue()
		}
		if vd.Kind() == protoreflect.MessageKind || vd.Kind() == protoreflect.GroupKind {
			f.sub = build(vd.Message(), made)
		}
		p.fields[i] = f
	}
	return p
}

func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	p := planOf(m.Descriptor())
	if p == nil {
		return appendOther(b, m)
	}
	return appendPlanned(b, p, m)
}

func appendPlanned(b []byte, p *plan, m protoreflect.Message) ([]byte, error) {
	b = append(b, '{')
	first := true
	var err error
	for i := range p.fields {
		f := &p.fields[i]
		has := m.Has(f.fd)
		if !has && f.oneof {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.key...)
		if !has && f.null {
			b = append(b, "null"...)
			continue
		}
		if b, err = appendField(b, f, m.Get(f.fd)); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendField(b []byte, f *field, v protoreflect.Value) ([]byte, error) {
	fd := f.fd
	var err error
	switch {
	case fd.IsList():
		l := v.List()
		b = append(b, '[')
		for i := range l.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendSingular(b, fd, f.sub, l.Get(i)); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case fd.IsMap():
		return appendMap(b, fd, f.sub, v.Map())
	}
	return appendSingular(b, fd, f.sub, v)
}

func appendMap(b []byte, fd protoreflect.FieldDescriptor, sub *plan, mp protoreflect.Map) ([]byte, error) {
	type entry struct {
		key string
		k   protoreflect.MapKey
		v   protoreflect.Value
	}
	entries := make([]entry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{key: k.String(), k: k, v: v})
		return true
	})
	kfd := fd.MapKey()
	slices.SortFunc(entries, func(a, c entry) int { return compareKeys(kfd.Kind(), a.k, c.k) })
	b = append(b, '{')
	var err error
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if kfd.Kind() == protoreflect.StringKind && !utf8.ValidString(e.key) {
			return b, errFallback
		}
		b = appendString(b, e.key)
		b = append(b, ':')
		if b, err = appendSingular(b, fd.MapValue(), sub, e.v); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// compareKeys orders map keys as protojson does: numbers by value, the rest as text.
func compareKeys(k protoreflect.Kind, a, c protoreflect.MapKey) int {
	switch k {
	case protoreflect.BoolKind:
		ab, cb := a.Bool(), c.Bool()
		switch {
		case ab == cb:
			return 0
		case !ab:
			return -1
		}
		return 1
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return cmpOrdered(a.Int(), c.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return cmpOrdered(a.Uint(), c.Uint())
	}
	return strings.Compare(a.String(), c.String())
}

func cmpOrdered[T int64 | uint64](a, c T) int {
	switch {
	case a < c:
		return -1
	case a > c:
		return 1
	}
	return 0
}

func appendSingular(b []byte, fd protoreflect.FieldDescriptor, sub *plan, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		s := v.String()
		if !utf8.ValidString(s) {
			return b, errFallback
		}
		return appendString(b, s), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return append(b, "null"...), nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name())), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if sub != nil {
			return appendPlanned(b, sub, v.Message())
		}
		return appendOther(b, v.Message())
	}
	return b, errFallback
}

// appendFloat writes a number as the JSON mapping does: NaN and infinities as
// strings, exponent notation only for very small or very large magnitudes.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 {
		if bits == 32 {
			a = float64(float32(a))
		}
		if a < 1e-6 || a >= 1e21 {
			format = 'e'
		}
	}
	return strconv.AppendFloat(b, f, format, -1, bits)
}

const hex = "0123456789abcdef"

// appendString quotes a valid UTF-8 string: quote, backslash and control
// characters escaped, everything else as is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Timestamp and Duration limits of the JSON mapping.
const (
	minTimestamp = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestamp = 253402300799 // 9999-12-31T23:59:59Z
	maxDuration  = 315576000000
)

// appendOther writes the messages without a plan: Timestamp and Duration here,
// other well-known types and types with extensions by protojson.
func appendOther(b []byte, m protoreflect.Message) ([]byte, error) {
	fds := m.Descriptor().Fields()
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		secs, nanos := m.Get(fds.ByNumber(1)).Int(), m.Get(fds.ByNumber(2)).Int()
		if secs < minTimestamp || secs > maxTimestamp || nanos < 0 || nanos > 999_999_999 {
			return b, errFallback
		}
		b = append(b, '"')
		b = time.Unix(secs, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
		b = appendNanos(b, nanos)
		return append(b, 'Z', '"'), nil
	case "google.protobuf.Duration":
		secs, nanos := m.Get(fds.ByNumber(1)).Int(), m.Get(fds.ByNumber(2)).Int()
		if secs < -maxDuration || secs > maxDuration || nanos <= -1e9 || nanos >= 1e9 || secs > 0 && nanos < 0 || secs < 0 && nanos > 0 {
			return b, errFallback
		}
		b = append(b, '"')
		if secs < 0 || nanos < 0 {
			b = append(b, '-')
			secs, nanos = -secs, -nanos
		}
		b = strconv.AppendInt(b, secs, 10)
		b = appendNanos(b, nanos)
		return append(b, 's', '"'), nil
	}
	// Wrappers, Struct, Value, Any, FieldMask, Empty: protojson's own mapping.
	out, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m.Interface())
	if err != nil {
		return b, errFallback
	}
	return append(b, out...), nil
}

// appendNanos writes a fraction of a second with 0, 3, 6 or 9 digits, as the
// JSON mapping does.
func appendNanos(b []byte, nanos int64) []byte {
	if nanos == 0 {
		return b
	}
	digits := 9
	for _, d := range []struct {
		div    int64
		digits int
	}{{1_000_000, 3}, {1_000, 6}} {
		if nanos%d.div == 0 {
			nanos /= d.div
			digits = d.digits
			break
		}
	}
	s := strconv.FormatInt(nanos, 10)
	b = append(b, '.')
	for range digits - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
