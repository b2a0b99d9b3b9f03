# Deployment checks (Helm chart, docker-compose.yml, the Dockerfile, Grafana
# dashboard), all offline: deploy/validate uses the real Helm, compose-go and
# BuildKit libraries, built from the Go module proxy and kept in the Go build
# cache. The lead's per-module `go test` runs the same tests; this target runs
# them alone.

.PHONY: deploy-validate

deploy-validate:
	cd deploy/validate && go test -count=1 ./...

# The Grafana dashboard may only query metrics the services really export: the
# `isthmus dev` smoke test (integration tier) scrapes every service's /metrics
# into $(DASHBOARD_METRICS_FILE); this check then requires that file.
DASHBOARD_METRICS_FILE := $(abspath .cache/metrics.txt)

.PHONY: dashboard-metrics
dashboard-metrics:
	cd deploy/validate && ISTHMUS_METRICS_FILE=$(DASHBOARD_METRICS_FILE) go test -count=1 -tags metricscheck -run TestDashboardUsesOnlyExportedMetrics .

TEST_TARGETS += dashboard-metrics
