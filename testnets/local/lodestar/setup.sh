#!/usr/bin/env bash
# Installs Lodestar v1.5.1 (the newest complete Lodestar the npm registry here
# serves) into DEST (default: testnets/local/.run/lodestar), from the npm
# registry only, with the pinned yarn.lock. Needs node 20, make, g++, python3
# and /usr/include/node. Idempotent: a finished install is reused.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="${1:-$HERE/../.run/lodestar}"
BIN="$DEST/node_modules/.bin/lodestar"
if [ -x "$BIN" ] && [ -f "$DEST/.poolvc-setup-done" ]; then
  echo "$DEST"; exit 0
fi
# The yarn.lock has versions but no download addresses (this workplace keeps
# registry hosts out of lockfiles), so yarn 1 re-resolves most ranges to the
# newest releases, some of which need Node 22 or changed behaviour. So every
# package the lock resolves to a single version is pinned to it with yarn
# "resolutions" (pin-resolutions.py), and mortice to 3.0.0 explicitly.
mkdir -p "$DEST"; cp "$HERE/yarn.lock" "$DEST/"
python3 "$HERE/pin-resolutions.py" "$HERE/package.json" "$HERE/yarn.lock" > "$DEST/package.json"
cd "$DEST"
export npm_config_nodedir=/usr            # node-gyp: local headers, no download
npx --yes yarn@1.22.22 install --frozen-lockfile --non-interactive --network-timeout 600000 >&2
test -f node_modules/@chainsafe/blst/prebuild/linux-x64-$(node -p process.versions.modules)-binding.node
# v1.5.1's CLI passes genesisBlockHash "" to its in-process mock execution
# engine, which then answers SYNCING for every payload and no block is ever
# produced. The dev genesis uses eth1 block hash 0x0b..0b: teach it that hash.
H=0x$(printf '0b%.0s' $(seq 1 32))
F=node_modules/@chainsafe/lodestar/lib/options/beaconNodeOptions/execution.js
sed -i "s/genesisBlockHash: \"\",/genesisBlockHash: \"$H\",/" "$F"
grep -q "$H" "$F"
touch .poolvc-setup-done
echo "$DEST"
