#!/usr/bin/env bash
# Server CPU per answer: nginx serving a static 400-byte JSON file versus
# `capstatic serve` answering an up-to-date device's POST /updates, driven by
# wrk with the same settings in interleaved rounds. Prints CPU microseconds
# per answer for both and their ratio (target: capstatic ≤ 2.0× nginx).
#
#   bash bench/nginx-vs-capstatic.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#
# Needs nginx and wrk (apt-get install -y nginx wrk). Loopback only.
set -euo pipefail
rounds=${1:-3} secs=${2:-8} conns=${3:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
command -v nginx >/dev/null || { echo "nginx missing: apt-get install -y nginx" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }

go build -o "$work/capstatic" "$root/cmd/capstatic"
(cd "$root/examples/app" && "$work/capstatic" publish --store "$work/tree" --version 1.0.0 --quiet)
"$work/capstatic" serve --store "$work/tree" --addr 127.0.0.1:18181 --stats none --log-level error 2>/dev/null &
cs_pid=$!

mkdir -p "$work/www"
python3 -c 'import json;print(json.dumps({"error":"no_new_version_available","message":"No new version available","kind":"up_to_date","pad":"x"*300}))' >"$work/www/answer.json"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18182;
    root $work/www;
    location / { default_type application/json; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
sleep 1
body='{"app_id":"com.example.capstatic","device_id":"6f1c2d3e-0000-4000-8000-000000000001","version_name":"1.0.0","version_build":"1.0.0","version_code":"1","version_os":"14","plugin_version":"8.51.23","platform":"android","is_emulator":false,"is_prod":true,"defaultChannel":"","custom_id":""}'
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
curl -sf -XPOST --data "$body" http://127.0.0.1:18182/answer.json >/dev/null 2>&1 || true
curl -sf --data "$body" http://127.0.0.1:18181/updates | grep -q no_new_version_available || { echo "capstatic did not answer as expected" >&2; exit 1; }

ticks() { # utime+stime of a process and its children threads, in clock ticks
  local t=0
  for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
  echo $t
}
hz=$(getconf CLK_TCK)
nginx_pids() { pgrep -f "nginx: worker process" | tr '\n' ' '; }

measure() { # name pids... -- wrk args...
  local name=$1; shift
  local pids=()
  while [ "$1" != "--" ]; do pids+=("$1"); shift; done; shift
  local before after reqs
  before=$(ticks "${pids[@]}")
  reqs=$(wrk -t1 -c"$conns" -d"${secs}s" "$@" | awk '/requests in/ {print $1}')
  after=$(ticks "${pids[@]}")
  echo "$name $reqs $(( (after - before) ))"
}

cs_total_us=0 cs_total_req=0 ng_total_us=0 ng_total_req=0
for r in $(seq "$rounds"); do
  read -r _ req t < <(measure capstatic "$cs_pid" -- -s "$work/post.lua" http://127.0.0.1:18181/updates)
  us=$(( t * 1000000 / hz )); cs_total_us=$((cs_total_us + us)); cs_total_req=$((cs_total_req + req))
  echo "round $r capstatic: $req answers, $(( us / (req>0?req:1) )) µs CPU/answer"
  read -r _ req t < <(measure nginx $(nginx_pids) -- http://127.0.0.1:18182/answer.json)
  us=$(( t * 1000000 / hz )); ng_total_us=$((ng_total_us + us)); ng_total_req=$((ng_total_req + req))
  echo "round $r nginx:     $req answers, $(( us / (req>0?req:1) )) µs CPU/answer"
done
python3 - "$cs_total_us" "$cs_total_req" "$ng_total_us" "$ng_total_req" <<'PY'
import sys
cu, cr, nu, nr = map(int, sys.argv[1:])
c, n = cu / cr, nu / nr
print(f"capstatic {c:.2f} µs/answer, nginx {n:.2f} µs/answer, ratio {c/n:.2f} (target ≤ 2.0)")
sys.exit(0 if c / n <= 2.0 else 1)
PY
