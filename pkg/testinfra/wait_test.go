package testinfra

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !Within(time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("a condition that holds on the third check timed out")
	}
	start := time.Now()
	if Within(250*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds held")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("gave up after %s, before the deadline", d)
	}
}

func TestWaitReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	time.AfterFunc(200*time.Millisecond, func() { ready.Store(true) })
	WaitReady(t, srv.Listener.Addr().String(), 5*time.Second)
}
