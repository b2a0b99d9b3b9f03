package processor

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRangeMatchesAReferenceMap drives the store with random committed
// batches, uncommitted overlays and message writes, and checks every Range
// (including ones that stop early) against a sorted reference.
func TestRangeMatchesAReferenceMap(t *testing.T) {
	p := &Processor{cfg: Config{Service: "t"}}
	s := newStores(p, []string{"st"})
	s.data["st"][0] = map[string][]byte{}
	rng := rand.New(rand.NewPCG(7, 9))
	committed := map[string]string{}
	key := func() string { return fmt.Sprintf("k%03d", rng.IntN(200)) }
	for round := range 300 {
		b := newBatch()
		pending := map[string]*string{}
		for range rng.IntN(20) {
			k := key()
			if rng.IntN(3) == 0 {
				b.put("st", 0, k, nil)
				pending[k] = nil
			} else {
				v := fmt.Sprint(round)
				b.put("st", 0, k, []byte(v))
				pending[k] = &v
			}
		}
		var puts []put
		msgView := map[string]*string{}
		for range rng.IntN(5) {
			k := key()
			if rng.IntN(2) == 0 {
				puts = append(puts, put{store: "st", key: k})
				msgView[k] = nil
			} else {
				v := "m" + fmt.Sprint(round)
				puts = append(puts, put{store: "st", key: k, value: []byte(v)})
				msgView[k] = &v
			}
		}
		// What Range must show: committed, then batch, then message writes.
		want := map[string]string{}
		for k, v := range committed {
			want[k] = v
		}
		for _, layer := range []map[string]*string{pending, msgView} {
			for k, v := range layer {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = *v
				}
			}
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		stop := len(keys)
		if stop > 0 && rng.IntN(2) == 0 {
			stop = rng.IntN(stop)
		}
		var got []string
		s.rangeKeys(b, puts, "st", 0, func(k string, v []byte) bool {
			if len(got) == stop {
				return false
			}
			got = append(got, k+"="+string(v))
			return true
		})
		var exp []string
		for _, k := range keys[:stop] {
			exp = append(exp, k+"="+want[k])
		}
		if d := cmp.Diff(exp, got); d != "" {
			t.Fatalf("round %d (-want +got):\n%s", round, d)
		}
		// Commit the batch (not the message writes) most of the time.
		if rng.IntN(4) != 0 {
			s.commit(b)
			for k, v := range pending {
				if v == nil {
					delete(committed, k)
				} else {
					committed[k] = *v
				}
			}
		}
		if rng.IntN(50) == 0 {
			s.indexOf("st", 0).stale = true // as after a restore
		}
	}
}

// BenchmarkRangeFirstKeysOf1M is the reconciler's timer check: a store of
// 1,000,000 committed keys, a batch that changes a few, and a Range that
// stops after the first ten keys.
func BenchmarkRangeFirstKeysOf1M(b *testing.B) {
	p := &Processor{cfg: Config{Service: "t"}}
	s := newStores(p, []string{"deadlines"})
	data := make(map[string][]byte, 1_000_000)
	for i := range 1_000_000 {
		data[fmt.Sprintf("%013d|%d", 1_700_000_000_000+int64(i)*7, i)] = []byte("x")
	}
	s.data["deadlines"][0] = data
	b.ResetTimer()
	for i := range b.N {
		batch := newBatch()
		batch.put("deadlines", 0, fmt.Sprintf("%013d|new%d", 1_700_000_000_000+int64(i)*13, i), []byte("y"))
		s.commit(batch)
		n := 0
		s.rangeKeys(nil, nil, "deadlines", 0, func(string, []byte) bool { n++; return n < 10 })
	}
}
