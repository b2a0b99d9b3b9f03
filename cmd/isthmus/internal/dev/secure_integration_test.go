//go:build integration

package dev

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestSecureDev runs every service with `isthmus dev` against the secured
// broker (SASL_SSL, SCRAM-SHA-512; the settings of `make -s infra-env-secure`
// and nothing else), the shared registry and Redis, for a minute: the suite
// provisions its topics and schemas over TLS+SASL, every service connects
// with the same settings, and the flows run (golden customers, orders through
// the gateway to INVOICED, journals) with a clean exit.
func TestSecureDev(t *testing.T) {
	env := testinfra.Secure(t, "scram")
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "isthmus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/isthmus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ports := freePorts(t, 3)
	adminBase := testinfra.FreePorts(t, 7)
	summary := filepath.Join(t.TempDir(), "summary.json")
	logFile := filepath.Join(t.TempDir(), "dev.log")
	cmd := exec.Command(bin, "dev", "--duration", "75s", "--rate", "20", "--scenario", "mixed", "--log-file", logFile)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env,
		fmt.Sprintf("ISTHMUS_TOPIC_PREFIX=secdev%d.", time.Now().UnixNano()),
		fmt.Sprintf("ISTHMUS_GATEWAY_GRPC_ADDR=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("ISTHMUS_GATEWAY_HTTP_ADDR=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("ISTHMUS_RECON_DASHBOARD_ADDR=127.0.0.1:%d", ports[2]),
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
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("isthmus dev on the secured broker did not exit 0: %v\n%s\n%s", err, tailFile(out.Name(), 30), tailFile(logFile, 20))
		}
	case <-time.After(150 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("isthmus dev did not stop after --duration\n%s", tailFile(out.Name(), 30))
	}
	head, _ := os.ReadFile(out.Name())
	if !strings.Contains(string(head), "127.0.0.1:9094 (external)") || !strings.Contains(string(head), "provisioned") {
		t.Errorf("dev did not use and provision the secured broker:\n%s", head)
	}
	checkFlows(t, summary, out.Name())
}
