//go:build integration

package quotetoorder

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// TestRealConformance runs the conformance suite on the real broker and
// registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), conformanceTarget())
}
