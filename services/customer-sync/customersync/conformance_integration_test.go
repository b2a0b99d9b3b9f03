//go:build integration

package customersync

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance runs the conformance suite of TestConformance on the
// real broker and schema registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: testinfra.RegistryClient(t)}, conformanceTarget(t))
}
