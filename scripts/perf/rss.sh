#!/usr/bin/env bash
# Steady-state resident memory of every service under `isthmus loadgen`.
#
# Builds the service binaries and the CLI from this tree, applies the
# catalog's topics and schemas under a fresh topic prefix on the broker and
# registry of ISTHMUS_* (`eval "$(make -s infra-env)"`), starts each service
# as its own process (the gateway verifying tokens of a key made here,
# quote-to-order and field-service calling it, the ERP simulator answering
# commands without generating traffic of its own), runs `isthmus loadgen --rate
# $RSS_RATE`,
# and after $RSS_WARMUP seconds samples each process' VmRSS every 5 s for
# $RSS_MEASURE seconds. Prints one line per service: median and largest
# sample against the 64 MiB target. Exits 1 when a service died.
#
#   RSS_RATE (50)  RSS_WARMUP (60)  RSS_MEASURE (60)  RSS_SCENARIO (mixed)
#   RSS_GOMEMLIMIT: GOMEMLIMIT given to every service (default: each one's own)
#   RSS_GODEBUG: GODEBUG given to every service (gctrace=1 shows the heap)
#   RSS_LOGS: directory to copy the services' logs to
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
: "${ISTHMUS_KAFKA_BROKERS:?set ISTHMUS_KAFKA_BROKERS (eval \"\$(make -s infra-env)\")}"
: "${ISTHMUS_SCHEMA_REGISTRY_URL:?set ISTHMUS_SCHEMA_REGISTRY_URL}"
: "${ISTHMUS_REDIS_URL:?set ISTHMUS_REDIS_URL}"
rate="${RSS_RATE:-50}"
warmup="${RSS_WARMUP:-60}"
measure="${RSS_MEASURE:-60}"
scenario="${RSS_SCENARIO:-mixed}"
target_mib=64

work="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${RSS_LOGS:-}" ]; then mkdir -p "$RSS_LOGS" && cp "$work"/*.log "$RSS_LOGS"/; fi
	rm -rf "$work"
}
trap cleanup EXIT

services=(gateway customer-sync quote-to-order billing-bridge field-service reconciler erp-simulator)
echo "building the CLI and ${#services[@]} services…" >&2
(cd "$root" && go build -o "$work/bin/isthmus" ./cmd/isthmus)
for s in "${services[@]}"; do
	(cd "$root/services/$s" && go build -o "$work/bin/$s" .)
done

export ISTHMUS_TOPIC_PREFIX="rss$(date +%s)."
export ISTHMUS_LOG_LEVEL=warn
"$work/bin/isthmus" topics apply >"$work/topics.log" 2>&1 || { cat "$work/topics.log" >&2; exit 1; }
"$work/bin/isthmus" schemas apply >"$work/schemas.log" 2>&1 || { cat "$work/schemas.log" >&2; exit 1; }

# A development signing key: the gateway trusts its public half,
# quote-to-order and field-service present tokens minted with it.
export ISTHMUS_DEV_KEY_DIR="$work/keys"
mkdir -p "$ISTHMUS_DEV_KEY_DIR"
openssl ecparam -name prime256v1 -genkey -noout -out "$ISTHMUS_DEV_KEY_DIR/dev-jwt-key.pem" 2>/dev/null
token="$("$work/bin/isthmus" dev-token --subject quote-to-order --ttl 2h)"
fs_token="$("$work/bin/isthmus" dev-token --subject field-service --scopes service:read --ttl 2h)"

# Ports: a block above 20000 chosen from the process id, so parallel runs
# are unlikely to collide.
base=$((20000 + ($$ % 2000) * 10))
grpc="127.0.0.1:$base"
declare -A extra=(
	[gateway]="ISTHMUS_GATEWAY_GRPC_ADDR=$grpc ISTHMUS_GATEWAY_HTTP_ADDR=127.0.0.1:$((base + 1)) ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS=$ISTHMUS_DEV_KEY_DIR/dev-jwt-public.pem"
	[quote-to-order]="ISTHMUS_GATEWAY_ADDR=$grpc ISTHMUS_GATEWAY_TOKEN=$token"
	[field-service]="ISTHMUS_GATEWAY_ADDR=$grpc ISTHMUS_GATEWAY_TOKEN=$fs_token"
	[reconciler]="ISTHMUS_RECON_DASHBOARD_ADDR=127.0.0.1:$((base + 2))"
	[erp-simulator]="ISTHMUS_SIM_TRAFFIC=false"
)
declare -A pid_of admin_of
i=3
for s in "${services[@]}"; do
	admin="127.0.0.1:$((base + i))"
	i=$((i + 1))
	# shellcheck disable=SC2086 # extra holds space-separated NAME=value pairs
	env ISTHMUS_ADMIN_ADDR="$admin" ISTHMUS_INSTANCE_ID=rss ${RSS_GOMEMLIMIT:+GOMEMLIMIT=$RSS_GOMEMLIMIT} ${RSS_GODEBUG:+GODEBUG=$RSS_GODEBUG} ${extra[$s]:-} \
		"$work/bin/$s" >"$work/$s.log" 2>&1 &
	pids+=("$!")
	pid_of[$s]=$!
	admin_of[$s]=$admin
done

echo "waiting for every service to be ready…" >&2
deadline=$((SECONDS + 120))
for s in "${services[@]}"; do
	until curl -fsS "http://${admin_of[$s]}/readyz" >/dev/null 2>&1; do
		if ! kill -0 "${pid_of[$s]}" 2>/dev/null; then
			echo "$s exited during start-up:" >&2
			tail -20 "$work/$s.log" >&2
			exit 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$s not ready within 120s:" >&2
			tail -20 "$work/$s.log" >&2
			exit 1
		fi
		sleep 1
	done
done

echo "isthmus loadgen --scenario $scenario --rate $rate for $((warmup + measure))s; sampling RSS after ${warmup}s…" >&2
"$work/bin/isthmus" loadgen --scenario "$scenario" --rate "$rate" --duration "$((warmup + measure + 5))s" >"$work/loadgen.log" 2>&1 &
loadgen=$!
pids+=("$loadgen")
sleep "$warmup"
declare -A samples
end=$((SECONDS + measure))
while [ "$SECONDS" -lt "$end" ]; do
	for s in "${services[@]}"; do
		if kb=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid_of[$s]}/status" 2>/dev/null); then
			samples[$s]="${samples[$s]:-} $kb"
		fi
	done
	sleep 5
done
wait "$loadgen" || { echo "loadgen failed:" >&2; tail -5 "$work/loadgen.log" >&2; }
summary="$(tail -1 "$work/loadgen.log")"

status=0
printf 'steady-state RSS under isthmus loadgen --scenario %s --rate %s (samples every 5s for %ss after %ss; target <= %d MiB)\n' "$scenario" "$rate" "$measure" "$warmup" "$target_mib"
for s in "${services[@]}"; do
	if ! kill -0 "${pid_of[$s]}" 2>/dev/null; then
		echo "  $s: DIED (log tail below)"
		tail -10 "$work/$s.log"
		status=1
		continue
	fi
	read -r median largest < <(tr ' ' '\n' <<<"${samples[$s]}" | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1024, a[NR]/1024}')
	verdict=PASS
	awk -v m="$median" -v t="$target_mib" 'BEGIN {exit !(m > t)}' && verdict=MISS
	printf '  %-15s median %6.1f MiB, largest %6.1f MiB  %s\n' "$s" "$median" "$largest" "$verdict"
done
echo "loadgen: $summary"
exit $status
