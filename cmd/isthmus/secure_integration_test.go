//go:build integration

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
