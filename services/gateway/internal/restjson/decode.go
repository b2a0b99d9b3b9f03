package restjson

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// NewDecoder reads a request body. The common shape of a request — an object
// of known fields (JSON or proto names) holding plain strings, integers,
// booleans, enum names, nested objects and arrays of them — is decoded
// directly; anything else (escapes in strings, null, floats, bytes, maps,
// well-known types, unknown or repeated fields, a second oneof member, numbers
// in other spellings, more after the object) goes to grpc-gateway's own JSONPb
// decoder, which then accepts or refuses it exactly as it always has.
func (m *Marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		msg, ok := v.(proto.Message)
		if !ok {
			return m.JSONPb.NewDecoder(r).Decode(v)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if decodeFast(body, msg) {
			return nil
		}
		return m.JSONPb.NewDecoder(bytes.NewReader(body)).Decode(v)
	})
}

// decodeFast decodes body into msg when it has the common shape; false
// leaves msg reset, for the fallback.
func decodeFast(body []byte, msg proto.Message) bool {
	proto.Reset(msg)
	d := decoder{b: body}
	d.space()
	if !d.object(msg.ProtoReflect()) {
		proto.Reset(msg)
		return false
	}
	d.space()
	if d.i != len(d.b) {
		proto.Reset(msg)
		return false
	}
	return true
}

type decoder struct {
	b     []byte
	i     int
	depth int
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// str reads a string without escapes, valid UTF-8.
func (d *decoder) str() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	start := d.i + 1
	j := bytes.IndexByte(d.b[start:], '"')
	if j < 0 {
		return "", false
	}
	s := d.b[start : start+j]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return "", false
	}
	for _, c := range s {
		if c < 0x20 {
			return "", false
		}
	}
	d.i = start + j + 1
	return string(s), true
}

// integer reads digits with an optional minus, bare or quoted, no leading
// zeros, no fraction or exponent.
func (d *decoder) integer() (string, bool) {
	quoted := d.peek() == '"'
	if quoted {
		d.i++
	}
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.b[digits] == '0' {
		return "", false
	}
	s := string(d.b[start:d.i])
	if s == "-0" {
		return "", false
	}
	if quoted {
		if d.peek() != '"' {
			return "", false
		}
		d.i++
	} else if c := d.peek(); c == '.' || c == 'e' || c == 'E' {
		return "", false
	}
	return s, true
}

func (d *decoder) literal(word string) bool {
	if bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		d.i += len(word)
		return true
	}
	return false
}

func (d *decoder) object(m protoreflect.Message) bool {
	if d.depth++; d.depth > 32 {
		return false
	}
	defer func() { d.depth-- }()
	md := m.Descriptor()
	if md.FullName().Parent() == "google.protobuf" || md.ExtensionRanges().Len() > 0 {
		return false
	}
	if d.peek() != '{' {
		return false
	}
	d.i++
	d.space()
	if d.peek() == '}' {
		d.i++
		return true
	}
	fds := md.Fields()
	var seen [64]bool
	var oneofs [8]bool
	for {
		d.space()
		name, ok := d.str()
		if !ok {
			return false
		}
		fd := fds.ByJSONName(name)
		if fd == nil {
			fd = fds.ByTextName(name)
		}
		if fd == nil || fd.Index() >= len(seen) || seen[fd.Index()] || fd.IsMap() {
			return false // unknown, repeated, or a map: the fallback decides
		}
		seen[fd.Index()] = true
		if od := fd.ContainingOneof(); od != nil {
			if od.Index() >= len(oneofs) || oneofs[od.Index()] {
				return false
			}
			oneofs[od.Index()] = true
		}
		d.space()
		if d.peek() != ':' {
			return false
		}
		d.i++
		d.space()
		if !d.field(m, fd) {
			return false
		}
		d.space()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *decoder) field(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if !fd.IsList() {
		if fd.Kind() == protoreflect.MessageKind {
			return d.object(m.Mutable(fd).Message())
		}
		v, ok := d.scalar(fd)
		if ok {
			m.Set(fd, v)
		}
		return ok
	}
	if d.peek() != '[' {
		return false
	}
	d.i++
	l := m.Mutable(fd).List()
	d.space()
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		d.space()
		if fd.Kind() == protoreflect.MessageKind {
			e := l.NewElement()
			if !d.object(e.Message()) {
				return false
			}
			l.Append(e)
		} else {
			v, ok := d.scalar(fd)
			if !ok {
				return false
			}
			l.Append(v)
		}
		d.space()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *decoder) scalar(fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, ok := d.str()
		return protoreflect.ValueOfString(s), ok
	case protoreflect.BoolKind:
		switch {
		case d.literal("true"):
			return protoreflect.ValueOfBool(true), true
		case d.literal("false"):
			return protoreflect.ValueOfBool(false), true
		}
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			break
		}
		s, ok := d.str()
		if !ok {
			break
		}
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), true
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		s, ok := d.integer()
		if n, err := strconv.ParseInt(s, 10, 32); ok && err == nil {
			return protoreflect.ValueOfInt32(int32(n)), true
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		s, ok := d.integer()
		if n, err := strconv.ParseInt(s, 10, 64); ok && err == nil {
			return protoreflect.ValueOfInt64(n), true
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		s, ok := d.integer()
		if n, err := strconv.ParseUint(s, 10, 32); ok && err == nil && n <= math.MaxUint32 {
			return protoreflect.ValueOfUint32(uint32(n)), true
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s, ok := d.integer()
		if n, err := strconv.ParseUint(s, 10, 64); ok && err == nil {
			return protoreflect.ValueOfUint64(n), true
		}
	}
	return protoreflect.Value{}, false // floats, bytes and the rest: the fallback
}
