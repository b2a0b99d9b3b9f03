#!/usr/bin/env bash
# Creates .venv at the repo root with the interop peers from
# scripts/interop/requirements.txt. Idempotent: skipped while the stamp (hash of
# requirements.txt and of the interpreter version) matches.
#
# Settings (environment):
#   PYTHON   interpreter to build the venv from (default python3)
#   VENV     venv folder (default .venv at the repo root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REQ="$ROOT/scripts/interop/requirements.txt"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
STAMP="$VENV/.requirements.sha256"

say() { echo "venv.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH (Python 3.10+ runs the interop peers)"
want="$( { sha256sum "$REQ" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
	exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
	say "creating $VENV with $("$PYTHON" --version 2>&1)"
	"$PYTHON" -m venv "$VENV" ||
		die "python -m venv failed; on Debian install the venv module: apt-get install -y python3-venv"
fi
say "installing $(basename "$REQ") into $VENV"
rm -f "$STAMP"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" ||
	die "pip install -r $REQ failed"
# Prove the peers import, so a broken install fails here rather than in a test.
"$VENV/bin/python" - <<'PY' || die "installed packages do not import"
import confluent_kafka, fastavro, schemathesis
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
from importlib.metadata import version
print("venv.sh: confluent-kafka", version("confluent-kafka"), "librdkafka", confluent_kafka.libversion()[0],
      "fastavro", version("fastavro"), "schemathesis", version("schemathesis"))
PY
echo "$want" >"$STAMP"
