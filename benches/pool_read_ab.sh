#!/usr/bin/env bash
# The unproven pool read of two builds, alternated: one deployment of KEYS
# keys per build (each build's own devnet script and contracts, on its own
# anvil), then `poolvc pool show --proofs none` READS times for each, one
# after the other, so the machine's drift falls on both alike. Prints each
# build's times and their mean and median.
#   benches/pool_read_ab.sh BASE_ROOT BASE_BIN [KEYS] [READS]
# BASE_ROOT: a worktree of the other commit (its contracts built); BASE_BIN:
# its poolvc. This tree's poolvc: POOLVC_BIN, or target/release/poolvc.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BASE_ROOT="$1" BASE_BIN="$2" KEYS="${3:-10003}" READS="${4:-12}"
NOW_BIN="${POOLVC_BIN:-$ROOT/target/release/poolvc}"
FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
RUN="$ROOT/target/pool_read_ab"
rm -rf "$RUN" && mkdir -p "$RUN"
python3 -c "
import hashlib
for i in range($KEYS):
    print('0x' + (hashlib.sha256(b'big%d' % i).digest() + hashlib.sha256(b'xbig%d' % i).digest())[:48].hex())
" >"$RUN/keys.txt"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
PORT=8677
for b in base now; do
  if [ "$b" = base ]; then src="$BASE_ROOT"; else src="$ROOT"; fi
  "$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "$PORT" --gas-limit 4000000000 --silent >"$RUN/anvil-$b.log" 2>&1 &
  PIDS+=($!)
  sleep 1
  mkdir -p "$RUN/$b"
  (cd "$src/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
  (cd "$src" && python3 testnets/local/pools_devnet.py deploy --rpc "http://127.0.0.1:$PORT" --pubkeys "$RUN/keys.txt" \
    --range "0..$(( KEYS - 1 ))" --per-operator $(( (KEYS + 6) / 7 )) --out "$RUN/$b" >/dev/null)
  PORT=$(( PORT + 1 ))
done
for _ in $(seq "$READS"); do
  for b in base now; do
    if [ "$b" = base ]; then bin="$BASE_BIN"; else bin="$NOW_BIN"; fi
    "$bin" pool show --datadir "$RUN/$b" --json --proofs none --beacon-node http://127.0.0.1:1 >"$RUN/$b.json" 2>"$RUN/$b.err" \
      || { cat "$RUN/$b.err"; exit 1; }
    python3 -c "import json; s=json.load(open('$RUN/$b.json')); print('$b', s['elapsed_ms'], s['rpc_requests'])" >>"$RUN/times"
  done
done
python3 - "$RUN/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    b, ms, req = line.split()
    t.setdefault(b, []).append(int(ms))
    t.setdefault(b + "_req", int(req))
for b in ("base", "now"):
    v = t[b]
    print(f"pool_read_ab: {b}: {len(v)} unproven reads, {t[b + '_req']} requests each: mean {statistics.mean(v):.0f} ms, "
          f"median {statistics.median(v):.0f} ms ({' '.join(map(str, v))})")
print(f"pool_read_ab: now vs base: mean x{statistics.mean(t['now']) / statistics.mean(t['base']):.2f}")
PY
