package gateway_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	b := func(v []byte) string { return base64.RawURLEncoding.EncodeToString(v) }
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig",
		"x": b(k.X.FillBytes(make([]byte, 32))), "y": b(k.Y.FillBytes(make([]byte, 32)))}
}

// testRotationUnderLoad: while calls with a token keep coming (gRPC and REST, so
// both token caches hold it), its key is removed from the JWKS; the token must be
// refused within the refresh interval, and tokens of the remaining JWKS key and of
// the static key file must keep working.
func testRotationUnderLoad(t *testing.T, e *gwtest.Env) {
	seed(e)
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	next, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var doc atomic.Value
	publish := func(keys ...map[string]string) {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		doc.Store(b)
	}
	publish(ecJWK("old", old), ecJWK("next", next))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc.Load().([]byte))
	}))
	defer jwks.Close()
	const refresh = 200 * time.Millisecond
	cfg := e.Config()
	cfg.JWKSURL, cfg.JWKSRefresh = jwks.URL, refresh
	g := e.Start(cfg)
	tokOld := gwtest.SignES256(t, old, "old", "q2o", time.Hour, gwtest.AllScopes...)
	c := dial(t, g, tokOld)
	waitReady(t, c)

	var (
		rotated  atomic.Int64 // unix nanos; 0 before the rotation
		lastOK   atomic.Int64 // unix nanos of the last success after the rotation
		mu       sync.Mutex
		bad      []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		okBefore atomic.Int64
	)
	record := func(ok bool, code codes.Code, what string) {
		switch {
		case ok && rotated.Load() == 0:
			okBefore.Add(1)
		case ok:
			lastOK.Store(time.Now().UnixNano())
		case code != codes.Unauthenticated || rotated.Load() == 0:
			mu.Lock()
			bad = append(bad, what+": "+code.String())
			mu.Unlock()
		}
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokOld)
					_, err := c.pricing.PriceQuote(ctx, quote(line("W", 1)))
					cancel()
					record(err == nil, status.Code(err), "gRPC")
					continue
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+g.HTTPAddr+"/v1/pricing:quote", bytes.NewReader([]byte(`{"erpCustomerId":"C1","currencyCode":"USD","region":"NA","lines":[{"sku":"W","quantity":"1"}]}`)))
				req.Header.Set("Authorization", "Bearer "+tokOld)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					record(false, codes.Unknown, "REST "+err.Error())
					continue
				}
				resp.Body.Close()
				code := codes.Unknown
				switch resp.StatusCode {
				case 200:
					code = codes.OK
				case 401:
					code = codes.Unauthenticated
				}
				record(code == codes.OK, code, "REST "+resp.Status)
			}
		}()
	}
	time.Sleep(3 * refresh) // several refreshes with unchanged keys: no effect
	publish(ecJWK("next", next))
	at := time.Now()
	rotated.Store(at.UnixNano())
	time.Sleep(refresh + time.Second)
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d unexpected answers, first: %s", len(bad), bad[0])
	}
	if okBefore.Load() == 0 {
		t.Fatal("no successful call before the rotation")
	}
	if l := lastOK.Load(); l != 0 {
		if after := time.Unix(0, l).Sub(at); after > refresh+300*time.Millisecond {
			t.Fatalf("token of the removed key accepted %v after rotation (refresh every %v)", after, refresh)
		}
	}
	t.Logf("%d calls before rotation; removed key's token refused within %v", okBefore.Load(), refresh+300*time.Millisecond)
	for name, tok := range map[string]string{
		"remaining JWKS key": gwtest.SignES256(t, next, "next", "q2o", time.Hour, gwtest.AllScopes...),
		"static key file":    e.Token("q2o", time.Hour, gwtest.AllScopes...),
	} {
		c := dial(t, g, tok)
		if _, err := c.pricing.PriceQuote(c.ctx(), quote(line("W", 1))); err != nil {
			t.Errorf("%s after rotation: %v", name, err)
		}
	}
}

func TestRotationUnderLoad(t *testing.T) { testRotationUnderLoad(t, gwtest.Unit(t)) }
