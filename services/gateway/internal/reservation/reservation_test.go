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

// Known is this replica's last view of a customer's reservations; a commit on it
// succeeds only while no change (another replica's reservation, a release, a
// settlement, an expiry) happened since, and a used idempotency key replays.
func TestKnownViewCommitsOnlyWhileCurrent(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	a, b := New(rdb, ""), New(rdb, "") // two replicas
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	res := func(amount int64, at time.Time, ttl time.Duration) Reservation {
		return Reservation{ID: NewID("C1"), Customer: "C1", Amount: money.Amount{Currency: "USD", Minor: amount}, CreatedAt: at, ExpiresAt: at.Add(ttl)}
	}
	if _, _, ok := a.Known("C1"); ok {
		t.Fatal("known before any snapshot")
	}
	if _, _, _, err := a.Snapshot(ctx, "C1", "", t0); err != nil {
		t.Fatal(err)
	}
	sum, v, ok := a.Known("C1")
	if !ok || sum != 0 {
		t.Fatalf("known after snapshot: %d %q %v", sum, v, ok)
	}
	r1 := res(700, t0, time.Minute)
	if err := a.Commit(ctx, v, r1, "k1", []byte("resp-1")); err != nil {
		t.Fatal(err)
	}
	if sum, v, _ = a.Known("C1"); sum != 700 {
		t.Fatalf("known after own commit: %d", sum)
	}
	// Straight from the known view: one round trip.
	if err := a.Commit(ctx, v, res(100, t0, time.Hour), "", nil); err != nil {
		t.Fatalf("commit on the current known view: %v", err)
	}
	if s, _, _, _ := b.Snapshot(ctx, "C1", "", t0); s != 800 {
		t.Fatalf("sum %d, want 800", s)
	}
	// Another replica reserves: a's view is stale.
	_, bv, _ := b.Known("C1")
	if err := b.Commit(ctx, bv, res(50, t0, time.Hour), "", nil); err != nil {
		t.Fatal(err)
	}
	_, v, _ = a.Known("C1")
	if err := a.Commit(ctx, v, res(1, t0, time.Hour), "", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a stale view: %v", err)
	}
	if _, _, ok := a.Known("C1"); ok {
		t.Error("stale view kept after a conflict")
	}
	// A release changes the version.
	if _, _, _, err := a.Snapshot(ctx, "C1", "", t0); err != nil {
		t.Fatal(err)
	}
	_, v, _ = a.Known("C1")
	if ok, err := b.Release(ctx, r1.ID); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	if err := a.Commit(ctx, v, res(1, t0, time.Hour), "", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit after a release: %v", err)
	}
	// An expiry since the view: conflict, and the snapshot's purge bumps the version.
	_, _, _, _ = a.Snapshot(ctx, "C1", "", t0)
	_, v, _ = a.Known("C1")
	later := t0.Add(2 * time.Hour) // the 1h reservations expired
	if err := a.Commit(ctx, v, res(1, later, time.Hour), "", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit after an expiry: %v", err)
	}
	if s, v2, _, _ := a.Snapshot(ctx, "C1", "", later); s != 0 || v2 == v {
		t.Fatalf("after expiry: sum %d version %q (was %q)", s, v2, v)
	}
	// A used idempotency key replays instead of reserving twice.
	_, v, _ = a.Known("C1")
	var rp *ReplayError
	if err := a.Commit(ctx, v, res(1, later, time.Hour), "k1", nil); !errors.As(err, &rp) || string(rp.Stored) != "resp-1" {
		t.Fatalf("commit with a used key: %v", err)
	}
}
