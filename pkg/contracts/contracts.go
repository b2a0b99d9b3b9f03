// Package contracts holds the Go types of every Avro topic value, generated
// from schemas/ by hamba/avro's avrogen (topic_*_gen.go, common_gen.go) and
// contractgen (registry_gen.go: topic and enum-symbol constants, the topic
// -> type table). Do not edit generated files: change the schema and run
// `make generate-contracts`.
//
// Conventions (see schemas/topics.yaml):
//   - Money is Money{AmountMinor int64, Currency string}: integer minor units
//     of the ISO-4217 currency. Never a float.
//   - Every value has Metadata EventMetadata (event id, correlation id,
//     causation id, source system, occurred at).
//   - Enums are strings; the generated constants name their symbols (e.g.
//     OrderStateCreditHold). Unknown symbols decode as the enum's default.
//   - Nullable fields are pointers; dates and timestamps are time.Time (UTC).
package contracts

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/hamba/avro/v2"
)

// Deref returns the value of a nullable field, or its zero value when the
// field is null.
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// MetadataOf is the event metadata of a topic value (a pointer to the
// record's Metadata field), nil for a value without one.
func MetadataOf(v Value) *EventMetadata {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := rv.Elem().FieldByName("Metadata")
	if !f.IsValid() || f.Type() != reflect.TypeFor[EventMetadata]() {
		return nil
	}
	return f.Addr().Interface().(*EventMetadata)
}

// Value is implemented by every generated record.
type Value interface {
	Schema() avro.Schema
	Marshal() ([]byte, error)
	Unmarshal(b []byte) error
}

// NewValue returns a new, empty value of the topic's record, e.g.
// *Account for crm.account.v1. DLQ topics carry raw bytes and have none.
func NewValue(topic string) (Value, error) {
	if f, ok := valueFactories[topic]; ok {
		return f(), nil
	}
	if rawTopics[topic] {
		return nil, fmt.Errorf("topic %q carries raw bytes, not an Avro record", topic)
	}
	return nil, fmt.Errorf("unknown topic %q", topic)
}

// Topics returns the names of every topic with an Avro value, sorted.
func Topics() []string {
	out := make([]string, 0, len(valueFactories))
	for t := range valueFactories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// EnumSymbols lists the symbols of the enum a record's field holds (also
// behind a nullable union), as the schema declares them; nil when the
// field is not an enum. Tests use it to check that a table covers every
// symbol of a contract.
func EnumSymbols(r interface{ Schema() avro.Schema }, field string) []string {
	rs, ok := r.Schema().(*avro.RecordSchema)
	if !ok {
		return nil
	}
	for _, f := range rs.Fields() {
		if f.Name() != field {
			continue
		}
		t := f.Type()
		if u, ok := t.(*avro.UnionSchema); ok && u.Nullable() {
			for _, s := range u.Types() {
				if s.Type() != avro.Null {
					t = s
				}
			}
		}
		if r, ok := t.(*avro.RefSchema); ok { // a named type declared earlier
			t = r.Schema()
		}
		if e, ok := t.(*avro.EnumSchema); ok {
			return append([]string(nil), e.Symbols()...)
		}
		return nil
	}
	return nil
}
