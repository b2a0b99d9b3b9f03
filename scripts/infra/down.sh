#!/usr/bin/env bash
# Stops what up.sh started (each part by the pid it recorded), in reverse order. Keeps
# going when one part fails to stop and exits non-zero at the end.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rc=0
for part in registry.sh redis.sh kafka.sh; do
	"$HERE/$part" stop || rc=1
done
exit "$rc"
