package match

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/processor"
)

const openExpectations = 1_000_000

var (
	bigOnce  sync.Once
	bigStore *state
	bigHeap  uint64
)

// bigState holds 1,000,000 open expectations (CRM accounts waiting for
// their ERP customer id) in a processor's state, built once for every
// benchmark. Its heap counts the processor's committed state and the test
// kit's copy of it.
func bigState(b *testing.B) *state {
	bigOnce.Do(func() {
		e := &Engine{SLA: DefaultSLA}
		st := newState(b)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		// 100 observations per transaction keeps the build to seconds.
		const batch = 100
		for from := 0; from < openExpectations; from += batch {
			err := st.do(func(m *processor.Message) error {
				for i := from; i < min(from+batch, openExpectations); i++ {
					o := &Observation{Key: AccountKey(fmt.Sprintf("acct-%07d", i)), Event: EvAccount, Status: "UPSERT",
						EventID: fmt.Sprintf("ev-%d", i), CorrelationID: fmt.Sprintf("corr-%d", i), At: t0.UnixMilli() + int64(i)}
					if _, err := e.Apply(m, o); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
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
		if _, err := st.apply(e, met); err != nil {
			b.Fatal(err)
		}
		reopen := &Observation{Key: AccountKey(fmt.Sprintf("acct-%07d-%d", n, i)), Event: EvAccount, Status: "UPSERT", EventID: "y", At: t0.UnixMilli() + 2}
		if _, err := st.apply(e, reopen); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(bigHeap)/(1<<20), "MB-state")
	b.ReportMetric(float64(bigHeap)/openExpectations, "B/expectation")
}

// BenchmarkTickWith1MOpen measures one timer check of a partition holding
// 1,000,000 open expectations with none due: the cost is the timer
// index's walk up to the first future deadline (and an empty scan of the
// earlier releases' deadlines store), not the number pending.
func BenchmarkTickWith1MOpen(b *testing.B) {
	st := bigState(b)
	e := &Engine{SLA: DefaultSLA}
	b.ResetTimer()
	for range b.N {
		if _, err := st.tick(e, 0, t0, false); err != nil {
			b.Fatal(err)
		}
	}
}
