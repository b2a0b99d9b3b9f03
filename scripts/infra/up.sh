#!/usr/bin/env bash
# Starts the test infrastructure: Apache Kafka (KRaft) on 127.0.0.1:9092, redis-server
# on 127.0.0.1:6379 and the development schema registry on 127.0.0.1:8081. Each part
# records its pid under .cache/; down.sh stops exactly those. A part that is already
# running (started by these scripts) is left as it is. On failure, the parts this run
# started are stopped again.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=()

rollback() {
	local rc=$?
	if ((rc != 0)); then
		echo "up.sh: start-up failed; stopping what this run started" >&2
		local i
		for ((i = ${#started[@]} - 1; i >= 0; i--)); do
			"$HERE/${started[i]}" stop || true
		done
	fi
	exit "$rc"
}
trap rollback EXIT

up() {
	if "$HERE/$1" status >/dev/null 2>&1; then
		"$HERE/$1" status
		return 0
	fi
	started+=("$1")
	"$HERE/$1" start
}

began=$SECONDS
# Kafka first: its JVM start is the slowest part; build the registry meanwhile would
# compete for the same two cores, so the parts start one after the other.
up kafka.sh
up redis.sh
up registry.sh
echo "up.sh: infrastructure up in $((SECONDS - began))s" >&2
