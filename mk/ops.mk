# Operations loop (issue 17): the operations API (roles, four eyes, audit), the
# dashboard's actions in headless Chromium, replay to a service's own retry topic, and
# every command of docs/operations.md. These tests run with every workspace module in
# test-go-integration; test-ops runs just them against the infrastructure of infra-up.

OPS_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.PHONY: test-ops

test-ops: ## Operations API, dashboard actions (Chromium), replay, docs/operations.md commands (needs infra-up)
	cd $(OPS_ROOT) && $(INFRA_ENV) $(GO) test -count=1 -tags integration -timeout 10m \
	  -run 'TestOperationsAPI|TestOperationsDocCommands|TestReplayAfterFixProcessedOnce' \
	  ./services/reconciler/reconciler/ ./cmd/isthmus/ ./pkg/deadletter/
