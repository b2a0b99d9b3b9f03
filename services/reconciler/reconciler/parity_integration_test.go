//go:build integration

package reconciler

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestParityEndToEnd on the real broker: PathResults of both paths for a
// clean pair, a pair with a seeded difference and a lone answer are
// answered on recon.parity.v1 with MATCH, DIFFERENT (naming the field)
// and MISSING_NEW, and the dashboard's parity panel counts them.
func TestParityEndToEnd(t *testing.T) {
	e := newEnv(t, map[string]string{"ISTHMUS_RECON_PARITY_WINDOW": "2s"})
	stop := e.start()
	defer stop()

	shadow := contracts.RoutingModeShadow
	clean := []*contracts.PathResult{orderResult(contracts.ErpPathLegacy, shadow, "o-clean", "c1"), orderResult(contracts.ErpPathNew, shadow, "o-clean", "c1")}
	seeded := orderResult(contracts.ErpPathNew, shadow, "o-diff", "c1")
	seeded.Lines[1].Status, seeded.Lines[1].RejectionReason = contracts.LineStatusAccepted, nil
	diff := []*contracts.PathResult{orderResult(contracts.ErpPathLegacy, shadow, "o-diff", "c1"), seeded}
	lone := orderResult(contracts.ErpPathLegacy, shadow, "o-lone", "c1")
	notCompared := orderResult(contracts.ErpPathNew, contracts.RoutingModeNew, "o-new", "c1")
	for _, r := range append(append(append(clean, diff...), lone), notCompared) {
		e.produce(e.rec(contracts.TopicERPPathResultsV1, flowmode.ResultKey(r.Flow, r.EntityID), r))
	}

	got := map[string]contracts.ParityResult{}
	for _, r := range consume(t, e, contracts.TopicReconParityV1, 3) {
		var p contracts.ParityResult
		if err := e.sd.Decode(context.Background(), r.Value, &p); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != flowmode.ResultKey(p.Flow, p.EntityID) {
			t.Errorf("verdict for %s keyed %q", p.EntityID, r.Key)
		}
		got[p.EntityID] = p
	}
	if v := got["o-clean"]; v.Verdict != contracts.ParityVerdictMatch || len(v.Differences) != 0 {
		t.Errorf("o-clean: %+v, want MATCH", v)
	}
	if v := got["o-diff"]; v.Verdict != contracts.ParityVerdictDifferent ||
		!slices.ContainsFunc(v.Differences, func(d contracts.ParityDifference) bool {
			return d.Field == "line[2].status" && contracts.Deref(d.Legacy) == contracts.LineStatusRejected && contracts.Deref(d.New) == contracts.LineStatusAccepted
		}) {
		t.Errorf("o-diff: %+v, want DIFFERENT on line[2].status", v)
	}
	if v := got["o-lone"]; v.Verdict != contracts.ParityVerdictMissingNew || !v.DecidedAt.After(v.FirstSeenAt) {
		t.Errorf("o-lone: %+v, want MISSING_NEW", v)
	}

	// The dashboard's parity panel.
	var orders map[string]any
	if !testinfra.Within(30*time.Second, func() bool {
		code, body := call(t, "GET", e.dashURL+"/api/parity", "", nil)
		flows, _ := body["flows"].([]any)
		for _, f := range flows {
			if m := f.(map[string]any); code == http.StatusOK && m["flow"] == flowmode.Orders {
				orders = m
			}
		}
		return orders != nil && orders["compared"] == float64(3)
	}) {
		t.Fatalf("parity panel: %v, want 3 orders compared", orders)
	}
	diffs, _ := orders["last_differences"].([]any)
	if orders["match"] != float64(1) || orders["different"] != float64(1) || orders["missing_new"] != float64(1) ||
		!slices.ContainsFunc(diffs, func(d any) bool {
			m := d.(map[string]any)
			return m["field"] == "line[2].status" && m["entity_id"] == "o-diff"
		}) ||
		orders["mode"].(map[string]any)["mode"] != contracts.RoutingModeNew {
		t.Errorf("parity panel orders: %v", orders)
	}
	// The page renders the panel.
	dom := headless(t, chromium(t), "--dump-dom", e.dashURL+"/")
	for _, want := range []string{"Parity (legacy", "o-diff", "line[2].status"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered dashboard does not show %q", want)
		}
	}
}

