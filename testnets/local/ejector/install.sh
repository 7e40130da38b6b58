#!/usr/bin/env bash
# Installs the ejector check's one package (@chainsafe/bls-keystore, the
# version Lido's validator-ejector pins) from the npm registry, exactly as
# package-lock.json says. Idempotent. Prints the directory last.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
  cp package-lock.json .installed-lock
fi
echo "$HERE"
