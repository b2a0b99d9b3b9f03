package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// endpoint is a minimal token endpoint for the fast tier (the integration
// tier runs against Ory Hydra): it checks the client and counts tokens.
func endpoint(t *testing.T, down *atomic.Bool, lifeSec int) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		id, secret, _ := r.BasicAuth()
		if id != "svc" || secret != "pw" || r.FormValue("grant_type") != "client_credentials" || r.FormValue("audience") != "gw" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad credentials"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer","expires_in":%d}`, n.Add(1), lifeSec)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestSourceCachesRenewsAndSurvivesOutage(t *testing.T) {
	var down atomic.Bool
	srv, n := endpoint(t, &down, 100)
	s, err := New(Config{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "pw", Audience: []string{"gw"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := context.Background()
	tok, err := s.Token(ctx)
	if err != nil || tok.Value != "tok-1" {
		t.Fatalf("first token %v %v", tok, err)
	}
	now = now.Add(70 * time.Second) // before 75% of 100s: cached
	if tok, _ = s.Token(ctx); tok.Value != "tok-1" || n.Load() != 1 {
		t.Fatalf("cached token expected, got %s after %d fetches", tok.Value, n.Load())
	}
	now = now.Add(10 * time.Second) // past 75%: renewed
	if tok, _ = s.Token(ctx); tok.Value != "tok-2" {
		t.Fatalf("renewed token expected, got %s", tok.Value)
	}
	down.Store(true)
	now = now.Add(80 * time.Second) // due for renewal, endpoint down, token still valid
	if tok, err = s.Token(ctx); err != nil || tok.Value != "tok-2" {
		t.Fatalf("cached token during outage expected, got %v %v", tok, err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready while the cached token is valid: %v", err)
	}
	now = now.Add(30 * time.Second) // expired, endpoint still down
	if _, err = s.Token(ctx); !errors.Is(err, ErrNoToken) {
		t.Fatalf("want ErrNoToken after expiry, got %v", err)
	}
	if s.Ready(ctx) == nil {
		t.Fatal("ready with no valid token")
	}
	down.Store(false)
	if tok, err = s.Token(ctx); err != nil || tok.Value != "tok-3" {
		t.Fatalf("recovery: %v %v", tok, err)
	}
}

func TestSourceRefusedClientIsOneLine(t *testing.T) {
	var down atomic.Bool
	srv, _ := endpoint(t, &down, 100)
	s, _ := New(Config{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "wrong", Audience: []string{"gw"}})
	_, err := s.Token(context.Background())
	if err == nil || !errors.Is(err, ErrNoToken) {
		t.Fatalf("want ErrNoToken, got %v", err)
	}
	if want := "answered 401: invalid_client: bad credentials"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q lacks %q", err, want)
	}
}

func TestRunRenewsAhead(t *testing.T) {
	var down atomic.Bool
	srv, n := endpoint(t, &down, 2) // renewed every 1.5s
	s, _ := New(Config{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "pw", Audience: []string{"gw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got < 2 || got > 4 {
		t.Fatalf("Run fetched %d tokens in 3.5s of 2s tokens; want 2-4", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{}, {TokenURL: "ftp://x", ClientID: "a", ClientSecret: "b"}, {TokenURL: "http://x"}, {TokenURL: "http://x", ClientID: "a"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
