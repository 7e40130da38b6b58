#!/usr/bin/env bash
# The main job on a fresh machine: a local Electra -> Fulu -> Gloas devnet
# with poolvc signing. Installs specnode's parts from the registries (first run only; the
# lockfiles pin them), starts specnode (minimal preset, 64 interop validators,
# Electra at genesis, Fulu from epoch 2, Gloas (ePBS) from epoch 3, 2 s
# slots; the node runs keys 0..31
# and imports every block through Lodestar's state transition with all checks
# on), writes interop keys 32..63 as EIP-2335 keystores and runs `poolvc vc`
# with them until Ctrl-C, logging what it does each slot. The node's own log
# (a line a slot: the block and who made it, attestations, sync bits,
# justification, refusals) is in $RUN/bn/bn.log. On exit the chain is replayed
# in the consensus-specs pyspec.
# The pools: anvil is the devnet's execution layer (one block per slot, for
# the slot's proposer) and runs the devnet pool contracts (contracts/), and poolvc's keys are split over seven operators of Stader, Lido and Rocket
# Pool (testnets/local/pools_devnet.py); pools.yaml in the data dir makes
# poolvc pay each key's pool rule. `POOLS=0` runs without them.
#   FULU_EPOCH=2 GLOAS_EPOCH=3 SLOT_MS=2000 PRESET=minimal BN_PORT=9596 ANVIL_PORT=8545 testnets/local/devnet.sh [poolvc vc flags...]
# (GLOAS_EPOCH=none: no Gloas)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run}"
PORT="${BN_PORT:-9596}"
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
SPECNODE="$("$ROOT/testnets/specnode/install.sh" | tail -n 1)"
rm -rf "$RUN/bn" "$RUN/vc"
mkdir -p "$RUN/bn"
BN_PID=""
ANVIL_PID=""
finish() {
  [ -n "$ANVIL_PID" ] && kill "$ANVIL_PID" 2>/dev/null
  [ -n "$BN_PID" ] && kill "$BN_PID" 2>/dev/null && wait "$BN_PID" 2>/dev/null
  "$SPECNODE/.pyspec/bin/python" "$SPECNODE/replay.py" "$RUN/bn" | tail -n 2 || true
}
trap finish EXIT
"$POOLVC" keys interop --range 32..63 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
EL_FLAGS=()
GLOAS_FLAGS=()
[ "${GLOAS_EPOCH:-3}" != none ] && GLOAS_FLAGS=(--gloas-epoch "${GLOAS_EPOCH:-3}")
if [ "${POOLS:-1}" != 0 ]; then
  # anvil first, mining at once while the contracts deploy; then specnode
  # takes it as its execution layer (--el): one anvil block per slot for the
  # proposer, so the pool reads poolvc proves are against the beacon chain.
  ANVIL="http://127.0.0.1:${ANVIL_PORT:-8545}"
  FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
  (cd "$ROOT/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
  "$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "${ANVIL_PORT:-8545}" --silent >"$RUN/anvil.log" 2>&1 &
  ANVIL_PID=$!
  for _ in $(seq 1 60); do curl -sf -X POST -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$ANVIL" -o /dev/null && break; sleep 0.5; done
    python3 "$HERE/pools_devnet.py" deploy --rpc "$ANVIL" --definitions "$RUN/vc/validators/validator_definitions.yml" --range 32..63 --out "$RUN/vc"
  EL_FLAGS=(--el "$ANVIL")
fi
node "$SPECNODE/specnode.mjs" --datadir "$RUN/bn" --port "$PORT" --own 0..31 --preset "${PRESET:-minimal}" \
  --fulu-epoch "${FULU_EPOCH:-2}" "${GLOAS_FLAGS[@]}" --slot-ms "${SLOT_MS:-2000}" --genesis-delay 10 "${EL_FLAGS[@]}" \
  >"$RUN/bn/bn.log" 2>&1 &
BN_PID=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/eth/v1/node/version" -o /dev/null && break; sleep 0.5; done
if [ -n "$ANVIL_PID" ]; then
  echo "devnet: pools on anvil $ANVIL (the devnet's execution layer); see them with: $POOLVC pool show --datadir $RUN/vc --beacon-node http://127.0.0.1:$PORT"
  echo "devnet: opt the Stader operator in: python3 $HERE/pools_devnet.py flip --rpc $ANVIL --state $RUN/vc/pools-devnet.json"
fi
echo "devnet: specnode pid $BN_PID on http://127.0.0.1:$PORT (log $RUN/bn/bn.log, testnet dir $RUN/bn/testnet); poolvc signing for 32..63"
"$POOLVC" vc --beacon-nodes "http://127.0.0.1:$PORT" --datadir "$RUN/vc" --init-slashing-protection \
  --suggested-fee-recipient 0x00000000000000000000000000000000000000aa --graffiti poolvc "$@"
