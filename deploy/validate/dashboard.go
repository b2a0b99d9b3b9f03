package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVars are Grafana's built-in interval variables, replaced by a
// duration before a query is parsed as PromQL.
var grafanaVars = regexp.MustCompile(`\$\{?__(rate_interval|interval|range|interval_ms|range_s|range_ms)\}?`)

// labelValues matches Grafana's templating query label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// DashboardMetrics returns the sorted, distinct metric names that a Grafana
// dashboard's queries select: every "expr" of a panel target (nested rows
// included) and every templating query of the form label_values(selector, label)
// or a plain PromQL query. Each query is parsed with the Prometheus PromQL
// parser; a query that does not parse is an error naming the panel.
func DashboardMetrics(dashboard []byte) ([]string, error) {
	var root any
	if err := json.Unmarshal(dashboard, &root); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var queries []query
	collectQueries(root, "", &queries)
	names := map[string]bool{}
	for _, q := range queries {
		expr := q.expr
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			expr = m[1]
		} else if q.templating && strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
			continue // label_values(label) without a selector names no metric
		}
		expr = grafanaVars.ReplaceAllString(expr, "5m")
		if strings.TrimSpace(expr) == "" {
			continue
		}
		found, err := MetricNames(expr)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", q.where, err)
		}
		for _, n := range found {
			names[n] = true
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// MetricNames parses a PromQL expression and returns the metric names of its
// vector selectors (a bare name or a __name__="..." matcher). A selector with
// no exact metric name (only a regex on __name__) is an error, because it
// cannot be checked against what the services export.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	var names []string
	var inspectErr error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			inspectErr = fmt.Errorf("selector %s in %q has no exact metric name", vs, expr)
			return inspectErr
		}
		names = append(names, name)
		return nil
	})
	if inspectErr != nil {
		return nil, inspectErr
	}
	return names, nil
}

type query struct {
	where      string // JSON path, for error messages
	expr       string
	templating bool
}

// collectQueries walks the dashboard JSON and records every PromQL query:
// "expr" strings anywhere (panel targets, nested panels) and the "query" of
// templating variables of type "query".
func collectQueries(v any, path string, out *[]query) {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["expr"].(string); ok {
			*out = append(*out, query{where: path + ".expr", expr: s})
		}
		if t, _ := x["type"].(string); t == "query" && strings.Contains(path, "templating") {
			switch q := x["query"].(type) {
			case string:
				*out = append(*out, query{where: path + ".query", expr: q, templating: true})
			case map[string]any:
				if s, ok := q["query"].(string); ok {
					*out = append(*out, query{where: path + ".query.query", expr: s, templating: true})
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "expr" {
				continue
			}
			collectQueries(x[k], path+"."+k, out)
		}
	case []any:
		for i, e := range x {
			collectQueries(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// ExposedMetrics reads metric names from Prometheus text exposition output, as
// served by the services' /metrics (several scrapes may be concatenated). Every
// sample line contributes its series name; a "# TYPE name histogram" (or
// summary) line contributes name_bucket/name_sum/name_count (name_sum, name_count
// and name for summaries), so a histogram that has not observed anything yet
// still counts. A line holding only a metric name is accepted too.
func ExposedMetrics(r io.Reader) (map[string]bool, error) {
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if strings.HasPrefix(s, "#") {
			f := strings.Fields(s)
			if len(f) >= 4 && f[1] == "TYPE" {
				name, typ := f[2], f[3]
				switch typ {
				case "histogram", "gaugehistogram":
					names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
				case "summary":
					names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
				default:
					names[name] = true
				}
			}
			continue
		}
		end := strings.IndexAny(s, "{ \t")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		if !validMetricName(name) {
			return nil, fmt.Errorf("metrics line %d: %q does not start with a metric name", line, s)
		}
		names[name] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return names, nil
}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

func validMetricName(s string) bool { return metricName.MatchString(s) }

// MissingMetrics returns the names in used (sorted) that exposed lacks.
func MissingMetrics(used []string, exposed map[string]bool) []string {
	var missing []string
	for _, n := range used {
		if !exposed[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	return missing
}
