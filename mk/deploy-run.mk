# Rendered deployments, run (issue 15): deploy/validate's TestRenderedDeploymentsRun
# renders the chart with every ci/ profile and loads docker-compose.yml, then runs
# every container as the binary built from this repository, with exactly the
# rendered command, environment and mounted files (a PersistentVolumeClaim or a
# compose named volume is a folder of the test), against the real broker (plain
# :9092 and the secured one of infra-up-secure), registry, Redis and Ory Hydra.
# Also `helm lint --strict` with every ci/ profile, with the helm binary built from
# the Go module proxy at the version deploy/validate uses.

DEPLOY_RUN_ROOT    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
DEPLOY_RUN_TIMEOUT ?= 15m
# The helm deploy/validate is built with (its go.mod), so lint and the tests agree.
HELM_VERSION       := $(shell awk '$$1 == "helm.sh/helm/v3" {print $$2}' $(DEPLOY_RUN_ROOT)/deploy/validate/go.mod)
HELM               := $(TOOLS_BIN)/helm

.PHONY: deploy-run helm-lint-strict

$(eval $(call go-tool,helm,helm.sh/helm/v3/cmd/helm,$(HELM_VERSION)))

helm-lint-strict: $(HELM) ## helm lint --strict with every helm/isthmus/ci profile
	@for f in $(DEPLOY_RUN_ROOT)/helm/isthmus/ci/*-values.yaml; do \
	  echo "helm lint --strict -f $${f#$(DEPLOY_RUN_ROOT)/}"; \
	  $(HELM) lint --strict --kube-version 1.27.0 $(DEPLOY_RUN_ROOT)/helm/isthmus -f $$f || exit 1; \
	done

# Starts the secured broker and Hydra, runs the test, stops them (also on failure).
deploy-run: ## Run every rendered chart profile and the compose file as real processes (readiness, one quote to an ERP order, legacy-bridge's drop folder)
	$(MAKE) infra-up-secure
	@status=0; \
	  cd $(DEPLOY_RUN_ROOT)/deploy/validate && $(INFRA_ENV) ISTHMUS_SECURE_DIR=$(SECURE_DIR) \
	    $(GO) test $(GO_TEST_FLAGS) -tags deployrun -timeout $(DEPLOY_RUN_TIMEOUT) -run 'TestRenderedDeploymentsRun|TestComposeRuns' -v . || status=$$?; \
	  $(MAKE) -C $(DEPLOY_RUN_ROOT) infra-down-secure; \
	  exit $$status

TEST_TARGETS += deploy-run
LINT_TARGETS += helm-lint-strict
