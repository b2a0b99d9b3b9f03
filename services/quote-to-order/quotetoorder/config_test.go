package quotetoorder

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
)

// TestBadDurations: a setting whose zero or negative value has no meaning
// is refused with its name, instead of falling back to a default or
// retrying forever.
func TestBadDurations(t *testing.T) {
	for _, e := range config.Unrefused(Name, func() config.Settings { return &Config{} }, map[string]string{
		"ISTHMUS_QUOTE_TO_ORDER_GATEWAY_TIMEOUT":      "0s",
		"ISTHMUS_QUOTE_TO_ORDER_RETRY_MAX_ELAPSED":    "0s",
		"ISTHMUS_QUOTE_TO_ORDER_CREDIT_RECHECK":       "-1m",
		"ISTHMUS_QUOTE_TO_ORDER_UNKNOWN_STATUS_GRACE": "0s",
	}) {
		t.Error(e)
	}
}
