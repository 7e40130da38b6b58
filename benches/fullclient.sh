#!/usr/bin/env bash
# The whole client at scale: `poolvc vc` with N interop keys (default 100,000)
# against the simulated Fulu beacon node at the mainnet preset (12-second
# slots; the node checks every duty, and verifies after answering, on a
# thread of its own, every signature of a fixed random sample of 16,000
# validators: about 500 attestation signatures a slot whatever N), over two
# whole epochs.
#
# Prints: every attestation duty done or not, the time from each slot's head
# event to the slot's last attestation POST answered (median, p99), split
# into the client's time (head event to the POST arrived whole) and the
# node's answer, the client's resident memory (peak), and its start-up time
# to the first duty.
# Targets: below 1,000,000 keys (issue 9) p99 <= 300 ms, RSS <= 400 MB; at
# 1,000,000 (issue 28) p99 <= 1,000 ms, RSS <= 1.5 GB, start-up <= 60 s.
# VERIFY_SAMPLE sets the sample's size.
#
# Usage: benches/fullclient.sh [VALIDATORS] [SLOT_MS]
# POOLVC_BIN / SIMNODE_BIN run given binaries instead of building this tree's
# (to compare two versions of the client against one simulated node).
# EPOCHS=1 checks epoch 1 only (the node stops after slot 64); RUN_DIR keeps
# the run's files there; PROFILE=1 records the client with `perf` (99 Hz,
# call graphs): its start-up (the first 150 s) into RUN/perf-start.data, and
# 120 s of duties from 20 s after its first duty into RUN/perf-steady.data.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-100000}"
SLOT_MS="${2:-12000}"
RUN="${RUN_DIR:-$(mktemp -d)}"
mkdir -p "$RUN"
cd "$ROOT"
POOLVC="${POOLVC_BIN:-$ROOT/target/release/poolvc}"
SIMNODE="${SIMNODE_BIN:-$ROOT/target/release/simnode}"
[ -n "${POOLVC_BIN:-}" ] || cargo build --release -q -p poolvc --bin poolvc
[ -n "${SIMNODE_BIN:-}" ] || cargo build --release -q -p poolvc-tests --bin simnode
SPE=32
EPOCHS="${EPOCHS:-2}"
UNTIL=$(( (EPOCHS + 1) * SPE ))   # epochs 1..EPOCHS checked; the node stops after the last
CHECK="$(seq -s, 1 "$EPOCHS")"
"$SIMNODE" --preset mainnet --validators "$N" --electra-epoch 0 --fulu-epoch 0 \
  --slot-ms "$SLOT_MS" --genesis-delay-s "${GENESIS_DELAY_S:-75}" --verify-sample "${VERIFY_SAMPLE:-16000}" --until-slot "$UNTIL" --check-epochs "$CHECK" \
  --report "$RUN/report.json" > "$RUN/simnode.out" 2> "$RUN/simnode.err" &
SIM=$!
for _ in $(seq 1 120); do grep -q '^url=' "$RUN/simnode.out" 2>/dev/null && break; sleep 1; done
URL="$(sed -n 's/^url=\([^ ]*\).*/\1/p' "$RUN/simnode.out" | head -1)"
echo "fullclient: simnode at $URL ($N validators, ${SLOT_MS} ms slots); poolvc starting"
RUST_LOG=info "$POOLVC" vc --beacon-nodes "$URL" --datadir "$RUN/vc" --init-slashing-protection \
  --interop-indexes "0..$(( N - 1 ))" --suggested-fee-recipient 0x00000000000000000000000000000000000000aa \
  > "$RUN/vc.log" 2>&1 &
VC=$!
if [ "${PROFILE:-0}" = 1 ]; then
  ( perf record -F 99 -g -p "$VC" -o "$RUN/perf-start.data" -- sleep 150 >/dev/null 2>&1
    until grep -q startup_ms "$RUN/vc.log" 2>/dev/null; do sleep 2; done
    sleep 20
    perf record -F 99 -g -p "$VC" -o "$RUN/perf-steady.data" -- sleep 120 >/dev/null 2>&1 ) &
fi
PEAK=0
while kill -0 "$SIM" 2>/dev/null; do
  RSS=$(awk '/VmRSS/ {print $2}' "/proc/$VC/status" 2>/dev/null || echo 0)
  [ "${RSS:-0}" -gt "$PEAK" ] && PEAK=$RSS
  echo "$(date +%s) ${RSS:-0}" >> "$RUN/rss.txt"
  sleep 1
done
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$VC/status" 2>/dev/null || echo 0)
kill -TERM "$VC" 2>/dev/null || true; wait "$VC" || true
STARTUP=$(sed 's/\x1b\[[0-9;]*m//g' "$RUN/vc.log" | sed -n 's/.*startup_ms=\([0-9]*\).*/\1/p' | head -1)
python3 - "$RUN/report.json" "$N" "$PEAK" "$HWM" "${STARTUP:-0}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, peak, hwm, startup = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
l = r["head_to_post_ms"]
c, a = r["head_to_post_arrived_ms"], r["post_answer_ms"]
big = n >= 1000000
p99_target, rss_target_mb, startup_target_s = (1000, 1536, 60) if big else (300, 400, None)
print(f"fullclient: {n} keys, epochs {r['epochs']}: attestations {r['attestations_done']}/{r['attestation_duties']}, "
      f"blocks {r['blocks']}/{r['slots']}, sync messages {r['sync_messages_done']}/{r['sync_messages_expected']}, "
      f"node failures {r['failures']}, signatures verified by the node {r['signatures_verified']} "
      f"({r['signatures_verified'] / max(r['slots'], 1):.0f} a slot)")
print(f"fullclient: head event -> attestation POST answered over {l['slots']} slots: median {l['median']} ms, "
      f"p99 {l['p99']} ms, max {l['max']} ms (target p99 <= {p99_target} ms); slot start -> POST: median "
      f"{r['slot_start_to_post_ms']['median']} ms")
print(f"fullclient: of which the client (head event -> last POST arrived): median {c['median']} ms, p99 {c['p99']} ms, "
      f"max {c['max']} ms; the node's answer to that POST: median {a['median']} ms, p99 {a['p99']} ms")
print(f"fullclient: client RSS peak {peak/1024:.0f} MB (VmHWM {hwm/1024:.0f} MB; target <= {rss_target_mb} MB); "
      f"start-up to the first duty {startup/1000:.1f} s" + (f" (target <= {startup_target_s} s)" if big else ""))
ok = (r["attestations_done"] == r["attestation_duties"] and r["failures"] == 0 and l["p99"] <= p99_target
      and max(peak, hwm) <= rss_target_mb * 1024 and (not big or startup <= startup_target_s * 1000))
sys.exit(0 if ok else 1)
PY
echo "fullclient: logs in $RUN"
