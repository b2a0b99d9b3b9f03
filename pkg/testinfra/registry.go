package testinfra

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// RegistryClient returns a client of the shared test schema registry
// (ISTHMUS_SCHEMA_REGISTRY_URL).
func RegistryClient(t testing.TB) *sr.Client {
	t.Helper()
	rc, err := sr.NewClient(sr.URLs(RegistryURL(t)))
	if err != nil {
		t.Fatalf("testinfra: schema registry client: %v", err)
	}
	return rc
}
