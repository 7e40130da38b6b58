#!/usr/bin/env bash
# End-to-end across the Gloas (ePBS) fork on specnode (Lodestar 1.48's state
# transition, every block and envelope checked): minimal preset, Electra at
# genesis, Fulu at epoch 1, Gloas at epoch 2, 2 s slots. The node runs keys
# 0..31; poolvc keys 32..63, of which 48..63 are remote keys signed by
# `poolvc signer` (Web3Signer API) for every duty, the Gloas ones included.
# poolvc is stopped (SIGTERM) once the chain is in Gloas (epoch 3), restarted
# on the same data dir two slots later, and run until the chain has finalized
# epoch 5 and four more epochs have passed. Once the builder stand-in is
# active, it bids for one of poolvc's proposals paying another address
# (poolvc must refuse the bid and propose a self-built block) and for another
# paying the proposer's preferences (poolvc must take it; the builder reveals
# the payload).
# Everything is then read back from the node (participation flags from its
# states, blocks, bids, envelopes, PTC votes carried by the next block,
# preferences received, refusals: e2e_gloas_check.py) and the whole chain,
# envelopes included, is replayed in the consensus-specs pyspec.
# The last line is the summary; the exit code is non-zero if any check fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e-gloas}"
PORT="${BN_PORT:-9620}"
BN="http://127.0.0.1:$PORT"
FEE=0x00000000000000000000000000000000000000aa
OTHER=0x000000000000000000000000000000000000bad0
SPE=8
SLOT_MS=2000
MIN_FINALIZED=5
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
SPECNODE="$("$ROOT/testnets/specnode/install.sh" | tail -n 1)"
rm -rf "$RUN/bn" "$RUN/vc" "$RUN/signer" "$RUN/remote-keys" "$RUN"/vc-*.log
node "$SPECNODE/specnode.mjs" --datadir "$RUN/bn" --port "$PORT" --own 0..31 --preset minimal --fulu-epoch 1 \
  --gloas-epoch 2 --slot-ms "$SLOT_MS" --genesis-delay 10 >"$RUN/bn.log" 2>&1 &
BN_PID=$!
VC_PID=""
SIGNER_PID=""
cleanup() {
  [ -n "$VC_PID" ] && kill "$VC_PID" 2>/dev/null
  [ -n "$SIGNER_PID" ] && kill "$SIGNER_PID" 2>/dev/null
  kill "$BN_PID" 2>/dev/null || true
}
trap cleanup EXIT

