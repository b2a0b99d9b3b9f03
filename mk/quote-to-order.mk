# quote-to-order: end-to-end benchmark (quote produced → ERP order command) against the
# real gateway binary, needs the infrastructure of `make bench` (broker, registry,
# Redis); prints p50/p99 at 500 quotes/s,
# the maximum sustained quotes/s and the gateway's share of the latency.

.PHONY: quote-to-order-bench

quote-to-order-bench:
	cd services/quote-to-order && go test -tags integration -run '^$$' -bench QuoteToCommand -benchtime 1x ./quotetoorder/

BENCH_TARGETS += quote-to-order-bench
