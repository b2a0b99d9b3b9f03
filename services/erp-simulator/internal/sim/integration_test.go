//go:build integration

package sim

import (
	"testing"

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
