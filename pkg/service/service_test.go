package service

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/gatewayclient"
	"github.com/isthmus/isthmus/pkg/oauth"
)

// The gateway's token renewal runs as a part of the service only with
// OAuth credentials, and is in readiness only when asked.
func TestDialGateway(t *testing.T) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":3600}`))
	}))
	defer idp.Close()
	for _, tc := range []struct {
		name      string
		cfg       gatewayclient.Config
		ready     bool
		wantParts int
	}{
		{"static token", gatewayclient.Config{Token: "dev"}, true, 0},
		{"oauth, in readiness", gatewayclient.Config{OAuth: oauth.Config{TokenURL: idp.URL, ClientID: "c", ClientSecret: "s", Scopes: []string{"pricing:read"}}}, true, 1},
		{"oauth, not in readiness", gatewayclient.Config{OAuth: oauth.Config{TokenURL: idp.URL, ClientID: "c", ClientSecret: "s", Scopes: []string{"pricing:read"}}}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := New(&config.Common{AdminAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:1"}, slog.New(slog.DiscardHandler))
			conn, err := svc.DialGateway(tc.cfg, tc.ready)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if len(svc.comps) != tc.wantParts {
				t.Fatalf("parts = %d, want %d", len(svc.comps), tc.wantParts)
			}
			if err := svc.Admin.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- svc.Admin.Run(ctx) }()
			defer func() { cancel(); <-done }()
			resp, err := http.Get("http://" + svc.Admin.Addr() + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if named := strings.Contains(string(b), "gateway-credentials"); named != (tc.ready && tc.wantParts == 1) {
				t.Errorf("readyz names gateway-credentials: %v, want %v (%s)", named, tc.ready && tc.wantParts == 1, b)
			}
		})
	}
}
