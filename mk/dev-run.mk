# A five-minute `isthmus dev` run as an operator tries it (embedded stack,
# default scenario and rate): the finance-ops queue must hold only genuine
# problems at the end (no PERIOD_CLOSED exception). About 6 minutes; part of
# `make test` (integration tier, build tags integration+devrun so the module
# sweep does not run it a second time).
.PHONY: dev-5m

dev-5m:
	cd cmd/isthmus && $(GO) test -count=1 -tags 'integration devrun' -timeout 12m -run TestDevFiveMinutes -v ./internal/dev/

TEST_TARGETS += dev-5m
