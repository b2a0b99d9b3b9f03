# Isthmus — `make help` lists the targets.
#
# Area fragments live in mk/*.mk and add to the target lists below.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

GO ?= go
# Every workspace module's packages (go test ./... at the root does not reach them).
MODULE_PKGS = $(shell $(GO) list -m -f '{{.Dir}}/...')
GO_TEST_FLAGS ?= -count=1
INTEGRATION_TIMEOUT ?= 25m

GENERATE_TARGETS :=
CHECK_GENERATED_TARGETS :=
UNIT_TARGETS :=
TEST_TARGETS :=
BENCH_TARGETS :=
LINT_TARGETS :=

# Tools: every program the build runs (staticcheck here; avrogen, buf and the protoc
# plugins, helm in mk/*.mk) is installed from the Go module proxy at its pinned
# version into this one folder. Nothing else installs into it except
# scripts/infra/hydra.sh (hydra, built from tools/hydra), at the same path.
TOOLS_BIN := $(ROOT)/.cache/bin

# $(eval $(call go-tool,NAME,PACKAGE,VERSION)) defines $(TOOLS_BIN)/NAME: PACKAGE
# installed at VERSION. A stamp file named after the version records what was
# installed, so changing VERSION reinstalls the tool; while it is unchanged, no
# network is used.
define go-tool
$(TOOLS_BIN)/$(1): $(TOOLS_BIN)/.$(1)@$(3)
$(TOOLS_BIN)/.$(1)@$(3):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install $(2)@$(3)
	@rm -f $(TOOLS_BIN)/.$(1)@* && touch $$@
endef

include $(sort $(wildcard mk/*.mk))

STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS_BIN)/staticcheck
$(eval $(call go-tool,staticcheck,honnef.co/go/tools/cmd/staticcheck,$(STATICCHECK_VERSION)))

.PHONY: help run test test-unit test-go-unit test-go-integration build build-modules bench bench-go generate check-generated lint

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-26s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST) | sort -u

run: ## The whole suite in one process: embedded broker, registry, Redis store, every service, simulator traffic, dashboard
	$(GO) run ./cmd/isthmus dev $(RUN_ARGS)

build: ## Build every binary into bin/
	@mkdir -p bin
	$(GO) build -o bin/isthmus ./cmd/isthmus
	@for s in services/*/; do n=$$(basename $$s); echo "go build -o bin/$$n ./$$s"; $(GO) build -o bin/$$n ./$$s || exit 1; done

build-modules: ## Build each module alone (GOWORK=off, through its replace directives)
	@for m in $$($(GO) list -m -f '{{.Dir}}'); do echo "GOWORK=off build $${m#$(ROOT)/}"; (cd $$m && GOWORK=off $(GO) build ./...) || exit 1; done

test-unit: test-go-unit $(UNIT_TARGETS) ## Fast tests, no infrastructure

test-go-unit:
	$(GO) test $(GO_TEST_FLAGS) $(MODULE_PKGS)

# Integration tests need the real infrastructure; `test` brings it up and down.
test-go-integration:
	$(GO) test $(GO_TEST_FLAGS) -tags integration -timeout $(INTEGRATION_TIMEOUT) $(MODULE_PKGS)

test: ## Everything: generated-code checks, lint, module builds, unit and integration tests on real Kafka, Redis, registry and Python peers
	$(MAKE) check-generated
	$(MAKE) lint
	$(MAKE) build-modules
	$(MAKE) infra-up
	@status=0; \
	  $(MAKE) test-go-integration $(UNIT_TARGETS) $(TEST_TARGETS) || status=$$?; \
	  $(MAKE) infra-down; \
	  exit $$status

bench: ## Benchmarks (each prints its ratio against a baseline measured in the same run)
	$(MAKE) infra-up
	@status=0; $(MAKE) bench-go $(BENCH_TARGETS) || status=$$?; $(MAKE) infra-down; exit $$status

bench-go:
	$(GO) test -tags integration -run '^$$' -bench . -benchtime 1x $(ROOT)/pkg/processor/...

generate: $(GENERATE_TARGETS) ## Regenerate committed code (Avro types, protobuf/gateway/OpenAPI, AsyncAPI)

check-generated: $(CHECK_GENERATED_TARGETS) ## Fail when regenerating would change committed code

lint: $(STATICCHECK) $(LINT_TARGETS) ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULE_PKGS)
	$(GO) vet -tags integration $(MODULE_PKGS)
	$(STATICCHECK) -tags integration $(MODULE_PKGS)
