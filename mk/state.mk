# Processor state stores (issue 14, part 4): restart of a processor holding
# 1,000,000 keys on the real broker, on-disk store (Pebble) from its local
# checkpoint against the in-memory store; prints restore time and peak RSS of
# each (targets: restart restore <= 10 s, peak RSS <= 256 MiB). Needs the
# shared infra (make infra-up; `make bench` starts it). The build tag keeps it
# out of bench-go's `-bench .`.

.PHONY: bench-state

bench-state: ## State restore at 1M keys: on-disk store + checkpoint vs in-memory (restore s, peak RSS)
	cd pkg && $(GO) test -tags 'integration statebench' -run '^$$' -bench BenchmarkStateRestore1M -benchtime 1x ./processor/

BENCH_TARGETS += bench-state
