# billing-bridge: deals per second, in the domain alone and end to end
# through the real broker and registry (make bench brings them up).

bench-billing-bridge: ## Deals/s of billing-bridge: domain (NEW/AMEND mix) and end to end on the real broker
	cd services/billing-bridge && $(GO) test -run '^$$' -bench Deals -benchtime 2000x ./internal/bridge/
	cd services/billing-bridge && $(GO) test -tags integration -run '^$$' -bench DealsEndToEnd -benchtime 2000x ./billingbridge/

BENCH_TARGETS += bench-billing-bridge
