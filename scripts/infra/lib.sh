# shellcheck shell=bash
# Shared by the scripts in scripts/infra (sourced, not run). Process helpers that
# act only on a pid this tooling recorded itself.

# say/die prefix messages with the calling script's name.
say() { echo "$(basename "$0"): $*" >&2; }
die() { say "error: $*"; exit 1; }

# alive PID: true while the process runs. A zombie (exited, not yet reaped by its
# parent — common when pid 1 of a container does not reap) counts as gone.
alive() {
	local state
	state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
	[[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# wait_gone PID SECONDS: wait until PID has exited; false on timeout.
wait_gone() {
	local deadline=$((SECONDS + $2))
	while alive "$1"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# pid_matching PIDFILE TEXT: print the pid recorded in PIDFILE when that process is
# still running and its command line contains TEXT (guards against pid reuse).
pid_matching() {
	[[ -f "$1" ]] || return 1
	local pid
	pid="$(cat "$1")"
	[[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
	echo "$pid"
}

# terminate PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
terminate() {
	kill -TERM "$1" 2>/dev/null || return 0
	if ! wait_gone "$1" "$2"; then
		say "pid $1 ignored SIGTERM for $2s; sending SIGKILL"
		kill -KILL "$1" 2>/dev/null || true
		wait_gone "$1" 10 || die "pid $1 survived SIGKILL"
	fi
}

# port_in_use HOST PORT: true when something accepts connections there.
port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
