#!/usr/bin/env bash
# Runs the reconciler's end-to-end test (real broker + registry from the
# ISTHMUS_* environment) including the headless-Chromium dashboard check.
# The screenshot lands in .cache/artifacts/reconciler-dashboard.png.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/scripts/reconciler/browser-deps.sh"
: "${ISTHMUS_KAFKA_BROKERS:?set ISTHMUS_KAFKA_BROKERS (make infra-up, or scripts/infra/kafka.sh start)}"
: "${ISTHMUS_SCHEMA_REGISTRY_URL:?set ISTHMUS_SCHEMA_REGISTRY_URL (isthmus registry serve)}"
export ISTHMUS_ARTIFACTS="${ISTHMUS_ARTIFACTS:-$root/.cache/artifacts}"
cd "$root/services/reconciler"
go test -tags integration -count=1 -run 'TestReconcilerEndToEnd' -v ./reconciler/
