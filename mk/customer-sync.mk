# customer-sync: the 1M-golden-record matching benchmark (issue 4). Prints
# account upserts/s against an index of 1,000,000 golden records and the
# heap in use at that size (heap-MiB@1M; -v adds bytes per record).

.PHONY: bench-customer-sync

bench-customer-sync: ## customer-sync: account upserts/s and memory at 1,000,000 golden records
	cd pkg && $(GO) test ./match -run '^$$' -bench UpsertAt1M -benchtime 50000x -v

BENCH_TARGETS += bench-customer-sync
