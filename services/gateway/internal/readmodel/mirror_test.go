package readmodel

import (
	"context"
	"errors"
	"testing"

	"github.com/isthmus/isthmus/services/gateway/internal/credit"
)

func TestMirror(t *testing.T) {
	ctx := context.Background()
	s, mr := newStore(t)
	s.WithMirror()
	epoch, _, err := s.Begin(ctx, Credit, "e1")
	if err != nil {
		t.Fatal(err)
	}
	acct := []byte(`{"customer_id":"C1","currency":"USD","limit":100}`)
	if err := s.Apply(ctx, Credit, epoch, 0, 2, []Change{{0, "C1", acct}, {1, "C2", []byte("{bad")}}); err != nil {
		t.Fatal(err)
	}
	// Loaded before the model is ready: not ready.
	offs, err := s.snapshot(ctx, Credit, epoch)
	if err != nil || offs[0] != 2 {
		t.Fatalf("snapshot: %v %v", offs, err)
	}
	if _, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C1"}}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before ready: %v", err)
	}
	if err := s.MarkReady(ctx, Credit, epoch); err != nil {
		t.Fatal(err)
	}
	// A snapshot of a ready model is ready; answers no longer need Redis.
	if _, err := s.snapshot(ctx, Credit, epoch); err != nil {
		t.Fatal(err)
	}
	mr.Close()
	vals, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C1", "C9"}})
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := vals[0][0].(*credit.Account); !ok || a.CustomerID != "C1" || vals[0][1] != nil {
		t.Fatalf("values %#v", vals[0])
	}
	raw, err := s.Get(ctx, Lookup{Model: Credit, Fields: []string{"C1"}})
	if err != nil || string(raw[0][0]) != string(acct) {
		t.Fatalf("Get = %q %v", raw, err)
	}
	if _, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C2"}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("undecodable entry: %v", err)
	}
	// Batches of the builder's epoch apply; of another epoch they do not.
	s.mirrorApply(Credit, epoch, 0, 4, []Change{{2, "C1", nil}, {3, "C3", acct}})
	s.mirrorApply(Credit, "old", 0, 5, []Change{{4, "C3", nil}})
	vals, err = s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C1", "C3"}})
	if err != nil || vals[0][0] != nil || vals[0][1] == nil {
		t.Fatalf("after batches: %#v %v", vals, err)
	}
	// A restarting builder continues from the mirror's offsets, not Redis'.
	if next, ok := s.resume(Credit, epoch); !ok || next[0] != 4 {
		t.Fatalf("resume = %v %v, want partition 0 at 4", next, ok)
	}
	if _, ok := s.resume(Credit, "other"); ok {
		t.Fatal("resumed another epoch")
	}
	// The epoch is gone: not ready until rebuilt.
	s.mirrorDrop(Models...)
	if _, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C3"}}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("after drop: %v", err)
	}
	if _, ok := s.resume(Credit, epoch); ok {
		t.Fatal("resumed a dropped mirror")
	}
}

func TestSnapshotOfChangedEpoch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.WithMirror()
	if _, _, err := s.Begin(ctx, Credit, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.snapshot(ctx, Credit, "e0"); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("snapshot of another epoch: %v", err)
	}
}

func TestValuesFromRedis(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	epoch, _, _ := s.Begin(ctx, Credit, "e1")
	if err := s.Apply(ctx, Credit, epoch, 0, 2, []Change{{0, "C1", []byte(`{"customer_id":"C1"}`)}, {1, "C2", []byte("{bad")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, Credit, epoch); err != nil {
		t.Fatal(err)
	}
	vals, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C1"}})
	if a, ok := vals[0][0].(*credit.Account); err != nil || !ok || a.CustomerID != "C1" {
		t.Fatalf("Values = %#v %v", vals, err)
	}
	if _, err := s.Values(ctx, Lookup{Model: Credit, Fields: []string{"C2"}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("undecodable entry: %v", err)
	}
}
