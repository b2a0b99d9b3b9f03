package match

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

const openExpectations = 1_000_000

var (
	bigOnce  sync.Once
	bigStore memStore
	bigHeap  uint64
)

// bigState holds 1,000,000 open expectations (CRM accounts waiting for
// their ERP customer id), built once for every benchmark.
func bigState(b *testing.B) memStore {
	bigOnce.Do(func() {
		e := &Engine{SLA: DefaultSLA}
		st := memStore{}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range openExpectations {
			o := &Observation{Key: AccountKey(fmt.Sprintf("acct-%07d", i)), Event: EvAccount, Status: "UPSERT",
				EventID: fmt.Sprintf("ev-%d", i), CorrelationID: fmt.Sprintf("corr-%d", i), At: t0.UnixMilli() + int64(i)}
			if _, err := e.Apply(st, o); err != nil {
				b.Fatal(err)
			}
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		bigStore, bigHeap = st, after.HeapAlloc-before.HeapAlloc
	})
	return bigStore
}

// BenchmarkMatchWith1MOpen measures observations matched per second while
// 1,000,000 expectations are open: each iteration settles one open
// expectation (xref arrives) and opens a new one (new account), so the
// open set stays at 1,000,000. It reports the heap the state takes.
func BenchmarkMatchWith1MOpen(b *testing.B) {
	st := bigState(b)
	e := &Engine{SLA: DefaultSLA}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		n := i % openExpectations
		met := &Observation{Key: AccountKey(fmt.Sprintf("acct-%07d", n)), Event: EvXrefLinked, Ref: "E1", EventID: "x", At: t0.UnixMilli() + 1}
		if _, err := e.Apply(st, met); err != nil {
			b.Fatal(err)
		}
		reopen := &Observation{Key: AccountKey(fmt.Sprintf("acct-%07d-%d", n, i)), Event: EvAccount, Status: "UPSERT", EventID: "y", At: t0.UnixMilli() + 2}
		if _, err := e.Apply(st, reopen); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(bigHeap)/(1<<20), "MB-state")
	b.ReportMetric(float64(bigHeap)/openExpectations, "B/expectation")
}

// BenchmarkTickWith1MOpen measures one timer check of a partition holding
// 1,000,000 open expectations with none due: the cost is the store's
// ordered Range up to the first future deadline.
func BenchmarkTickWith1MOpen(b *testing.B) {
	st := bigState(b)
	e := &Engine{SLA: DefaultSLA}
	b.ResetTimer()
	for range b.N {
		if _, err := e.Tick(st, 0, t0, false); err != nil {
			b.Fatal(err)
		}
	}
}
