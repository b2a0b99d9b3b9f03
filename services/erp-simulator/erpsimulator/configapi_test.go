package erpsimulator

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// The documented channel for the fix before a retry: the admin endpoints
// change the live configuration orders are decided with.
func TestConfigAPI(t *testing.T) {
	live := erp.NewLive(erp.Rules{ExportRestricted: erp.ParseSet("IR,CU"), TaxMissing: erp.ParseSet("AR")})
	mux := http.NewServeMux()
	for pattern, h := range configAPI(live, slog.New(slog.NewTextHandler(io.Discard, nil))) {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	call := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	steps := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/erp/config", 200, `{"export_restricted":["CU","IR"],"tax_missing":["AR"]}`},
		{"POST", "/erp/export-licences/ir", 200, `{"export_restricted":["CU"],"tax_missing":["AR"]}`},
		{"POST", "/erp/tax-configuration/AR", 200, `{"export_restricted":["CU"],"tax_missing":[]}`},
		{"DELETE", "/erp/export-licences/RU", 200, `{"export_restricted":["CU","RU"],"tax_missing":[]}`},
		{"DELETE", "/erp/tax-configuration/LATAM", 200, `{"export_restricted":["CU","RU"],"tax_missing":["LATAM"]}`},
		{"POST", "/erp/export-licences/a%20b", 400, `"a b" is not a country or region code (2-16 letters, digits, '-')`},
	}
	for _, st := range steps {
		if code, body := call(st.method, st.path); code != st.code || body != st.body {
			t.Errorf("%s %s: %d %s, want %d %s", st.method, st.path, code, body, st.code, st.body)
		}
	}
	if d := live.Apply(erp.Rules{}); d.ExportRestricted["IR"] || !d.TaxMissing["LATAM"] {
		t.Errorf("live rules %+v", d)
	}
}
