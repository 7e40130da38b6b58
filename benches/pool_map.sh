#!/usr/bin/env bash
# The key map's cost: `poolvc pool show` reads seven operators' keys and
# rule facts from the devnet pool contracts on anvil, for KEYS keys (default
# 10,000: 1,429 per operator) and, in the same run, for 32 keys as the
# baseline; then the KEYS map again with every read proven (account and
# storage proofs against anvil's latest header, the calls run locally in
# revm: `--proofs endpoint-head`), against the unproven read of the same
# contracts in the same run. Prints JSON-RPC requests and calls, the time of
# the reads and the map (the snapshot's own clock), and the process's peak RSS.
#   benches/pool_map.sh [KEYS]        (POOLVC_BIN: a built poolvc to run)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KEYS="${1:-10000}"
PORT="${ANVIL_PORT:-8675}"
RUN="$ROOT/target/pool_map"
if [ -n "${POOLVC_BIN:-}" ]; then POOLVC="$POOLVC_BIN"; else
  (cd "$ROOT" && cargo build --release -q -p poolvc); POOLVC="$ROOT/target/release/poolvc"; fi
FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
(cd "$ROOT/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
rm -rf "$RUN" && mkdir -p "$RUN"
"$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "$PORT" --gas-limit 4000000000 --silent >"$RUN/anvil.log" 2>&1 &
ANVIL_PID=$!
trap 'kill $ANVIL_PID 2>/dev/null || true' EXIT
sleep 1
measure() { # measure PER_OPERATOR NAME [PROOFS]: deploys (once per NAME), then reads
  local per=$1 name=$2 n=$(( 7 * $1 )) proofs=${3:-none} out="$RUN/$2"
  if [ -d "$out" ]; then
    local d="$RUN/$name-$proofs"; mkdir -p "$d"; cp "$out/pools.yaml" "$d/"
    if [ -d "$out/validators" ]; then cp -r "$out/validators" "$d/"; fi
    out="$d"
    show "$out" "$n" "$proofs"; return
  fi
  mkdir -p "$RUN/$name"
  python3 -c "
import hashlib
for i in range($n):
    print('0x' + (hashlib.sha256(b'$name%d' % i).digest() + hashlib.sha256(b'x$name%d' % i).digest())[:48].hex())
" >"$RUN/$name/keys.txt"
  python3 "$ROOT/testnets/local/pools_devnet.py" deploy --rpc "http://127.0.0.1:$PORT" --pubkeys "$RUN/$name/keys.txt" \
    --range "0..$(( n - 1 ))" --per-operator "$per" --out "$RUN/$name" >/dev/null
  show "$RUN/$name" "$n" "$proofs"
}
show() { # show DIR KEYS PROOFS: one `pool show`, its figures on one line
  local d=$1 n=$2 proofs=$3 extra=()
  [ "$proofs" = "reread" ] && { proofs=endpoint-head; extra=(--reread); }
  /usr/bin/time -f "%M" -o "$d/rss" "$POOLVC" pool show --datadir "$d" --json --proofs "$proofs" "${extra[@]}" \
    --beacon-node http://127.0.0.1:1 >"$d/show.json" 2>"$d/show.err"
  python3 - "$d" "$n" "$proofs" <<'PY'
import json, sys
d, n, proofs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = json.load(open(f"{d}/show.json"))
keys = sum(len(o["keys"]) for o in s["operators"])
assert keys == n, f"{keys} keys read, {n} deployed"
assert s["proven"] == (proofs != "none"), s["proven"]
rss = int(open(f"{d}/rss").read().split()[-1])
print(f"{n} {keys} {s['rpc_requests']} {s['rpc_calls']} {s['elapsed_ms']} {rss} {s['proofs'][0]} {s['proofs'][1]} {s['slots_reused']}")
PY
}
BASE="$(measure 4 base)"
BIG="$(measure $(( (KEYS + 6) / 7 )) big)"
PROVEN="$(measure $(( (KEYS + 6) / 7 )) big endpoint-head)"
AGAIN="$(measure $(( (KEYS + 6) / 7 )) big reread)"
python3 - "$BASE" "$BIG" "$PROVEN" "$AGAIN" <<'PY'
import sys
b, g, p, w = ([int(x) for x in a.split()] for a in sys.argv[1:5])
for name, r in (("baseline", b), ("key map", g), ("key map, proven", p), ("key map, proven again (nothing changed)", w)):
    print(f"pool_map: {name}: {r[1]} keys, {r[2]} JSON-RPC requests ({r[3]} calls), {r[4]} ms, "
          f"peak RSS {r[5] / 1024:.1f} MB" + (f", {r[6]} accounts and {r[7]} storage slots proven, {r[8]} reused"
                                              if r[6] else ""))
print(f"pool_map: {g[1]} keys vs {b[1]}: time x{g[4] / max(b[4], 1):.1f}, requests x{g[2] / b[2]:.1f}, "
      f"peak RSS +{(g[5] - b[5]) / 1024:.1f} MB ({(g[5] - b[5]) * 1024 / g[1]:.0f} bytes a key)")
print(f"pool_map: proven vs unproven, {g[1]} keys, same contracts and run: time x{p[4] / max(g[4], 1):.1f}, "
      f"requests x{p[2] / g[2]:.1f} ({p[2]} vs {g[2]}), peak RSS x{p[5] / g[5]:.2f}")
print(f"pool_map: proven again vs unproven (the client's refresh when nothing changed): time x{w[4] / max(g[4], 1):.1f}, "
      f"requests x{w[2] / g[2]:.1f} ({w[2]} vs {g[2]})")
PY
