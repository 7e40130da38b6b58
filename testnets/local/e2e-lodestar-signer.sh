#!/usr/bin/env bash
# Another client through `poolvc signer`: Lodestar v1.5.1's own validator
# client (`lodestar validator`, its externalSignerClient) signs keys 32..63 of
# the Lodestar dev chain through `poolvc signer` (Web3Signer API, plain HTTP
# on loopback); the node runs keys 0..31 itself.
#
# Passes when the chain finalizes and every one of keys 32..63 attested with
# the right target in each epoch checked, read from the node's state
# (`previous_epoch_participation`), and at least one block by those keys is
# on chain. The last line is the summary.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e-lodestar-signer}"
PORT="${BN_PORT:-9596}"   # the dev node's own validators talk to 9596
BN="http://127.0.0.1:$PORT"
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
LODESTAR="$("$HERE/lodestar/setup.sh" "$HERE/.run/lodestar" | tail -n 1)"
BN_PID="$(BN_PORT=$PORT "$HERE/lodestar/start-devnet.sh" "$LODESTAR" "$RUN/bn" 0..31 | tail -n 1)"
SIGNER_PID=""
LV_PID=""
cleanup() {
  [ -n "$LV_PID" ] && kill "$LV_PID" 2>/dev/null
  [ -n "$SIGNER_PID" ] && kill "$SIGNER_PID" 2>/dev/null
  kill "$BN_PID" 2>/dev/null || true
}
trap cleanup EXIT
rm -rf "$RUN/keys" "$RUN/signer" "$RUN/lv"
"$POOLVC" keys interop --range 32..63 --out "$RUN/keys" --kdf pbkdf2 >/dev/null
"$POOLVC" signer --datadir "$RUN/signer" --keystores-path "$RUN/keys/validators" \
  --keystores-passwords-path "$RUN/keys/secrets" --beacon-node "$BN" --http-listen-port 0 \
  > "$RUN/signer.out" 2> "$RUN/signer.log" &
SIGNER_PID=$!
for _ in $(seq 1 120); do grep -q '^url=' "$RUN/signer.out" 2>/dev/null && break; sleep 0.5; done
SIGNER="$(sed -n 's/^url=//p' "$RUN/signer.out" | head -1)"
[ -n "$SIGNER" ] || { cat "$RUN/signer.log"; echo "e2e-lodestar-signer: FAIL: the signer did not start"; exit 1; }
PUBKEYS="$(curl -sf "$SIGNER/api/v1/eth2/publicKeys" | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)))')"
echo "e2e-lodestar-signer: node $BN (keys 0..31), poolvc signer $SIGNER (keys 32..63), lodestar validator starting"
"$LODESTAR/node_modules/.bin/lodestar" validator --preset minimal --dataDir "$RUN/lv" --server "$BN" \
  --params.SECONDS_PER_SLOT 2 --params.ALTAIR_FORK_EPOCH 0 --params.BELLATRIX_FORK_EPOCH 0 \
  --externalSigner.url "$SIGNER" --externalSigner.pubkeys "$PUBKEYS" \
  --suggestedFeeRecipient 0x00000000000000000000000000000000000000aa --logLevel info \
  > "$RUN/lv.log" 2>&1 &
LV_PID=$!
finalized() {
  curl -sf "$BN/eth/v1/beacon/states/head/finality_checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["finalized"]["epoch"])' 2>/dev/null || echo 0
}
deadline=$(( $(date +%s) + ${FINALITY_TIMEOUT_S:-300} ))
until [ "$(finalized)" -ge 4 ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -20 "$RUN/lv.log"; tail -20 "$RUN/signer.log"
    curl -sf "$BN/eth/v2/debug/beacon/states/head" | python3 -c '
import json, sys
st = json.load(sys.stdin)["data"]
p = [int(x) for x in st["previous_epoch_participation"]]
slot = st["slot"]
for lo, hi in ((0, 32), (32, 64)):
    n = [sum(bool(x & f) for x in p[lo:hi]) for f in (1, 2, 4)]
    print(f"e2e-lodestar-signer: keys {lo}..{hi-1}: timely source/target/head {n[0]}/{n[1]}/{n[2]} of 32, previous epoch of slot {slot}")' || true
    echo "e2e-lodestar-signer: FAIL: no finality at epoch 4 within 300 s (finalized $(finalized))"; exit 1
  fi
  kill -0 "$LV_PID" 2>/dev/null || { tail -30 "$RUN/lv.log"; echo "e2e-lodestar-signer: FAIL: lodestar validator exited"; exit 1; }
  sleep 2
done
python3 - "$BN" "$RUN" <<'PY'
import json, sys, urllib.request
bn, run = sys.argv[1], sys.argv[2]
def get(path):
    with urllib.request.urlopen(bn + path, timeout=30) as r:
        return json.load(r)
TIMELY_TARGET = 1 << 1
ours = range(32, 64)
head = int(get("/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
checked = []
# The head state's previous epoch, and the one before it (from the state at
# that epoch's last slot).
for state_id in ("head", str(head - 8)):
    st = get(f"/eth/v2/debug/beacon/states/{state_id}")["data"]
    epoch = int(st["slot"]) // 8 - 1
    part = [int(x) for x in st["previous_epoch_participation"]]
    missed = [i for i in ours if not part[i] & TIMELY_TARGET]
    assert not missed, f"epoch {epoch}: keys {missed} did not attest (timely target) through poolvc signer"
    checked.append(epoch)
blocks = 0
for slot in range(1, head + 1):
    try:
        h = get(f"/eth/v1/beacon/headers/{slot}")["data"]["header"]["message"]
    except Exception:
        continue
    blocks += int(h["proposer_index"]) in ours
assert blocks > 0, "no block by keys 32..63 on chain"
print(f"e2e-lodestar-signer: ok: Lodestar's validator client through poolvc signer: keys 32..63 all attested "
      f"in epochs {sorted(checked)}, {blocks} blocks by them up to slot {head}, chain finalized")
PY
