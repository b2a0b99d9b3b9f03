package match_test

import (
	"runtime"
	"testing"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
)

// BenchmarkUpsertAt1M measures account upserts (match + index update)
// against an index of 1,000,000 golden records, and the index's resident
// heap at that size. Half of the upserts are near-duplicates of existing
// records (typo in the name, same domain), half are new companies.
//
//	go test ./match -run '^$' -bench UpsertAt1M -benchtime 200000x
func BenchmarkUpsertAt1M(b *testing.B) {
	const size = 1_000_000
	s := matchtest.NewSynth(7)
	ix := match.NewIndex(match.DefaultConfig())
	ix.Grow(size)
	existing := make([]match.Features, 0, 1024)
	for i := range size {
		f := s.Features(i)
		ix.Upsert(match.ID(i+1), f)
		if i%1000 == 0 {
			existing = append(existing, f)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapInuse) / (1 << 20)
	b.Logf("index: %d golden records, HeapInuse after GC %.1f MiB (%.0f bytes/record)", ix.Len(), heap, float64(ms.HeapInuse)/float64(ix.Len()))

	next := match.ID(size + 1)
	merges := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := s.Query(existing, size, i)
		d := ix.Match(f, nil)
		if d.Outcome == match.Merge {
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
