package testinfra

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestRegistryClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subjects" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_, _ = w.Write([]byte(`["orders-value"]`))
	}))
	defer srv.Close()
	t.Setenv(EnvRegistryURL, srv.URL+"/")
	got, err := RegistryClient(t).Subjects(context.Background())
	if err != nil || !slices.Equal(got, []string{"orders-value"}) {
		t.Fatalf("subjects %v, %v; want the test server's", got, err)
	}
	t.Setenv(EnvRegistryURL, "")
	if msg := capture(t, func(tb testing.TB) { RegistryClient(tb) }); !strings.Contains(msg, EnvRegistryURL+" is not set") {
		t.Fatalf("unset registry: message %q", msg)
	}
}
