#!/bin/sh
# Delta benchmark on real web builds from npm: bytes a device downloads
# through capstatic's manifest versus the zip and versus the brotli -q 11
# optimum, publish times and bytes written. See bench/delta/main.go.
#
#   sh bench/delta.sh [-tolerance 0.02] [-packages FILE] [-cache DIR]
#
# Needs go, npm (only for tarballs not yet in .cache/npm) and brotli
# (apt-get install -y brotli). Exits non-zero when a bound is broken.
set -eu
cd "$(dirname "$0")/.."
command -v brotli >/dev/null || { echo "brotli missing: apt-get install -y brotli" >&2; exit 2; }
exec go run ./bench/delta "$@"
