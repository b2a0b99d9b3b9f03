#!/usr/bin/env bash
# Real Apache Kafka 4.x broker for tests: KRaft combined mode (broker + controller,
# node.id 1) run with the local JDK from the Kafka jars on Maven Central — no
# distribution tarball. This script is the only place that knows how the broker is
# configured and launched; pkg/testinfra calls `prepare` and `argv` to start private
# brokers with the same settings.
#
# Usage: scripts/infra/kafka.sh COMMAND
#   lib       resolve the jars into $KAFKA_LIB (once; reused while the pom is unchanged)
#   prepare   lib + write server.properties and log4j2.properties into $KAFKA_DATA,
#             format the storage on first use (kafka.tools.StorageTool)
#   argv      print the java command line that runs the broker, one NUL-terminated
#             argument each (for programs that launch the broker themselves)
#   start     prepare, launch the broker in the background (pid in $KAFKA_DATA/kafka.pid,
#             output in $KAFKA_DATA/broker.log) and wait until it answers
#   stop      SIGTERM the broker this script started (by pid) and wait for it to exit
#   kill      SIGKILL it (crash simulation); the data dir is kept
#   status    exit 0 when the broker started here is running and answers
#   clean     delete $KAFKA_DATA (refuses while the broker runs)
#
# Settings (environment):
#   KAFKA_PORT           client listener port (default 9092), bound on 127.0.0.1
#   CONTROLLER_PORT      KRaft controller listener port (default 9093)
#   KAFKA_DATA           state dir: config, pid, log, data (default .cache/kafka/data-$KAFKA_PORT)
#   KAFKA_LIB            jar folder (default $ISTHMUS_KAFKA_LIB, else .cache/kafka/lib)
#   KAFKA_VERSION        org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   KAFKA_HEAP_OPTS      JVM heap flags (default -Xms256m -Xmx1g)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 120)
#   KAFKA_AUTO_CREATE_TOPICS  auto.create.topics.enable (default false: tests and
#                        services create their topics explicitly, as on a production
#                        cluster; set true to relax)
#   KAFKA_EXTRA_CONFIG   a properties file appended to server.properties (its keys win:
#                        listeners, TLS, SASL; scripts/infra/secure.sh uses it)
#   KAFKA_FORMAT_ARGS    extra arguments of the first StorageTool format (e.g.
#                        --add-scram 'SCRAM-SHA-512=[name=u,password=p]')
#   KAFKA_OPTS           extra JVM flags (system properties)
#
# A data dir is bound to the ports it was formatted with (the controller's endpoint is
# part of the KRaft quorum state); start with other ports fails with a clear message.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/scripts/infra/kafka/pom.xml"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CONTROLLER_PORT:-9093}"
KAFKA_DATA="${KAFKA_DATA:-$ROOT/.cache/kafka/data-$KAFKA_PORT}"
KAFKA_LIB="${KAFKA_LIB:-${ISTHMUS_KAFKA_LIB:-$ROOT/.cache/kafka/lib}}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
KAFKA_EXTRA_CONFIG="${KAFKA_EXTRA_CONFIG:-}"
KAFKA_FORMAT_ARGS="${KAFKA_FORMAT_ARGS:-}"
KAFKA_OPTS="${KAFKA_OPTS:-}"

PID_FILE="$KAFKA_DATA/kafka.pid"
LOG_FILE="$KAFKA_DATA/broker.log"
PROPS="$KAFKA_DATA/server.properties"
LOG4J="$KAFKA_DATA/log4j2.properties"
LOG_DIR="$KAFKA_DATA/log"

# shellcheck source=scripts/infra/lib.sh
. "$ROOT/scripts/infra/lib.sh"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"; }

valid_port() {
	if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 65535)); then
		die "$2=$1 is not a port number"
	fi
}

