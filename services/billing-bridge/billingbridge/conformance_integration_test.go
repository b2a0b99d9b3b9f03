//go:build integration

package billingbridge_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestRealConformance is TestConformance on the real broker and schema
// registry (ISTHMUS_KAFKA_BROKERS, ISTHMUS_SCHEMA_REGISTRY_URL).
func TestRealConformance(t *testing.T) {
	rc, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: rc}, conformanceTarget())
}
