#!/usr/bin/env bash
# Real redis-server for tests, bound to 127.0.0.1, daemonized, no persistence.
#
# Usage: scripts/infra/redis.sh COMMAND
#   install   apt-get install redis-server when it is missing (needs root)
#   start     install when missing, start redis-server (pid in $REDIS_DATA/redis.pid,
#             log in $REDIS_DATA/redis.log) and wait until it answers PING
#   stop      SIGTERM the redis-server this script started (by pid) and wait
#   status    exit 0 when the redis-server started here is running and answers
#
# Settings (environment):
#   REDIS_PORT   port (default 6379)
#   REDIS_DATA   state dir (default .cache/redis-$REDIS_PORT)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REDIS_HOST=127.0.0.1
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_DATA="${REDIS_DATA:-$ROOT/.cache/redis-$REDIS_PORT}"
PID_FILE="$REDIS_DATA/redis.pid"
LOG_FILE="$REDIS_DATA/redis.log"

# shellcheck source=scripts/infra/lib.sh
. "$ROOT/scripts/infra/lib.sh"

cmd_install() {
	command -v redis-server >/dev/null 2>&1 && return 0
	if [[ "$(id -u)" != 0 ]]; then
		die "redis-server is not installed and this is not root; install it (apt-get install -y redis-server) and retry"
	fi
	command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available to install it"
	say "installing redis-server with apt-get"
	# Keep the package's init script from starting a system redis on :6379 that this
	# script did not start (the usual policy-rc.d convention; removed afterwards).
	local policy=/usr/sbin/policy-rc.d added=
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
	fi
	local rc=0
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server; } >&2 || rc=$?
	[[ -n "$added" ]] && rm -f "$policy"
	((rc == 0)) || die "apt-get install redis-server failed (exit $rc)"
	command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after installing"
}

# Pid of the redis-server started here (it names itself "redis-server HOST:PORT").
running_pid() { pid_matching "$PID_FILE" "redis-server $REDIS_HOST:$REDIS_PORT"; }

answers() {
	local reply
	# shellcheck disable=SC2016 # expanded by the inner bash
	reply="$(timeout 2 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "PING\r\n" >&3
		head -c 5 <&3
	' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null)" || return 1
	[[ "$reply" == "+PONG" ]]
}

cmd_start() {
	[[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || die "REDIS_PORT=$REDIS_PORT is not a port number"
	local pid
	if pid="$(running_pid)"; then
		answers || die "redis-server pid $pid runs but does not answer on $REDIS_HOST:$REDIS_PORT; see $LOG_FILE"
		say "already running (pid $pid) on $REDIS_HOST:$REDIS_PORT"
		return 0
	fi
	rm -f "$PID_FILE"
	if port_in_use "$REDIS_HOST" "$REDIS_PORT"; then
		die "$REDIS_HOST:$REDIS_PORT is already in use by a process this script did not start"
	fi
	cmd_install
	mkdir -p "$REDIS_DATA"
	redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --daemonize yes \
		--pidfile "$PID_FILE" --logfile "$LOG_FILE" --dir "$REDIS_DATA" \
		--save "" --appendonly no ||
		die "redis-server did not start; last lines of $LOG_FILE: $(tail -n 20 "$LOG_FILE" 2>/dev/null)"
	local deadline=$((SECONDS + 20))
	until answers; do
		if ((SECONDS >= deadline)); then
			say "redis-server did not answer PING on $REDIS_HOST:$REDIS_PORT within 20s; last lines of $LOG_FILE:"
			tail -n 20 "$LOG_FILE" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	pid="$(running_pid)" || die "redis-server answers but its pid file $PID_FILE is missing"
	say "started pid $pid on $REDIS_HOST:$REDIS_PORT"
}

cmd_stop() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$PID_FILE"
		say "not running (data $REDIS_DATA)"
		return 0
	fi
	terminate "$pid" 20
	rm -f "$PID_FILE"
	say "stopped pid $pid"
}

cmd_status() {
	local pid
	if pid="$(running_pid)" && answers; then
		echo "redis: running pid $pid on $REDIS_HOST:$REDIS_PORT"
		return 0
	fi
	echo "redis: not running"
	return 1
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
