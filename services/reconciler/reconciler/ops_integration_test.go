//go:build integration

package reconciler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// audits returns the "ops audit" log lines.
func (l *lockedBuffer) audits(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "ops audit" {
			out = append(out, m)
		}
	}
	return out
}

// call makes one API request with token ("" for none) and returns the status
// and the decoded JSON body.
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %s", method, url, r.StatusCode, raw)
	}
	return r.StatusCode, out
}

// opsException is an open exception allowing allowed, of amount (minor units).
func (e *itEnv) opsException(id string, amount int64, allowed ...string) *kgo.Record {
	return e.rec(contracts.TopicOpsExceptionsV1, id, &contracts.OperationalException{
		Metadata: md("corr-"+id, contracts.SourceSystemQuoteToOrder), ExceptionID: id, Category: contracts.ExceptionCategoryExportControl,
		Queue: contracts.ExceptionQueueTradeCompliance, Severity: contracts.SeverityHigh, Status: contracts.ExceptionStatusOpen,
		OwnerService: "quote-to-order", Summary: "line 2 rejected for export control", EntityIds: map[string]string{"quote_id": "Q-" + id},
		Context: map[string]string{"total": fmt.Sprintf("%d EUR (minor units)", amount)}, AllowedActions: allowed})
}

// The role matrix: every action of the operations API × every role.
// Written out here, not derived from the code under test.
var (
	resolverActions = []string{"RESOLVE", "RETRY", "DISMISS", "CANCEL", "REJECT", "REQUOTE", "APPROVE_PRICE", "MERGE", "NOT_DUPLICATE", "PICK_SURVIVOR", "SPLIT", "OVERRIDE", "RELEASE_HOLD"}
	approverActions = []string{"OVERRIDE", "RELEASE_HOLD", "REPOST", "ROUTE_TO_FINANCE"}
	allActions      = []string{"RESOLVE", "RETRY", "MERGE", "NOT_DUPLICATE", "RELEASE_HOLD", "APPROVE_PRICE", "CANCEL", "DISMISS", "OVERRIDE", "REJECT", "REQUOTE", "REPOST", "ROUTE_TO_FINANCE", "PICK_SURVIVOR", "SPLIT"}
)

