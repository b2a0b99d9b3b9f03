//go:build integration

package quotetoorder

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance runs the conformance suite on the real broker and
// registry.
func TestRealConformance(t *testing.T) {
	rc, err := service.RegistryClient(config.Registry{URL: testinfra.RegistryURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: rc}, conformanceTarget())
}
