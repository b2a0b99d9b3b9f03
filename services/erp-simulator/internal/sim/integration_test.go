//go:build integration

package sim

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The same suites against the real Apache Kafka broker and schema registry.
func TestRealOrderLifecycle(t *testing.T) {
	suiteOrderLifecycle(t, realCluster(t))
}

func TestRealCustomerAndJournal(t *testing.T) {
	suiteCustomerAndJournal(t, realCluster(t))
}

func TestRealRetryAfterFix(t *testing.T) {
	suiteRetryAfterFix(t, realCluster(t))
}

func TestRealServiceOrders(t *testing.T) {
	suiteServiceOrders(t, realCluster(t))
}

func TestRealReturns(t *testing.T) {
	suiteReturns(t, realCluster(t))
}

// The processor conformance suite on the real broker and registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, realCluster(t), conformanceTarget())
}

// realCluster is the real broker and schema registry.
func realCluster(t *testing.T) processortest.Cluster {
	return processortest.Cluster{Brokers: testinfra.Brokers(t), Registry: testinfra.RegistryClient(t)}
}
