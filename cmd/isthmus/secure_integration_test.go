//go:build integration

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// isthmusBinary builds the CLI once per test.
func isthmusBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "isthmus")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// run runs the binary with exactly env (plus PATH and HOME) and returns its
// exit code, stdout and stderr.
func run(t *testing.T, bin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir() // no ./schemas: the catalog built into the binary
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errw.String()
}

func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestSecureProvisioningCLI provisions a prefixed copy of the catalog on the
// secured broker with `isthmus topics apply` and `isthmus schemas apply`,
// over SCRAM-SHA-512, OAUTHBEARER and mutual TLS, exactly as the chart's
// provisioning jobs run them: settings from the environment only.
func TestSecureProvisioningCLI(t *testing.T) {
	scram := testinfra.Secure(t, "scram")
	bin := isthmusBinary(t)
	prefix := fmt.Sprintf("sec%d.", time.Now().UnixNano())
	env := with(scram, "ISTHMUS_TOPIC_PREFIX", prefix)

	code, out, errs := run(t, bin, env, "topics", "apply")
	if code != 0 || !strings.Contains(out, "applied ") {
		t.Fatalf("topics apply over SCRAM: exit %d\n%s%s", code, out, errs)
	}
	// Applying again changes nothing (once the broker's metadata shows the
	// new topics: a KRaft broker publishes them a moment after creating).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(time.Second) {
		code, out, errs = run(t, bin, env, "topics", "apply")
		if code != 0 {
			t.Fatalf("second topics apply: exit %d\n%s%s", code, out, errs)
		}
		if strings.Count(out, "unchanged") == strings.Count(out, "\n")-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics apply keeps planning changes:\n%s", out)
		}
	}
	code, out, errs = run(t, bin, env, "schemas", "apply")
	if code != 0 {
		t.Fatalf("schemas apply: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs = run(t, bin, env, "dlq", "list"); code != 0 {
		t.Fatalf("dlq list over SCRAM: exit %d\n%s%s", code, out, errs)
	}

	oauth := testinfra.Secure(t, "oauth")
	if code, out, errs = run(t, bin, with(oauth, "ISTHMUS_TOPIC_PREFIX", prefix), "topics", "apply", "--dry-run"); code != 0 {
		t.Fatalf("topics apply over OAUTHBEARER: exit %d\n%s%s", code, out, errs)
	}
	mtls := testinfra.Secure(t, "mtls")
	if code, out, errs = run(t, bin, with(mtls, "ISTHMUS_TOPIC_PREFIX", prefix), "topics", "apply", "--dry-run"); code != 0 {
		t.Fatalf("topics apply over mutual TLS: exit %d\n%s%s", code, out, errs)
	}
}

// TestSecureCLIRefusalsNameTheSetting: a wrong password or an untrusted CA
// stops a verb with one line on stderr that names the setting, exit 1.
func TestSecureCLIRefusalsNameTheSetting(t *testing.T) {
	scram := testinfra.Secure(t, "scram")
	bin := isthmusBinary(t)
	otherCA := testinfra.UntrustedCA(t)
	cases := []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"wrong password", with(scram, "ISTHMUS_KAFKA_SASL_PASSWORD", "wrong"), "ISTHMUS_KAFKA_SASL_PASSWORD"},
		{"untrusted CA", with(scram, "ISTHMUS_KAFKA_TLS_CA_FILE", otherCA), "ISTHMUS_KAFKA_TLS_CA_FILE"},
		{"no TLS", with(scram, "ISTHMUS_KAFKA_TLS_ENABLED", "false", "ISTHMUS_KAFKA_TLS_CA_FILE", ""), "ISTHMUS_KAFKA_TLS_ENABLED"},
	}
	for _, tc := range cases {
		for _, verb := range [][]string{{"topics", "apply", "--dry-run"}, {"dlq", "list"}} {
			t.Run(tc.name+"/"+verb[0], func(t *testing.T) {
				code, out, errs := run(t, bin, tc.env, verb...)
				lines := strings.Split(strings.TrimSpace(errs), "\n")
				if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.setting) {
					t.Fatalf("want exit 1 and one stderr line naming %s; got exit %d, stdout %q, stderr:\n%s", tc.setting, code, out, errs)
				}
				t.Log(lines[0])
			})
		}
	}
}

// TestSecureServiceBinary runs a service binary (billing-bridge) with the
// secured broker's settings from the environment, as a pod would: it becomes
// ready on the SASL_SSL listener and stops cleanly on SIGTERM; with a wrong
// password or an untrusted CA it exits 1 at start, its last stderr line
// naming the setting.
func TestSecureServiceBinary(t *testing.T) {
	scram := testinfra.Secure(t, "scram")
	cli := isthmusBinary(t)
	svc := filepath.Join(t.TempDir(), "billing-bridge")
	build := exec.Command("go", "build", "-o", svc, ".")
	build.Dir = filepath.Join("..", "..", "services", "billing-bridge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build billing-bridge: %v\n%s", err, out)
	}
	prefix := fmt.Sprintf("secsvc%d.", time.Now().UnixNano())
	env := with(scram, "ISTHMUS_TOPIC_PREFIX", prefix, "ISTHMUS_LOG_LEVEL", "warn")
	for _, verb := range [][]string{{"topics", "apply"}, {"schemas", "apply"}} {
		if code, out, errs := run(t, cli, env, verb...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", verb, code, out, errs)
		}
	}

	admin := testinfra.FreeAddr(t)
	cmd := exec.Command(svc)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ISTHMUS_ADMIN_ADDR=" + admin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
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
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		res, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("billing-bridge exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("billing-bridge not ready on the secured broker within 90s\n%s", stderr.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("billing-bridge did not stop cleanly: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("billing-bridge did not stop within 30s of SIGTERM")
	}

	for _, tc := range []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"wrong password", with(env, "ISTHMUS_KAFKA_SASL_PASSWORD", "wrong"), "ISTHMUS_KAFKA_SASL_PASSWORD"},
		{"untrusted CA", with(env, "ISTHMUS_KAFKA_TLS_CA_FILE", testinfra.UntrustedCA(t)), "ISTHMUS_KAFKA_TLS_CA_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, svc, with(tc.env, "ISTHMUS_ADMIN_ADDR", testinfra.FreeAddr(t)))
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "billing-bridge: kafka ") || !strings.Contains(last, tc.setting) {
				t.Fatalf("want exit 1 and a last line naming %s; got exit %d:\n%s", tc.setting, code, errs)
			}
			t.Log(last)
		})
	}
}
