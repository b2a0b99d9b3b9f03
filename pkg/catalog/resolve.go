package catalog

import (
	"bytes"
	"fmt"
	"strings"
)

// avroPrimitives are the type names that never refer to a named type.
var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true,
	"double": true, "bytes": true, "string": true,
}

// namedTypes are the complex types that define a name.
var namedTypes = map[string]bool{"record": true, "error": true, "enum": true, "fixed": true}

// sharedType is one named type from the types directory.
type sharedType struct {
	fullName string
	file     string
	node     *object
}

// resolver inlines shared named types into a schema, so the result is a
// standalone schema: the first reference to a shared type is replaced by
// its definition (itself resolved), later references stay names. Docs and
// custom properties (such as "pii") are kept.
type resolver struct {
	shared map[string]*sharedType
}

// resolve returns the standalone JSON of a schema document.
func (r *resolver) resolve(doc any) (string, error) {
	defined := map[string]bool{}
	out, err := r.walk(clone(doc), "", defined)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	encodeJSON(&buf, out)
	return buf.String(), nil
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

// nameOf returns the full name and namespace a named-type definition
// declares, inheriting ns.
func nameOf(o *object, ns string) (full, space string) {
	name := o.str("name")
	if strings.Contains(name, ".") {
		return name, name[:strings.LastIndex(name, ".")]
	}
	if v, ok := o.get("namespace"); ok {
		s, _ := v.(string)
		ns = s
	}
	return fullName(name, ns), ns
}

func (r *resolver) walk(v any, ns string, defined map[string]bool) (any, error) {
	switch t := v.(type) {
	case string:
		if avroPrimitives[t] {
			return t, nil
		}
		full := fullName(t, ns)
		if defined[full] {
			return t, nil
		}
		st, ok := r.shared[full]
		if !ok {
			// Unknown here; the Avro parser reports it with context.
			return t, nil
		}
		def := clone(st.node).(*object)
		// The definition carries its own namespace so it means the same
		// wherever it is inlined.
		name, space := nameOf(def, "")
		if !strings.Contains(def.str("name"), ".") && def.str("namespace") == "" {
			return nil, fmt.Errorf("shared type %s in %s: declare a namespace", name, st.file)
		}
		return r.walk(def, space, defined)
	case []any:
		for i, e := range t {
			w, err := r.walk(e, ns, defined)
			if err != nil {
				return nil, err
			}
			t[i] = w
		}
		return t, nil
	case *object:
		typ, _ := t.get("type")
		typName, isStr := typ.(string)
		switch {
		case isStr && namedTypes[typName]:
			full, space := nameOf(t, ns)
			if defined[full] {
				return nil, fmt.Errorf("type %s is defined twice", full)
			}
			defined[full] = true
			if typName == "record" || typName == "error" {
				fields, _ := t.get("fields")
				list, _ := fields.([]any)
				for _, f := range list {
					fo, ok := f.(*object)
					if !ok {
						continue
					}
					ft, ok := fo.get("type")
					if !ok {
						continue
					}
					w, err := r.walk(ft, space, defined)
					if err != nil {
						return nil, err
					}
					fo.set("type", w)
				}
			}
			return t, nil
		case isStr && typName == "array":
			if items, ok := t.get("items"); ok {
				w, err := r.walk(items, ns, defined)
				if err != nil {
					return nil, err
				}
				t.set("items", w)
			}
			return t, nil
		case isStr && typName == "map":
			if values, ok := t.get("values"); ok {
				w, err := r.walk(values, ns, defined)
				if err != nil {
					return nil, err
				}
				t.set("values", w)
			}
			return t, nil
		default:
			// {"type": "long", "logicalType": ...}, {"type": "Some.Name"}
			// or {"type": [union]}.
			if typ != nil {
				w, err := r.walk(typ, ns, defined)
				if err != nil {
					return nil, err
				}
				t.set("type", w)
			}
			return t, nil
		}
	default:
		return v, nil
	}
}
