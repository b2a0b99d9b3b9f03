# Kits for source systems and analysts: the AsyncAPI document checked by the
# AsyncAPI parser, and the runnable examples under examples/ run against the
# real broker and registry (docs/producing.md, docs/analytics.md).
#
# Node and Python packages are installed from their registries into .cache
# (pinned: scripts/asyncapi/package-lock.json, examples/*/requirements.txt).

KITS_CACHE    := $(CURDIR)/.cache
KITS_ASYNCAPI := $(KITS_CACHE)/asyncapi

.PHONY: asyncapi-validate

# npm ci from the committed lock file, redone when it changes.
$(KITS_ASYNCAPI)/.installed: scripts/asyncapi/package.json scripts/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "asyncapi-validate: npm not found (install Node.js 18+)" >&2; exit 1; }
	@mkdir -p $(KITS_ASYNCAPI)
	cp scripts/asyncapi/package.json scripts/asyncapi/package-lock.json $(KITS_ASYNCAPI)/
	cd $(KITS_ASYNCAPI) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Parse docs/asyncapi.yaml with @asyncapi/parser; any error diagnostic fails.
asyncapi-validate: $(KITS_ASYNCAPI)/.installed
	cp scripts/asyncapi/validate.mjs $(KITS_ASYNCAPI)/validate.mjs
	node $(KITS_ASYNCAPI)/validate.mjs $(CURDIR)/docs/asyncapi.yaml

UNIT_TARGETS += asyncapi-validate
