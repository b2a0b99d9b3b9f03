# Reconciler: browser dependency for its end-to-end test (headless Chromium)
# and its benchmark. The Go tests themselves run with every workspace module.

RECON_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.PHONY: reconciler-browser-deps reconciler-bench

reconciler-browser-deps: ## Install Chromium for the reconciler dashboard test (root: apt-get)
	$(RECON_ROOT)/scripts/reconciler/browser-deps.sh

reconciler-bench: ## Reconciler: events/s matched with 1,000,000 open expectations, and memory
	cd $(RECON_ROOT)/services/reconciler && go test -run '^$$' -bench 'MatchWith1M' -benchtime 200000x ./internal/match/
	cd $(RECON_ROOT)/services/reconciler && go test -run '^$$' -bench 'TickWith1M' -benchtime 3x ./internal/match/


BENCH_TARGETS += reconciler-bench
