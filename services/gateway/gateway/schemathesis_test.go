package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// testSchemathesis runs scripts/gateway/schemathesis.sh through a counting proxy:
// schemathesis must pass, send at least 1,000 API requests, and see no 5xx.
func testSchemathesis(t *testing.T, e *gwtest.Env, python string) {
	seed(e)
	g := e.Start(e.Config())
	token := e.Token("schemathesis", 24*time.Hour, gwtest.AllScopes...)
	waitReady(t, dial(t, g, token))

	target, _ := url.Parse("http://" + g.HTTPAddr)
	var requests, serverErrors atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if strings.HasPrefix(r.Request.URL.Path, "/v1/") {
			requests.Add(1)
			if r.StatusCode >= 500 {
				serverErrors.Add(1)
			}
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	script, _ := filepath.Abs("../../../scripts/gateway/schemathesis.sh")
	cmd := exec.Command(script, srv.URL, token)
	cmd.Env = append(os.Environ(), "ISTHMUS_PYTHON="+python, "REPORT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	tail := string(out)
	if len(tail) > 6000 {
		tail = tail[len(tail)-6000:]
	}
	if err != nil {
		t.Fatalf("schemathesis failed: %v\n%s", err, tail)
	}
	t.Logf("schemathesis: %d API requests, %d 5xx\n%s", requests.Load(), serverErrors.Load(), tail)
	if requests.Load() < 1000 {
		t.Errorf("only %d generated requests, want >= 1000", requests.Load())
	}
	if serverErrors.Load() > 0 {
		t.Errorf("%d responses were 5xx", serverErrors.Load())
	}
}
