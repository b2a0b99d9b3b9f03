package gateway

import (
	"io"
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
		var c Config
		s := config.NewSet(Name)
		c.Register(s)
		err := s.Parse(nil, func(k string) (string, bool) {
			if k == env {
				return v, true
			}
			return "", false
		}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "invalid "+env) {
			t.Errorf("%s=%s: %v", env, v, err)
		}
	}
}
