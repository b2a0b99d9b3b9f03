//go:build integration

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/devtoken"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/logging"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/reconciler/reconciler"
)

// docCommands returns the lines of the ```sh blocks of a Markdown file,
// without trailing comments (two spaces or more, then #).
func docCommands(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	comment := regexp.MustCompile(`\s{2,}#.*$`)
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in:
			l = strings.TrimSpace(comment.ReplaceAllString(l, ""))
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// words splits a command line like a shell: spaces separate, double quotes group.
func words(t *testing.T, line string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// TestOperationsDocCommands runs every command of the sh blocks of
// docs/operations.md, as written and in order, with the isthmus binary,
// against a reconciler whose operations API trusts the dev issuer (the
// key `isthmus dev-token` signs with), on the real broker and registry:
// each must exit 0. `export VAR=$(isthmus ...)` lines set VAR to the
// command's output. The exceptions the page names are seeded, and one
// dead letter for the replay section.
func TestOperationsDocCommands(t *testing.T) {
	brokers, regURL := testinfra.Brokers(t), testinfra.RegistryURL(t)
	prefix := fmt.Sprintf("opsdoc%d.", time.Now().UnixNano())
	keyDir := t.TempDir()
	keys, err := devtoken.Load(keyDir, true)
	if err != nil {
		t.Fatal(err)
	}
	dash, admin := testinfra.FreeAddr(t), testinfra.FreeAddr(t)
	env := map[string]string{
		"ISTHMUS_KAFKA_BROKERS": strings.Join(brokers, ","), "ISTHMUS_SCHEMA_REGISTRY_URL": regURL, "ISTHMUS_TOPIC_PREFIX": prefix,
		"ISTHMUS_DEV_KEY_DIR": keyDir, "ISTHMUS_OPS_URL": "http://" + dash,
	}
	bin := isthmusBinary(t)
	for _, args := range [][]string{{"topics", "apply", "--replication-factor", "1"}, {"schemas", "apply"}} {
		if code, out, errs := run(t, bin, env, args...); code != 0 {
			t.Fatalf("isthmus %v: %d\n%s%s", args, code, out, errs)
		}
	}
	t.Cleanup(func() { testinfra.DeleteTopics(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, prefix) })

	// The reconciler with the operations API.
	var cfg reconciler.Config
	set := config.NewSet(reconciler.Name)
	cfg.Register(set)
	over := map[string]string{"ISTHMUS_ADMIN_ADDR": admin, "ISTHMUS_RECON_DASHBOARD_ADDR": dash, "ISTHMUS_INSTANCE_ID": "docs",
		"ISTHMUS_OPS_JWT_PUBLIC_KEYS": keys.PublicFile, "ISTHMUS_OPS_ISSUER": devtoken.Issuer, "ISTHMUS_GATEWAY_ADDR": "127.0.0.1:1", "ISTHMUS_LOG_LEVEL": "warn"}
	lookup := func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		v, ok := env[k]
		return v, ok
	}
	if err := set.Parse(nil, lookup, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reconciler.Run(ctx, &cfg, logging.New(os.Stderr, slog.LevelWarn)) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("reconciler not ready within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The exceptions the page names, and a dead letter of the reconciler.
	rc, err := cfg.Registry.Client()
	if err != nil {
		t.Fatal(err)
	}
	sd := serde.New(rc)
	cl := testinfra.NewClient(t, brokers)
	seed := func(id, category, queue, owner string, amount int64, allowed ...string) *kgo.Record {
		x := &contracts.OperationalException{Metadata: contracts.EventMetadata{EventID: "ev-" + id, CorrelationID: "corr-" + id,
			SourceSystem: contracts.SourceSystemQuoteToOrder, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)},
			ExceptionID: id, Category: category, Queue: queue, Severity: contracts.SeverityHigh, Status: contracts.ExceptionStatusOpen,
			OwnerService: owner, Summary: "seeded for the docs test", EntityIds: map[string]string{"golden_id": "G-2", "candidate_golden_id": "G-1"},
			Context: map[string]string{"total": fmt.Sprintf("%d EUR (minor units)", amount)}, AllowedActions: allowed}
		b, err := sd.Encode(ctx, prefix+contracts.TopicOpsExceptionsV1, x)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: prefix + contracts.TopicOpsExceptionsV1, Key: []byte(id), Value: b}
	}
	recs := []*kgo.Record{
		seed("EX-123", contracts.ExceptionCategoryExportControl, contracts.ExceptionQueueTradeCompliance, "quote-to-order", 250_000, "RETRY", "CANCEL", "OVERRIDE", "RESOLVE"),
		seed("EX-9", contracts.ExceptionCategoryProbableDuplicate, contracts.ExceptionQueueMasterData, "customer-sync", 0, "MERGE", "NOT_DUPLICATE", "DISMISS"),
		seed("EX-10", contracts.ExceptionCategoryOwnershipConflict, contracts.ExceptionQueueMasterData, "customer-sync", 0, "RESOLVE", "DISMISS"),
		seed("EX-77", contracts.ExceptionCategoryCreditHold, contracts.ExceptionQueueSalesOps, "quote-to-order", 4_200_000, "RELEASE_HOLD", "REJECT"),
		seed("EX-31", contracts.ExceptionCategoryJournalRejected, contracts.ExceptionQueueFinanceOps, "billing-bridge", 90_000, "REPOST", "ROUTE_TO_FINANCE"),
		{Topic: prefix + contracts.TopicCRMQuoteV1, Key: []byte("Q-bad"), Value: []byte("not avro")},
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait until the dashboard shows them and the dead letter is there.
	viewer, err := keys.Mint("docs-test", []string{"ops.viewer"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+dash+"/api/ops/exceptions/EX-31/timeline", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		r, err := http.DefaultClient.Do(req)
		ok := err == nil && r.StatusCode == http.StatusOK
		if err == nil {
			r.Body.Close()
		}
		code, out, _ := run(t, bin, env, "dlq", "list", "--output", "json")
		if ok && code == 0 && strings.Contains(out, `"messages": 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seeded exceptions or the dead letter not visible within 30s (dlq list: %s)", out)
		}
		time.Sleep(300 * time.Millisecond)
	}

	cmds := docCommands(t, filepath.Join("..", "..", "docs", "operations.md"))
	if len(cmds) < 20 {
		t.Fatalf("found %d commands in docs/operations.md", len(cmds))
	}
	subst := regexp.MustCompile(`^export ([A-Z_]+)=\$\((isthmus .*)\)$`)
	ran := 0
	for _, line := range cmds {
		if m := subst.FindStringSubmatch(line); m != nil {
			code, out, errs := run(t, bin, env, words(t, m[2])[1:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", line, code, errs)
			}
			env[m[1]] = strings.TrimSpace(out)
			continue
		}
		w := words(t, line)
		if w[0] != "isthmus" {
			t.Fatalf("docs/operations.md: %q is neither an isthmus command nor export VAR=$(isthmus ...)", line)
		}
		code, out, errs := run(t, bin, env, w[1:]...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", line, code, strings.TrimSpace(errs))
			continue
		}
		ran++
		t.Logf("$ %s\n%s", line, strings.TrimSpace(out))
	}
	t.Logf("%d documented commands ran and exited 0", ran)

	// The four-eyes story of the page happened: EX-123's override was
	// published with ana as actor and ben as approver; EX-77 stays unpublished.
	code, out, _ := run(t, bin, with(env, "ISTHMUS_OPERATOR_TOKEN", viewer), "exceptions", "show", "EX-123", "--output", "json")
	if code != 0 || strings.Count(out, `"topic": "ops.decisions.v1"`) < 3 {
		t.Errorf("EX-123 shows %d decisions, want retry, cancel and the approved override:\n%s", strings.Count(out, `"topic": "ops.decisions.v1"`), out)
	}
	dcl := testinfra.NewClient(t, brokers, kgo.ConsumeTopics(prefix+contracts.TopicOpsDecisionsV1), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
	defer pcancel()
	var override, release bool
	for !override && pctx.Err() == nil {
		dcl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			var d contracts.Decision
			if err := sd.Decode(pctx, r.Value, &d); err != nil {
				t.Fatal(err)
			}
			if d.Action == "OVERRIDE" && d.Actor == "ana" && len(d.ApprovedBy) == 1 && d.ApprovedBy[0] == "ben" {
				override = true
			}
			release = release || d.Action == "RELEASE_HOLD"
		})
	}
	if !override || release {
		t.Errorf("decisions: OVERRIDE by ana approved by ben %v (want true), RELEASE_HOLD published %v (want false)", override, release)
	}
}
