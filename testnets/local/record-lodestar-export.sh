#!/usr/bin/env bash
# Records a slashing-protection export written by Lodestar v1.5.1 itself
# (draft EIP-3076 v4, "complete"): a dev chain (keys 0..31 in the node),
# Lodestar's own validator client with keys 48..51 for about three epochs,
# then `lodestar validator slashing-protection export`. The file goes to
# OUT (default tests/vectors/lodestar/interchange_v4_export.json); the
# import test reads it from there.
# Usage: testnets/local/record-lodestar-export.sh [OUT]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/tests/vectors/lodestar/interchange_v4_export.json}"
RUN="$(mktemp -d)"
PORT="${BN_PORT:-9596}"
LODESTAR="$("$HERE/lodestar/setup.sh" "$HERE/.run/lodestar" | tail -n 1)"
BN_PID="$(BN_PORT=$PORT "$HERE/lodestar/start-devnet.sh" "$LODESTAR" "$RUN/bn" 0..31 | tail -n 1)"
VC_PID=""
trap '[ -n "$VC_PID" ] && kill "$VC_PID" 2>/dev/null; kill "$BN_PID" 2>/dev/null || true' EXIT
PARAMS=(--network dev --params.SECONDS_PER_SLOT 2 --params.ALTAIR_FORK_EPOCH 0 --params.BELLATRIX_FORK_EPOCH 0
  --server "http://127.0.0.1:$PORT" --dataDir "$RUN/vc")
"$LODESTAR/node_modules/.bin/lodestar" validator "${PARAMS[@]}" --interopIndexes 48..51 \
  --suggestedFeeRecipient 0x00000000000000000000000000000000000000bb > "$RUN/vc.log" 2>&1 &
VC_PID=$!
sleep "${RUN_SECONDS:-60}"
kill -TERM "$VC_PID"; wait "$VC_PID" || true; VC_PID=""
"$LODESTAR/node_modules/.bin/lodestar" validator slashing-protection export "${PARAMS[@]}" --file "$OUT" >> "$RUN/vc.log" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("recorded", sys.argv[1], d["metadata"], len(d["data"]), "keys", sum(len(k["signed_attestations"]) for k in d["data"]), "attestations", sum(len(k["signed_blocks"]) for k in d["data"]), "blocks")' "$OUT"
