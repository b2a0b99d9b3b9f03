# Performance (issue 14). The runtime's throughput against a minimal franz-go
# EOS loop, its latency at half load and its GOMAXPROCS scaling run in
# `make bench` through bench-go (BenchmarkRuntimeVsRawTransactional); the
# quote → ERP order command latency at 500 quotes/s in quote-to-order-bench
# (mk/quote-to-order.mk). This fragment adds each service's steady-state RSS
# under `isthmus loadgen --rate 50` (services as separate processes on the
# real broker, registry and Redis, with the real gateway; about 3 minutes).

.PHONY: bench-rss

bench-rss: ## Each service's steady-state RSS under isthmus loadgen --rate 50 (target <= 64 MiB)
	scripts/perf/rss.sh

BENCH_TARGETS += bench-rss
