#!/usr/bin/env bash
# Load test of `capstatic serve`: builds capstatic, publishes examples/app as
# 1.0.0 and a modified copy as 1.0.1 to a temporary tree, serves it on
# loopback, and runs the open-loop generator bench/load against it (by
# default: measure the maximum rate for 5 s, then 80 % of it for 60 s). Prints
# rates, answers by status and code, errors, latency and the server's memory;
# exits non-zero when errors exceed 0.1 % or the achieved rate falls below
# 95 % of the target. Not part of "make test". See bench/load/main.go.
#
#   bash bench/load.sh [--duration 60s] [--rate 0] [other bench/load flags]
#                                        (env: PORT, default 18383)
set -euo pipefail

port=${PORT:-18383}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/capstatic" ./cmd/capstatic)
(cd "$root/examples/app" && "$work/capstatic" publish --store "$work/tree" --version 1.0.0 --quiet)
cp -R "$root/examples/app" "$work/app"
echo 'console.log("1.0.1");' >>"$work/app/www/assets/app.js"
(cd "$work/app" && "$work/capstatic" publish --store "$work/tree" --version 1.0.1 --quiet)

"$work/capstatic" serve --store "$work/tree" --addr "127.0.0.1:$port" --stats none --log-level error \
	>"$work/serve.out" 2>"$work/serve.err" &
pid=$!
url="http://127.0.0.1:$port/updates"
for _ in $(seq 1 100); do
	curl -s -o /dev/null -X POST --data '{}' "$url" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if ! curl -s -o /dev/null -X POST --data '{}' "$url"; then
	echo "capstatic serve did not start; its output:" >&2
	cat "$work/serve.out" "$work/serve.err" >&2
	exit 1
fi

status=0
(cd "$root" && go run ./bench/load --url "$url" --pid "$pid" "$@") || status=$?
if ! kill -0 "$pid" 2>/dev/null; then
	echo "capstatic serve died during the run; its output:" >&2
	cat "$work/serve.out" "$work/serve.err" >&2
	status=1
fi
exit "$status"
