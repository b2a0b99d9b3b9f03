package validate

import (
	"path/filepath"
	"runtime"
	"strings"
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
var services = []string{"billing-bridge", "customer-sync", "erp-simulator", "field-service", "gateway", "legacy-bridge", "quote-to-order", "reconciler"}

// imageProgram is the program an Isthmus image runs, from the image's name: the
// chart's and docker-compose.yml's images are <repository>/<program>:<tag>, except
// the CLI's, <repository>/cli:<tag>; the root Dockerfile builds each with the
// build argument PROGRAM=<program> (isthmus for the CLI).
func imageProgram(image string) string {
	name := image[strings.LastIndex(image, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	if name == "cli" {
		return "isthmus"
	}
	return name
}
