package schemas

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/schemaregistry"
)

// copySchemas copies the repository's schemas/ into a temp dir.
func copySchemas(t *testing.T, dst string) {
	t.Helper()
	src := filepath.Join("..", "..", "..", "..", "schemas")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// breakAccount adds a required field to crm.account.v1 (not BACKWARD compatible).
func breakAccount(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "crm.account.v1.avsc")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	from := `{"name": "name", "type": "string", "doc": "Account name as sold (CRM-owned)."},`
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("crm.account.v1.avsc lacks %s", from)
	}
	b = bytes.Replace(b, []byte(from), []byte(from+`{"name": "segment", "type": "string", "doc": "Segment."},`), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errw bytes.Buffer
	err := Run(context.Background(), args, &out, &errw)
	return out.String() + errw.String(), err
}

func TestApplyThenCheckAgainstRegistry(t *testing.T) {
	reg, err := schemaregistry.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	env := map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": srv.URL, "ISTHMUS_TOPIC_PREFIX": "test."}
	dir := t.TempDir()
	copySchemas(t, dir)

	out, err := run(t, env, "apply", "--catalog", dir)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if !strings.Contains(out, "test.crm.account.v1-value") || !strings.Contains(out, "registered") {
		t.Fatalf("apply output:\n%s", out)
	}
	out, err = run(t, env, "apply", "--catalog", dir)
	if err != nil || strings.Contains(out, "registered (") {
		t.Fatalf("second apply must be a no-op: %v\n%s", err, out)
	}
	if out, err := run(t, env, "check", "--catalog", dir); err != nil {
		t.Fatalf("check of the applied tree: %v\n%s", err, out)
	}

	breakAccount(t, dir)
	out, err = run(t, env, "check", "--catalog", dir)
	if err == nil {
		t.Fatalf("check must fail:\n%s", out)
	}
	for _, s := range []string{"test.crm.account.v1-value", "version 1", "field segment"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
	// apply refuses the same change through the registry's 409.
	_, err = run(t, env, "apply", "--catalog", dir, "--topic", "crm.account.v1")
	if err == nil || !strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), "segment") {
		t.Fatalf("apply of an incompatible schema: %v", err)
	}
}

func TestCheckAgainstGitRef(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	gitc := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitc("init", "-q")
	gitc("commit", "-q", "--allow-empty", "-m", "empty")
	copySchemas(t, filepath.Join(repo, "schemas"))
	gitc("add", "schemas")
	gitc("commit", "-q", "-m", "schemas")
	t.Chdir(repo)

	// An empty first commit has no schemas: nothing to check, success.
	out, err := run(t, nil, "check", "--against", "HEAD~1")
	if err != nil || !strings.Contains(out, "no schemas at HEAD~1") {
		t.Fatalf("against a ref without schemas: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "check", "--against", "HEAD"); err != nil {
		t.Fatalf("unchanged tree: %v\n%s", err, out)
	}
	breakAccount(t, filepath.Join(repo, "schemas"))
	_, err = run(t, nil, "check", "--against", "HEAD")
	if err == nil || !strings.Contains(err.Error(), "crm.account.v1-value") || !strings.Contains(err.Error(), "field segment") || !strings.Contains(err.Error(), "HEAD") {
		t.Fatalf("want a failure naming subject, ref and field, got %v", err)
	}
	if _, err := run(t, nil, "check", "--against", "no-such-ref"); err == nil || !strings.Contains(err.Error(), "unknown git ref") {
		t.Fatalf("unknown ref: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	copySchemas(t, dir)
	malformed := t.TempDir()
	copySchemas(t, malformed)
	os.WriteFile(filepath.Join(malformed, "crm.account.v1.avsc"), []byte(`{"type":"record",`), 0o644)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no sub-verb", nil, nil, "missing sub-verb"},
		{"unknown sub-verb", nil, []string{"frobnicate"}, "unknown sub-verb"},
		{"missing catalog", nil, []string{"check", "--catalog", filepath.Join(dir, "nope")}, "no topics.yaml"},
		{"malformed schema", map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1"}, []string{"check", "--catalog", malformed}, "crm.account.v1"},
		{"unknown topic", map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1"}, []string{"apply", "--catalog", dir, "--topic", "nope.v1"}, `unknown topic "nope.v1"`},
		{"no registry", map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": ""}, []string{"apply", "--catalog", dir}, "invalid ISTHMUS_SCHEMA_REGISTRY_URL"},
		{"registry unreachable", map[string]string{"ISTHMUS_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1"}, []string{"check", "--catalog", dir}, "unreachable"},
		{"bad flag", nil, []string{"apply", "--nope"}, "see --help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}
