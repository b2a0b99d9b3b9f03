package readmodel

import (
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func newStore(t *testing.T) (*Store, *miniredis.Miniredis) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return NewStore(rdb, "p."), mr
}

func get(t *testing.T, s *Store, fields ...string) []string {
	t.Helper()
	vals, err := s.Get(context.Background(), Lookup{Model: Credit, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(fields))
	for i, v := range vals[0] {
		out[i] = string(v)
	}
	return out
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	s, mr := newStore(t)
	epoch, offs, err := s.Begin(ctx, Credit, "e1")
	if err != nil || epoch != "e1" || len(offs) != 0 {
		t.Fatalf("Begin = %q %v %v", epoch, offs, err)
	}
	// Not ready: reads fail with ErrNotReady.
	if _, err := s.Get(ctx, Lookup{Model: Credit, Fields: []string{"a"}}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("read before ready: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Apply(ctx, Credit, epoch, 0, 3, []Change{{0, "a", []byte("a0")}, {1, "b", []byte("b1")}, {2, "a", []byte("a2")}}))
	must(s.MarkReady(ctx, Credit, epoch))
	if d := cmp.Diff([]string{"a2", "b1", ""}, get(t, s, "a", "b", "c")); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A replica behind replays offsets 1..4: offsets below 3 are skipped, so "a"
	// keeps a2 rather than going back; the tombstone at 3 deletes "b".
	must(s.Apply(ctx, Credit, epoch, 0, 5, []Change{{1, "b", []byte("OLD")}, {2, "a", []byte("a2")}, {3, "b", nil}, {4, "c", []byte("c4")}}))
	if d := cmp.Diff([]string{"a2", "", "c4"}, get(t, s, "a", "b", "c")); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A second builder adopts the epoch and the stored offsets.
	e2, offs, err := s.Begin(ctx, Credit, "other")
	if err != nil || e2 != "e1" || offs[0] != 5 {
		t.Fatalf("second Begin = %q %v %v", e2, offs, err)
	}
	// Flush: the epoch is gone; writes of the old epoch are refused, reads are not ready.
	mr.FlushAll()
	if err := s.Apply(ctx, Credit, epoch, 0, 6, []Change{{5, "a", []byte("x")}}); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("apply after flush: %v", err)
	}
	if err := s.MarkReady(ctx, Credit, epoch); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("ready after flush: %v", err)
	}
	if _, err := s.Get(ctx, Lookup{Model: Credit, Fields: []string{"a"}}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("read after flush: %v", err)
	}
	// A new epoch starts empty even if stray data was left behind.
	s.Redis().HSet(ctx, s.Data(Credit), "stray", "1")
	e3, offs, err := s.Begin(ctx, Credit, "e3")
	if err != nil || e3 != "e3" || len(offs) != 0 {
		t.Fatalf("Begin after flush = %q %v %v", e3, offs, err)
	}
	if n, _ := s.Redis().HLen(ctx, s.Data(Credit)).Result(); n != 0 {
		t.Errorf("new epoch has %d stale entries", n)
	}
	eps, err := s.Epochs(ctx, Credit, PriceBook)
	if err != nil || eps[Credit] != "e3" || eps[PriceBook] != "" {
		t.Errorf("Epochs = %v %v", eps, err)
	}
}
