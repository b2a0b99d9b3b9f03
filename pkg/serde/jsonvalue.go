package serde

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// JSONFormat is how a JSON document spells an Avro value.
type JSONFormat string

// JSON formats ParseJSON reads.
const (
	// JSONPlain is JSON shaped like the record: a union value is written as
	// it is (the first branch it fits is taken), timestamps are integer
	// milliseconds since the epoch or RFC 3339 strings, dates are
	// "YYYY-MM-DD", decimals are strings ("12.30"), bytes and fixed are
	// base64. The conventions of scripts/interop/avro_json.py.
	JSONPlain JSONFormat = "json"
	// JSONAvro is the Avro specification's JSON encoding: a non-null union
	// value is wrapped as {"<branch type name>": value}, timestamps are
	// integer milliseconds, dates integer days since the epoch, bytes and
	// fixed are strings of code points 0-255.
	JSONAvro JSONFormat = "avro-json"
)

// ParseJSONFormat checks a format name.
func ParseJSONFormat(s string) (JSONFormat, error) {
	switch f := JSONFormat(s); f {
	case JSONPlain, JSONAvro:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want %s or %s", s, JSONPlain, JSONAvro)
}

// ParseJSON reads one JSON document as a value of schema, in hamba/avro's
// generic form (what EncodeGeneric and avro.Marshal take). Fields missing
// from a record take their schema default; a field without a default that
// is missing, a field the schema does not have and a value of the wrong
// type are errors naming the field's dotted path.
func ParseJSON(schema avro.Schema, data []byte, f JSONFormat) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: more than one value")
	}
	c := jsonConverter{format: f}
	return c.value(schema, v, "")
}

type jsonConverter struct{ format JSONFormat }

func at(path string) string {
	if path == "" {
		return "value"
	}
	return "field " + path
}

var uuidText = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// branchName is how hamba/avro names a union branch; jsonBranchName is how
// the Avro JSON encoding does (no logical type suffix).
func branchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		name += "." + string(l.Logical().Type())
	}
	return name
}

func jsonBranchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "number " + x.String()
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (c jsonConverter) value(s avro.Schema, v any, path string) (any, error) {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	switch s := s.(type) {
	case *avro.UnionSchema:
		return c.union(s, v, path)
	case *avro.RecordSchema:
		return c.record(s, v, path)
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want one of %s, got %s", at(path), strings.Join(s.Symbols(), "|"), describe(v))
		}
		for _, sym := range s.Symbols() {
			if sym == str {
				return str, nil
			}
		}
		return nil, fmt.Errorf("%s: %q is not one of %s", at(path), str, strings.Join(s.Symbols(), "|"))
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: want an array, got %s", at(path), describe(v))
		}
		out := make([]any, len(arr))
		for i, x := range arr {
			var err error
			if out[i], err = c.value(s.Items(), x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: want an object, got %s", at(path), describe(v))
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			var err error
			if out[k], err = c.value(s.Values(), x, path+"."+k); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *avro.FixedSchema:
		b, err := c.bytes(v, path)
		if err != nil {
			return nil, err
		}
		if len(b) != s.Size() {
			return nil, fmt.Errorf("%s: want %d bytes, got %d", at(path), s.Size(), len(b))
		}
		return b, nil
	case *avro.PrimitiveSchema:
		return c.primitive(s, v, path)
	}
	return nil, fmt.Errorf("%s: unsupported schema type %s", at(path), s.Type())
}

func (c jsonConverter) union(u *avro.UnionSchema, v any, path string) (any, error) {
	if v == nil {
		if _, pos := u.Types().Get("null"); pos >= 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: null is not allowed", at(path))
	}
	names := make([]string, 0, len(u.Types()))
	for _, b := range u.Types() {
		names = append(names, jsonBranchName(b))
	}
	// The Avro JSON encoding's {"<branch>": value}; plain JSON accepts it
	// too when the object is not itself a value of some branch.
	wrapped := func() (any, bool, error) {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, false, nil
		}
		for k, inner := range m {
			for _, b := range u.Types() {
				if jsonBranchName(b) == k && b.Type() != avro.Null {
					x, err := c.value(b, inner, path)
					if err != nil {
						return nil, true, err
					}
					return map[string]any{branchName(b): x}, true, nil
				}
			}
		}
		return nil, false, nil
	}
	if c.format == JSONAvro {
		x, ok, err := wrapped()
		if err != nil || ok {
			return x, err
		}
		return nil, fmt.Errorf("%s: want null or {\"<type>\": value} with type one of %s, got %s", at(path), strings.Join(names, "|"), describe(v))
	}
	var firstErr error
	for _, b := range u.Types() {
		if b.Type() == avro.Null {
			continue
		}
		x, err := c.value(b, v, path)
		if err == nil {
			return map[string]any{branchName(b): x}, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if x, ok, err := wrapped(); ok {
		return x, err
	}
	if firstErr != nil && len(u.Types()) <= 2 {
		return nil, firstErr // a nullable field: the one branch's own error says most
	}
	return nil, fmt.Errorf("%s: %s fits none of %s", at(path), describe(v), strings.Join(names, "|"))
}

func (c jsonConverter) record(s *avro.RecordSchema, v any, path string) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object (%s), got %s", at(path), s.FullName(), describe(v))
	}
	sub := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	known := make(map[string]bool, len(s.Fields()))
	out := make(map[string]any, len(s.Fields()))
	for _, f := range s.Fields() {
		known[f.Name()] = true
		x, present := m[f.Name()]
		if !present {
			if !f.HasDefault() {
				return nil, fmt.Errorf("%s: required", at(sub(f.Name())))
			}
			continue // hamba/avro writes the default
		}
		y, err := c.value(f.Type(), x, sub(f.Name()))
		if err != nil {
			return nil, err
		}
		out[f.Name()] = y
	}
	for k := range m {
		if !known[k] {
			return nil, fmt.Errorf("%s: not in %s", at(sub(k)), s.FullName())
		}
	}
	return out, nil
}

