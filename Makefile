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

include $(sort $(wildcard mk/*.mk))

TOOLS := $(ROOT)/.cache/bin
STATICCHECK_VERSION := 2026.1.1
STATICCHECK := $(TOOLS)/staticcheck

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

$(STATICCHECK):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK) $(LINT_TARGETS) ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULE_PKGS)
	$(GO) vet -tags integration $(MODULE_PKGS)
	$(STATICCHECK) -tags integration $(MODULE_PKGS)
