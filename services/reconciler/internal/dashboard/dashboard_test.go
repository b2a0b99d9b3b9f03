package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
)

func TestAPI(t *testing.T) {
	m := readmodel.New(readmodel.Limits{MaxEvents: 100, MaxPerKey: 10, MaxItems: 10})
	now := time.Now().UTC()
	exp := "x"
	m.Add(contracts.TopicReconBreaksV1, 0, 1, "b1", now, &contracts.ReconBreak{Metadata: contracts.EventMetadata{EventID: "e", CorrelationID: "corr-1", OccurredAt: now},
		BreakID: "b1", Kind: contracts.BreakKindInvoiceNotPosted, Severity: "HIGH", Status: "OPEN", EntityIds: map[string]string{"order_id": "o-1"}, Expected: &exp, DetectedAt: now})
	m.Add(contracts.TopicOpsExceptionsV1, 0, 1, "x1", now, &contracts.OperationalException{Metadata: contracts.EventMetadata{EventID: "e2", CorrelationID: "corr-1", OccurredAt: now.Add(-time.Minute)},
		ExceptionID: "x1", Queue: "FINANCE_OPS", Status: "OPEN", Severity: "HIGH", EntityIds: map[string]string{"order_id": "o-1"}})
	srv := httptest.NewServer((&Server{Model: m}).Handler())
	defer srv.Close()
	tests := []struct {
		path   string
		status int
		count  func(map[string]any) int
		want   int
	}{
		{"/api/breaks", 200, list("breaks"), 1},
		{"/api/breaks?kind=INVOICE_NOT_POSTED&status=OPEN", 200, list("breaks"), 1},
		{"/api/breaks?kind=ORDER_NOT_SUBMITTED", 200, list("breaks"), 0},
		{"/api/breaks?kind=DROP%20TABLE", 400, nil, 0},
		{"/api/breaks?status=open", 400, nil, 0},
		{"/api/breaks?limit=abc", 400, nil, 0},
		{"/api/exceptions?queue=FINANCE_OPS&status=open", 200, list("exceptions"), 1},
		{"/api/exceptions?queue=finance", 400, nil, 0},
		{"/api/timeline?q=corr-1", 200, list("events"), 2},
		{"/api/timeline?q=o-1", 200, list("events"), 2},
		{"/api/timeline?q=unknown-id", 200, list("events"), 0},
		{"/api/timeline?q=" + url.QueryEscape("1; DROP TABLE breaks"), 400, nil, 0},
		{"/api/timeline?q=" + url.QueryEscape("../../etc/passwd"), 400, nil, 0},
		{"/api/timeline?q=" + strings.Repeat("x", 129), 400, nil, 0},
		{"/api/timeline?q=a&q=b", 400, nil, 0},
		{"/api/timeline", 400, nil, 0},
	}
	for _, tc := range tests {
		r, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		r.Body.Close()
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.path, r.StatusCode, tc.status, body)
			continue
		}
		if tc.status == 400 && body["error"] == nil {
			t.Errorf("%s: 400 without error", tc.path)
		}
		if tc.count != nil && tc.count(body) != tc.want {
			t.Errorf("%s: %d items, want %d", tc.path, tc.count(body), tc.want)
		}
	}
	r, err := http.Get(srv.URL + "/")
	if err != nil || r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("index: %v %v", err, r)
	}
	var o map[string]any
	r, _ = http.Get(srv.URL + "/api/overview")
	_ = json.NewDecoder(r.Body).Decode(&o)
	if o["open_breaks_by_kind"].(map[string]any)["INVOICE_NOT_POSTED"].(float64) != 1 {
		t.Errorf("overview: %v", o["open_breaks_by_kind"])
	}
}

func list(name string) func(map[string]any) int {
	return func(b map[string]any) int { l, _ := b[name].([]any); return len(l) }
}

func TestModelBounds(t *testing.T) {
	m := readmodel.New(readmodel.Limits{MaxEvents: 50, MaxPerKey: 5, MaxItems: 10})
	for i := range 500 {
		m.Add(contracts.TopicCRMAccountV1, 0, int64(i), "a", time.Now(), &contracts.Account{Metadata: contracts.EventMetadata{CorrelationID: "same"}, AccountID: "a"})
	}
	if n := len(m.Timeline("same")); n != 5 {
		t.Errorf("per-id cap: %d entries, want 5", n)
	}
	o := m.Overview(time.Now())
	if o.Events != 50 {
		t.Errorf("ring: %d events, want 50", o.Events)
	}
}
