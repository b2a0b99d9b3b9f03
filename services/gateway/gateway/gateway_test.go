package gateway_test

import (
	"testing"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

func TestAPI(t *testing.T) { testAPI(t, gwtest.Unit(t)) }
