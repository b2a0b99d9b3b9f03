package validate

import (
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the repository root: this file lives in deploy/validate.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// services are the deployable service modules; the CLI is cmd/isthmus.
var services = []string{"billing-bridge", "customer-sync", "erp-simulator", "field-service", "gateway", "quote-to-order", "reconciler"}
