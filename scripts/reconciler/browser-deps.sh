#!/usr/bin/env bash
# Installs what the reconciler's browser test needs: Debian's chromium.
# As root it installs the package; otherwise it says what to run.
set -euo pipefail
for c in "${ISTHMUS_CHROMIUM:-}" chromium chromium-browser google-chrome; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then
		echo "browser: $(command -v "$c")"
		exit 0
	fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing chromium (apt-get)…"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
		|| { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
	command -v chromium
	exit 0
fi
echo "chromium is missing: run 'sudo apt-get install -y chromium' or set ISTHMUS_CHROMIUM to a Chromium/Chrome binary" >&2
exit 1
