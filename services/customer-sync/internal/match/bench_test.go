package match

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// synth makes deterministic, realistic-looking golden records: pronounceable
// names of 2–3 syllables, often with a trade word, a country mix weighted
// towards large markets, and the usual sparsity of domains, phones and tax
// ids.
type synth struct{ r *rand.Rand }

var (
	benchCons   = strings.Split("b c d f g h k l m n p r s t v w z br cr dr fr gr kr pl st tr", " ")
	benchVowels = strings.Split("a e i o u ai ea io ou", " ")
	benchCC     = []string{"US", "US", "US", "DE", "DE", "GB", "GB", "FR", "IT", "ES", "NL", "SE", "CH", "AT", "JP", "CA", "AU", "BR", "IN", "PL"}
	benchTrades = strings.Split("logistics software consulting engineering foods textiles analytics maritime robotics energy media packaging biotech furniture optics", " ")
)

func (s synth) word() string {
	var b strings.Builder
	for range 2 + s.r.IntN(2) {
		b.WriteString(benchCons[s.r.IntN(len(benchCons))])
		b.WriteString(benchVowels[s.r.IntN(len(benchVowels))])
	}
	return b.String()
}

func (s synth) features(i int) Features {
	name := s.word()
	if s.r.IntN(2) == 0 {
		name += " " + benchTrades[s.r.IntN(len(benchTrades))]
	}
	if s.r.IntN(4) == 0 {
		name = s.word() + " " + name
	}
	f := Features{Name: name, Country: benchCC[s.r.IntN(len(benchCC))]}
	if s.r.IntN(10) < 7 {
		f.Domain = strings.ReplaceAll(name, " ", "") + fmt.Sprintf("%d.com", i%97)
	}
	if s.r.IntN(10) < 6 {
		f.Phone = fmt.Sprintf("+%d%09d", 1+s.r.IntN(89), s.r.IntN(1e9))
	}
	if s.r.IntN(10) < 3 {
		f.TaxID = fmt.Sprintf("%s%09d", f.Country, i)
	}
	if s.r.IntN(10) < 8 {
		f.Postal = fmt.Sprintf("%05d", s.r.IntN(100000))
	}
	return f
}

// BenchmarkUpsertAt1M measures account upserts (match + index update)
// against an index of 1,000,000 golden records, and the index's resident
// heap at that size. Half of the upserts are near-duplicates of existing
// records (typo in the name, same domain), half are new companies.
//
//	go test ./internal/match -run '^$' -bench UpsertAt1M -benchtime 200000x
func BenchmarkUpsertAt1M(b *testing.B) {
	const size = 1_000_000
	s := synth{r: rand.New(rand.NewPCG(7, 11))}
	ix := NewIndex(DefaultConfig())
	ix.Grow(size)
	existing := make([]Features, 0, 1024)
	for i := range size {
		f := s.features(i)
		ix.Upsert(ID(i+1), f)
		if i%1000 == 0 {
			existing = append(existing, f)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapInuse) / (1 << 20)
	b.Logf("index: %d golden records, HeapInuse after GC %.1f MiB (%.0f bytes/record)", ix.Len(), heap, float64(ms.HeapInuse)/float64(ix.Len()))

	next := ID(size + 1)
	merges := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var f Features
		if i%2 == 0 {
			f = existing[i/2%len(existing)]
			f.Name = typoBench(f.Name, i)
		} else {
			f = s.features(size + i)
		}
		d := ix.Match(f, nil)
		if d.Outcome == Merge {
			merges++
			ix.Upsert(d.Target, f)
			continue
		}
		ix.Upsert(next, f)
		next++
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upserts/s")
	b.ReportMetric(heap, "heap-MiB@1M")
	b.ReportMetric(float64(merges)/float64(b.N), "merge-ratio")
}

func typoBench(name string, i int) string {
	if len(name) < 5 {
		return name + "s"
	}
	p := 2 + i%(len(name)-3)
	return name[:p] + name[p+1:]
}
