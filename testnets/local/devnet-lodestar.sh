#!/usr/bin/env bash
# The Bellatrix devnet on a complete beacon node (the main job runs on
# specnode: devnet.sh).
# Installs Lodestar v1.5.1 from the npm registry (first run only), starts its
# dev chain (minimal preset, Bellatrix, 2 s slots, 64 interop validators; the
# node runs keys 0..31), writes interop keys 32..63 as EIP-2335 keystores and
# runs `poolvc vc` with them until Ctrl-C, logging what it does each slot.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run}"
PORT="${BN_PORT:-9596}"
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
LODESTAR="$("$HERE/lodestar/setup.sh" "$RUN/lodestar" | tail -n 1)"
BN_PID="$(BN_PORT=$PORT "$HERE/lodestar/start-devnet.sh" "$LODESTAR" "$RUN/bn" 0..31 | tail -n 1)"
trap 'kill $BN_PID 2>/dev/null || true' EXIT
rm -rf "$RUN/vc"
"$POOLVC" keys interop --range 32..63 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
echo "devnet: beacon node pid $BN_PID on http://127.0.0.1:$PORT (log $RUN/bn/bn.log); poolvc signing for 32..63"
exec "$POOLVC" vc --beacon-nodes "http://127.0.0.1:$PORT" --datadir "$RUN/vc" --init-slashing-protection \
  --suggested-fee-recipient 0x00000000000000000000000000000000000000aa --graffiti poolvc "$@"
