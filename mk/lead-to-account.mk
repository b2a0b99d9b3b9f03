# Lead-to-account (issue 19): the gateway's CustomerService duplicate check at
# scale. Prints CheckDuplicate p50/p99 at a paced 500 QPS and the maximum QPS
# over gRPC against a private redis-server holding 1,000,000 golden customers,
# next to the stream's in-process index and a Redis round trip from the same
# run (target: p99 <= 20 ms at 500 QPS). GOLDEN_BENCH_RECORDS and
# GATEWAY_BENCH_SECONDS change the size and the duration.

.PHONY: bench-lead-to-account

bench-lead-to-account: ## gateway: CheckDuplicate p50/p99 and QPS at 1,000,000 golden records
	cd services/gateway && $(GO) test -run '^$$' -bench CheckDuplicate -benchtime 1x -timeout 30m ./bench/

BENCH_TARGETS += bench-lead-to-account
