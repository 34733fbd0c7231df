#!/usr/bin/env bash
# Measures watch mode's save → device-sees-update latency: builds capstatic,
# runs "capstatic watch" on a temporary web folder, then N times edits a
# file and polls POST /updates (as a debug build on channel dev would) until
# the offered version changes, printing the milliseconds each took.
# Not part of "make test".
#
#   bench/watch-latency.sh [ROUNDS]      (env: PORT, default 18787)
set -euo pipefail

rounds=${1:-10}
port=${PORT:-18787}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

ms() { date +%s%3N; }

(cd "$root" && go build -o "$work/capstatic" ./cmd/capstatic)
mkdir -p "$work/www/assets"
echo '<!doctype html><script src="assets/app.js"></script>' >"$work/www/index.html"
echo 'console.log(0)' >"$work/www/assets/app.js"

"$work/capstatic" watch "$work/www" --app com.example.latency --addr "127.0.0.1:$port" \
	--store "$work/tree" --log-level error >"$work/watch.out" 2>"$work/watch.err" &
pid=$!

body='{"app_id":"com.example.latency","device_id":"6f1c2d3e-0000-4000-8000-0000000000cc","version_name":"builtin",
"version_build":"1.0.0","version_code":"1","version_os":"14","plugin_version":"8.51.23","platform":"android",
"is_emulator":true,"is_prod":false,"custom_id":"","defaultChannel":"dev"}'
offered() {
	curl -s -X POST -H 'Content-Type: application/json' --data "$body" "http://127.0.0.1:$port/updates" |
		sed -n 's/.*"version":"\([^"]*\)".*/\1/p'
}

# Wait for the first publish.
for _ in $(seq 1 200); do
	current=$(offered || true)
	[ -n "$current" ] && break
	sleep 0.05
done
if [ -z "$current" ]; then
	echo "watch never published; its output:" >&2
	cat "$work/watch.out" "$work/watch.err" >&2
	exit 1
fi

total=0
for i in $(seq 1 "$rounds"); do
	start=$(ms)
	echo "console.log($i)" >"$work/www/assets/app.js"
	while :; do
		v=$(offered || true)
		if [ -n "$v" ] && [ "$v" != "$current" ]; then break; fi
		if [ $(($(ms) - start)) -gt 10000 ]; then echo "round $i: no update after 10 s" >&2; exit 1; fi
		sleep 0.005
	done
	took=$(($(ms) - start))
	total=$((total + took))
	current=$v
	printf 'round %2d: %4d ms  (%s)\n' "$i" "$took" "$v"
	sleep 0.3 # let the folder settle before the next save
done
echo "mean: $((total / rounds)) ms over $rounds saves (debounce 150 ms included)"
