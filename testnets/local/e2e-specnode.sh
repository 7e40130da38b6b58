#!/usr/bin/env bash
# End-to-end on specnode (Lodestar's state transition, every block checked):
# minimal preset, Electra at genesis, Fulu from epoch 2, 2 s slots; the node
# runs keys 0..31, poolvc keys 32..63. poolvc is stopped (SIGTERM) once the
# chain has justified, restarted on the same data dir two slots later (its
# keys from the key cache this time: none decrypted again), and
# run until the chain has finalized epoch 4 and three more epochs have
# passed. Then everything is read back from the node (participation flags from
# its states, blocks, sync aggregates, its pools' refusals: e2e_specnode_check.py)
# and the whole chain is replayed in the consensus-specs pyspec.
# The last line is the summary; the exit code is non-zero if any check fails.
#   PRESET=minimal SLOT_MS=2000 FULU_EPOCH=2 MIN_FINALIZED=4 (the CI run; for a
#   mainnet-preset run: PRESET=mainnet SLOT_MS=12000 FULU_EPOCH=1 RESTART_EPOCH=1
#   END_EPOCH=3 MIN_FINALIZED=0)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e-specnode}"
PORT="${BN_PORT:-9610}"
BN="http://127.0.0.1:$PORT"
FEE=0x00000000000000000000000000000000000000aa
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
SPECNODE="$("$ROOT/testnets/specnode/install.sh" | tail -n 1)"
rm -rf "$RUN/bn" "$RUN/vc" "$RUN"/vc-*.log
PRESET="${PRESET:-minimal}"
SLOT_MS="${SLOT_MS:-2000}"
MIN_FINALIZED="${MIN_FINALIZED:-4}"
SPE=$([ "$PRESET" = mainnet ] && echo 32 || echo 8)
node "$SPECNODE/specnode.mjs" --datadir "$RUN/bn" --port "$PORT" --own 0..31 --preset "$PRESET" --fulu-epoch "${FULU_EPOCH:-2}" \
  --slot-ms "$SLOT_MS" --genesis-delay 8 >"$RUN/bn.log" 2>&1 &
BN_PID=$!
VC_PID=""
cleanup() {
  [ -n "$VC_PID" ] && kill "$VC_PID" 2>/dev/null
  kill "$BN_PID" 2>/dev/null || true
}
trap cleanup EXIT
"$POOLVC" keys interop --range 32..63 --out "$RUN/vc" --kdf pbkdf2 >/dev/null

jget() { curl -sf "$BN$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
head_slot() { jget /eth/v1/beacon/headers/head 'd["data"]["header"]["message"]["slot"]' 2>/dev/null || echo 0; }
finalized() { jget /eth/v1/beacon/states/head/finality_checkpoints 'd["data"]["finalized"]["epoch"]' 2>/dev/null || echo 0; }
justified() { jget /eth/v1/beacon/states/head/finality_checkpoints 'd["data"]["current_justified"]["epoch"]' 2>/dev/null || echo 0; }
head_epoch() { echo $(( $(head_slot) / SPE )); }
clock_slot() { python3 -c "import json,time; c=json.load(open('$RUN/bn/chain.json')); print(max(0, int((time.time()-c['genesis_time'])*1000)//c['slot_ms']))"; }
wait_until() { # wait_until SECONDS CONDITION...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 1; done
}
start_vc() {
  "$POOLVC" vc --beacon-nodes "$BN" --datadir "$RUN/vc" --init-slashing-protection --graffiti poolvc \
    --suggested-fee-recipient "$FEE" >>"$RUN/vc-$1.log" 2>&1 &
  VC_PID=$!
}

wait_until 30 curl -sf "$BN/eth/v1/node/version" -o /dev/null || { echo "e2e-specnode: the node did not start"; tail -20 "$RUN/bn.log"; exit 1; }
start_vc 1
if [ -n "${RESTART_EPOCH:-}" ]; then
  echo "e2e-specnode: specnode $BN_PID on $BN, poolvc $VC_PID; restarting poolvc at epoch $RESTART_EPOCH"
  wait_until $(( (RESTART_EPOCH + 1) * SPE * SLOT_MS / 1000 + 60 )) bash -c "[ \$(( \$(curl -sf $BN/eth/v1/beacon/headers/head | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"header\"][\"message\"][\"slot\"])') / $SPE )) -ge $RESTART_EPOCH ]" || true
else
  echo "e2e-specnode: specnode $BN_PID on $BN, poolvc $VC_PID; waiting for justification"
  wait_until 240 bash -c "[ \"\$(curl -sf $BN/eth/v1/beacon/states/head/finality_checkpoints | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"current_justified\"][\"epoch\"])')\" -ge 2 ]" \
    || echo "e2e-specnode: no justification within 240 s"
fi
kill -TERM "$VC_PID"; wait "$VC_PID" || true
STOP_SLOT="$(clock_slot)"
sleep $(( 2 * SLOT_MS / 1000 ))
start_vc 2
RESTART_SLOT="$(clock_slot)"
echo "e2e-specnode: poolvc stopped at slot $STOP_SLOT (justified $(justified)), restarted at slot $RESTART_SLOT"
TARGET="${END_EPOCH:-$(( RESTART_SLOT / SPE + 4 ))}"
wait_until $(( (TARGET * SPE - RESTART_SLOT + SPE) * SLOT_MS / 1000 + 120 )) bash -c "[ \$(curl -sf $BN/eth/v1/beacon/states/head/finality_checkpoints | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"finalized\"][\"epoch\"])') -ge $MIN_FINALIZED ] && [ \$(( \$(curl -sf $BN/eth/v1/beacon/headers/head | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"header\"][\"message\"][\"slot\"])') / $SPE )) -ge $TARGET ]" \
  || echo "e2e-specnode: finality $MIN_FINALIZED and epoch $TARGET not both reached in time"
kill -TERM "$VC_PID"; wait "$VC_PID" || true; VC_PID=""
rc=0
SUMMARY="$(MIN_FINALIZED=$MIN_FINALIZED python3 "$HERE/e2e_specnode_check.py" "$BN" 32 63 "$STOP_SLOT" "$RESTART_SLOT" "$FEE" "$RUN"/vc-*.log)" || rc=$?
# The restart takes its keys from the key cache: no keystore decrypted again.
for want in "1:keys: 0 from the key cache, 32 decrypted" "2:keys: 32 from the key cache, 0 decrypted"; do
  if grep -q "${want#*:}" "$RUN/vc-${want%%:*}.log"; then
    echo "e2e-specnode: start ${want%%:*}: ${want#*:}"
  else
    echo "e2e-specnode: start ${want%%:*} did not log \"${want#*:}\""; grep "keys:" "$RUN/vc-${want%%:*}.log" || true; rc=1
  fi
done
kill -TERM "$BN_PID" 2>/dev/null; wait "$BN_PID" 2>/dev/null || true
grep -E "specnode: SIGTERM" "$RUN/bn.log" || true
REPLAY="$("$SPECNODE/.pyspec/bin/python" "$SPECNODE/replay.py" "$RUN/bn" 2>&1)" || rc=1
echo "$REPLAY" | grep -v '^pyspec_roots=' || true
echo "$SUMMARY" | sed '$d'
echo "$(echo "$SUMMARY" | tail -n 1) $(echo "$REPLAY" | tail -n 1)"
exit $rc
