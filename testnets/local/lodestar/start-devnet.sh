#!/usr/bin/env bash
# Starts a single-node Lodestar v1.5.1 dev chain: minimal preset, Altair and
# Bellatrix from genesis, 2 s slots, 64 interop validators, REST on
# 127.0.0.1:${BN_PORT:-9596}; the node itself runs the keys in INTERNAL_RANGE
# (default 0..31). Prints the node's pid.
# Usage: start-devnet.sh LODESTAR_DIR DATADIR [INTERNAL_RANGE]
set -euo pipefail
L="$1"; D="$2"; RANGE="${3:-0..31}"; PORT="${BN_PORT:-9596}"
rm -rf "$D"; mkdir -p "$D"; cd "$D"   # dev writes genesis.ssz into CWD; a stale DB breaks restarts
GT=$(( $(date +%s) + ${GENESIS_DELAY:-6} )); echo "$GT" > genesis_time
nohup "$L/node_modules/.bin/lodestar" dev --preset minimal \
  --dataDir "$D/data" --genesisValidators 64 --startValidators "$RANGE" --genesisTime "$GT" --reset \
  --params.SECONDS_PER_SLOT 2 --params.ALTAIR_FORK_EPOCH 0 --params.BELLATRIX_FORK_EPOCH 0 \
  --execution.engineMock --eth1=false \
  --rest.address 127.0.0.1 --rest.port "$PORT" --rest.namespace '*' \
  --listenAddress 127.0.0.1 --port 9000 --discv5=false --logLevel info \
  > "$D/bn.log" 2>&1 &
echo $! > "$D/bn.pid"
for i in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/eth/v1/node/version" >/dev/null && break; sleep 0.5; done
cat "$D/bn.pid"
