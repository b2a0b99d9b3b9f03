# Contracts: Avro schemas (schemas/), the topic catalog (pkg/catalog), the Go
# types generated from them (pkg/contracts) and the AsyncAPI document.
#
# avrogen is built from the Go module proxy at a pinned version into
# $(TOOLS_BIN) (Makefile: go-tool); generation itself is offline.

CONTRACTS_AVRO_VERSION   := v2.31.0
CONTRACTS_AVROGEN        := $(TOOLS_BIN)/avrogen
CONTRACTS_TEMPLATE       := $(CURDIR)/pkg/contracts/internal/contractgen/avrogen.tmpl
# contractgen OUT EMBED: regenerate pkg/contracts into OUT and the embedded
# schemas copy into EMBED.
CONTRACTS_GEN = cd pkg && go run ./contracts/internal/contractgen \
	-schemas $(CURDIR)/schemas -avrogen $(CONTRACTS_AVROGEN) -template $(CONTRACTS_TEMPLATE)

$(eval $(call go-tool,avrogen,github.com/hamba/avro/v2/cmd/avrogen,$(CONTRACTS_AVRO_VERSION)))

.PHONY: generate-contracts check-generated-contracts generate-asyncapi check-generated-asyncapi test-contracts

generate-contracts: $(CONTRACTS_AVROGEN)
	$(CONTRACTS_GEN) -out $(CURDIR)/pkg/contracts -embed $(CURDIR)/pkg/catalog/schemas

# Regenerate into a temporary tree and diff with the committed code and the
# embedded schemas copy; fails when either is stale.
check-generated-contracts: $(CONTRACTS_AVROGEN)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(CONTRACTS_GEN) -out "$$tmp/contracts" -embed "$$tmp/schemas" && cd $(CURDIR) && \
	mkdir -p "$$tmp/committed" && cp pkg/contracts/*_gen.go "$$tmp/committed/" && \
	diff -rq "$$tmp/contracts" "$$tmp/committed" && \
	diff -rq "$$tmp/schemas" pkg/catalog/schemas || \
	{ echo "pkg/contracts or pkg/catalog/schemas is stale: run make generate-contracts" >&2; exit 1; }

generate-asyncapi:
	go run ./cmd/isthmus asyncapi --schemas $(CURDIR)/schemas --out $(CURDIR)/docs/asyncapi.yaml

check-generated-asyncapi:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(go run ./cmd/isthmus asyncapi --schemas $(CURDIR)/schemas --out "$$tmp/asyncapi.yaml") && \
	diff "$$tmp/asyncapi.yaml" docs/asyncapi.yaml || \
	{ echo "docs/asyncapi.yaml is stale: run make generate-asyncapi" >&2; exit 1; }

test-contracts:
	cd pkg && go test ./catalog/... ./contracts/...

GENERATE_TARGETS        += generate-contracts generate-asyncapi
CHECK_GENERATED_TARGETS += check-generated-contracts check-generated-asyncapi
UNIT_TARGETS            += test-contracts
