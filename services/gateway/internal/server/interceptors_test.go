package server

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
)

// TestDoneCountsEachLabelSet: the series cached per label set count each
// call under its own method, code and transport.
func TestDoneCountsEachLabelSet(t *testing.T) {
	m := newServerMetrics(prometheus.NewRegistry())
	start := time.Now()
	const quote = "/isthmus.pricing.v1.PricingService/PriceQuote"
	for range 3 {
		m.done(quote, "grpc", codes.OK, start)
	}
	m.done(quote, "rest", codes.OK, start)
	m.done(quote, "grpc", codes.NotFound, start)
	for _, c := range []struct {
		code, transport string
		want            float64
	}{{"OK", "grpc", 3}, {"OK", "rest", 1}, {"NotFound", "grpc", 1}, {"NotFound", "rest", 0}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(quote, c.code, c.transport)); got != c.want {
			t.Errorf("requests{%s,%s} = %v, want %v", c.code, c.transport, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("latency series = %d, want 2 (grpc, rest)", n)
	}
}
