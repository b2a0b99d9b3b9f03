//go:build integration

package gateway_test

import (
	"testing"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// CustomerService against the real broker, the real Redis (database 15) and
// the schema registry.

func TestIntegrationCustomerAPI(t *testing.T) { testCustomerAPI(t, gwtest.Integration(t)) }
func TestIntegrationCustomerDuplicatePairs(t *testing.T) {
	testDuplicatePairs(t, gwtest.Integration(t))
}
