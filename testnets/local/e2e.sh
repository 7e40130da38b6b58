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
rm -rf "$RUN/vc" "$RUN/vt"; "$POOLVC" keys interop --range 32..63 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
# The eth2-val-tools layout: the same keystores, no definitions file.
mkdir -p "$RUN/vt"; mv "$RUN/vc/validators" "$RUN/vt/keys"; mv "$RUN/vc/secrets" "$RUN/vt/secrets"
rm "$RUN/vt/keys/validator_definitions.yml"
curl -sf "$BN/eth/v1/beacon/states/head/validator_balances" > "$RUN/balances_before.json"
rm -rf "$RUN/duties"; python3 "$HERE/e2e_duties.py" "$BN" 32 63 "$RUN/duties" 2>"$RUN/duties.log" &
POLL_PID=$!

finalized() { curl -sf "$BN/eth/v1/beacon/states/head/finality_checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["finalized"]["epoch"])'; }
head_epoch() { curl -sf "$BN/eth/v1/beacon/headers/head" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["data"]["header"]["message"]["slot"])//8)'; }
# poolvc as Kurtosis' ethereum-package starts Lighthouse's validator client
# (src/vc/lighthouse.star): invoked as `lighthouse vc`, flags written with
# `=`, an eth2-val-tools key tree (keys/0x.../voting-keystore.json and
# secrets/0x..., no validator_definitions.yml), no --datadir (HOME is the
# run's), the network's config.yaml in --testnet-dir. The restart logs JSON.
mkdir -p "$RUN/bin" "$RUN/home" "$RUN/testnet"
ln -sf "$POOLVC" "$RUN/bin/lighthouse"
curl -sf "$BN/eth/v1/config/spec" | python3 -c '
import json, sys
for k, v in json.load(sys.stdin)["data"].items():
    if isinstance(v, str):
        print(f"{k}: {v}")' > "$RUN/testnet/config.yaml"
start_vc() {
  local extra=()
  [ "$1" = 2 ] && extra+=(--log-format=JSON)
  HOME="$RUN/home" "$RUN/bin/lighthouse" vc --debug-level=info --testnet-dir="$RUN/testnet" \
    --validators-dir="$RUN/vt/keys" --secrets-dir="$RUN/vt/secrets" --init-slashing-protection \
    --beacon-nodes="$BN" --suggested-fee-recipient=0x00000000000000000000000000000000000000aa \
    --metrics --metrics-address=127.0.0.1 --metrics-allow-origin=* --metrics-port=5064 \
    --http --http-port=5062 --http-address=127.0.0.1 --http-allow-origin=* --unencrypted-http-transport \
    "${extra[@]}" >>"$RUN/vc-$1.log" 2>&1 &
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
# The epoch poolvc is stopped in: its duties from there on never came (the
# node's chain goes on meanwhile), so the check expects none of them.
export E2E_STOP_EPOCH="$(head_epoch)"
kill -TERM "$VC_PID"; wait "$VC_PID" || true; VC_PID=""
# The database is where Lighthouse keeps it: in the validators dir.
[ -f "$RUN/vt/keys/slashing_protection.sqlite" ] || { echo "e2e: FAIL: no slashing database in the validators dir"; exit 1; }
"$POOLVC" slashing-protection export "$RUN/export.json" --datadir "$RUN/vt/keys" >/dev/null
python3 - "$RUN/vc-1.log" "$RUN/vc-2.log" <<'PY'
import json, re, sys
text, js = open(sys.argv[1], errors="replace").read(), open(sys.argv[2], errors="replace").read()
assert "\x1b" not in text + js, "escape codes in a log file"
bad = [l for l in js.splitlines() if l.strip() and not isinstance(json.loads(l), dict)]
assert not bad, f"--log-format JSON lines that are not objects: {bad[:3]}"
slots = set(re.findall(r"slot (\d+): ", text)) | {str(json.loads(l).get("slot")) for l in js.splitlines() if '"message":"slot ' in l}
assert len(slots) >= 16, f"only {len(slots)} per-slot summary lines"
print(f"e2e: logs: no escape codes, {len(js.splitlines())} JSON lines parse, {len(slots)} slot summary lines")
PY
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
