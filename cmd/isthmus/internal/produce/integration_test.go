//go:build integration

package produce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/provision"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// account is one crm.account.v1 line in the JSON conventions of
// scripts/interop/avro_json.py, every field present, so what Confluent's
// consumer prints back compares equal.
func account(i int) map[string]any {
	email := any(nil)
	if i%2 == 0 {
		email = fmt.Sprintf("ap%d@example.com", i)
	}
	return map[string]any{
		"metadata": map[string]any{"event_id": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "correlation_id": fmt.Sprintf("corr-%d", i),
			"causation_id": nil, "source_system": "CRM", "occurred_at": int64(1772359200000 + i)},
		"op": "UPSERT", "account_id": fmt.Sprintf("A-%d", i), "name": fmt.Sprintf("Account %d", i), "legal_name": nil,
		"parent_account_id": nil, "erp_customer_id": nil, "status": "CUSTOMER", "website": nil, "phone": nil, "email": email,
		"industry": "manufacturing", "owner_id": nil, "territory": nil, "tax_id": nil,
		"billing_address":  map[string]any{"line1": fmt.Sprintf("%d Main St", i), "line2": nil, "city": "Springfield", "region": nil, "postal_code": nil, "country": "US"},
		"shipping_address": nil, "source_updated_at": int64(1772359200000 + i),
	}
}