func (c jsonConverter) integer(v any, path string, bits int) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s: want an integer, got %s", at(path), describe(v))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %s", at(path), describe(v))
	}
	if bits == 32 && (i < math.MinInt32 || i > math.MaxInt32) {
		return 0, fmt.Errorf("%s: %d does not fit an Avro int", at(path), i)
	}
	return i, nil
}

func (c jsonConverter) bytes(v any, path string) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: want a string of bytes, got %s", at(path), describe(v))
	}
	if c.format == JSONAvro {
		b := make([]byte, 0, len(str))
		for _, r := range str {
			if r > 255 {
				return nil, fmt.Errorf("%s: code point %U is not a byte", at(path), r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		return nil, fmt.Errorf("%s: want base64: %v", at(path), err)
	}
	return b, nil
}

func (c jsonConverter) primitive(s *avro.PrimitiveSchema, v any, path string) (any, error) {
	if l := s.Logical(); l != nil {
		switch l.Type() {
		case avro.TimestampMillis:
			if str, ok := v.(string); ok && c.format == JSONPlain {
				t, err := time.Parse(time.RFC3339Nano, str)
				if err != nil {
					return nil, fmt.Errorf("%s: want milliseconds since the epoch or an RFC 3339 time, got %s", at(path), describe(v))
				}
				return t.UTC(), nil
			}
			ms, err := c.integer(v, path, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: want milliseconds since the epoch, got %s", at(path), describe(v))
			}
			return time.UnixMilli(ms).UTC(), nil
		case avro.Date:
			if c.format == JSONPlain {
				str, ok := v.(string)
				t, err := time.Parse(time.DateOnly, str)
				if !ok || err != nil {
					return nil, fmt.Errorf("%s: want a date YYYY-MM-DD, got %s", at(path), describe(v))
				}
				return t, nil
			}
			days, err := c.integer(v, path, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: want days since the epoch, got %s", at(path), describe(v))
			}
			return time.Unix(days*86400, 0).UTC(), nil
		case avro.UUID:
			str, ok := v.(string)
			if !ok || !uuidText.MatchString(str) {
				return nil, fmt.Errorf("%s: want a UUID, got %s", at(path), describe(v))
			}
			return str, nil
		case avro.Decimal:
			d := l.(*avro.DecimalLogicalSchema)
			var text string
			switch x := v.(type) {
			case string:
				text = x
			case json.Number:
				text = x.String()
			default:
				return nil, fmt.Errorf("%s: want a decimal string, got %s", at(path), describe(v))
			}
			r, ok := new(big.Rat).SetString(text)
			if !ok {
				return nil, fmt.Errorf("%s: want a decimal, got %s", at(path), describe(v))
			}
			if frac := strings.SplitN(text, ".", 2); len(frac) == 2 && len(frac[1]) > d.Scale() {
				return nil, fmt.Errorf("%s: %s has more than %d digits after the point", at(path), text, d.Scale())
			}
			return r, nil
		}
	}
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return nil, fmt.Errorf("%s: want null, got %s", at(path), describe(v))
		}
		return nil, nil
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: want true or false, got %s", at(path), describe(v))
		}
		return b, nil
	case avro.Int:
		i, err := c.integer(v, path, 32)
		return int32(i), err
	case avro.Long:
		return c.integer(v, path, 64)
	case avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: want a number, got %s", at(path), describe(v))
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s: want a number, got %s", at(path), describe(v))
		}
		if s.Type() == avro.Float {
			return float32(f), nil
		}
		return f, nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want a string, got %s", at(path), describe(v))
		}
		return str, nil
	case avro.Bytes:
		return c.bytes(v, path)
	}
	return nil, fmt.Errorf("%s: unsupported type %s", at(path), s.Type())
}
