//go:build integration

package sim

import (
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The same suites against the real Apache Kafka broker and schema registry.
func TestRealOrderLifecycle(t *testing.T) {
	suiteOrderLifecycle(t, testinfra.Brokers(t), testinfra.RegistryURL(t))
}

func TestRealCustomerAndJournal(t *testing.T) {
	suiteCustomerAndJournal(t, testinfra.Brokers(t), testinfra.RegistryURL(t))
}

func TestRealRetryAfterFix(t *testing.T) {
	suiteRetryAfterFix(t, testinfra.Brokers(t), testinfra.RegistryURL(t))
}

func TestRealServiceOrders(t *testing.T) {
	suiteServiceOrders(t, testinfra.Brokers(t), testinfra.RegistryURL(t))
}

func TestRealReturns(t *testing.T) {
	suiteReturns(t, testinfra.Brokers(t), testinfra.RegistryURL(t))
}

// The processor conformance suite on the real broker and registry.
func TestRealConformance(t *testing.T) {
	rc, err := sr.NewClient(sr.URLs(testinfra.RegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	processortest.Conformance(t, processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: rc}, conformanceTarget())
}
