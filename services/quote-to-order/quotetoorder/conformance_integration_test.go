//go:build integration

package quotetoorder

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance runs the conformance suite on the real broker and
// registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: testinfra.RegistryClient(t)}, conformanceTarget())
}
