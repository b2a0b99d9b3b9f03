package processor

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The store conformance suite: every test runs on the in-memory and the
// on-disk (Pebble) backend.
var backends = map[string]func(t testing.TB) backend{
	"memory": func(testing.TB) backend { return newMemBackend() },
	"disk": func(t testing.TB) backend {
		d, err := openDiskBackend(t.TempDir(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.close() })
		return d
	},
}

func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

func testStores(b backend, names ...string) *stores {
	s := newStores(&Processor{cfg: Config{Service: "t"}}, names)
	s.backend = b
	return s
}

// TestRangeMatchesAReferenceMap drives the store with random committed
// batches, uncommitted overlays and message writes, and checks every Range
// (including ones that stop early) and Get against a sorted reference.
func TestRangeMatchesAReferenceMap(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := testStores(be, "st", "st2")
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
			// Noise in another store and another partition.
			b.put("st2", 0, key(), []byte("other store"))
			b.put("st", 1, key(), []byte("other partition"))
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
			for k, v := range pending {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = *v
				}
			}
			for k, v := range want {
				if got, ok := s.get(b, "st", 0, k); !ok || string(got) != v {
					t.Fatalf("round %d: get %s = %q %v, want %q", round, k, got, ok, v)
				}
			}
			for k, v := range msgView {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = *v
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
				if err := s.commit(b); err != nil {
					t.Fatal(err)
				}
				for k, v := range pending {
					if v == nil {
						delete(committed, k)
					} else {
						committed[k] = *v
					}
				}
			}
		}
	})
}

// TestStoresAndPartitionsApart: a store whose name prefixes another's, and
// the same key in two partitions, never see each other's keys.
func TestStoresAndPartitionsApart(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		must(t, be.apply(0, []change{{store: "a", key: "x", value: []byte("a0")}, {store: "ab", key: "x", value: []byte("ab0")}}, nil))
		must(t, be.apply(1, []change{{store: "a", key: "x", value: []byte("a1")}, {store: "a", key: "\xff", value: []byte("a1ff")}}, nil))
		scan := func(store string, part int32) (out []string) {
			must(t, be.scan(store, part, func(k string, v []byte) bool { out = append(out, k+"="+string(v)); return true }))
			return out
		}
		for _, c := range []struct {
			store string
			part  int32
			want  []string
		}{{"a", 0, []string{"x=a0"}}, {"ab", 0, []string{"x=ab0"}}, {"a", 1, []string{"x=a1", "\xff=a1ff"}}, {"ab", 1, nil}} {
			if d := cmp.Diff(c.want, scan(c.store, c.part)); d != "" {
				t.Errorf("%s/%d (-want +got):\n%s", c.store, c.part, d)
			}
		}
		must(t, be.wipe(0))
		if v, ok, _ := be.get("a", 0, "x"); ok {
			t.Errorf("wiped partition still has x=%q", v)
		}
		if v, ok, _ := be.get("a", 1, "x"); !ok || string(v) != "a1" {
			t.Errorf("wiping partition 0 touched partition 1: %q %v", v, ok)
		}
	})
}

// TestCheckpointsKeptWithState: the disk backend returns the checkpoints
// written with the state (also after a reopen) and forgets them on wipe;
// memory keeps none (always a full restore).
func TestCheckpointsKeptWithState(t *testing.T) {
	dir := t.TempDir()
	d, err := openDiskBackend(dir, slog.New(slog.DiscardHandler))
	must(t, err)
	at := time.UnixMilli(1_700_000_000_123)
	id := kadm.TopicID{1, 2, 3}
	must(t, d.apply(3, []change{{store: "s", key: "k", value: []byte("v")}}, map[string]checkpoint{"t.changelog": {Offset: 42, At: at, TopicID: id}}))
	if _, err := openDiskBackend(dir, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a second open of the same state directory succeeded")
	}
	must(t, d.close())
	d, err = openDiskBackend(dir, slog.New(slog.DiscardHandler))
	must(t, err)
	defer d.close()
	cps, err := d.checkpoints(3)
	must(t, err)
	if d := cmp.Diff(map[string]checkpoint{"t.changelog": {Offset: 42, At: at, TopicID: id}}, cps); d != "" {
		t.Fatalf("checkpoints after reopen (-want +got):\n%s", d)
	}
	if v, ok, _ := d.get("s", 3, "k"); !ok || string(v) != "v" {
		t.Fatalf("state after reopen: %q %v", v, ok)
	}
	if cps, _ := d.checkpoints(4); len(cps) != 0 {
		t.Fatalf("partition 4 has checkpoints %v", cps)
	}
	must(t, d.wipe(3))
	if cps, _ := d.checkpoints(3); len(cps) != 0 {
		t.Fatalf("wiped partition keeps checkpoints %v", cps)
	}
	if cps, _ := newMemBackend().checkpoints(3); cps != nil {
		t.Fatalf("memory backend has checkpoints %v", cps)
	}
}

// The exactly-once suite with the state on disk (kfake; the real broker in
// state_integration_test.go): its restart restores from the local
// checkpoint.
func TestFakeExactlyOnceDiskState(t *testing.T) {
	suiteExactlyOnceAndOrder(t, fakeCluster(t), WithStateDir(t.TempDir()))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRangeFirstKeysOf1M is the reconciler's timer check: a store of
// 1,000,000 committed keys, a batch that changes a few, and a Range that
// stops after the first ten keys.
func BenchmarkRangeFirstKeysOf1M(b *testing.B) {
	for _, name := range []string{"memory", "disk"} {
		b.Run(name, func(b *testing.B) {
			s := testStores(backends[name](b), "deadlines")
			cs := make([]change, 0, 10_000)
			for i := range 1_000_000 {
				cs = append(cs, change{store: "deadlines", key: fmt.Sprintf("%013d|%d", 1_700_000_000_000+int64(i)*7, i), value: []byte("x")})
				if len(cs) == cap(cs) {
					must(b, s.backend.apply(0, cs, nil))
					cs = cs[:0]
				}
			}
			b.ResetTimer()
			for i := range b.N {
				batch := newBatch()
				batch.put("deadlines", 0, fmt.Sprintf("%013d|new%d", 1_700_000_000_000+int64(i)*13, i), []byte("y"))
				must(b, s.commit(batch))
				n := 0
				s.rangeKeys(nil, nil, "deadlines", 0, func(string, []byte) bool { n++; return n < 10 })
			}
		})
	}
}
