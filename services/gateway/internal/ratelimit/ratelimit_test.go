package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestGCRA(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	l := New(rdb, "", 10, 3) // 10/s, burst 3
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mr.SetTime(base)
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "a"); err != nil || !ok {
			t.Fatalf("call %d within burst refused: %v", i, err)
		}
	}
	ok, wait, err := l.Allow(ctx, "a")
	if err != nil || ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("4th call: ok=%v wait=%v err=%v", ok, wait, err)
	}
	if ok, _, _ := l.Allow(ctx, "b"); !ok {
		t.Error("other client limited")
	}
	mr.SetTime(base.Add(wait))
	if ok, _, _ := l.Allow(ctx, "a"); !ok {
		t.Error("refused after the advertised wait")
	}
	if ok, _, _ := New(rdb, "", 0, 1).Allow(ctx, "a"); !ok {
		t.Error("disabled limiter refused")
	}
}
