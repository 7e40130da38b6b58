#!/usr/bin/env bash
# Installs forge, anvil, cast and solcjs exactly as package-lock.json pins
# them (npm registry; the foundry binaries ship inside the npm packages; no
# install scripts). Prints the directory holding the binaries.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
  cp package-lock.json node_modules/.installed-lock
fi
echo "$HERE/node_modules/@foundry-rs"