func jsonLine(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// isthmus builds the CLI binary once per test run.
func isthmus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "isthmus")
	out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput()
	if err != nil {
		t.Fatalf("go build isthmus: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

// TestIntegrationProduceRoundTrip: a JSON lines file with good and bad
// lines goes through the isthmus binary; Confluent's Python consumer reads
// the good ones back equal, keyed from the catalog; the bad ones are
// reported by line number and never reach the topic; a dry run produces
// nothing; Avro JSON with a composite key works the same way.
func TestIntegrationProduceRoundTrip(t *testing.T) {
	brokers, regURL, python := testinfra.Brokers(t), testinfra.RegistryURL(t), testinfra.Python(t)
	kcfg := kafka.Config{Brokers: brokers, TopicPrefix: fmt.Sprintf("producetest%d.", time.Now().UnixNano())}
	cat := catalog.MustEmbedded()
	topics := []*catalog.Topic{cat.MustTopic("crm.account.v1"), cat.MustTopic("erp.inventory.v1")}
	testinfra.CreateTopics(t, brokers, 6, kcfg.Topic("crm.account.v1"), kcfg.Topic("erp.inventory.v1"))
	rc, err := sr.NewClient(sr.URLs(regURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := provision.Schemas(ctx, rc, kcfg.TopicPrefix, topics, false); err != nil {
		t.Fatal(err)
	}
	bin := isthmus(t)
	conn := []string{"--brokers", strings.Join(brokers, ","), "--prefix", kcfg.TopicPrefix, "--registry", regURL}

	// Lines 1, 2, 4, 6 are good; 3 has a bad enum, 5 is not JSON, 7 lacks
	// its key field's value. Blank lines count for line numbers.
	want := map[string]map[string]any{}
	var lines []string
	for i, kind := range []string{"good", "good", "bad-enum", "good", "not-json", "good", "empty-key"} {
		a := account(i + 1)
		switch kind {
		case "good":
			want[a["account_id"].(string)] = a
		case "bad-enum":
			a["status"] = "VIP"
		case "empty-key":
			a["account_id"] = ""
		}
		line := jsonLine(t, a)
		if kind == "not-json" {
			line = `{"metadata": {`
		}
		lines = append(lines, line)
	}
	file := filepath.Join(t.TempDir(), "accounts.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	dry := run(t, bin, append([]string{"produce", "--topic", "crm.account.v1", "--file", file, "--dry-run"}, conn...)...)
	if dry.code != 1 || !strings.Contains(dry.stdout, "4 valid, 3 invalid; would produce 4") {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q", dry.code, dry.stdout, dry.stderr)
	}
	if n := len(testinfra.Committed(t, brokers, kcfg.Topic("crm.account.v1"))); n != 0 {
		t.Fatalf("dry run produced %d records", n)
	}

	res := run(t, bin, append([]string{"produce", "--topic", "crm.account.v1", "--file", file}, conn...)...)
	if res.code != 1 {
		t.Fatalf("produce with bad lines: exit %d, want 1\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{`line 3: field status: "VIP" is not one of`, "line 5: invalid JSON", "line 7: key field account_id is empty",
		"isthmus produce: 3 of 7 lines invalid (lines 3,5,7), not produced"} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	if !strings.Contains(res.stdout, "produced 4") {
		t.Errorf("stdout: %q", res.stdout)
	}

	// Confluent's consumer (read_committed, AvroDeserializer) reads them back.
	peer := exec.Command(python, filepath.Join("..", "..", "..", "..", "scripts", "interop", "consume_avro.py"),
		"--bootstrap", strings.Join(brokers, ","), "--registry", regURL, "--topic", kcfg.Topic("crm.account.v1"), "--count", "4", "--timeout", "60")
	var pout, perr bytes.Buffer
	peer.Stdout, peer.Stderr = &pout, &perr
	if err := peer.Run(); err != nil {
		t.Fatalf("consume_avro.py: %v\n%s", err, perr.String())
	}
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(pout.String()), "\n") {
		var m struct {
			Key   string         `json:"key"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("peer line %q: %v", l, err)
		}
		w, ok := want[m.Key]
		if !ok {
			t.Fatalf("peer read key %q, not one of the good lines", m.Key)
		}
		// A field the line left out that the schema defaults to null (one
		// added after the line was written, like employees) reads back null.
		sent := maps.Clone(w)
		for k, v := range m.Value {
			if _, ok := sent[k]; !ok && v == nil {
				sent[k] = nil
			}
		}
		if a, b := jsonLine(t, sent), jsonLine(t, m.Value); a != b {
			t.Errorf("key %s:\n sent %s\n read %s", m.Key, a, b)
		}
		got[m.Key] = true
	}
	if len(got) != 4 {
		t.Errorf("peer read keys %v, want 4 distinct", got)
	}
	recs := testinfra.Committed(t, brokers, kcfg.Topic("crm.account.v1"))
	if len(recs) != 4 {
		t.Errorf("%d committed records, want 4 (bad lines must not be produced)", len(recs))
	}
	javaDefault := kgo.StickyKeyPartitioner(nil).ForTopic(kcfg.Topic("crm.account.v1"))
	for _, r := range recs {
		if want := javaDefault.Partition(&kgo.Record{Key: r.Key}, 6); int(r.Partition) != want {
			t.Errorf("key %s on partition %d, murmur2 says %d", r.Key, r.Partition, want)
		}
		var corr string
		for _, h := range r.Headers {
			if h.Key == "correlation-id" {
				corr = string(h.Value)
			}
		}
		if want := "corr-" + strings.TrimPrefix(string(r.Key), "A-"); corr != want {
			t.Errorf("key %s: correlation-id header %q, want %q", r.Key, corr, want)
		}
	}

	// Avro JSON, a composite key, standard input.
	inv := `{"metadata":{"event_id":"00000000-0000-4000-8000-000000000099","correlation_id":"c-inv","causation_id":{"string":"cause-1"},"source_system":"ERP","occurred_at":1772359200000},"sku":"SKU-1","site":"DE-HAM","on_hand":12,"allocated":2,"as_of":1772359200000}`
	cmd := exec.Command(bin, append([]string{"produce", "--topic", "erp.inventory.v1", "--format", "avro-json", "--output", "json"}, conn...)...)
	cmd.Stdin = strings.NewReader(inv + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("produce avro-json: %v\n%s", err, out)
	}
	var sum Summary
	if err := json.Unmarshal(out, &sum); err != nil || sum.Produced != 1 || len(sum.Invalid) != 0 {
		t.Fatalf("summary %s: %v", out, err)
	}
	irecs := testinfra.Committed(t, brokers, kcfg.Topic("erp.inventory.v1"))
	keys := []string{}
	for _, r := range irecs {
		keys = append(keys, string(r.Key))
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "SKU-1|DE-HAM" {
		t.Errorf("inventory keys %v, want [SKU-1|DE-HAM]", keys)
	}

	// Usage errors: one line, exit 2.
	for _, args := range [][]string{{"produce"}, {"produce", "--topic", "nope.v9"}, {"produce", "--topic", "mdm.customer.v1"}, {"produce", "--topic", "crm.account.v1", "--format", "xml"}} {
		r := run(t, bin, args...)
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "isthmus produce: usage: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one usage line", args, r.code, r.stderr)
		}
	}
}
