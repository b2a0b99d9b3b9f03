//go:build integration

package sim

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// The same suites against the real Apache Kafka broker and schema registry.
func TestRealOrderLifecycle(t *testing.T) {
	suiteOrderLifecycle(t, processortest.RealCluster(t))
}

func TestRealCustomerAndJournal(t *testing.T) {
	suiteCustomerAndJournal(t, processortest.RealCluster(t))
}

func TestRealRetryAfterFix(t *testing.T) {
	suiteRetryAfterFix(t, processortest.RealCluster(t))
}

func TestRealServiceOrders(t *testing.T) {
	suiteServiceOrders(t, processortest.RealCluster(t))
}

func TestRealReturns(t *testing.T) {
	suiteReturns(t, processortest.RealCluster(t))
}

// The processor conformance suite on the real broker and registry.
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), conformanceTarget())
}
