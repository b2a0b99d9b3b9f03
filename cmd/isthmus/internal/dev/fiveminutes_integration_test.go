//go:build integration && devrun

package dev

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// genuineFinanceOps are the exception kinds finance-ops should see from
// the simulator's traffic: customers the ERP puts on credit hold, lines
// for a country without tax configuration, and warranty claims the
// manufacturer refuses for misuse (ISTHMUS_SIM_CREDIT_HOLD_BPS,
// ISTHMUS_SIM_TAX_MISSING, ISTHMUS_SIM_CLAIM_REJECT_BPS: finance-ops decides
// whether the customer pays or the cost is absorbed). Anything else open in
// the queue after a clean run is noise the services should have handled
// themselves (a journal posted into a period that is not open, a
// PERIOD_CLOSED rejection).
var genuineFinanceOps = map[string]bool{"CREDIT_HOLD": true, "TAX_CONFIGURATION": true, "WARRANTY_CLAIM_REJECTED": true}

// TestDevFiveMinutes runs `isthmus dev` as an operator tries it — the
// embedded stack, the default scenario and rate — for five minutes, and
// checks that the finance-ops queue holds only genuine problems: no
// PERIOD_CLOSED exception (recognition is posted when its period opens,
// a closed period is reposted automatically), every open FINANCE_OPS
// exception of a genuine kind. `make dev-5m` (part of `make test`) runs it.
func TestDevFiveMinutes(t *testing.T) {
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "isthmus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/isthmus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ports := freePorts(t, 6)
	adminBase := testinfra.FreePorts(t, 7)
	summary := filepath.Join(t.TempDir(), "summary.json")
	logFile := filepath.Join(t.TempDir(), "dev.log")
	const run = 5 * time.Minute
	cmd := exec.Command(bin, "dev", "--duration", run.String(), "--log-file", logFile) // default scenario and rate
	cmd.Dir = t.TempDir()
	env := []string{}
	for _, kv := range os.Environ() {
		// `make run`'s embedded stack, as in TestDevSmoke.
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
		fmt.Sprintf("ISTHMUS_RECON_DASHBOARD_ADDR=127.0.0.1:%d", ports[5]),
		fmt.Sprintf("ISTHMUS_DEV_ADMIN_PORT=%d", adminBase),
		"ISTHMUS_DEV_KEY_DIR="+t.TempDir(),
		"ISTHMUS_DEV_SUMMARY_FILE="+summary,
	)
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("isthmus dev did not exit 0: %v\n%s", err, tailFile(out.Name(), 30))
		}
	case <-time.After(run + 2*time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("isthmus dev did not stop after --duration %s\n%s", run, tailFile(out.Name(), 30))
	}
	t.Logf("isthmus dev ran %s", time.Since(start).Round(time.Second))
	if !strings.Contains(tailFile(out.Name(), 5), "stopped cleanly") {
		t.Errorf("no clean shutdown line:\n%s", tailFile(out.Name(), 10))
	}
	s := checkFlows(t, summary, out.Name())
	if n := s.ByRejectionCode["PERIOD_CLOSED"]; n != 0 {
		t.Errorf("%d PERIOD_CLOSED exceptions: a closed period must be reposted, not raised", n)
	}
	var kinds []string
	for k, n := range s.OpenByQueueKind {
		queue, kind, _ := strings.Cut(k, "/")
		if queue != "FINANCE_OPS" {
			continue
		}
		kinds = append(kinds, fmt.Sprintf("%s=%d", kind, n))
		if !genuineFinanceOps[kind] {
			t.Errorf("%d open FINANCE_OPS %s exceptions: not a genuine problem of the simulated traffic", n, kind)
		}
	}
	sort.Strings(kinds)
	t.Logf("open FINANCE_OPS exceptions by kind: %v (all queues: %v)", kinds, s.OpenExceptions)
	if s.Journals == 0 {
		t.Error("no journal command in five minutes")
	}
}
