#!/usr/bin/env bash
# The development schema registry (Confluent REST subset, pkg/schemaregistry) served by
# `isthmus registry serve`, for tests.
#
# Usage: scripts/infra/registry.sh COMMAND
#   build    go build -o bin/isthmus ./cmd/isthmus (workspace mode)
#   start    build, start `bin/isthmus registry serve --listen 127.0.0.1:$REGISTRY_PORT`
#            in the background (pid in $REGISTRY_DATA/registry.pid, output in
#            $REGISTRY_DATA/registry.log) and wait until GET /subjects answers 200
#   stop     SIGTERM the registry this script started (by pid) and wait
#   status   exit 0 when the registry started here is running and answers
#
# Settings (environment):
#   REGISTRY_PORT   port (default 8081), bound on 127.0.0.1
#   REGISTRY_DATA   state dir (default .cache/registry-$REGISTRY_PORT)
#   REGISTRY_START_TIMEOUT  seconds to wait for it to answer (default 30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REGISTRY_HOST=127.0.0.1
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_DATA="${REGISTRY_DATA:-$ROOT/.cache/registry-$REGISTRY_PORT}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-30}"
BIN="$ROOT/bin/isthmus"
PID_FILE="$REGISTRY_DATA/registry.pid"
LOG_FILE="$REGISTRY_DATA/registry.log"
LISTEN="$REGISTRY_HOST:$REGISTRY_PORT"

# shellcheck source=scripts/infra/lib.sh
. "$ROOT/scripts/infra/lib.sh"

cmd_build() {
	command -v go >/dev/null 2>&1 || die "go not found on PATH"
	mkdir -p "$ROOT/bin"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/isthmus) || die "go build ./cmd/isthmus failed"
}

# Pid of the registry started here: our binary serving our address.
running_pid() { pid_matching "$PID_FILE" "$BIN registry serve --listen $LISTEN"; }

# GET /subjects over a raw HTTP/1.0 request; true on a 200 answer.
answers() {
	local status
	# shellcheck disable=SC2016 # expanded by the inner bash
	status="$(timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "GET /subjects HTTP/1.0\r\nHost: %s:%s\r\nAccept: application/vnd.schemaregistry.v1+json\r\n\r\n" "$0" "$1" >&3
		head -n 1 <&3
	' "$REGISTRY_HOST" "$REGISTRY_PORT" 2>/dev/null)" || return 1
	[[ "$status" =~ ^HTTP/1\.[01]\ 200 ]]
}

cmd_start() {
	[[ "$REGISTRY_PORT" =~ ^[0-9]+$ ]] || die "REGISTRY_PORT=$REGISTRY_PORT is not a port number"
	local pid
	if pid="$(running_pid)"; then
		answers || die "registry pid $pid runs but GET /subjects does not answer 200 on $LISTEN; see $LOG_FILE"
		say "already running (pid $pid) on $LISTEN"
		return 0
	fi
	rm -f "$PID_FILE"
	if port_in_use "$REGISTRY_HOST" "$REGISTRY_PORT"; then
		die "$LISTEN is already in use by a process this script did not start"
	fi
	cmd_build
	mkdir -p "$REGISTRY_DATA"
	echo "--- start $(date -Is)" >>"$LOG_FILE"
	# An open registry for tests: credentials from the caller's env would switch on auth.
	nohup env -u ISTHMUS_SCHEMA_REGISTRY_USER -u ISTHMUS_SCHEMA_REGISTRY_PASSWORD \
		-u ISTHMUS_SCHEMA_REGISTRY_TOKEN "$BIN" registry serve --listen "$LISTEN" \
		>>"$LOG_FILE" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PID_FILE"
	local deadline=$((SECONDS + REGISTRY_START_TIMEOUT))
	until answers; do
		if ! alive "$pid"; then
			rm -f "$PID_FILE"
			say "'isthmus registry serve' exited during start-up; last lines of $LOG_FILE:"
			tail -n 20 "$LOG_FILE" >&2
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			say "registry did not answer GET /subjects on $LISTEN within ${REGISTRY_START_TIMEOUT}s; last lines of $LOG_FILE:"
			tail -n 20 "$LOG_FILE" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			exit 1
		fi
		sleep 0.1
	done
	say "started pid $pid on http://$LISTEN"
}

cmd_stop() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$PID_FILE"
		say "not running"
		return 0
	fi
	terminate "$pid" 20
	rm -f "$PID_FILE"
	say "stopped pid $pid"
}

cmd_status() {
	local pid
	if pid="$(running_pid)" && answers; then
		echo "registry: running pid $pid on http://$LISTEN"
		return 0
	fi
	echo "registry: not running"
	return 1
}

case "${1:-}" in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