# Stamp identifying what $KAFKA_LIB was resolved from.
lib_stamp() { printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"; }

cmd_lib() {
	if [[ -f "$KAFKA_LIB/.resolved" && "$(cat "$KAFKA_LIB/.resolved")" == "$(lib_stamp)" ]]; then
		return 0
	fi
	need mvn "Maven resolves the Kafka jars; install it, e.g. apt-get install -y maven"
	say "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime deps into $KAFKA_LIB"
	local tmp
	mkdir -p "$(dirname "$KAFKA_LIB")"
	tmp="$(mktemp -d "$KAFKA_LIB.tmp.XXXXXX")"
	if ! mvn -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
		tail -n 40 "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "mvn could not resolve kafka_2.13:$KAFKA_VERSION (output above)"
	fi
	rm -f "$tmp.log"
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "no kafka_2.13 jar after resolution"; }
	lib_stamp >"$tmp/.resolved"
	# Swap in atomically so a concurrent reader never sees a half-filled folder.
	rm -rf "$KAFKA_LIB.old"
	[[ -d "$KAFKA_LIB" ]] && mv "$KAFKA_LIB" "$KAFKA_LIB.old"
	mv "$tmp" "$KAFKA_LIB"
	rm -rf "$KAFKA_LIB.old"
}

java_base() {
	# shellcheck disable=SC2206 # heap and JVM options are deliberately word-split
	local heap=($KAFKA_HEAP_OPTS) extra=($KAFKA_OPTS)
	JAVA_ARGV=(java "${heap[@]}" "${extra[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$KAFKA_DATA"
		-cp "$KAFKA_LIB/*")
}

write_config() {
	mkdir -p "$KAFKA_DATA"
	local ports="$KAFKA_PORT $CONTROLLER_PORT"
	if [[ -f "$KAFKA_DATA/ports" && "$(cat "$KAFKA_DATA/ports")" != "$ports" ]]; then
		die "$KAFKA_DATA was formatted for ports $(cat "$KAFKA_DATA/ports") (broker controller), not $ports; use those ports or run: KAFKA_DATA=$KAFKA_DATA $0 clean"
	fi
	cat >"$PROPS.tmp" <<EOF
# Generated by scripts/infra/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$KAFKA_HOST:$CONTROLLER_PORT
log.dirs=$LOG_DIR

# One node: every internal topic has one replica.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests start consuming at once.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=$KAFKA_AUTO_CREATE_TOPICS
EOF
	if [[ -n "$KAFKA_EXTRA_CONFIG" ]]; then
		[[ -f "$KAFKA_EXTRA_CONFIG" ]] || die "KAFKA_EXTRA_CONFIG=$KAFKA_EXTRA_CONFIG: no such file"
		printf '\n# From %s (later keys win).\n' "$KAFKA_EXTRA_CONFIG" >>"$PROPS.tmp"
		cat "$KAFKA_EXTRA_CONFIG" >>"$PROPS.tmp"
	fi
	mv "$PROPS.tmp" "$PROPS"
	cat >"$LOG4J" <<'EOF'
# Generated by scripts/infra/kafka.sh: everything to stderr (the launcher sends it to
# broker.log), so tools such as StorageTool random-uuid keep stdout for their result.
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = info
EOF
}