// TestOperationsAPI: authentication (401), the role matrix (403 or
// allowed) for every decision action, approval and replay, precise 400s,
// four eyes (a second, different finance.approver; self-approval refused;
// the amount threshold), pending approvals shared by two instances through
// their topic, the decisions on ops.decisions.v1 carrying the verified
// actor and approvers, and an audit line for every decision and refusal.
func TestOperationsAPI(t *testing.T) {
	e := newEnv(t, nil)
	logs := &lockedBuffer{}
	e.logs = logs
	is := testinfra.NewIssuer(t, "test-idp")
	e.env["ISTHMUS_OPS_JWKS_URL"] = is.JWKSURL
	e.env["ISTHMUS_OPS_ISSUER"] = is.Name
	e.env["ISTHMUS_OPS_FOUR_EYES_MINOR"] = "500000"
	stop := e.start()
	defer stop()

	tok := map[string]string{
		"viewer":   is.Mint(t, "vera", []string{"ops.viewer"}, time.Hour),
		"resolver": is.Mint(t, "rita", []string{"ops.viewer", "ops.resolver"}, time.Hour),
		"approver": is.Mint(t, "fina", []string{"ops.viewer", "finance.approver"}, time.Hour),
		"replayer": is.Mint(t, "rex", []string{"ops.replayer"}, time.Hour),
		"none":     is.Mint(t, "nobody", nil, time.Hour),
	}
	approver2 := is.Mint(t, "finn", []string{"finance.approver"}, time.Hour)
	other := testinfra.NewIssuer(t, "test-idp") // same name, another key
	base := e.dashURL + "/api/ops"

	var recs []*kgo.Record
	for _, a := range allActions {
		recs = append(recs, e.opsException("EX-"+a, 100, allActions...))
	}
	recs = append(recs, e.opsException("EX-limited", 100, "RESOLVE", "DISMISS"), e.opsException("EX-big", 900_000, allActions...),
		e.opsException("EX-shared", 100, allActions...))
	e.produce(recs...)
	var shown map[string]any
	if !testinfra.Within(30*time.Second, func() bool {
		_, shown = call(t, "GET", e.dashURL+"/api/exceptions?limit=100", tok["viewer"], nil)
		ex, _ := shown["exceptions"].([]any)
		return len(ex) == len(recs)
	}) {
		t.Fatalf("the dashboard shows %v, want %d exceptions", shown, len(recs))
	}

	// Authentication: every route, reads included.
	expired := is.Mint(t, "rita", []string{"ops.resolver"}, -time.Hour)
	forged := other.Mint(t, "rita", []string{"ops.resolver"}, time.Hour)
	for _, tk := range []string{"", "not-a-jwt", expired, forged} {
		for _, c := range []struct{ method, url string }{
			{"GET", e.dashURL + "/api/exceptions"}, {"GET", e.dashURL + "/api/overview"}, {"GET", base + "/me"},
			{"POST", base + "/exceptions/EX-RESOLVE/decisions"}, {"GET", base + "/approvals"}, {"POST", base + "/approvals/x/approve"},
			{"POST", base + "/dlq/reconciler/replay"}, {"GET", base + "/exceptions/EX-RESOLVE/timeline"},
		} {
			if code, b := call(t, c.method, c.url, tk, map[string]any{"action": "RESOLVE"}); code != http.StatusUnauthorized || b["error"] == "" {
				t.Errorf("%s %s with token %.10q: %d %v, want 401", c.method, c.url, tk, code, b)
			}
		}
	}
	if code, _ := call(t, "GET", e.dashURL+"/api/exceptions", tok["none"], nil); code != http.StatusForbidden {
		t.Errorf("a token without operations roles reads the exceptions: %d", code)
	}

	// The matrix: every action × role.
	published := map[string]string{} // decision id → actor
	for _, a := range allActions {
		for _, role := range []string{"viewer", "resolver", "approver", "replayer", "none"} {
			want := http.StatusForbidden
			if role == "resolver" && slices.Contains(resolverActions, a) || role == "approver" && slices.Contains(approverActions, a) {
				want = http.StatusCreated
				if a == "OVERRIDE" || a == "RELEASE_HOLD" {
					want = http.StatusAccepted
				}
			}
			code, b := call(t, "POST", base+"/exceptions/EX-"+a+"/decisions", tok[role], map[string]any{"action": a, "comment": "matrix",
				"parameters": map[string]string{"survivor_golden_id": "G-1", "merged_golden_id": "G-2", "golden_id": "G-1", "other_golden_id": "G-2"}})
			if code != want {
				t.Errorf("%s by %s: %d %v, want %d", a, role, code, b, want)
				continue
			}
			d, _ := b["decision"].(map[string]any)
			switch code {
			case http.StatusCreated:
				if d["actor"] == "" || d["action"] != a || b["status"] != "published" {
					t.Errorf("%s by %s: reply %v", a, role, b)
				}
				published[d["decision_id"].(string)] = d["actor"].(string)
			case http.StatusAccepted:
				// Withdraw it so the next role can ask again.
				if c, rb := call(t, "POST", base+"/approvals/"+b["approval_id"].(string)+"/reject", tok[role], nil); c != http.StatusOK {
					t.Errorf("withdrawing %s by %s: %d %v", a, role, c, rb)
				}
			case http.StatusForbidden:
				if !strings.Contains(b["error"].(string), a) {
					t.Errorf("403 for %s by %s does not name the action: %v", a, role, b)
				}
			}
		}
	}

	// Precise 400s, 404 and 409.
	for _, c := range []struct {
		path   string
		body   any
		status int
		param  string
	}{
		{"/exceptions/EX-RESOLVE/decisions", map[string]any{"action": "FLY"}, 400, "action"},
		{"/exceptions/EX-RESOLVE/decisions", map[string]any{}, 400, "action"},
		{"/exceptions/EX-RESOLVE/decisions", `{"action":"RESOLVE"`, 400, "body"},
		{"/exceptions/EX-RESOLVE/decisions", map[string]any{"action": "RESOLVE", "actor": "mallory"}, 400, "body"},
		{"/exceptions/EX-RESOLVE/decisions", map[string]any{"action": "RESOLVE", "comment": strings.Repeat("x", 3000)}, 400, "comment"},
		{"/exceptions/EX-limited/decisions", map[string]any{"action": "RETRY"}, 400, "action"},
		{"/exceptions/" + "%27%20OR%201=1/decisions", map[string]any{"action": "RESOLVE"}, 400, "id"},
		{"/exceptions/EX-nope/decisions", map[string]any{"action": "RESOLVE"}, 404, "id"},
		{"/approvals/no-such-approval/approve", nil, 404, "id"},
	} {
		tk := tok["resolver"]
		if strings.HasPrefix(c.path, "/approvals") {
			tk = tok["approver"]
		}
		code, b := call(t, "POST", base+c.path, tk, c.body)
		if code != c.status || b["param"] != c.param || b["error"] == "" {
			t.Errorf("POST %s %v: %d %v, want %d on %s", c.path, c.body, code, b, c.status, c.param)
		}
	}

	// Four eyes. rita asks for an override; fina (finance.approver) approves.
	_, b := call(t, "POST", base+"/exceptions/EX-OVERRIDE/decisions", tok["resolver"], map[string]any{"action": "OVERRIDE", "comment": "licence L-77"})
	override := b["approval_id"].(string)
	if code, b := call(t, "POST", base+"/exceptions/EX-OVERRIDE/decisions", tok["resolver"], map[string]any{"action": "OVERRIDE"}); code != http.StatusConflict {
		t.Errorf("a second request while one waits: %d %v, want 409", code, b)
	}
	if code, _ := call(t, "POST", base+"/approvals/"+override+"/approve", tok["resolver"], nil); code != http.StatusForbidden {
		t.Errorf("a resolver approves: %d, want 403", code)
	}
	code, b := call(t, "POST", base+"/approvals/"+override+"/approve", tok["approver"], map[string]any{"comment": "checked"})
	if d, _ := b["decision"].(map[string]any); code != http.StatusOK || d["actor"] != "rita" || fmt.Sprint(d["approved_by"]) != "[fina]" {
		t.Fatalf("approval by another person: %d %v", code, b)
	} else {
		published[d["decision_id"].(string)] = "rita+fina"
	}
	if code, _ := call(t, "POST", base+"/approvals/"+override+"/approve", approver2, nil); code != http.StatusNotFound {
		t.Errorf("approving twice: %d, want 404", code)
	}
	// fina asks for a release; she cannot approve it herself; finn can.
	_, b = call(t, "POST", base+"/exceptions/EX-RELEASE_HOLD/decisions", tok["approver"], map[string]any{"action": "RELEASE_HOLD"})
	release := b["approval_id"].(string)
	if code, b := call(t, "POST", base+"/approvals/"+release+"/approve", tok["approver"], nil); code != http.StatusForbidden || !strings.Contains(b["error"].(string), "four eyes") {
		t.Errorf("self-approval: %d %v, want 403 four eyes", code, b)
	}
	// Above the threshold even RESOLVE waits.
	code, b = call(t, "POST", base+"/exceptions/EX-big/decisions", tok["resolver"], map[string]any{"action": "RESOLVE"})
	if code != http.StatusAccepted || !strings.Contains(b["reason"].(string), "threshold") {
		t.Fatalf("RESOLVE of 900000 above 500000: %d %v", code, b)
	}
	big := b["approval_id"].(string)

	// A second instance shares the pending approvals (their topic): it
	// lists both and approves one; the first sees it settled.
	dash2 := testinfra.FreeAddr(t)
	stop2 := e.startWith(map[string]string{"ISTHMUS_INSTANCE_ID": "it2", "ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(t), "ISTHMUS_RECON_DASHBOARD_ADDR": dash2})
	defer stop2()
	base2 := "http://" + dash2 + "/api/ops"
	_, b = call(t, "GET", base2+"/approvals", tok["viewer"], nil)
	if l, _ := b["approvals"].([]any); len(l) != 2 {
		t.Fatalf("the second instance lists %v, want the 2 pending approvals", b)
	}
	if code, b := call(t, "POST", base2+"/approvals/"+release+"/approve", approver2, nil); code != http.StatusOK {
		t.Fatalf("approval on the second instance: %d %v", code, b)
	} else {
		published[b["decision"].(map[string]any)["decision_id"].(string)] = "fina+finn"
	}
	if code, _ := call(t, "POST", base+"/approvals/"+release+"/approve", tok["approver"], nil); code != http.StatusNotFound {
		t.Errorf("the first instance approves what the second settled: %d, want 404", code)
	}
	if code, b := call(t, "POST", base+"/approvals/"+big+"/approve", approver2, nil); code != http.StatusOK {
		t.Fatalf("approval above the threshold: %d %v", code, b)
	} else {
		published[b["decision"].(map[string]any)["decision_id"].(string)] = "rita+finn"
	}

	// What reached ops.decisions.v1: exactly the published decisions, each
	// with its verified actor and approvers.
	got := map[string]string{}
	cl := testinfra.NewClient(t, testinfra.Brokers(t), kgo.ConsumeTopics(e.prefix+contracts.TopicOpsDecisionsV1), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < len(published) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var d contracts.Decision
			if err := e.sd.Decode(ctx, r.Value, &d); err != nil {
				t.Fatal(err)
			}
			who := d.Actor
			if len(d.ApprovedBy) > 0 {
				who += "+" + strings.Join(d.ApprovedBy, ",")
			}
			got[d.DecisionID] = who
		})
	}
	if fmt.Sprint(got) != fmt.Sprint(published) {
		t.Errorf("ops.decisions.v1 holds %d decisions %v, the API published %d %v", len(got), got, len(published), published)
	}
	t.Logf("decisions published: %d (3 after approval); matrix requests: %d", len(published), len(allActions)*5)

	// The timeline of an exception shows its decisions.
	var decisions int
	if !testinfra.Within(15*time.Second, func() bool {
		_, shown = call(t, "GET", base+"/exceptions/EX-OVERRIDE/timeline", tok["viewer"], nil)
		evs, _ := shown["events"].([]any)
		decisions = 0
		for _, ev := range evs {
			if ev.(map[string]any)["topic"] == contracts.TopicOpsDecisionsV1 {
				decisions++
			}
		}
		return decisions == 1
	}) {
		t.Fatalf("the timeline of EX-OVERRIDE shows %d decisions, want 1: %v", decisions, shown)
	}

	// Replay: only ops.replayer; a bad record on an input topic is
	// dead-lettered by the router, replayed to reconciler.retry.v1, fails
	// again and is dead-lettered anew with its replay count.
	e.produce(&kgo.Record{Topic: e.prefix + contracts.TopicCRMQuoteV1, Key: []byte("bad"), Value: []byte("not avro")})
	dlq := consume(t, e, "dlq.reconciler.v1", 1)[0]
	for role, tk := range tok {
		want := http.StatusForbidden
		if role == "replayer" {
			want = http.StatusOK
		}
		code, b := call(t, "POST", base+"/dlq/reconciler/replay", tk, map[string]any{"partition": dlq.Partition, "offset": dlq.Offset, "dry_run": true})
		if code != want {
			t.Errorf("dry-run replay by %s: %d %v, want %d", role, code, b, want)
		}
	}
	for _, c := range []struct {
		svc    string
		body   any
		status int
	}{
		{"reconciler", map[string]any{}, 400},
		{"reconciler", map[string]any{"offset": 0, "all": true}, 400},
		{"Not A Service", map[string]any{"all": true}, 400},
		{"reconciler", map[string]any{"partition": dlq.Partition, "offset": 99999}, 404},
	} {
		if code, b := call(t, "POST", base+"/dlq/"+strings.ReplaceAll(c.svc, " ", "%20")+"/replay", tok["replayer"], c.body); code != c.status {
			t.Errorf("replay %s %v: %d %v, want %d", c.svc, c.body, code, b, c.status)
		}
	}
	code, b = call(t, "POST", base+"/dlq/reconciler/replay", tok["replayer"], map[string]any{"partition": dlq.Partition, "offset": dlq.Offset})
	outs, _ := b["outcomes"].([]any)
	if code != http.StatusOK || len(outs) != 1 || outs[0].(map[string]any)["action"] != "replayed" || outs[0].(map[string]any)["target"] != "reconciler.retry.v1" {
		t.Fatalf("replay: %d %v", code, b)
	}
	again := consume(t, e, "dlq.reconciler.v1", 2)[1]
	if h := header(again, "dlq-replay-count"); h != "1" {
		t.Errorf("the replayed record was dead-lettered again with replay count %q, want 1", h)
	}

	// Audit: every decision and refusal, with the actor.
	audits := logs.audits(t)
	byOutcome := map[string]int{}
	for _, a := range audits {
		byOutcome[a["outcome"].(string)]++
		if a["outcome"] != "refused" && a["actor"] == "" {
			t.Errorf("audit line without actor: %v", a)
		}
	}
	if byOutcome["published"] != len(published) || byOutcome["refused"] < 40 || byOutcome["pending_approval"] < 5 {
		t.Errorf("audit lines by outcome %v; %d decisions published", byOutcome, len(published))
	}
	t.Logf("audit lines: %v", byOutcome)

	browserActions(t, e, tok)
}

