#!/usr/bin/env bash
# End-to-end on a real beacon node: Lodestar v1.5.1 dev chain with keys 0..31,
# poolvc with keys 32..63. Runs until the chain finalizes, restarts poolvc
# mid-run (SIGTERM, then start again on the same data dir), runs two more
# epochs, then checks everything against the beacon node's API (e2e_check.py).
# The last line is the summary; the exit code is non-zero if any check fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e}"
PORT="${BN_PORT:-9596}"
BN="http://127.0.0.1:$PORT"
mkdir -p "$RUN"
. "$HERE/poolvc-bin.sh"
LODESTAR="$("$HERE/lodestar/setup.sh" "$HERE/.run/lodestar" | tail -n 1)"
BN_PID="$(BN_PORT=$PORT "$HERE/lodestar/start-devnet.sh" "$LODESTAR" "$RUN/bn" 0..31 | tail -n 1)"
VC_PID=""
POLL_PID=""
cleanup() {
  [ -n "$VC_PID" ] && kill "$VC_PID" 2>/dev/null
  [ -n "$POLL_PID" ] && kill "$POLL_PID" 2>/dev/null
  kill "$BN_PID" 2>/dev/null || true
}
trap cleanup EXIT
rm -rf "$RUN/vc"; "$POOLVC" keys interop --range 32..63 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
curl -sf "$BN/eth/v1/beacon/states/head/validator_balances" > "$RUN/balances_before.json"
rm -rf "$RUN/duties"; python3 "$HERE/e2e_duties.py" "$BN" 32 63 "$RUN/duties" 2>"$RUN/duties.log" &
POLL_PID=$!

finalized() { curl -sf "$BN/eth/v1/beacon/states/head/finality_checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["finalized"]["epoch"])'; }
head_epoch() { curl -sf "$BN/eth/v1/beacon/headers/head" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["data"]["header"]["message"]["slot"])//8)'; }
start_vc() {
  "$POOLVC" vc --beacon-nodes "$BN" --datadir "$RUN/vc" --init-slashing-protection \
    --suggested-fee-recipient 0x00000000000000000000000000000000000000aa >>"$RUN/vc-$1.log" 2>&1 &
  VC_PID=$!
}
wait_until() { # wait_until SECONDS CONDITION...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 2; done
}

start_vc 1
echo "e2e: beacon node $BN_PID, poolvc $VC_PID; waiting for finality"
wait_until 240 bash -c "[ \"\$(curl -sf $BN/eth/v1/beacon/states/head/finality_checkpoints | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"finalized\"][\"epoch\"])')\" -ge 3 ]" \
  || echo "e2e: no finality within 240 s"
kill -TERM "$VC_PID"; wait "$VC_PID" || true
RESTART_EPOCH="$(head_epoch)"
echo "e2e: poolvc stopped at epoch $RESTART_EPOCH (finalized $(finalized)); restarting"
start_vc 2
TARGET=$(( RESTART_EPOCH + 4 ))
wait_until 120 bash -c "[ \$(( \$(curl -sf $BN/eth/v1/beacon/headers/head | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"header\"][\"message\"][\"slot\"])') / 8 )) -ge $TARGET ]" || true
kill -TERM "$VC_PID"; wait "$VC_PID" || true; VC_PID=""
"$POOLVC" slashing-protection export "$RUN/export.json" --datadir "$RUN/vc" >/dev/null
python3 - "$RUN/export.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for v in d["data"]:
    t = [a["target_epoch"] for a in v["signed_attestations"]]
    s = [b["slot"] for b in v["signed_blocks"]]
    assert len(t) == len(set(t)), f"{v['pubkey']}: a target signed twice"
    assert len(s) == len(set(s)), f"{v['pubkey']}: a slot signed twice"
print(f"e2e: slashing database: {sum(len(v['signed_attestations']) for v in d['data'])} attestations, "
      f"{sum(len(v['signed_blocks']) for v in d['data'])} blocks, nothing signed twice")
PY
rc=0
python3 "$HERE/e2e_check.py" "$BN" 32 63 "$RUN/balances_before.json" "$RESTART_EPOCH" "$RUN/duties" "$RUN"/vc-*.log || rc=$?
exit $rc
