#!/usr/bin/env bash
# Runs every fuzz target for a short time each: bash .ci/fuzz.sh 10s
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-10s}"
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $f"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 3s "$pkg"
  done
done
