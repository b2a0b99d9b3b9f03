//go:build integration

package customersync

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance runs the conformance suite of TestConformance on the
// real broker and schema registry.
func TestRealConformance(t *testing.T) {
	reg, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: reg}, conformanceTarget(t))
}
