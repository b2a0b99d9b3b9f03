//go:build integration

package billingbridge_test

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance is TestConformance on the real broker and schema
// registry (ISTHMUS_KAFKA_BROKERS, ISTHMUS_SCHEMA_REGISTRY_URL).
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: testinfra.RegistryClient(t)}, conformanceTarget())
}
