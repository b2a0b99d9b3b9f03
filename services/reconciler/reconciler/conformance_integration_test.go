//go:build integration

package reconciler

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The router's conformance suite on the real broker and registry.
func TestRealConformanceRouter(t *testing.T) {
	reg, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: reg}, routerTarget())
}
