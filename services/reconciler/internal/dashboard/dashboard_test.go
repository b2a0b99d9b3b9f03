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

// The parity panel: each routed flow with its mode and its entities by
// latest verdict (a later verdict replaces an earlier one; an older one
// arriving late does not), the newest differences first.
func TestParity(t *testing.T) {
	m := readmodel.New(readmodel.Limits{MaxEvents: 100, MaxPerKey: 10, MaxItems: 10})
	now := time.Now().UTC().Truncate(time.Millisecond)
	str := func(s string) *string { return &s }
	add := func(entity, verdict string, at time.Time, diffs ...contracts.ParityDifference) {
		m.Add(contracts.TopicReconParityV1, 0, 0, "orders|"+entity, at, &contracts.ParityResult{Metadata: contracts.EventMetadata{EventID: entity + verdict, CorrelationID: "c", OccurredAt: at},
			Flow: "orders", EntityID: entity, Verdict: verdict, Differences: diffs, FirstSeenAt: at, DecidedAt: at})
	}
	add("o-1", contracts.ParityVerdictDifferent, now.Add(-time.Minute), contracts.ParityDifference{Field: "status", Legacy: str("ACCEPTED"), New: str("REJECTED")})
	add("o-1", contracts.ParityVerdictMatch, now)
	add("o-1", contracts.ParityVerdictMissingNew, now.Add(-2*time.Minute)) // older, arrived late
	add("o-2", contracts.ParityVerdictDifferent, now, contracts.ParityDifference{Field: "line[2].status", Legacy: str("REJECTED"), New: str("ACCEPTED")})
	add("o-3", contracts.ParityVerdictMissingLegacy, now)
	at := now.Add(-time.Hour)
	srv := httptest.NewServer((&Server{Model: m, Modes: func() map[string]contracts.FlowMode {
		return map[string]contracts.FlowMode{"orders": {Flow: "orders", Mode: contracts.RoutingModeShadow, EffectiveAt: at, ChangedBy: "cora"}}
	}}).Handler())
	defer srv.Close()
	r, err := http.Get(srv.URL + "/api/parity")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var body struct {
		Flows []FlowParity `json:"flows"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Flows) != 2 {
		t.Fatalf("%v %+v", err, body)
	}
	c, o := body.Flows[0], body.Flows[1]
	if c.Flow != "customers" || c.Mode.Mode != contracts.RoutingModeNew || c.Mode.Recorded || c.Compared != 0 {
		t.Errorf("customers: %+v", c)
	}
	if o.Flow != "orders" || o.Mode.Mode != contracts.RoutingModeShadow || o.Mode.InForce != contracts.RoutingModeShadow || o.Mode.ChangedBy != "cora" ||
		o.Compared != 3 || o.Match != 1 || o.Different != 1 || o.MissingLegacy != 1 || o.MissingNew != 0 ||
		len(o.LastDifferences) != 1 || o.LastDifferences[0].EntityID != "o-2" || o.LastDifferences[0].Field != "line[2].status" {
		t.Errorf("orders: %+v", o)
	}
}
