# Schemas area: compatibility gate and serde benchmark.
#
#   schemas-check-against-main  `isthmus schemas check --against` the merge base with
#                               main: no commit may break a released contract
#                               (part of `make test`)
#   bench-serde                 serde Encode/Decode vs plain hamba/avro, with the ratio
#                               (part of `make bench`)

SCHEMAS_BASE_BRANCH ?= main

.PHONY: schemas-check-against-main bench-serde

schemas-check-against-main: ## Fail when a schema change breaks compatibility with the merge base of HEAD and main
	@base=$$(git merge-base HEAD $(SCHEMAS_BASE_BRANCH) 2>/dev/null) || base=""; \
	if [ -z "$$base" ]; then \
	  echo "schemas-check-against-main: no merge base of HEAD and $(SCHEMAS_BASE_BRANCH) (no earlier commit): skipped"; exit 0; \
	fi; \
	if ! git cat-file -e "$$base:schemas/topics.yaml" 2>/dev/null; then \
	  echo "schemas-check-against-main: $$base has no schemas/topics.yaml: nothing released to check against, skipped"; exit 0; \
	fi; \
	echo "isthmus schemas check --against $$base"; \
	$(GO) run ./cmd/isthmus schemas check --catalog schemas --against "$$base"

bench-serde: ## Benchmark serde Encode/Decode against plain hamba/avro (prints the ratio; target <= 1.2x)
	cd pkg && $(GO) test -run '^$$' -bench . -benchmem ./serde/

TEST_TARGETS += schemas-check-against-main
BENCH_TARGETS += bench-serde
