//go:build integration

package reconciler

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// The router's conformance suite on the real broker and registry.
func TestRealConformanceRouter(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), routerTarget())
}

// The matcher's conformance suite on the real broker and registry.
func TestRealConformanceMatcher(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), matcherTarget())
}

// The parity processor's conformance suite on the real broker and registry.
func TestRealConformanceParity(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), parityTarget())
}
