#!/usr/bin/env bash
# Installs the outside programs the tests talk to, into .cache/ in the
# repository, when they are missing. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache

# The real Capgo CLI, an interop peer for probe, bundle encrypt/decrypt, key create.
if [ ! -x .cache/capgo/node_modules/.bin/capgo ]; then
  mkdir -p .cache/capgo
  (cd .cache/capgo && [ -f package.json ] || echo '{"name":"capgo-peer","private":true}' > package.json)
  (cd .cache/capgo && npm install --no-audit --no-fund --loglevel=error @capgo/cli@8.68.1 </dev/null)
fi

# versitygw: a real S3-protocol server that honours conditional writes.
if [ ! -x .cache/bin/versitygw ]; then
  GOBIN="$PWD/.cache/bin" GOFLAGS=-buildvcs=false go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