jget() { curl -sf "$BN$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
head_slot() { jget /eth/v1/beacon/headers/head 'd["data"]["header"]["message"]["slot"]' 2>/dev/null || echo 0; }
finalized() { jget /eth/v1/beacon/states/head/finality_checkpoints 'd["data"]["finalized"]["epoch"]' 2>/dev/null || echo 0; }
clock_slot() { python3 -c "import json,time; c=json.load(open('$RUN/bn/chain.json')); print(max(0, int((time.time()-c['genesis_time'])*1000)//c['slot_ms']))"; }
wait_until() { # wait_until SECONDS CONDITION...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 1; done
}
head_epoch_at_least() { [ $(( $(head_slot) / SPE )) -ge "$1" ]; }
done_yet() { [ "$(finalized)" -ge "$MIN_FINALIZED" ] && head_epoch_at_least "$1"; }
builder_active() { [ "$(jget /specnode/builder 'd["active"]' 2>/dev/null)" = True ]; }

wait_until 40 curl -sf "$BN/eth/v1/node/version" -o /dev/null || { echo "e2e-gloas: the node did not start"; tail -20 "$RUN/bn.log"; exit 1; }

# Keys 32..47 local; 48..63 in `poolvc signer`, listed as web3signer keys in the client's definitions.
"$POOLVC" keys interop --range 32..47 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
"$POOLVC" keys interop --range 48..63 --out "$RUN/remote-keys" --kdf pbkdf2 >/dev/null
"$POOLVC" signer --datadir "$RUN/signer" --keystores-path "$RUN/remote-keys/validators" \
  --keystores-passwords-path "$RUN/remote-keys/secrets" --beacon-node "$BN" --http-listen-port 0 \
  > "$RUN/signer.out" 2> "$RUN/signer.log" &
SIGNER_PID=$!
for _ in $(seq 1 120); do grep -q '^url=' "$RUN/signer.out" 2>/dev/null && break; sleep 0.5; done
SIGNER="$(sed -n 's/^url=//p' "$RUN/signer.out" | head -1)"
[ -n "$SIGNER" ] || { tail -20 "$RUN/signer.log"; echo "e2e-gloas: FAIL: the signer did not start"; exit 1; }
curl -sf "$SIGNER/api/v1/eth2/publicKeys" | python3 -c '
import json, sys
keys = json.load(sys.stdin)
assert len(keys) == 16, keys
with open(sys.argv[1], "a", encoding="utf-8") as f:
    for k in keys:
        f.write(f"- enabled: true\n  voting_public_key: \"{k}\"\n  type: web3signer\n  url: \"{sys.argv[2]}\"\n")
' "$RUN/vc/validators/validator_definitions.yml" "$SIGNER"

start_vc() {
  "$POOLVC" vc --beacon-nodes "$BN" --datadir "$RUN/vc" --init-slashing-protection --graffiti poolvc \
    --suggested-fee-recipient "$FEE" --builder-proposals >>"$RUN/vc-$1.log" 2>&1 &
  VC_PID=$!
}
start_vc 1
echo "e2e-gloas: specnode $BN_PID on $BN (keys 0..31), poolvc $VC_PID (keys 32..47 local, 48..63 through poolvc signer $SIGNER); restart in Gloas at epoch 3"
wait_until $(( 4 * SPE * SLOT_MS / 1000 + 60 )) head_epoch_at_least 3 || echo "e2e-gloas: epoch 3 not reached in time"
kill -TERM "$VC_PID"; wait "$VC_PID" || true
STOP_SLOT="$(clock_slot)"
sleep $(( 2 * SLOT_MS / 1000 ))
start_vc 2
RESTART_SLOT="$(clock_slot)"
echo "e2e-gloas: poolvc stopped at slot $STOP_SLOT, restarted at slot $RESTART_SLOT (fork $(jget /eth/v1/beacon/states/head/fork 'd["data"]["current_version"]'))"

# The builder stand-in, once active: bids for poolvc's next two proposals, the first paying another address.
BIDS=""
if wait_until $(( 6 * SPE * SLOT_MS / 1000 )) builder_active; then
  BIDS="$(python3 - "$BN" "$OTHER" <<'EOF'
import json, sys, time, urllib.request
bn, other = sys.argv[1], sys.argv[2]
get = lambda p: json.load(urllib.request.urlopen(bn + p, timeout=10))
post = lambda p: json.load(urllib.request.urlopen(urllib.request.Request(bn + p, method="POST"), timeout=10))
head = int(get("/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
picked = []
for epoch in (head // 8, head // 8 + 1):
    for d in get(f"/eth/v1/validator/duties/proposer/{epoch}")["data"]:
        slot, v = int(d["slot"]), int(d["validator_index"])
        if 32 <= v <= 63 and slot > head + 2 and len(picked) < 2:
            picked.append(slot)
if len(picked) == 2:
    post(f"/specnode/builder_bid/{picked[0]}?pays={other}")
    post(f"/specnode/builder_bid/{picked[1]}")
print(" ".join(map(str, picked)))
EOF
)"
  echo "e2e-gloas: the builder bids at poolvc's slots: ${BIDS:-none} (the first paying $OTHER)"
else
  echo "e2e-gloas: the builder did not become active in time"
fi
TARGET=$(( RESTART_SLOT / SPE + 5 ))
LAST_BID="${BIDS##* }"
[ -n "$LAST_BID" ] && [ $(( LAST_BID / SPE + 1 )) -gt "$TARGET" ] && TARGET=$(( LAST_BID / SPE + 1 ))
wait_until $(( (TARGET * SPE - RESTART_SLOT + SPE) * SLOT_MS / 1000 + 120 )) done_yet "$TARGET" \
  || echo "e2e-gloas: finality $MIN_FINALIZED and epoch $TARGET not both reached in time"
kill -TERM "$VC_PID"; wait "$VC_PID" || true; VC_PID=""
rc=0
SUMMARY="$(MIN_FINALIZED=$MIN_FINALIZED python3 "$HERE/e2e_gloas_check.py" "$BN" 32 63 "$STOP_SLOT" "$RESTART_SLOT" "$FEE" \
  "$OTHER" "$BIDS" "$RUN"/vc-*.log)" || rc=$?
kill -TERM "$BN_PID" 2>/dev/null; wait "$BN_PID" 2>/dev/null || true
kill -TERM "$SIGNER_PID" 2>/dev/null; wait "$SIGNER_PID" 2>/dev/null || true; SIGNER_PID=""
grep -E "specnode: SIGTERM" "$RUN/bn.log" || true
REPLAY="$("$SPECNODE/.pyspec/bin/python" "$SPECNODE/replay.py" "$RUN/bn" 2>&1)" || rc=1
echo "$REPLAY" | grep -v '^pyspec_roots=' || true
echo "$SUMMARY" | sed '$d'
echo "$(echo "$SUMMARY" | tail -n 1) $(echo "$REPLAY" | tail -n 1)"
exit $rc