cmd_prepare() {
	valid_port "$KAFKA_PORT" KAFKA_PORT
	valid_port "$CONTROLLER_PORT" CONTROLLER_PORT
	[[ "$KAFKA_PORT" != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and CONTROLLER_PORT are both $KAFKA_PORT"
	need java "a JDK 17+ runs the broker"
	cmd_lib
	write_config
	if [[ -f "$LOG_DIR/meta.properties" ]]; then
		return 0
	fi
	java_base
	# Short-lived tool runs: the C1 compiler alone starts faster on small machines.
	local tool=("${JAVA_ARGV[@]:0:1}" -XX:TieredStopAtLevel=1 "${JAVA_ARGV[@]:1}" kafka.tools.StorageTool)
	local id
	id="$("${tool[@]}" random-uuid 2>>"$KAFKA_DATA/format.log")" ||
		die "StorageTool random-uuid failed: $(tail -n 20 "$KAFKA_DATA/format.log")"
	[[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid printed '$id', not a cluster id"
	local fmt_extra=()
	read -ra fmt_extra <<<"$KAFKA_FORMAT_ARGS" # split on blanks, no globbing
	"${tool[@]}" format --standalone -t "$id" -c "$PROPS" "${fmt_extra[@]}" >>"$KAFKA_DATA/format.log" 2>&1 ||
		die "StorageTool format failed: $(tail -n 20 "$KAFKA_DATA/format.log")"
	echo "$id" >"$KAFKA_DATA/cluster.id"
	echo "$KAFKA_PORT $CONTROLLER_PORT" >"$KAFKA_DATA/ports"
}

cmd_argv() {
	java_base
	printf '%s\0' "${JAVA_ARGV[@]}" kafka.Kafka "$PROPS"
}

# Pid of the broker started from this data dir, if it is still that process.
running_pid() { pid_matching "$PID_FILE" "kafka.Kafka $PROPS"; }

# Sends an ApiVersions v0 request and checks the reply's correlation id. The broker
# enables request processing only once it is registered and unfenced, so an answer
# means it serves clients.
answers() {
	local reply
	# shellcheck disable=SC2016 # expanded by the inner bash
	reply="$(timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x04ping" >&3
		head -c 8 <&3 | od -An -tx1 | tr -d " \n"
	' "$KAFKA_HOST" "$KAFKA_PORT" 2>/dev/null)" || return 1
	[[ "${reply:8:8}" == "0000002a" ]]
}

cmd_start() {
	local pid
	if pid="$(running_pid)"; then
		if answers; then
			say "already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
			return 0
		fi
		die "broker pid $pid is running but does not answer on $KAFKA_HOST:$KAFKA_PORT; see $LOG_FILE"
	fi
	rm -f "$PID_FILE"
	if port_in_use "$KAFKA_HOST" "$KAFKA_PORT"; then
		die "$KAFKA_HOST:$KAFKA_PORT is already in use by a process this script did not start"
	fi
	cmd_prepare
	java_base
	local started=$SECONDS
	echo "--- start $(date -Is)" >>"$LOG_FILE"
	nohup "${JAVA_ARGV[@]}" kafka.Kafka "$PROPS" >>"$LOG_FILE" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PID_FILE"
	while ! answers; do
		if ! alive "$pid"; then
			rm -f "$PID_FILE"
			say "broker exited during start-up; last lines of $LOG_FILE:"
			tail -n 40 "$LOG_FILE" >&2
			exit 1
		fi
		if ((SECONDS - started >= KAFKA_START_TIMEOUT)); then
			say "broker did not answer on $KAFKA_HOST:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s; last lines of $LOG_FILE:"
			tail -n 40 "$LOG_FILE" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			exit 1
		fi
		sleep 0.3
	done
	say "started pid $pid on $KAFKA_HOST:$KAFKA_PORT in $((SECONDS - started))s (data $KAFKA_DATA)"
}

cmd_stop() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$PID_FILE"
		say "not running (data $KAFKA_DATA)"
		return 0
	fi
	terminate "$pid" 60
	rm -f "$PID_FILE"
	say "stopped pid $pid"
}

cmd_kill() {
	local pid
	pid="$(running_pid)" || die "no running broker for $KAFKA_DATA"
	kill -KILL "$pid"
	wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
	rm -f "$PID_FILE"
	say "killed pid $pid"
}

cmd_status() {
	local pid
	if pid="$(running_pid)" && answers; then
		echo "kafka: running pid $pid on $KAFKA_HOST:$KAFKA_PORT (data $KAFKA_DATA)"
		return 0
	fi
	echo "kafka: not running (data $KAFKA_DATA)"
	return 1
}

cmd_clean() {
	if running_pid >/dev/null; then
		die "broker still running; stop it first"
	fi
	rm -rf "$KAFKA_DATA"
}

case "${1:-}" in
lib) cmd_lib && echo "$KAFKA_LIB" ;;
prepare) cmd_prepare ;;
argv) cmd_argv ;;
start) cmd_start ;;
stop) cmd_stop ;;
kill) cmd_kill ;;
status) cmd_status ;;
clean) cmd_clean ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
