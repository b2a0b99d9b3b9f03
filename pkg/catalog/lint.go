package catalog

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// PIIProperty is the custom field property that marks personal data.
const PIIProperty = "pii"

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// lintSchema enforces the house rules on a schema: a doc on every record,
// field and enum; a default symbol on every enum (forward compatibility);
// no float or double (money and quantities are exact); "pii" is true when
// present. When pii is not nil it receives the dotted path of every field
// marked "pii": true (arrays and maps are transparent, nullable unions too).
func lintSchema(s avro.Schema, pii *[]string) error {
	l := &linter{checked: map[string]bool{}, pii: pii}
	return l.walk(s, "", map[string]bool{})
}

type linter struct {
	checked map[string]bool // named types already checked
	pii     *[]string
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (l *linter) walk(s avro.Schema, path string, stack map[string]bool) error {
	s = deref(s)
	where := path
	if where == "" {
		where = "(root)"
	}
	switch t := s.(type) {
	case *avro.RecordSchema:
		if stack[t.FullName()] {
			return nil // recursive type: already on this path
		}
		first := !l.checked[t.FullName()]
		l.checked[t.FullName()] = true
		if first && t.Doc() == "" {
			return fmt.Errorf("record %s: missing doc", t.FullName())
		}
		stack[t.FullName()] = true
		defer delete(stack, t.FullName())
		for _, f := range t.Fields() {
			fp := join(path, f.Name())
			if first && f.Doc() == "" {
				return fmt.Errorf("field %s of %s: missing doc", f.Name(), t.FullName())
			}
			if v, ok := f.Prop(PIIProperty).(bool); ok && v {
				if l.pii != nil {
					*l.pii = append(*l.pii, fp)
				}
			} else if f.Prop(PIIProperty) != nil {
				return fmt.Errorf("field %s of %s: %q must be true or absent", f.Name(), t.FullName(), PIIProperty)
			}
			if err := l.walk(f.Type(), fp, stack); err != nil {
				return err
			}
		}
	case *avro.EnumSchema:
		if l.checked[t.FullName()] {
			return nil
		}
		l.checked[t.FullName()] = true
		if t.Doc() == "" {
			return fmt.Errorf("enum %s: missing doc", t.FullName())
		}
		if !t.HasDefault() {
			return fmt.Errorf("enum %s: needs a default symbol so readers survive new symbols", t.FullName())
		}
	case *avro.ArraySchema:
		return l.walk(t.Items(), path, stack)
	case *avro.MapSchema:
		return l.walk(t.Values(), path, stack)
	case *avro.UnionSchema:
		for _, e := range t.Types() {
			if err := l.walk(e, path, stack); err != nil {
				return err
			}
		}
	case *avro.PrimitiveSchema:
		if t.Type() == avro.Float || t.Type() == avro.Double {
			return fmt.Errorf("%s: %s is not allowed; use isthmus.common.v1.Money or an exact integer", where, t.Type())
		}
	}
	return nil
}
