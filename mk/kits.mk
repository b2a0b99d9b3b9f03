# Kits for source systems and analysts: the AsyncAPI document checked by the
# AsyncAPI parser, and the runnable examples under examples/ run against the
# real broker and registry (docs/producing.md, docs/analytics.md).
#
# Node and Python packages are installed from their registries into .cache
# (pinned: scripts/asyncapi/package-lock.json, examples/*/requirements.txt).

KITS_CACHE    := $(CURDIR)/.cache
KITS_ASYNCAPI := $(KITS_CACHE)/asyncapi

KITS_VENV     := $(KITS_CACHE)/kits-venv
KITS_PYREQS   := examples/python-producer/requirements.txt examples/python-analytics/requirements.txt
KITS_JAVA     := examples/java-producer
KITS_JAVA_CP  := $(CURDIR)/$(KITS_JAVA)/target/java-producer-1.0.0.jar:$(CURDIR)/$(KITS_JAVA)/target/lib/*

.PHONY: asyncapi-validate kits-venv kits-java kits-test

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

# A venv with the Python examples' requirements, as their users would install them.
$(KITS_VENV)/.installed: $(KITS_PYREQS)
	@command -v python3 >/dev/null || { echo "kits: python3 not found" >&2; exit 1; }
	@test -x $(KITS_VENV)/bin/python || python3 -m venv $(KITS_VENV)
	$(KITS_VENV)/bin/python -m pip install -q --disable-pip-version-check $(addprefix -r ,$(KITS_PYREQS))
	@touch $@
kits-venv: $(KITS_VENV)/.installed

# The Java example, built with Maven as its users would.
kits-java:
	@command -v mvn >/dev/null || { echo "kits: mvn not found (JDK 17+ and Maven)" >&2; exit 1; }
	cd $(KITS_JAVA) && mvn -q -B -Dstyle.color=never clean package

# Every example against the real broker, registry and Redis (make infra-up)
# and the suite itself (isthmus dev under a fresh prefix): about 3 minutes.
kits-test: kits-venv kits-java
	cd examples/go-consumer && $(INFRA_ENV) KITS_PYTHON=$(KITS_VENV)/bin/python KITS_JAVA_CP='$(KITS_JAVA_CP)' \
	  $(GO) test -count=1 -tags kits -timeout 12m -run TestKitsAgainstTheSuite -v .

UNIT_TARGETS += asyncapi-validate
TEST_TARGETS += kits-test
