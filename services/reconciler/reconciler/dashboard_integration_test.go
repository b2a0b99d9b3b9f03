//go:build integration

package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: not JSON (%d): %s", u, r.StatusCode, b)
	}
	return r.StatusCode, body
}

// testDashboard checks the API's answers to good and bad input, then loads
// the page in headless Chromium.
func testDashboard(t *testing.T, e *itEnv) {
	base := e.dashURL
	// the projection catches up with the breaks topic
	closed := 0
	if !testinfra.Within(20*time.Second, func() bool {
		_, b := getJSON(t, base+"/api/breaks?status=CLOSED")
		closed = len(b["breaks"].([]any))
		return closed >= 10
	}) {
		t.Fatalf("dashboard shows %d closed breaks, want 10", closed)
	}
	cases := []struct {
		path   string
		status int
		check  func(map[string]any) bool
	}{
		{"/api/overview", 200, func(b map[string]any) bool { _, ok := b["open_breaks_by_kind"]; return ok }},
		{"/api/breaks?kind=ORDER_NOT_SUBMITTED", 200, func(b map[string]any) bool { return len(b["breaks"].([]any)) == 1 }},
		{"/api/breaks?kind=NOPE", 400, nil},
		{"/api/breaks?status=OPEN&status=CLOSED", 400, nil},
		{"/api/breaks?limit=-1", 400, nil},
		{"/api/exceptions?queue=FINANCE_OPS", 200, func(b map[string]any) bool { return b["exceptions"] != nil }},
		{"/api/exceptions?queue=" + url.QueryEscape("x' OR 1=1 --"), 400, nil},
		{"/api/timeline?q=corr-b1", 200, func(b map[string]any) bool { return len(b["events"].([]any)) >= 3 && unique(b["events"].([]any)) }},
		{"/api/timeline?q=b-o3", 200, func(b map[string]any) bool { return len(b["events"].([]any)) >= 4 }},
		{"/api/timeline?q=no-such-id-anywhere", 200, func(b map[string]any) bool { return len(b["events"].([]any)) == 0 }},
		{"/api/timeline?q=" + url.QueryEscape("' OR '1'='1"), 400, nil},
		{"/api/timeline?q=" + url.QueryEscape("<script>alert(1)</script>"), 400, nil},
		{"/api/timeline?q=" + url.QueryEscape("{\"$ne\":null}"), 400, nil},
		{"/api/timeline?q=" + strings.Repeat("a", 10_000), 400, nil},
		{"/api/timeline", 400, nil},
	}
	for _, c := range cases {
		code, body := getJSON(t, base+c.path)
		if code != c.status {
			t.Errorf("GET %.80s: status %d, want %d (%v)", c.path, code, c.status, body)
			continue
		}
		if c.status == 400 && body["error"] == "" {
			t.Errorf("GET %.80s: 400 without an error message", c.path)
		}
		if c.check != nil && !c.check(body) {
			t.Errorf("GET %.80s: unexpected body %v", c.path, body)
		}
	}
	browser(t, base)
}

// unique reports whether no event appears twice on a timeline.
func unique(events []any) bool {
	seen := map[string]bool{}
	for _, e := range events {
		m := e.(map[string]any)
		k := fmt.Sprint(m["topic"], "/", m["partition"], "/", m["offset"])
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

func chromium(t *testing.T) string {
	if p := findChromium(); p != "" {
		return p
	}
	// scripts/reconciler/browser-deps.sh installs Debian's chromium when
	// running as root, and explains what to do otherwise.
	out, err := exec.Command(filepath.Join("..", "..", "..", "scripts", "reconciler", "browser-deps.sh")).CombinedOutput()
	t.Logf("browser-deps.sh: %s", out)
	if p := findChromium(); err == nil && p != "" {
		return p
	}
	t.Fatal("no Chromium found: run scripts/reconciler/browser-deps.sh (installs Debian's chromium as root) or set ISTHMUS_CHROMIUM")
	return ""
}

func findChromium() string {
	for _, c := range []string{os.Getenv("ISTHMUS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// browser loads the dashboard in headless Chromium, lets its scripts run
// (virtual time budget), and checks the rendered DOM: injected breaks in
// the list, and the timeline of a correlation-id search. It writes a
// screenshot to .cache/artifacts (or $ISTHMUS_ARTIFACTS).
// headless runs Chromium bin headless with args (--dump-dom URL, ...) in a
// fresh profile and returns its output.
func headless(t *testing.T, bin string, args ...string) string {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--virtual-time-budget=8000", "--window-size=1400,3600"}, args...)
	out, err := exec.CommandContext(ctx, bin, all...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}

func browser(t *testing.T, base string) {
	bin := chromium(t)
	dir := os.Getenv("ISTHMUS_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".cache", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string { return headless(t, bin, args...) }
	page := base + "/?q=corr-b3#search"
	dom := run("--dump-dom", page)
	for _, want := range []string{"ORDER_NOT_SUBMITTED", "INVOICE_NOT_POSTED", "BILLING_JOURNAL_MISMATCH", "CUSTOMER_NOT_IN_ERP"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered dashboard does not show %s", want)
		}
	}
	if !strings.Contains(dom, "events for corr-b3") || strings.Count(dom, "erp.order-status.v1") < 2 || !strings.Contains(dom, "erp.invoice.v1") {
		t.Errorf("the correlation-id search shows no timeline for corr-b3")
	}
	bad := run("--dump-dom", base+"/?q="+url.QueryEscape("<img src=x onerror=alert(1)>")+"#search")
	if strings.Contains(bad, "<img src=\"x\"") || !strings.Contains(bad, "q may contain only") {
		t.Errorf("a hostile search is not refused cleanly")
	}
	shot, _ := filepath.Abs(filepath.Join(dir, "reconciler-dashboard.png"))
	run("--screenshot="+shot, page)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("no screenshot at %s (%v)", shot, err)
	}
	t.Logf("dashboard screenshot: %s", shot)
	if err := os.WriteFile(filepath.Join(dir, "reconciler-dashboard.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
}
