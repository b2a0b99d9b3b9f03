//go:build integration

package reconciler

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// realCluster is the real broker and registry.
func realCluster(t *testing.T) processortest.Cluster {
	t.Helper()
	reg, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	return processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: reg}
}

// The router's conformance suite on the real broker and registry.
func TestRealConformanceRouter(t *testing.T) {
	processortest.Conformance(t, realCluster(t), routerTarget())
}

// The matcher's conformance suite on the real broker and registry.
func TestRealConformanceMatcher(t *testing.T) {
	processortest.Conformance(t, realCluster(t), matcherTarget())
}
