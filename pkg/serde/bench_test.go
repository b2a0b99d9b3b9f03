package serde

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/hamba/avro/v2"
)

// The benchmarks compare serde with plain hamba/avro on the same record.
// TestMain prints the ratios after `go test -bench .` (target ≤ 1.2× ns/op);
// TestNoExtraAllocations checks the allocations on every test run.

func benchFuncs(b testing.TB) (encAvro, encSerde, decAvro, decSerde func(*testing.B)) {
	h := newHarness(b)
	h.register(b, "bench", schemaV1)
	s := New(h.cl)
	ctx := context.Background()
	in := sample()
	wire, err := s.Encode(ctx, "bench", in)
	if err != nil {
		b.Fatal(err)
	}
	plain := wire[HeaderSize:]
	var out AccountV1
	if err := s.Decode(ctx, wire, &out); err != nil { // warm the caches
		b.Fatal(err)
	}
	encAvro = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := avro.Marshal(schemaV1, in); err != nil {
				b.Fatal(err)
			}
		}
	}
	encSerde = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Encode(ctx, "bench", in); err != nil {
				b.Fatal(err)
			}
		}
	}
	decAvro = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := avro.Unmarshal(schemaV1, plain, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
	decSerde = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Decode(ctx, wire, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
	return
}

func allocFuncs(t *testing.T) (encAvro, encSerde, decAvro, decSerde func()) {
	h := newHarness(t)
	h.register(t, "bench", schemaV1)
	s := New(h.cl)
	ctx := context.Background()
	in := sample()
	wire, err := s.Encode(ctx, "bench", in)
	if err != nil {
		t.Fatal(err)
	}
	var out AccountV1
	if err := s.Decode(ctx, wire, &out); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	encAvro = func() { _, err := avro.Marshal(schemaV1, in); must(err) }
	encSerde = func() { _, err := s.Encode(ctx, "bench", in); must(err) }
	decAvro = func() { must(avro.Unmarshal(schemaV1, wire[HeaderSize:], &out)) }
	decSerde = func() { must(s.Decode(ctx, wire, &out)) }
	return
}

func BenchmarkEncode(b *testing.B) {
	encAvro, encSerde, _, _ := benchFuncs(b)
	b.Run("avro", measure("encode/avro", encAvro))
	b.Run("serde", measure("encode/serde", encSerde))
}

func BenchmarkDecode(b *testing.B) {
	_, _, decAvro, decSerde := benchFuncs(b)
	b.Run("avro", measure("decode/avro", decAvro))
	b.Run("serde", measure("decode/serde", decSerde))
}

// nsPerOp collects the last ns/op of each sub-benchmark for TestMain.
var nsPerOp = map[string]float64{}

func measure(name string, f func(*testing.B)) func(*testing.B) {
	return func(b *testing.B) {
		f(b)
		nsPerOp[name] = float64(b.Elapsed().Nanoseconds()) / float64(max(b.N, 1))
	}
}

// TestMain prints serde's cost relative to hamba/avro after a -bench run.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, op := range []string{"encode", "decode"} {
		base, ours := nsPerOp[op+"/avro"], nsPerOp[op+"/serde"]
		if base > 0 && ours > 0 {
			fmt.Printf("serde %s: %.0f ns/op vs hamba/avro %.0f ns/op, ratio %.2fx (target <= 1.2x)\n", op, ours, base, ours/base)
		}
	}
	os.Exit(code)
}

// TestNoExtraAllocations: the hot path allocates no more than hamba/avro.
func TestNoExtraAllocations(t *testing.T) {
	encAvro, encSerde, decAvro, decSerde := allocFuncs(t)
	for _, c := range []struct {
		name       string
		base, ours func()
	}{{"encode", encAvro, encSerde}, {"decode", decAvro, decSerde}} {
		base, ours := testing.AllocsPerRun(200, c.base), testing.AllocsPerRun(200, c.ours)
		if ours > base {
			t.Errorf("%s: serde %.1f allocs/op, hamba/avro %.1f", c.name, ours, base)
		}
	}
}
