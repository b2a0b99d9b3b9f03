//go:build kits

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The kits test (make kits-test) runs the examples as their users would,
// against the real broker, registry and Redis of `make infra-up` and the
// whole suite (`isthmus dev` with simulated traffic under a fresh topic
// prefix):
//
//   - examples/python-producer and examples/java-producer write CRM accounts
//     and ERP customers; every record lands on the partition Kafka's Java
//     client would choose (murmur2), decodes with its registered schema, and
//     is processed by customer-sync (an mdm.xref.v1 cross-reference for it);
//   - once orders are invoiced and revenue is scheduled, the suite is stopped
//     and examples/python-analytics (DuckDB) and this Go consumer read the
//     public streams: both must agree on the current orders per state.
//
// Settings: ISTHMUS_KAFKA_BROKERS, ISTHMUS_SCHEMA_REGISTRY_URL,
// ISTHMUS_REDIS_URL (make infra-env), KITS_PYTHON (a Python with
// examples/*/requirements.txt), KITS_JAVA_CP (classpath of the built Java
// example).

func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (run through `make kits-test`)", name)
	}
	return v
}

// consecutiveFree finds n consecutive free ports (dev gives every service
// an admin port from a base). They come from 20000-32000, below the
// kernel's ephemeral range, so no outgoing connection takes one before dev
// binds it.
func consecutiveFree(t *testing.T, n int) int {
	t.Helper()
	for base := 20000 + os.Getpid()%1000*10; base+n < 32000; base += n {
		ok := true
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

type delivery struct {
	Topic     string `json:"topic"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// runProducer runs an example producer and returns its acknowledged records.
func runProducer(t *testing.T, name string, argv ...string) []delivery {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	var out []delivery
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var d delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%s printed %q: %v", name, sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

// consume runs this example consumer in-process.
func consume(t *testing.T, args ...string) (recs []Record, summary map[string]TopicSummary) {
	t.Helper()
	var buf bytes.Buffer
	if err := run(context.Background(), args, &buf); err != nil {
		t.Fatalf("go-consumer %v: %v", args, err)
	}
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var s struct {
			Topics map[string]TopicSummary `json:"topics"`
		}
		if bytes.HasPrefix(raw, []byte(`{"topics"`)) && json.Unmarshal(raw, &s) == nil {
			summary = s.Topics
			continue
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs, summary
}

func TestKitsAgainstTheSuite(t *testing.T) {
	brokers, registry := need(t, "ISTHMUS_KAFKA_BROKERS"), need(t, "ISTHMUS_SCHEMA_REGISTRY_URL")
	need(t, "ISTHMUS_REDIS_URL")
	python, javaCP := need(t, "KITS_PYTHON"), need(t, "KITS_JAVA_CP")
	prefix := fmt.Sprintf("kits%d.", time.Now().UnixNano())
	tmp := t.TempDir()
	conn := []string{"--bootstrap", brokers, "--registry", registry, "--prefix", prefix}

	bin := filepath.Join(tmp, "isthmus")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/isthmus").CombinedOutput(); err != nil {
		t.Fatalf("build isthmus: %v\n%s", err, out)
	}
	// Provision first, as a deployment's provisioning jobs do before the
	// services start.
	for _, verb := range []string{"topics", "schemas"} {
		cmd := exec.Command(bin, verb, "apply")
		cmd.Env = append(os.Environ(), "ISTHMUS_TOPIC_PREFIX="+prefix)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("isthmus %s apply: %v\n%s", verb, err, out)
		}
	}
	// The whole suite on the real infrastructure, under its own prefix:
	// the gateway's two listeners, the dashboard, then one admin port per
	// component of dev.
	ports := consecutiveFree(t, 3+8)
	logf := filepath.Join(tmp, "dev.stdout")
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	dev := exec.Command(bin, "dev", "--duration", "5m", "--rate", "20", "--scenario", "mixed", "--log-file", filepath.Join(tmp, "dev.log"))
	dev.Dir = tmp
	dev.Env = append(os.Environ(),
		"ISTHMUS_TOPIC_PREFIX="+prefix,
		fmt.Sprintf("ISTHMUS_GATEWAY_GRPC_ADDR=127.0.0.1:%d", ports),
		fmt.Sprintf("ISTHMUS_GATEWAY_HTTP_ADDR=127.0.0.1:%d", ports+1),
		fmt.Sprintf("ISTHMUS_RECON_DASHBOARD_ADDR=127.0.0.1:%d", ports+2),
		fmt.Sprintf("ISTHMUS_DEV_ADMIN_PORT=%d", ports+3),
		"ISTHMUS_DEV_KEY_DIR="+tmp)
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var devDone atomic.Bool
	go func() { err := dev.Wait(); devDone.Store(true); exited <- err }()
	waitFor := func(d time.Duration, what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if devDone.Load() {
				t.Fatalf("isthmus dev stopped while waiting for %s\n%s", what, tail(logf))
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s\n%s", d, what, tail(logf))
			}
			time.Sleep(5 * time.Second)
		}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = dev.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("isthmus dev exited with %v\n%s", err, tail(logf))
			}
		case <-time.After(90 * time.Second):
			_ = dev.Process.Kill()
			t.Errorf("isthmus dev did not stop within 90s of SIGINT\n%s", tail(logf))
		}
	}
	defer stop()
	waitFor(90*time.Second, "the suite to start", func() bool {
		b, _ := os.ReadFile(logf)
		return bytes.Contains(b, []byte("Ctrl-C stops everything"))
	})

	// --- Source-system kit -------------------------------------------------
	runID := fmt.Sprint(time.Now().UnixNano() % 1_000_000)
	py := runProducer(t, "python-producer", append([]string{python, "../python-producer/producer.py", "--run-id", "PY" + runID, "--count", "3"}, conn...)...)
	jv := runProducer(t, "java-producer", append([]string{"java", "-cp", javaCP, "io.isthmus.examples.SourceSystemProducer", "--run-id", "JV" + runID, "--count", "3"}, conn...)...)
	sent := append(py, jv...)
	if len(py) != 6 || len(jv) != 6 {
		t.Fatalf("acknowledged: python %d, java %d; want 6 each", len(py), len(jv))
	}
	// Kafka's Java client's partitioner: murmur2 of the key.
	javaDefault := kgo.StickyKeyPartitioner(nil)
	for _, d := range sent {
		want := javaDefault.ForTopic(d.Topic).Partition(&kgo.Record{Key: []byte(d.Key)}, 6)
		if int(d.Partition) != want {
			t.Errorf("%s key %s on partition %d; Kafka's default partitioner says %d", d.Topic, d.Key, d.Partition, want)
		}
	}
	// Every record decodes with its registered schema, as written.
	recs, _ := consume(t, append(conn, "--topic", "crm.account.v1", "--topic", "erp.customer.v1", "--dump")...)
	byKey := map[string]Record{}
	for _, r := range recs {
		byKey[strings.TrimPrefix(r.Topic, prefix)+"/"+r.Key] = r
	}
	for _, d := range sent {
		r, ok := byKey[strings.TrimPrefix(d.Topic, prefix)+"/"+d.Key]
		if !ok {
			t.Errorf("%s key %s not read back", d.Topic, d.Key)
			continue
		}
		md, _ := r.Value["metadata"].(map[string]any)
		name, _ := r.Value["name"].(string)
		if r.Partition != d.Partition || r.Offset != d.Offset || name == "" || md["event_id"] == "" ||
			!strings.Contains(fmt.Sprint(md["correlation_id"]), runID) {
			t.Errorf("%s key %s decoded as %+v", d.Topic, d.Key, r)
		}
	}
	// ... and customer-sync processed each: a cross-reference per record.
	wantXref := map[string]bool{}
	for _, d := range sent {
		if strings.HasSuffix(d.Topic, "crm.account.v1") {
			wantXref["CRM:"+d.Key] = true
		} else {
			wantXref["ERP:"+d.Key] = true
		}
	}
	waitFor(2*time.Minute, "customer-sync to cross-reference the examples' records", func() bool {
		xrefs, _ := consume(t, append(conn, "--topic", "mdm.xref.v1", "--dump")...)
		found := 0
		seen := map[string]bool{}
		for _, x := range xrefs {
			if wantXref[x.Key] && !seen[x.Key] && x.Value != nil && x.Value["golden_id"] != "" {
				seen[x.Key] = true
				found++
			}
		}
		return found == len(wantXref)
	})

	// --- Analyst kit ---------------------------------------------------------
	waitFor(3*time.Minute, "invoiced orders and revenue schedules", func() bool {
		_, s := consume(t, append(conn, "--topic", "orders.lifecycle.v1", "--topic", "billing.revenue-schedule.v1", "--group-by", "state")...)
		return s["orders.lifecycle.v1"].GroupBy["INVOICED"] > 0 && s["billing.revenue-schedule.v1"].Keys > 0
	})
	stop() // freeze the streams so both consumers see the same data

	cmd := exec.Command(python, append([]string{"../python-analytics/analyze.py"}, conn...)...)
	var pyOut, pyErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &pyOut, &pyErr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python-analytics: %v\n%s", err, pyErr.String())
	}
	var got struct {
		Loaded  map[string]int `json:"loaded"`
		Current struct {
			Golden    int `json:"golden_customers_active"`
			Orders    int `json:"orders"`
			Months    int `json:"contract_months"`
			Duplicate int `json:"duplicates_dropped"`
		} `json:"current"`
		Questions map[string][]map[string]any `json:"questions"`
	}
	if err := json.Unmarshal(pyOut.Bytes(), &got); err != nil {
		t.Fatalf("python-analytics printed %s: %v", pyOut.String(), err)
	}
	_, gs := consume(t, append(conn, "--topic", "orders.lifecycle.v1", "--topic", "mdm.customer.v1", "--group-by", "state")...)
	orders := gs["orders.lifecycle.v1"]
	if got.Current.Orders == 0 || got.Current.Orders != orders.Keys {
		t.Errorf("current orders: python %d, go %d", got.Current.Orders, orders.Keys)
	}
	pyByState := map[string]int{}
	for _, row := range got.Questions["order_book_by_state"] {
		pyByState[fmt.Sprint(row["state"])] += int(row["orders"].(float64))
	}
	for state, n := range orders.GroupBy {
		if pyByState[state] != n {
			t.Errorf("orders in %s: python %d, go %d", state, pyByState[state], n)
		}
	}
	if got.Loaded["mdm.customer.v1"] != gs["mdm.customer.v1"].Records || got.Current.Golden == 0 {
		t.Errorf("golden customers: python loaded %d (%d active), go read %d", got.Loaded["mdm.customer.v1"], got.Current.Golden, gs["mdm.customer.v1"].Records)
	}
	if got.Current.Months == 0 || len(got.Questions["revenue_by_month"]) == 0 || len(got.Questions["top_customers_by_open_and_won_order_value"]) == 0 {
		t.Errorf("empty answers: %s", pyOut.String())
	}
	t.Logf("python-analytics: loaded %v; %d active golden customers, %d orders, %d contract-months; orders by state %v",
		got.Loaded, got.Current.Golden, got.Current.Orders, got.Current.Months, orders.GroupBy)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
