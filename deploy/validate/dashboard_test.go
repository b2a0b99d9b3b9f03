package validate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr    string
		want    []string
		wantErr string
	}{
		{expr: `up`, want: []string{"up"}},
		{expr: `sum by (service, topic) (rate(isthmus_processor_records_in_total{service=~"$service"}[5m]))`,
			want: []string{"isthmus_processor_records_in_total"}},
		{expr: `histogram_quantile(0.99, sum by (le) (rate(isthmus_gateway_request_seconds_bucket[5m])))`,
			want: []string{"isthmus_gateway_request_seconds_bucket"}},
		{expr: `sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > on (service) group_left b`,
			want: []string{"a_sum", "a_count", "b"}},
		{expr: `{__name__="isthmus_open_exceptions", queue="finance-ops"}`, want: []string{"isthmus_open_exceptions"}},
		{expr: `count(x offset 1h) without (instance) and bool y`, wantErr: "parse"},
		{expr: `{__name__=~"isthmus_.*"}`, wantErr: "no exact metric name"},
		{expr: `rate(x[5m]`, wantErr: "parse"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := MetricNames(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("MetricNames(%q) error = %v, want one containing %q", tc.expr, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("MetricNames(%q) (-want +got):\n%s", tc.expr, d)
			}
		})
	}
}

func TestDashboardMetrics(t *testing.T) {
	dashboard := `{
	  "templating": {"list": [
	    {"type": "datasource", "query": "prometheus"},
	    {"type": "query", "query": {"query": "label_values(isthmus_processor_records_in_total{job=\"x\"}, service)"}},
	    {"type": "query", "query": "label_values(kind)"},
	    {"type": "custom", "query": "a,b"}
	  ]},
	  "panels": [
	    {"type": "row", "panels": [
	      {"targets": [{"expr": "sum(rate(nested_total[$__rate_interval]))"}]}
	    ]},
	    {"targets": [
	      {"expr": "histogram_quantile(0.9, sum by (le) (rate(h_seconds_bucket[${__interval}])))"},
	      {"expr": "g + g"},
	      {"expr": ""}
	    ]}
	  ]
	}`
	got, err := DashboardMetrics([]byte(dashboard))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"g", "h_seconds_bucket", "isthmus_processor_records_in_total", "nested_total"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DashboardMetrics (-want +got):\n%s", d)
	}

	_, err = DashboardMetrics([]byte(`{"panels":[{"targets":[{"expr":"sum(rate(x[5m])"}]}]}`))
	if err == nil || !strings.Contains(err.Error(), ".panels[0].targets[0].expr") {
		t.Errorf("bad query: error = %v, want one naming .panels[0].targets[0].expr", err)
	}
	if _, err := DashboardMetrics([]byte(`{"panels": [`)); err == nil {
		t.Error("truncated JSON: no error")
	}
}

func TestExposedMetrics(t *testing.T) {
	exposition := `# HELP isthmus_processor_records_in_total Records consumed.
# TYPE isthmus_processor_records_in_total counter
isthmus_processor_records_in_total{service="customer-sync",topic="crm.account.v1"} 12
# HELP isthmus_processor_handler_seconds Handler latency.
# TYPE isthmus_processor_handler_seconds histogram
# TYPE rpc_seconds summary
go_goroutines 42
isthmus_orders_pending_validation
`
	got, err := ExposedMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"isthmus_processor_records_in_total":       true,
		"isthmus_processor_handler_seconds_bucket": true,
		"isthmus_processor_handler_seconds_sum":    true,
		"isthmus_processor_handler_seconds_count":  true,
		"rpc_seconds":                       true,
		"rpc_seconds_sum":                   true,
		"rpc_seconds_count":                 true,
		"go_goroutines":                     true,
		"isthmus_orders_pending_validation": true,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ExposedMetrics (-want +got):\n%s", d)
	}
	if _, err := ExposedMetrics(strings.NewReader("{job=\"x\"} 1\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("sample without a name: error = %v, want one naming line 1", err)
	}
}

func TestMissingMetrics(t *testing.T) {
	exposed := map[string]bool{"a": true, "c_bucket": true}
	got := MissingMetrics([]string{"c_bucket", "b", "a", "d"}, exposed)
	if d := cmp.Diff([]string{"b", "d"}, got); d != "" {
		t.Errorf("MissingMetrics (-want +got):\n%s", d)
	}
	if got := MissingMetrics([]string{"a"}, exposed); got != nil {
		t.Errorf("MissingMetrics = %v, want none", got)
	}
}

// dashboardPath is the one Grafana dashboard: the Helm chart ships it in a
// ConfigMap and docker-compose.yml mounts the same directory into Grafana.
func dashboardPath(t *testing.T) string {
	return filepath.Join(repoRoot(t), "helm", "isthmus", "dashboards", "isthmus.json")
}

// metricsFile holds the services' real /metrics output, written by the
// integration tests (ISTHMUS_METRICS_FILE overrides the location).
func metricsFile() string {
	if p := os.Getenv("ISTHMUS_METRICS_FILE"); p != "" {
		return p
	}
	return filepath.Join("testdata", "metrics.txt")
}

// TestDashboardUsesOnlyExportedMetrics compares every metric the dashboard
// queries with what the services really export.
func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath(t))
	if err != nil {
		t.Fatal(err)
	}
	used, err := DashboardMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(used) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
	f, err := os.Open(metricsFile())
	if errors.Is(err, fs.ErrNotExist) && !requireMetricsFile {
		t.Skipf("%s not written yet (the integration tests scrape the services' /metrics into it); dashboard uses %d metrics", metricsFile(), len(used))
	}
	if err != nil {
		t.Fatalf("services' /metrics output: %v", err)
	}
	defer f.Close()
	exposed, err := ExposedMetrics(f)
	if err != nil {
		t.Fatal(err)
	}
	if missing := MissingMetrics(used, exposed); len(missing) > 0 {
		t.Errorf("the dashboard queries metrics no service exports (per %s):\n  %s", metricsFile(), strings.Join(missing, "\n  "))
	}
}
