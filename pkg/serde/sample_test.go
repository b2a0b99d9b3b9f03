package serde

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"
)

// sampleValue builds a generic value (maps, slices, primitives) that is
// valid for schema, with distinct, non-default data in every field so a
// field-by-field comparison means something. seed varies the data.
func sampleValue(schema avro.Schema, seed int) any {
	s := &sampler{n: seed * 1000}
	return s.value(schema)
}

type sampler struct{ n int }

func (s *sampler) next() int { s.n++; return s.n }

func (s *sampler) value(schema avro.Schema) any {
	if r, ok := schema.(*avro.RefSchema); ok {
		schema = r.Schema()
	}
	if l, ok := schema.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		switch l.Logical().Type() {
		case avro.TimestampMillis, avro.TimestampMicros:
			return time.UnixMilli(1_700_000_000_000 + int64(s.next())*1000).UTC()
		case avro.Date:
			return time.Date(2026, 1, 1+s.next()%28, 0, 0, 0, 0, time.UTC)
		case avro.TimeMillis, avro.TimeMicros:
			return time.Duration(s.next()) * time.Second
		case avro.UUID:
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.next())
		case avro.Decimal:
			d := l.Logical().(*avro.DecimalLogicalSchema)
			return big.NewRat(int64(s.next())*12345, pow10(d.Scale()))
		}
	}
	switch t := schema.(type) {
	case *avro.RecordSchema:
		m := map[string]any{}
		for _, f := range t.Fields() {
			m[f.Name()] = s.value(f.Type())
		}
		return m
	case *avro.EnumSchema:
		syms := t.Symbols()
		return syms[s.next()%len(syms)]
	case *avro.ArraySchema:
		return []any{s.value(t.Items()), s.value(t.Items())}
	case *avro.MapSchema:
		return map[string]any{fmt.Sprintf("k%d", s.next()): s.value(t.Values())}
	case *avro.UnionSchema:
		// The first non-null branch, so optional fields carry data.
		for _, b := range t.Types() {
			if b.Type() != avro.Null {
				name := string(b.Type())
				if n, ok := b.(avro.NamedSchema); ok {
					name = n.FullName()
				} else if r, ok := b.(*avro.RefSchema); ok {
					name = r.Schema().FullName()
				} else if l, ok := b.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
					name += "." + string(l.Logical().Type())
				}
				return map[string]any{name: s.value(b)}
			}
		}
		return nil
	case *avro.FixedSchema:
		return make([]byte, t.Size())
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.String:
			return fmt.Sprintf("s-%d", s.next())
		case avro.Bytes:
			return []byte{byte(s.next())}
		case avro.Int:
			return int32(s.next())
		case avro.Long:
			return int64(s.next()) * 100
		case avro.Float:
			return float32(s.next())
		case avro.Double:
			return float64(s.next())
		case avro.Boolean:
			return s.next()%2 == 0
		}
	case *avro.NullSchema:
		return nil
	}
	panic(fmt.Sprintf("sampleValue: unsupported schema %s", schema.Type()))
}

func pow10(n int) int64 {
	out := int64(1)
	for range n {
		out *= 10
	}
	return out
}

// fillSample turns a generic sample into the typed value v (a generated
// contract) by marshalling with v's schema and unmarshalling into v.
func fillSample(v Record, seed int) error {
	b, err := avro.Marshal(v.Schema(), sampleValue(v.Schema(), seed))
	if err != nil {
		return fmt.Errorf("marshal sample for %T: %w", v, err)
	}
	return avro.Unmarshal(v.Schema(), b, v)
}