// browserActions drives the dashboard in headless Chromium: a resolver sees
// resolve and retry buttons (a viewer none), clicks resolve, and the
// exception's timeline shows the decision and then — once the owning
// service (played here by the test, by contract: an update carrying the
// decision id) answers — the RESOLVED state. An approver approves an
// override from the approvals list; a replayer replays a dead letter and
// reads where it went.
func browserActions(t *testing.T, e *itEnv, tok map[string]string) {
	e.produce(e.opsException("EX-ui", 100, "RESOLVE", "RETRY", "OVERRIDE"))
	c := startCDP(t)
	page := func(role string) string { return c.open(e.dashURL + "/?exception=EX-ui#token=" + tok[role]) }
	viewer := page("viewer")
	c.waitFor(viewer, "the viewer's page lists EX-ui", `!!document.getElementById("ex-EX-ui")`, 20*time.Second)
	var n int
	c.eval(viewer, `document.querySelectorAll("#exclist button[id^='act-']").length`, &n)
	if n != 0 {
		t.Errorf("a viewer is offered %d action buttons", n)
	}
	var url string
	c.eval(viewer, "location.href", &url)
	if strings.Contains(url, "token") {
		t.Errorf("the token stays in the address bar: %s", url)
	}

	res := page("resolver")
	c.waitFor(res, "the resolver's page offers resolve and retry on EX-ui",
		`!!document.getElementById("act-EX-ui-RESOLVE") && !!document.getElementById("act-EX-ui-RETRY")`, 20*time.Second)
	c.eval(res, `document.getElementById("act-EX-ui-RESOLVE").click(), true`, nil)
	c.waitFor(res, "the click published a decision", `document.getElementById("opsmsg").textContent.includes("RESOLVE on EX-ui published as decision")`, 15*time.Second)
	var msg string
	c.eval(res, `document.getElementById("opsmsg").textContent`, &msg)
	decision := msg[strings.LastIndex(msg, " ")+1:]
	c.waitFor(res, "the timeline shows the decision", `document.getElementById("exctimeline").textContent.includes("ops.decisions.v1")`, 15*time.Second)

	// The owning service answers the decision (ops.exceptions.v1, by contract).
	done := e.opsException("EX-ui", 100, "RESOLVE", "RETRY", "OVERRIDE")
	var x contracts.OperationalException
	if err := e.sd.Decode(context.Background(), done.Value, &x); err != nil {
		t.Fatal(err)
	}
	x.Status, x.DecisionID = contracts.ExceptionStatusResolved, &decision
	e.produce(e.rec(contracts.TopicOpsExceptionsV1, "EX-ui", &x))
	c.waitFor(res, "the state changes to RESOLVED with the decision id on the timeline",
		`document.getElementById("exctitle").textContent.includes("RESOLVED") && document.getElementById("exctimeline").textContent.includes("decision `+decision+`")`, 20*time.Second)
	c.waitFor(res, "the resolved exception leaves the open list", `!document.getElementById("act-EX-ui-RESOLVE")`, 10*time.Second)

	// Four eyes from the dashboard: rita asks (API), fina approves (button).
	e.produce(e.opsException("EX-ui2", 100, "OVERRIDE"))
	var approval string
	var code int
	var answer map[string]any
	if !testinfra.Within(20*time.Second, func() bool {
		code, answer = call(t, "POST", e.dashURL+"/api/ops/exceptions/EX-ui2/decisions", tok["resolver"], map[string]any{"action": "OVERRIDE"})
		if code == http.StatusAccepted {
			approval = answer["approval_id"].(string)
		}
		return approval != ""
	}) {
		t.Fatalf("override request: %d %v", code, answer)
	}
	c.eval(res, `location.reload(), true`, nil)
	c.waitFor(res, "the resolver sees the pending approval", `document.getElementById("approvallist").textContent.includes("EX-ui2")`, 20*time.Second)
	c.eval(res, `document.querySelectorAll("#approvallist button").length`, &n)
	if n != 0 {
		t.Errorf("a resolver is offered %d approval buttons", n)
	}
	fin := c.open(e.dashURL + "/#token=" + tok["approver"])
	c.waitFor(fin, "the approver is offered approve", `!!document.getElementById("approve-`+approval+`")`, 20*time.Second)
	c.eval(fin, `document.getElementById("approve-`+approval+`").click(), true`, nil)
	c.waitFor(fin, "the approval published the decision", `document.getElementById("opsmsg").textContent.includes("OVERRIDE on EX-ui2 approved and published")`, 15*time.Second)

	// Replay from the dashboard: only the replayer has the form.
	var hidden bool
	c.eval(res, `document.getElementById("replay").hidden`, &hidden)
	if !hidden {
		t.Error("a resolver is offered the replay form")
	}
	rep := c.open(e.dashURL + "/#token=" + tok["replayer"])
	c.waitFor(rep, "the replayer has the replay form", `document.getElementById("replay").hidden === false`, 20*time.Second)
	c.eval(rep, `document.getElementById("rservice").value = "reconciler", document.getElementById("rdry").checked = true, document.getElementById("replaybtn").click(), true`, nil)
	c.waitFor(rep, "the replay says where it would write", `document.getElementById("opsmsg").textContent.includes("-> reconciler.retry.v1")`, 20*time.Second)

	dir := os.Getenv("ISTHMUS_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".cache", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		shot := filepath.Join(dir, "reconciler-dashboard-actions.png")
		c.screenshot(res, shot)
		t.Logf("dashboard actions screenshot: %s", shot)
	}
}

func consume(t *testing.T, e *itEnv, topic string, n int) []*kgo.Record {
	t.Helper()
	return testinfra.Collect(t, testinfra.Brokers(t), e.prefix+topic).WaitCount(t, 30*time.Second, e.prefix+topic, n)
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}
