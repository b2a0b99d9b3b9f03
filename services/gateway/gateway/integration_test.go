//go:build integration

package gateway_test

import (
	"context"
	"testing"

	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

// The same suites against the real broker (ISTHMUS_KAFKA_BROKERS), the real Redis
// (ISTHMUS_REDIS_URL, database 15) and the schema registry (ISTHMUS_SCHEMA_REGISTRY_URL).

func TestIntegrationAPI(t *testing.T) { testAPI(t, gwtest.Integration(t)) }

func TestIntegrationFlushRebuild(t *testing.T) {
	e := gwtest.Integration(t)
	testFlushRebuild(t, e, func() {
		if err := e.Redis.FlushDB(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIntegrationReplicas(t *testing.T)       { testReplicas(t, gwtest.Integration(t)) }
func TestIntegrationRateLimit(t *testing.T)      { testRateLimit(t, gwtest.Integration(t)) }
func TestIntegrationAuthMatrix(t *testing.T)     { testAuthMatrix(t, gwtest.Integration(t), false) }
func TestIntegrationAuthMatrixMTLS(t *testing.T) { testAuthMatrix(t, gwtest.Integration(t), true) }

func TestIntegrationSchemathesis(t *testing.T) {
	testSchemathesis(t, gwtest.Integration(t), testinfra.Python(t))
}

func TestIntegrationRotationUnderLoad(t *testing.T) { testRotationUnderLoad(t, gwtest.Integration(t)) }
