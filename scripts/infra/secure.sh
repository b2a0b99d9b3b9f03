#!/usr/bin/env bash
# A secured Apache Kafka broker for tests, separate from the plain one of up.sh (own
# data dir, own ports; the broker on 9092 is never touched). Same jars and launcher
# as kafka.sh (`prepare` + `argv`), with:
#
#   127.0.0.1:9094  SASL_SSL, SCRAM-SHA-512 (user isthmus, password generated)
#   127.0.0.1:9095  SASL_SSL, OAUTHBEARER: JWTs from Ory Hydra (hydra.sh), checked
#                   against its JWKS (audience kafka); sessions end with the token,
#                   so clients must re-authenticate with a renewed one
#   127.0.0.1:9096  SSL with required client certificates (mutual TLS); also the
#                   broker's own inter-broker listener
#   127.0.0.1:9097  KRaft controller (loopback only)
#
# A CA, the broker's certificate (SAN 127.0.0.1, localhost) and a client certificate
# are made with openssl under $SECURE_DIR/certs on first start.
#
# Usage: scripts/infra/secure.sh COMMAND
#   start    certificates, Hydra (hydra.sh start), then the broker; waits until the
#            SASL_SSL listener answers. Writes $SECURE_DIR/{scram,mtls,oauth}.env
#   stop     stop the broker and the Hydra this script started (by pid)
#   status   exit 0 when the secured broker runs and answers
#   env [scram|mtls|oauth]
#            print the ISTHMUS_* exports a client needs (default scram; SECURE_AUTH
#            sets the default): eval "$(scripts/infra/secure.sh env)"
#   clean    delete $SECURE_DIR (refuses while the broker runs)
#
# Settings (environment):
#   SECURE_DIR      state (default .cache/secure): certs, env files, broker data
#   SECURE_OAUTH    1 (default): start Hydra and the OAUTHBEARER listener; 0: without
#   KAFKA_LIB, KAFKA_HEAP_OPTS, KAFKA_START_TIMEOUT as for kafka.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/infra"
SECURE_DIR="${SECURE_DIR:-$ROOT/.cache/secure}"
SECURE_OAUTH="${SECURE_OAUTH:-1}"
HOST=127.0.0.1
SCRAM_PORT=9094
OAUTH_PORT=9095
MTLS_PORT=9096
CTRL_PORT=9097
CERTS="$SECURE_DIR/certs"
DATA="$SECURE_DIR/kafka-$SCRAM_PORT"
PID_FILE="$DATA/kafka.pid"
LOG_FILE="$DATA/broker.log"
HYDRA_DATA="$SECURE_DIR/hydra"
SCRAM_USER=isthmus
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

# shellcheck source=scripts/infra/lib.sh
. "$HERE/lib.sh"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"; }

secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }

# sign NAME CN EXT: a key and a certificate for NAME signed by the CA.
sign() {
	openssl req -newkey rsa:2048 -nodes -keyout "$CERTS/$1.key" -out "$CERTS/$1.csr" -subj "/CN=$2" 2>/dev/null
	printf '%s\n' "$3" >"$CERTS/$1.ext"
	openssl x509 -req -in "$CERTS/$1.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
		-days 825 -sha256 -extfile "$CERTS/$1.ext" -out "$CERTS/$1.pem" 2>/dev/null
	rm -f "$CERTS/$1.csr" "$CERTS/$1.ext"
}

certs() {
	[[ -s "$CERTS/broker.p12" && -s "$CERTS/client.pem" ]] && return 0
	need openssl "makes the test CA and certificates"
	rm -rf "$CERTS" && mkdir -p "$CERTS"
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 -subj "/CN=Isthmus test CA" \
		-keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		die "openssl could not make the CA"
	# The broker's certificate also serves as its client certificate on the
	# mutual-TLS inter-broker listener.
	sign broker "127.0.0.1" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
	sign client "isthmus-client" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
	secret >"$CERTS/keystore-password"
	openssl pkcs12 -export -in "$CERTS/broker.pem" -inkey "$CERTS/broker.key" -certfile "$CERTS/ca.pem" \
		-name broker -passout "file:$CERTS/keystore-password" -out "$CERTS/broker.p12" ||
		die "openssl could not write the broker keystore"
	say "made a CA, the broker and a client certificate in $CERTS"
}

