//go:build integration

package dev

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestDevSmoke runs `isthmus dev` as `make run` does (embedded broker,
// registry and Redis-protocol store, every service, simulator traffic) for
// 90 seconds and checks the suite did its job: golden customers formed, orders
// reached INVOICED, subscriptions produced journals, an export-control
// rejection reached the trade-compliance queue, service cases and returns
// became ERP service orders and return orders with balanced cost and credit
// journals, the dashboard answered, the reconciler raised no break, and the
// process exited 0 after a clean shutdown. It also scrapes every service's /metrics into the file the
// Grafana dashboard check reads.
func TestDevSmoke(t *testing.T) {
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "isthmus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/isthmus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ports := freePorts(t, 6)
	adminBase := testinfra.FreePorts(t, 7)
	dash := fmt.Sprintf("127.0.0.1:%d", ports[5])
	summary := filepath.Join(t.TempDir(), "summary.json")
	logFile := filepath.Join(t.TempDir(), "dev.log")
	cmd := exec.Command(bin, "dev", "--duration", "90s", "--rate", "20", "--scenario", "mixed", "--log-file", logFile)
	cmd.Dir = t.TempDir()
	env := []string{}
	for _, kv := range os.Environ() {
		// The smoke test proves the embedded stack of `make run`.
		if strings.HasPrefix(kv, "ISTHMUS_KAFKA_BROKERS=") || strings.HasPrefix(kv, "ISTHMUS_SCHEMA_REGISTRY_URL=") || strings.HasPrefix(kv, "ISTHMUS_REDIS_URL=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env,
		fmt.Sprintf("ISTHMUS_DEV_KAFKA_ADDR=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("ISTHMUS_DEV_REGISTRY_ADDR=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("ISTHMUS_DEV_REDIS_ADDR=127.0.0.1:%d", ports[2]),
		fmt.Sprintf("ISTHMUS_GATEWAY_GRPC_ADDR=127.0.0.1:%d", ports[3]),
		fmt.Sprintf("ISTHMUS_GATEWAY_HTTP_ADDR=127.0.0.1:%d", ports[4]),
		"ISTHMUS_RECON_DASHBOARD_ADDR="+dash,
		fmt.Sprintf("ISTHMUS_DEV_ADMIN_PORT=%d", adminBase),
		"ISTHMUS_DEV_KEY_DIR="+t.TempDir(),
		"ISTHMUS_DEV_SUMMARY_FILE="+summary,
	)
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	// While it runs: the dashboard answers, and every service's metrics are
	// scraped once traffic has flowed through them.
	dashboardOK := false
	var metrics strings.Builder
	deadline := time.Now().Add(85 * time.Second)
	scraped := false
	for time.Now().Before(deadline) {
		if !dashboardOK {
			// The dashboard's API needs an operator token: the one dev prints.
			tok := operatorToken(out.Name())
			dashboardOK = tok != "" && getAs(dash, "/api/overview", tok) == nil && get(dash, "/") == nil && getAs(dash, "/api/overview", "") != nil
		}
		if !scraped && time.Until(deadline) < 10*time.Second {
			for i := range 7 {
				if body, err := fetch(fmt.Sprintf("127.0.0.1:%d", adminBase+i), "/metrics"); err == nil {
					metrics.WriteString(body)
				}
			}
			scraped = true
		}
		time.Sleep(2 * time.Second)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("isthmus dev did not exit 0: %v\n%s", err, tailFile(out.Name(), 30))
		}
	case <-time.After(110 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("isthmus dev did not stop after --duration\n%s", tailFile(out.Name(), 30))
	}
	if !strings.Contains(tailFile(out.Name(), 5), "stopped cleanly") {
		t.Errorf("no clean shutdown line:\n%s", tailFile(out.Name(), 10))
	}
	if !dashboardOK {
		t.Error("the dashboard never answered /api/overview with the printed operator token (and refused it without)")
	}
	mf := os.Getenv("ISTHMUS_METRICS_FILE")
	if mf == "" {
		mf = filepath.Join(root, ".cache", "metrics.txt")
	}
	if err := os.MkdirAll(filepath.Dir(mf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, []byte(metrics.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	s := checkFlows(t, summary, out.Name())
	if s.ExceptionsByKind["EXPORT_CONTROL"] == 0 {
		t.Errorf("no export-control exception: %v", s.ExceptionsByKind)
	}
	if len(s.OpenBreaks) != 0 {
		t.Errorf("the reconciler reported breaks in a clean run: %v", s.OpenBreaks)
	}
	if !strings.Contains(metrics.String(), "isthmus_processor_records_in_total") {
		t.Error("scraped metrics lack the processor counters")
	}
	// The simulated CRM checked new accounts with the gateway's
	// CheckDuplicate: some were saved, some duplicates never created.
	for _, outcome := range []string{"prevented", "saved"} {
		if n := metricValue(metrics.String(), `isthmus_sim_crm_duplicate_checks_total{outcome="`+outcome+`"}`); n < 1 {
			t.Errorf("duplicate checks %s: %v, want > 0", outcome, n)
		}
	}
	// Shipments grew the installed base, and the CRM opened service cases
	// and returns on it; field-service turned them into service orders and
	// return orders, told CRM, and settled costs and credits with balanced
	// journals.
	if s.Assets == 0 || s.Cases == 0 || s.ReturnCases == 0 {
		t.Errorf("installed base %d assets, %d cases of which %d returns; want all > 0", s.Assets, s.Cases, s.ReturnCases)
	}
	if s.ServiceOrderCommands == 0 || s.ReturnCommands == 0 {
		t.Errorf("%d service order commands, %d return commands; want both > 0", s.ServiceOrderCommands, s.ReturnCommands)
	}
	if s.CaseUpdates[contracts.CaseEventWorkOrder] == 0 || s.CaseUpdates[contracts.CaseEventReturnAuthorized] == 0 {
		t.Errorf("case updates %v: want WORK_ORDER and RETURN_AUTHORIZED", s.CaseUpdates)
	}
	if s.FieldJournals[contracts.JournalKindServiceCost] == 0 || s.FieldJournals[contracts.JournalKindCredit] == 0 {
		t.Errorf("field-service journals %v: want SERVICE_COST and CREDIT", s.FieldJournals)
	}
	if s.UnbalancedJournals != 0 {
		t.Errorf("%d journal commands do not balance", s.UnbalancedJournals)
	}
	// customer-sync answered the CRM's leads and the CRM read the answers.
	if n := metricValue(metrics.String(), `isthmus_sim_crm_lead_updates_total{outcome="NEW_ACCOUNT"}`); n < 1 {
		t.Errorf("lead updates NEW_ACCOUNT read by the CRM: %v, want > 0", n)
	}
}

// checkFlows reads the summary dev wrote at exit and checks that the flows
// ran: golden customers formed, orders reached INVOICED, subscriptions
// produced journals.
func checkFlows(t *testing.T, summary, stdout string) Stats {
	t.Helper()
	var s Stats
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("summary: %v\n%s", err, tailFile(stdout, 30))
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary: %s", b)
	if s.GoldenCustomers == 0 {
		t.Error("no golden customer formed")
	}
	if s.OrdersByState["INVOICED"] == 0 {
		t.Errorf("no order reached INVOICED: %v", s.OrdersByState)
	}
	if s.Journals == 0 {
		t.Error("subscriptions produced no journal command")
	}
	return s
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// freePorts is n consecutive free loopback ports (testinfra.FreePorts).
func freePorts(t *testing.T, n int) []int {
	base := testinfra.FreePorts(t, n)
	out := make([]int, n)
	for i := range out {
		out[i] = base + i
	}
	return out
}

func fetch(addr, path string) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), err
}

func get(addr, path string) error { _, err := fetch(addr, path); return err }

// getAs is get with a bearer token ("" for none).
func getAs(addr, path, token string) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// operatorToken is the first operator token isthmus dev printed.
func operatorToken(stdout string) string {
	b, _ := os.ReadFile(stdout)
	for _, l := range strings.Split(string(b), "\n") {
		if _, tok, ok := strings.Cut(l, "export ISTHMUS_OPERATOR_TOKEN="); ok {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
