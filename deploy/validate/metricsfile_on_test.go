//go:build metricscheck

package validate

// With the metricscheck tag (make dashboard-metrics, after the dev smoke test) the services' real /metrics output must have been
// written to the metrics file; its absence fails the test.
const requireMetricsFile = true
