# Test infrastructure (scripts/infra, scripts/interop): a real Apache Kafka broker
# (KRaft, from the Maven Central jars), redis-server, the development schema registry
# and a Python venv with Confluent's client. Included by the Makefile.

# Repository root, from this fragment's own location (mk/..).
INFRA_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

# What tests use to reach the infrastructure (pkg/testinfra reads these).
INFRA_KAFKA_BROKERS := 127.0.0.1:9092
INFRA_REGISTRY_URL  := http://127.0.0.1:8081
INFRA_REDIS_URL     := redis://127.0.0.1:6379/0
INFRA_PYTHON        := $(INFRA_ROOT)/.venv/bin/python
INFRA_KAFKA_LIB     := $(INFRA_ROOT)/.cache/kafka/lib

# The same, as a command prefix for recipes: $(INFRA_ENV) go test -tags integration ...
INFRA_ENV := ISTHMUS_KAFKA_BROKERS=$(INFRA_KAFKA_BROKERS) \
	ISTHMUS_SCHEMA_REGISTRY_URL=$(INFRA_REGISTRY_URL) \
	ISTHMUS_REDIS_URL=$(INFRA_REDIS_URL) \
	ISTHMUS_PYTHON=$(INFRA_PYTHON) \
	ISTHMUS_KAFKA_LIB=$(INFRA_KAFKA_LIB)

# Exported to the recipes of these targets, of everything they build and of the
# sub-makes they run. Not exported globally: `make run` must keep its embedded
# broker, registry and store.
INFRA_ENV_TARGETS := test bench test-go-integration bench-go
$(INFRA_ENV_TARGETS): export ISTHMUS_KAFKA_BROKERS := $(INFRA_KAFKA_BROKERS)
$(INFRA_ENV_TARGETS): export ISTHMUS_SCHEMA_REGISTRY_URL := $(INFRA_REGISTRY_URL)
$(INFRA_ENV_TARGETS): export ISTHMUS_REDIS_URL := $(INFRA_REDIS_URL)
$(INFRA_ENV_TARGETS): export ISTHMUS_PYTHON := $(INFRA_PYTHON)
$(INFRA_ENV_TARGETS): export ISTHMUS_KAFKA_LIB := $(INFRA_KAFKA_LIB)

.PHONY: infra-up infra-down infra-status infra-env infra-clean venv

infra-up: venv ## Start real Kafka (:9092), Redis (:6379) and the schema registry (:8081) for tests
	$(INFRA_ROOT)/scripts/infra/up.sh

infra-down: ## Stop exactly what infra-up started (by pid)
	$(INFRA_ROOT)/scripts/infra/down.sh

infra-status: ## Show which parts of the test infrastructure run
	-@$(INFRA_ROOT)/scripts/infra/kafka.sh status
	-@$(INFRA_ROOT)/scripts/infra/redis.sh status
	-@$(INFRA_ROOT)/scripts/infra/registry.sh status

infra-env: ## Print the test env as shell exports: eval "$(make -s infra-env)"
	@printf 'export %s\n' $(INFRA_ENV)

infra-clean: infra-down ## Stop the infrastructure and delete its data (keeps the downloaded jars and the venv)
	$(INFRA_ROOT)/scripts/infra/kafka.sh clean
	rm -rf $(INFRA_ROOT)/.cache/redis-6379 $(INFRA_ROOT)/.cache/registry-8081

venv: ## Create .venv with the Python interop peers (confluent-kafka, fastavro, schemathesis)
	$(INFRA_ROOT)/scripts/interop/venv.sh
