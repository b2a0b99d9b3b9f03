package gateway

import (
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
)

// TestBadDurations: a JWKS refresh of zero would panic the refresher (a
// ticker needs a positive interval) at start; a negative settle delay
// would let a position computed before a reservation release it.
func TestBadDurations(t *testing.T) {
	for env, v := range map[string]string{
		"ISTHMUS_GATEWAY_JWKS_REFRESH":       "0s",
		"ISTHMUS_GATEWAY_RESERVATION_SETTLE": "-1s",
	} {
		err := config.ParseMaps(Name, &Config{}, map[string]string{env: v})
		if err == nil || !strings.Contains(err.Error(), "invalid "+env) {
			t.Errorf("%s=%s: %v", env, v, err)
		}
	}
}
