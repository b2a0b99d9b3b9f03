# Secured Kafka (issue 15): a second real broker, separate from the plain one of
# infra-up, with a SASL_SSL/SCRAM-SHA-512 listener on 127.0.0.1:9094, OAUTHBEARER
# (JWTs from Ory Hydra, the real OAuth2 server on 127.0.0.1:4444) on :9095 and
# mutual TLS on :9096; CA and certificates made with openssl under .cache/secure.
# scripts/infra/secure.sh and scripts/infra/hydra.sh do the work.

SECURE_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
SECURE_DIR  := $(SECURE_ROOT)/.cache/secure
SECURE_SH   := $(SECURE_ROOT)/scripts/infra/secure.sh
# The tests of the secured tier: every test named *Secure* in these packages.
SECURE_TEST_PKGS := ./pkg/kafka/... ./cmd/isthmus/... ./services/quote-to-order/...
SECURE_TEST_TIMEOUT ?= 10m

.PHONY: infra-up-secure infra-down-secure infra-env-secure infra-status-secure test-secure

infra-up-secure: ## Start the secured broker (SASL_SSL SCRAM :9094, OAUTHBEARER :9095, mTLS :9096) and Ory Hydra (:4444)
	ISTHMUS_KAFKA_LIB="$${ISTHMUS_KAFKA_LIB:-$(INFRA_KAFKA_LIB)}" $(SECURE_SH) start

infra-down-secure: ## Stop the secured broker and Hydra (by pid)
	$(SECURE_SH) stop

infra-status-secure: ## Show whether the secured broker and Hydra run
	-@$(SECURE_SH) status
	-@HYDRA_DATA=$(SECURE_DIR)/hydra $(SECURE_ROOT)/scripts/infra/hydra.sh status

infra-env-secure: ## Client env for the secured broker: eval "$(make -s infra-env-secure)" (SECURE_AUTH=scram|mtls|oauth)
	@$(SECURE_SH) env $(SECURE_AUTH)

# Starts the secured broker, runs the secured tier, stops it (also on failure).
# The registry and Redis are the shared ones of infra-up (make test starts them).
test-secure: ## Integration tests on the secured broker: TLS, SCRAM, mTLS, OAUTHBEARER, CLI, services, OAuth2 service credentials
	$(MAKE) infra-up-secure
	@status=0; \
	  $(INFRA_ENV) ISTHMUS_SECURE_DIR=$(SECURE_DIR) $(GO) test $(GO_TEST_FLAGS) -tags integration -timeout $(SECURE_TEST_TIMEOUT) \
	    -run 'Secure' $(SECURE_TEST_PKGS) || status=$$?; \
	  $(MAKE) infra-down-secure; \
	  exit $$status

TEST_TARGETS += test-secure