// TestFlowModeChange: the operations API lists the flows (NEW when none is
// recorded), refuses a mode change without ops.cutover (403), with an
// unknown flow or mode (400) and to the mode in force or before the last
// change took effect (409), and records a change on ops.flow-mode.v1 with
// its actor, reason and history, which GET then shows.
func TestFlowModeChange(t *testing.T) {
	e := newEnv(t, nil)
	is := testinfra.NewIssuer(t, "test-idp")
	e.env["ISTHMUS_OPS_JWKS_URL"] = is.JWKSURL
	e.env["ISTHMUS_OPS_ISSUER"] = is.Name
	stop := e.start()
	defer stop()
	viewer := is.Mint(t, "vera", []string{"ops.viewer"}, time.Hour)
	cutover := is.Mint(t, "cora", []string{"ops.cutover"}, time.Hour)
	base := e.dashURL + "/api/ops/flows"

	flowsOf := func() map[string]map[string]any {
		code, body := call(t, "GET", base, viewer, nil)
		if code != http.StatusOK {
			t.Fatalf("GET flows: %d %v", code, body)
		}
		out := map[string]map[string]any{}
		for _, f := range body["flows"].([]any) {
			m := f.(map[string]any)
			out[m["flow"].(string)] = m
		}
		return out
	}
	for _, f := range flowmode.Flows {
		if m := flowsOf()[f]; m["mode"] != contracts.RoutingModeNew || m["recorded"] != false {
			t.Errorf("flow %s before any change: %v", f, m)
		}
	}
	for _, c := range []struct {
		token, flow string
		body        any
		status      int
		param       string
	}{
		{viewer, "orders", map[string]any{"mode": "shadow"}, 403, ""},
		{"", "orders", map[string]any{"mode": "shadow"}, 401, ""},
		{cutover, "invoices", map[string]any{"mode": "shadow"}, 400, "flow"},
		{cutover, "orders", map[string]any{"mode": "sideways"}, 400, "mode"},
		{cutover, "orders", map[string]any{}, 400, "mode"},
		{cutover, "orders", map[string]any{"mode": "shadow", "by": "mallory"}, 400, "body"},
		{cutover, "orders", map[string]any{"mode": "new"}, 409, "mode"},
	} {
		code, b := call(t, "PUT", base+"/"+c.flow+"/mode", c.token, c.body)
		if code != c.status || c.param != "" && b["param"] != c.param {
			t.Errorf("PUT %s %v: %d %v, want %d (param %q)", c.flow, c.body, code, b, c.status, c.param)
		}
	}

	code, b := call(t, "PUT", base+"/orders/mode", cutover, map[string]any{"mode": "shadow", "reason": "parity run week 12"})
	if code != http.StatusCreated {
		t.Fatalf("PUT shadow: %d %v", code, b)
	}
	if code, b := call(t, "PUT", base+"/orders/mode", cutover, map[string]any{"mode": "new"}); code != http.StatusConflict {
		t.Errorf("a change before the last took effect: %d %v, want 409", code, b)
	}
	recs := consume(t, e, contracts.TopicOpsFlowModeV1, 1)
	var rec contracts.FlowMode
	if err := e.sd.Decode(context.Background(), recs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	if string(recs[0].Key) != "orders" || rec.Flow != "orders" || rec.Mode != contracts.RoutingModeShadow || rec.ChangedBy != "cora" ||
		contracts.Deref(rec.Reason) != "parity run week 12" || len(rec.History) != 0 || rec.Metadata.SourceSystem != contracts.SourceSystemOperator {
		t.Errorf("recorded %+v", rec)
	}
	m := flowsOf()["orders"]
	if m["mode"] != contracts.RoutingModeShadow || m["changed_by"] != "cora" || m["reason"] != "parity run week 12" || m["recorded"] != true {
		t.Errorf("GET after the change: %v", m)
	}
	if c := flowsOf()["customers"]; c["mode"] != contracts.RoutingModeNew {
		t.Errorf("customers changed too: %v", c)
	}

	// Once in effect: the same mode again is refused, another is recorded
	// with the shadow period in its history.
	time.Sleep(time.Until(rec.EffectiveAt) + 100*time.Millisecond)
	if code, b := call(t, "PUT", base+"/orders/mode", cutover, map[string]any{"mode": "SHADOW"}); code != http.StatusConflict {
		t.Errorf("same mode: %d %v, want 409", code, b)
	}
	if code, b := call(t, "PUT", base+"/orders/mode", cutover, map[string]any{"mode": "new", "reason": "cutover"}); code != http.StatusCreated {
		t.Fatalf("PUT new: %d %v", code, b)
	}
	m = flowsOf()["orders"]
	hist, _ := m["history"].([]any)
	if m["mode"] != contracts.RoutingModeNew || m["in_force"] != contracts.RoutingModeShadow || len(hist) != 1 ||
		hist[0].(map[string]any)["mode"] != contracts.RoutingModeShadow || hist[0].(map[string]any)["changed_by"] != "cora" {
		t.Errorf("GET after the second change: %v", m)
	}
}
