#!/usr/bin/env bash
# Builds the devnet pool contracts and runs their forge tests, offline, then
# checks their ABI against the real deployments' (../shared/design/pool-abis.json,
# or POOL_ABIS=FILE, and abis/*.json: the ones poolvc binds beyond it). Calls the forge binary itself: the npm wrapper exits 0
# even when a test fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$("$HERE/tools/install.sh" | tail -n 1)"
FORGE="$BIN/forge-linux-amd64/bin/forge"
cd "$HERE"
"$FORGE" build --offline
"$FORGE" test --offline
python3 "$HERE/check_abis.py" "$HERE/out" "${POOL_ABIS:-$HERE/../../shared/design/pool-abis.json}" "$HERE"/abis/*.json
