//go:build integration

package gateway_test

import (
	"testing"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// EntitlementService against the real broker, the real Redis and the schema
// registry.
func TestIntegrationEntitlementAPI(t *testing.T) { testEntitlementAPI(t, gwtest.Integration(t)) }
