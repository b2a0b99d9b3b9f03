#!/usr/bin/env bash
# Ory Hydra v2, a real OAuth2 server for the secured-infrastructure tests: the token
# endpoint services use for client credentials (Kafka OAUTHBEARER, gateway calls) and
# the JWKS the broker and the gateway verify those tokens with. Built as a Go program
# from tools/hydra (its own module, outside the workspace) into .cache/bin/hydra; runs
# with an in-memory database (every start is a clean server) and JWT access tokens.
#
# Usage: scripts/infra/hydra.sh COMMAND
#   build     go build the hydra binary into $HYDRA_BIN (once)
#   start     build when missing, start `hydra serve all` (pid in $HYDRA_DATA/hydra.pid,
#             log in $HYDRA_DATA/hydra.log), wait until it is ready and create the
#             client-credentials client $HYDRA_CLIENT_ID (secret in
#             $HYDRA_DATA/client-secret)
#   stop      SIGTERM the hydra this script started (by pid) and wait
#   status    exit 0 when the hydra started here is running and ready
#   env       print the client's settings as shell exports (ISTHMUS_OAUTH_*)
#
# Settings (environment):
#   HYDRA_PUBLIC_PORT   public port: token endpoint, JWKS (default 4444)
#   HYDRA_ADMIN_PORT    admin port: clients (default 4445)
#   HYDRA_DATA          state dir (default .cache/hydra-$HYDRA_PUBLIC_PORT)
#   HYDRA_TOKEN_TTL     access token lifetime (default 1h); a test that needs short
#                       tokens creates its own client with its own lifespan
#   HYDRA_CLIENT_ID     client created at start (default isthmus)
#
# Tokens: issuer http://127.0.0.1:$HYDRA_PUBLIC_PORT, audiences `kafka` and
# `isthmus-gateway` allowed for the client (ask with the audience parameter), scopes
# pricing:read credit:read credit:reserve inventory:read (claims `scp` and `scope`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HYDRA_HOST=127.0.0.1
HYDRA_PUBLIC_PORT="${HYDRA_PUBLIC_PORT:-4444}"
HYDRA_ADMIN_PORT="${HYDRA_ADMIN_PORT:-4445}"
HYDRA_DATA="${HYDRA_DATA:-$ROOT/.cache/hydra-$HYDRA_PUBLIC_PORT}"
HYDRA_BIN="${HYDRA_BIN:-$ROOT/.cache/bin/hydra}"
HYDRA_TOKEN_TTL="${HYDRA_TOKEN_TTL:-1h}"
HYDRA_CLIENT_ID="${HYDRA_CLIENT_ID:-isthmus}"
HYDRA_SCOPES="pricing:read credit:read credit:reserve inventory:read"
PID_FILE="$HYDRA_DATA/hydra.pid"
LOG_FILE="$HYDRA_DATA/hydra.log"
ISSUER="http://$HYDRA_HOST:$HYDRA_PUBLIC_PORT"
ADMIN="http://$HYDRA_HOST:$HYDRA_ADMIN_PORT"

# shellcheck source=scripts/infra/lib.sh
. "$ROOT/scripts/infra/lib.sh"

cmd_build() {
	[[ -x "$HYDRA_BIN" ]] && return 0
	command -v go >/dev/null 2>&1 || die "go not found on PATH (hydra is built from tools/hydra)"
	say "building Ory Hydra from tools/hydra into $HYDRA_BIN (first time: several minutes)"
	mkdir -p "$(dirname "$HYDRA_BIN")"
	local began=$SECONDS
	(cd "$ROOT/tools/hydra" && GOWORK=off CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension -o "$HYDRA_BIN.tmp" github.com/ory/hydra/v2) ||
		die "go build of github.com/ory/hydra/v2 failed (output above)"
	mv "$HYDRA_BIN.tmp" "$HYDRA_BIN"
	say "built $HYDRA_BIN in $((SECONDS - began))s"
}

running_pid() { pid_matching "$PID_FILE" "$HYDRA_BIN serve all"; }

