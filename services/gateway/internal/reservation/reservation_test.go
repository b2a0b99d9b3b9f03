package reservation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/isthmus/isthmus/services/gateway/internal/money"
)

func TestReservations(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := New(rdb, "")
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	usd := func(v int64) money.Amount { return money.Amount{Currency: "USD", Minor: v} }

	sum, v0, replay, err := s.Snapshot(ctx, "C1", "k1", t0)
	if err != nil || sum != 0 || replay != nil {
		t.Fatalf("empty snapshot: %d %v %v", sum, replay, err)
	}
	r1 := Reservation{ID: NewID("C1"), Customer: "C1", Amount: usd(700), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := s.Commit(ctx, v0, r1, "k1", []byte("resp-1")); err != nil {
		t.Fatal(err)
	}
	// A decision taken on the old snapshot cannot commit.
	r2 := Reservation{ID: NewID("C1"), Customer: "C1", Amount: usd(300), CreatedAt: t0.Add(10 * time.Second), ExpiresAt: t0.Add(2 * time.Minute)}
	if err := s.Commit(ctx, v0, r2, "", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	sum, v1, replay, err := s.Snapshot(ctx, "C1", "k1", t0)
	if err != nil || sum != 700 || string(replay) != "resp-1" {
		t.Fatalf("snapshot: %d %q %v", sum, replay, err)
	}
	if err := s.Commit(ctx, v1, r2, "", nil); err != nil {
		t.Fatal(err)
	}
	if sum, _, _, _ = s.Snapshot(ctx, "C1", "", t0); sum != 1000 {
		t.Errorf("sum = %d, want 1000", sum)
	}
	// r1 expires after a minute.
	if sum, _, _, _ = s.Snapshot(ctx, "C1", "", t0.Add(61*time.Second)); sum != 300 {
		t.Errorf("after r1 expiry sum = %d, want 300", sum)
	}
	// ERP exposure computed after r2 was made settles it.
	if n, err := s.Settle(ctx, "C1", t0.Add(5*time.Second)); err != nil || n != 0 {
		t.Errorf("settle before r2: %d %v", n, err)
	}
	if n, err := s.Settle(ctx, "C1", t0.Add(10*time.Second)); err != nil || n != 1 {
		t.Errorf("settle r2: %d %v", n, err)
	}
	if ok, err := s.Release(ctx, r2.ID); err != nil || ok {
		t.Errorf("release settled: %v %v", ok, err)
	}
	// Release.
	_, v2, _, _ := s.Snapshot(ctx, "C2", "", t0)
	r3 := Reservation{ID: NewID("C2|x"), Customer: "C2|x", Amount: usd(5), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.Commit(ctx, v2, r3, "", nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Release(ctx, r3.ID); err != nil || !ok {
		t.Errorf("release: %v %v", ok, err)
	}
	if _, err := s.Release(ctx, "nope"); !errors.Is(err, ErrBadID) {
		t.Errorf("bad id: %v", err)
	}
	if c, err := CustomerOf(r3.ID); err != nil || c != "C2|x" {
		t.Errorf("CustomerOf = %q %v", c, err)
	}
}