write_env() {
	[[ -s "$SECURE_DIR/scram-password" ]] || secret >"$SECURE_DIR/scram-password"
	local common="ISTHMUS_KAFKA_TLS_ENABLED=true
ISTHMUS_KAFKA_TLS_CA_FILE=$CERTS/ca.pem
ISTHMUS_SCHEMA_REGISTRY_URL=${ISTHMUS_SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081}
ISTHMUS_REDIS_URL=${ISTHMUS_REDIS_URL:-redis://127.0.0.1:6379/0}"
	cat >"$SECURE_DIR/scram.env" <<EOF
ISTHMUS_KAFKA_BROKERS=$HOST:$SCRAM_PORT
$common
ISTHMUS_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
ISTHMUS_KAFKA_SASL_USER=$SCRAM_USER
ISTHMUS_KAFKA_SASL_PASSWORD=$(cat "$SECURE_DIR/scram-password")
EOF
	cat >"$SECURE_DIR/mtls.env" <<EOF
ISTHMUS_KAFKA_BROKERS=$HOST:$MTLS_PORT
$common
ISTHMUS_KAFKA_TLS_CERT_FILE=$CERTS/client.pem
ISTHMUS_KAFKA_TLS_KEY_FILE=$CERTS/client.key
EOF
	rm -f "$SECURE_DIR/oauth.env"
	if [[ "$SECURE_OAUTH" == 1 ]]; then
		local o
		o="$(HYDRA_DATA="$HYDRA_DATA" "$HERE/hydra.sh" env | sed 's/^export //')"
		cat >"$SECURE_DIR/oauth.env" <<EOF
ISTHMUS_KAFKA_BROKERS=$HOST:$OAUTH_PORT
$common
ISTHMUS_KAFKA_SASL_MECHANISM=OAUTHBEARER
ISTHMUS_KAFKA_SASL_OAUTH_TOKEN_URL=$(grep '^ISTHMUS_OAUTH_TOKEN_URL=' <<<"$o" | cut -d= -f2-)
ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_ID=$(grep '^ISTHMUS_OAUTH_CLIENT_ID=' <<<"$o" | cut -d= -f2-)
ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET=$(grep '^ISTHMUS_OAUTH_CLIENT_SECRET=' <<<"$o" | cut -d= -f2-)
ISTHMUS_KAFKA_SASL_OAUTH_AUDIENCE=kafka
$o
EOF
	fi
}

broker_config() {
	local kpw listeners map
	kpw="$(cat "$CERTS/keystore-password")"
	listeners="SASL_SSL://$HOST:$SCRAM_PORT,MTLS://$HOST:$MTLS_PORT"
	map="SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:PLAINTEXT"
	if [[ "$SECURE_OAUTH" == 1 ]]; then
		listeners="$listeners,OAUTH://$HOST:$OAUTH_PORT"
		map="$map,OAUTH:SASL_SSL"
	fi
	cat >"$SECURE_DIR/secure.properties" <<EOF
# Generated by scripts/infra/secure.sh, appended to kafka.sh's server.properties.
listeners=$listeners,CONTROLLER://$HOST:$CTRL_PORT
advertised.listeners=$listeners,CONTROLLER://$HOST:$CTRL_PORT
listener.security.protocol.map=$map
inter.broker.listener.name=MTLS

ssl.keystore.type=PKCS12
ssl.keystore.location=$CERTS/broker.p12
ssl.keystore.password=$kpw
ssl.key.password=$kpw
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS/ca.pem
ssl.endpoint.identification.algorithm=https
listener.name.mtls.ssl.client.auth=required

listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
	if [[ "$SECURE_OAUTH" == 1 ]]; then
		cat >>"$SECURE_DIR/secure.properties" <<EOF

listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.oauth.oauthbearer.connections.max.reauth.ms=3600000
# Kafka 4.1's default validator class only decodes the JWT when it is not given a
# key resolver; the broker validator checks the signature against the JWKS, the
# audience and the issuer.
sasl.oauthbearer.jwt.validator.class=org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator
sasl.oauthbearer.jwks.endpoint.url=$(jwks_url)
sasl.oauthbearer.expected.audience=kafka
sasl.oauthbearer.expected.issuer=$(issuer)
# Hydra writes scopes both as the list "scp" and the string "scope"; Kafka refuses an
# empty "scope" string, so it reads the list.
sasl.oauthbearer.scope.claim.name=scp
EOF
	fi
}

issuer() { echo "http://$HOST:${HYDRA_PUBLIC_PORT:-4444}"; }
jwks_url() { echo "$(issuer)/.well-known/jwks.json"; }

# Environment for kafka.sh: this broker's data dir, ports, extra config and SCRAM user.
kafka_env() {
	export KAFKA_DATA="$DATA" KAFKA_PORT="$SCRAM_PORT" CONTROLLER_PORT="$CTRL_PORT"
	export KAFKA_EXTRA_CONFIG="$SECURE_DIR/secure.properties"
	export KAFKA_FORMAT_ARGS="--add-scram SCRAM-SHA-512=[name=$SCRAM_USER,password=$(cat "$SECURE_DIR/scram-password")]"
	# Kafka 4 fetches only allow-listed OAuth URLs.
	export KAFKA_OPTS="-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=$(jwks_url)"
}

running_pid() { pid_matching "$PID_FILE" "kafka.Kafka $DATA/server.properties"; }

# An ApiVersions v0 request over TLS on the SASL_SSL listener (allowed before
# authentication); an answer with our correlation id means the broker serves clients.
answers() {
	local reply
	reply="$( { printf '\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x04ping'; sleep 2; } |
		timeout 4 openssl s_client -quiet -connect "$HOST:$SCRAM_PORT" -CAfile "$CERTS/ca.pem" \
			-verify_return_error 2>/dev/null | head -c 8 | od -An -tx1 | tr -d ' \n')" || true
	[[ "${reply:8:8}" == "0000002a" ]]
}

