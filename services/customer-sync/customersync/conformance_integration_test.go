//go:build integration

package customersync

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// TestRealConformance runs the conformance suite of TestConformance on the
// real broker and schema registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), conformanceTarget(t))
}
