package catalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// KeySeparator joins the parts of a key made of several fields.
const KeySeparator = "|"

// checkKeyFields checks that every key field is a dotted path to a string,
// int or long (possibly nullable) in the value record.
func checkKeyFields(rec *avro.RecordSchema, paths []string) error {
	for _, p := range paths {
		s, err := fieldSchema(rec, p)
		if err != nil {
			return err
		}
		switch scalarType(s) {
		case avro.String, avro.Int, avro.Long:
		default:
			return fmt.Errorf("%s: want a string, int or long field, got %s", p, s.Type())
		}
	}
	return nil
}

// fieldSchema follows a dotted path of record fields.
func fieldSchema(rec *avro.RecordSchema, path string) (avro.Schema, error) {
	var cur avro.Schema = rec
	for _, name := range strings.Split(path, ".") {
		r, ok := nonNull(cur).(*avro.RecordSchema)
		if !ok {
			return nil, fmt.Errorf("%s: %s is not a record", path, name)
		}
		var next avro.Schema
		for _, f := range r.Fields() {
			if f.Name() == name {
				next = f.Type()
			}
		}
		if next == nil {
			return nil, fmt.Errorf("%s: no field %q in %s", path, name, r.FullName())
		}
		cur = next
	}
	return cur, nil
}

// nonNull is the schema itself, or the one non-null branch of a nullable
// union.
func nonNull(s avro.Schema) avro.Schema {
	s = deref(s)
	if u, ok := s.(*avro.UnionSchema); ok && u.Nullable() {
		for _, b := range u.Types() {
			if b.Type() != avro.Null {
				return deref(b)
			}
		}
	}
	return s
}

func scalarType(s avro.Schema) avro.Type { return nonNull(s).Type() }

// KeyOf returns the record key of a value in hamba/avro's generic form
// (map[string]any records; a union value either plain or as a one-entry
// map keyed by its branch name). It fails when the topic has no key fields
// or the first key field is empty.
func (t *Topic) KeyOf(value map[string]any) (string, error) {
	if len(t.KeyFields) == 0 {
		return "", fmt.Errorf("topic %s has no key_fields in the catalog (key: %s)", t.Name, t.Key)
	}
	var parts []string
	for i, p := range t.KeyFields {
		v, ok := lookupPath(value, p)
		s := ""
		if ok && v != nil {
			switch x := v.(type) {
			case string:
				s = x
			case int32:
				s = strconv.FormatInt(int64(x), 10)
			case int64:
				s = strconv.FormatInt(x, 10)
			case int:
				s = strconv.Itoa(x)
			default:
				return "", fmt.Errorf("key field %s: unexpected %T", p, v)
			}
		}
		if s == "" {
			if i == 0 {
				return "", fmt.Errorf("key field %s is empty", p)
			}
			break // trailing optional parts
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, KeySeparator), nil
}

func lookupPath(value map[string]any, path string) (any, bool) {
	var cur any = value
	for _, name := range strings.Split(path, ".") {
		m, ok := unwrapUnion(cur).(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name]; !ok {
			return nil, false
		}
	}
	return unwrapUnion(cur), true
}

// unwrapUnion turns a one-entry {branch: value} union map into the value.
// Field names never contain a dot and are never a type name, so a record
// with one field is not mistaken for a union.
func unwrapUnion(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for k, inner := range m {
		if strings.Contains(k, ".") || k == "string" || k == "int" || k == "long" {
			return inner
		}
	}
	return v
}