cmd_start() {
	local pid
	need java "a JDK 17+ runs the broker"
	need openssl "makes the certificates and probes the TLS listener"
	mkdir -p "$SECURE_DIR"
	if pid="$(running_pid)" && answers; then
		say "already running (pid $pid) on $HOST:$SCRAM_PORT"
		return 0
	fi
	rm -f "$PID_FILE"
	for p in $SCRAM_PORT $OAUTH_PORT $MTLS_PORT $CTRL_PORT; do
		port_in_use "$HOST" "$p" && die "$HOST:$p is already in use by a process this script did not start"
	done
	certs
	if [[ "$SECURE_OAUTH" == 1 ]]; then
		HYDRA_DATA="$HYDRA_DATA" "$HERE/hydra.sh" start
	fi
	write_env
	broker_config
	kafka_env
	"$HERE/kafka.sh" prepare
	local argv=()
	while IFS= read -r -d '' a; do argv+=("$a"); done < <("$HERE/kafka.sh" argv)
	local started=$SECONDS
	echo "--- start $(date -Is)" >>"$LOG_FILE"
	nohup "${argv[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PID_FILE"
	until answers; do
		if ! alive "$pid"; then
			rm -f "$PID_FILE"
			say "secured broker exited during start-up; last lines of $LOG_FILE:"
			tail -n 40 "$LOG_FILE" >&2
			exit 1
		fi
		if ((SECONDS - started >= START_TIMEOUT)); then
			say "secured broker did not answer within ${START_TIMEOUT}s; last lines of $LOG_FILE:"
			tail -n 40 "$LOG_FILE" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			exit 1
		fi
		sleep 0.5
	done
	say "started pid $pid: SASL_SSL/SCRAM-SHA-512 $HOST:$SCRAM_PORT, mTLS $HOST:$MTLS_PORT$([[ "$SECURE_OAUTH" == 1 ]] && echo ", OAUTHBEARER $HOST:$OAUTH_PORT") in $((SECONDS - started))s (data $DATA)"
}

cmd_stop() {
	local pid rc=0
	if pid="$(running_pid)"; then
		terminate "$pid" 60
		say "stopped pid $pid"
	else
		say "broker not running (data $DATA)"
	fi
	rm -f "$PID_FILE"
	HYDRA_DATA="$HYDRA_DATA" "$HERE/hydra.sh" stop || rc=1
	return "$rc"
}

cmd_status() {
	local pid
	if pid="$(running_pid)" && answers; then
		echo "secure kafka: running pid $pid on $HOST:$SCRAM_PORT (SCRAM), $HOST:$MTLS_PORT (mTLS)$([[ -s "$SECURE_DIR/oauth.env" ]] && echo ", $HOST:$OAUTH_PORT (OAUTHBEARER)")"
		return 0
	fi
	echo "secure kafka: not running (data $DATA)"
	return 1
}

cmd_env() {
	local which="${1:-${SECURE_AUTH:-scram}}"
	case "$which" in scram | mtls | oauth) ;; *) die "env: want scram, mtls or oauth, not '$which'" ;; esac
	[[ -s "$SECURE_DIR/$which.env" ]] || die "no $SECURE_DIR/$which.env: run make infra-up-secure first"
	sed 's/^/export /' "$SECURE_DIR/$which.env"
}

cmd_clean() {
	running_pid >/dev/null && die "secured broker still running; stop it first"
	rm -rf "$SECURE_DIR"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env "${2:-}" ;;
clean) cmd_clean ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
