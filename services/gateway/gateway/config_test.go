package gateway

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
)

// TestBadDurations: a JWKS refresh of zero would panic the refresher (a
// ticker needs a positive interval) at start; a negative settle delay
// would let a position computed before a reservation release it.
func TestBadDurations(t *testing.T) {
	for _, e := range config.Unrefused(Name, func() config.Settings { return &Config{} }, map[string]string{
		"ISTHMUS_GATEWAY_JWKS_REFRESH":       "0s",
		"ISTHMUS_GATEWAY_RESERVATION_SETTLE": "-1s",
	}) {
		t.Error(e)
	}
}
