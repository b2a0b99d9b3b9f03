# Gateway: protobuf contracts (proto/), generated code (pkg/api, services/gateway/openapi),
# buf lint, schemathesis run and the PriceQuote benchmark.
#
# Every generator is built from the Go module proxy at a pinned version into
# $(TOOLS_BIN) (Makefile: go-tool); generation itself is fully offline (local
# plugins only, no remote registry).

GW_BUF_VERSION      := v1.75.0
GW_PROTOBUF_VERSION := v1.36.12
GW_GRPC_GEN_VERSION := v1.6.0
GW_GATEWAY_VERSION  := v2.33.0
GW_TOOLS := $(TOOLS_BIN)/buf $(TOOLS_BIN)/protoc-gen-go $(TOOLS_BIN)/protoc-gen-go-grpc \
	$(TOOLS_BIN)/protoc-gen-grpc-gateway $(TOOLS_BIN)/protoc-gen-openapiv2
GW_PATH := PATH="$(TOOLS_BIN):$$PATH"

$(eval $(call go-tool,buf,github.com/bufbuild/buf/cmd/buf,$(GW_BUF_VERSION)))
$(eval $(call go-tool,protoc-gen-go,google.golang.org/protobuf/cmd/protoc-gen-go,$(GW_PROTOBUF_VERSION)))
$(eval $(call go-tool,protoc-gen-go-grpc,google.golang.org/grpc/cmd/protoc-gen-go-grpc,$(GW_GRPC_GEN_VERSION)))
$(eval $(call go-tool,protoc-gen-grpc-gateway,github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway,$(GW_GATEWAY_VERSION)))
$(eval $(call go-tool,protoc-gen-openapiv2,github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2,$(GW_GATEWAY_VERSION)))

.PHONY: gateway-tools generate-proto check-generated-proto buf-lint gateway-schemathesis gateway-bench

gateway-tools: $(GW_TOOLS)

generate-proto: $(GW_TOOLS)
	rm -rf pkg/api/isthmus
	$(GW_PATH) buf generate proto --template proto/buf.gen.yaml

# Regenerate into a temporary tree and diff with the committed code.
check-generated-proto: $(GW_TOOLS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GW_PATH) buf generate proto --template proto/buf.gen.yaml -o "$$tmp" && \
	diff -r "$$tmp/pkg/api" pkg/api && \
	diff "$$tmp/services/gateway/openapi/gateway.swagger.json" services/gateway/openapi/gateway.swagger.json && \
	echo "generated proto code is fresh" || \
	{ echo "generated proto code is stale: run make generate-proto" >&2; exit 1; }

buf-lint: $(TOOLS_BIN)/buf
	cd proto && $(TOOLS_BIN)/buf lint

# schemathesis against a running gateway: make gateway-schemathesis GATEWAY_URL=http://127.0.0.1:8080 GATEWAY_TOKEN=...
# (`make test` runs it through TestIntegrationSchemathesis in services/gateway/gateway.)
GATEWAY_URL ?= http://127.0.0.1:8080
gateway-schemathesis:
	@test -n "$(GATEWAY_TOKEN)" || { echo "set GATEWAY_TOKEN to a bearer token with every scope" >&2; exit 2; }
	scripts/gateway/schemathesis.sh "$(GATEWAY_URL)" "$(GATEWAY_TOKEN)"

# PriceQuote (gRPC, REST) and CheckCredit+reservation against a bare gRPC server and the
# full-stack no-op, one run (real Redis when ISTHMUS_REDIS_URL is set).
gateway-bench:
	cd services/gateway && go test -run '^$$' -bench BenchmarkPriceQuote -benchtime 1x ./bench/

GENERATE_TARGETS += generate-proto
CHECK_GENERATED_TARGETS += check-generated-proto
UNIT_TARGETS += buf-lint
LINT_TARGETS += buf-lint
BENCH_TARGETS += gateway-bench