ready() { curl -fsS -o /dev/null --max-time 2 "$ADMIN/health/ready" 2>/dev/null; }

create_client() {
	local secret
	secret="$(cat "$HYDRA_DATA/client-secret")"
	curl -fsS --max-time 10 -o /dev/null -X POST "$ADMIN/admin/clients" -H 'Content-Type: application/json' -d @- <<EOF || die "could not create client $HYDRA_CLIENT_ID at $ADMIN"
{"client_id":"$HYDRA_CLIENT_ID","client_secret":"$secret","grant_types":["client_credentials"],
 "token_endpoint_auth_method":"client_secret_basic","audience":["kafka","isthmus-gateway"],
 "scope":"$HYDRA_SCOPES"}
EOF
}

cmd_start() {
	local pid
	if pid="$(running_pid)" && ready; then
		say "already running (pid $pid) on $ISSUER"
		return 0
	fi
	for p in "$HYDRA_PUBLIC_PORT" "$HYDRA_ADMIN_PORT"; do
		port_in_use "$HYDRA_HOST" "$p" && die "$HYDRA_HOST:$p is already in use by a process this script did not start"
	done
	command -v curl >/dev/null 2>&1 || die "curl not found on PATH"
	cmd_build
	mkdir -p "$HYDRA_DATA"
	[[ -s "$HYDRA_DATA/system-secret" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$HYDRA_DATA/system-secret"
	[[ -s "$HYDRA_DATA/client-secret" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$HYDRA_DATA/client-secret"
	echo "--- start $(date -Is)" >>"$LOG_FILE"
	DSN=memory \
		SERVE_PUBLIC_HOST="$HYDRA_HOST" SERVE_PUBLIC_PORT="$HYDRA_PUBLIC_PORT" \
		SERVE_ADMIN_HOST="$HYDRA_HOST" SERVE_ADMIN_PORT="$HYDRA_ADMIN_PORT" \
		URLS_SELF_ISSUER="$ISSUER" SECRETS_SYSTEM="$(cat "$HYDRA_DATA/system-secret")" \
		STRATEGIES_ACCESS_TOKEN=jwt STRATEGIES_JWT_SCOPE_CLAIM=both \
		TTL_ACCESS_TOKEN="$HYDRA_TOKEN_TTL" LOG_LEVEL=warn SQA_OPT_OUT=true \
		nohup "$HYDRA_BIN" serve all --dev >>"$LOG_FILE" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PID_FILE"
	local started=$SECONDS
	until ready; do
		if ! alive "$pid"; then
			rm -f "$PID_FILE"
			say "hydra exited during start-up; last lines of $LOG_FILE:"
			tail -n 30 "$LOG_FILE" >&2
			exit 1
		fi
		if ((SECONDS - started >= 60)); then
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			die "hydra not ready within 60s; see $LOG_FILE"
		fi
		sleep 0.3
	done
	create_client
	say "started pid $pid: issuer $ISSUER, admin $ADMIN, client $HYDRA_CLIENT_ID ($((SECONDS - started))s)"
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
	if pid="$(running_pid)" && ready; then
		echo "hydra: running pid $pid, issuer $ISSUER, admin $ADMIN"
		return 0
	fi
	echo "hydra: not running"
	return 1
}

cmd_env() {
	[[ -s "$HYDRA_DATA/client-secret" ]] || die "no client secret in $HYDRA_DATA: start hydra first"
	printf 'export %s\n' \
		"ISTHMUS_OAUTH_TOKEN_URL=$ISSUER/oauth2/token" \
		"ISTHMUS_OAUTH_CLIENT_ID=$HYDRA_CLIENT_ID" \
		"ISTHMUS_OAUTH_CLIENT_SECRET=$(cat "$HYDRA_DATA/client-secret")" \
		"ISTHMUS_OAUTH_ISSUER=$ISSUER" \
		"ISTHMUS_OAUTH_JWKS_URL=$ISSUER/.well-known/jwks.json" \
		"ISTHMUS_OAUTH_ADMIN_URL=$ADMIN"
}

case "${1:-}" in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
