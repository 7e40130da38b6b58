#!/usr/bin/env bash
# The key map's cost: `poolvc pool show` reads seven operators' keys and
# rule facts from the devnet pool contracts on anvil, for KEYS keys (default
# 10,000: 1,429 per operator) and, in the same run, for 32 keys as the
# baseline. Prints JSON-RPC requests and calls, the time of the reads and the
# map (the snapshot's own clock), and the process's peak RSS.
#   benches/pool_map.sh [KEYS]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KEYS="${1:-10000}"
PORT="${ANVIL_PORT:-8675}"
RUN="$ROOT/target/pool_map"
(cd "$ROOT" && cargo build --release -q -p poolvc)
FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
(cd "$ROOT/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
rm -rf "$RUN" && mkdir -p "$RUN"
"$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "$PORT" --gas-limit 4000000000 --silent >"$RUN/anvil.log" 2>&1 &
ANVIL_PID=$!
trap 'kill $ANVIL_PID 2>/dev/null || true' EXIT
sleep 1
measure() { # measure PER_OPERATOR NAME
  local per=$1 name=$2 n=$(( 7 * $1 ))
  mkdir -p "$RUN/$name"
  python3 -c "
import hashlib
for i in range($n):
    print('0x' + (hashlib.sha256(b'$name%d' % i).digest() + hashlib.sha256(b'x$name%d' % i).digest())[:48].hex())
" >"$RUN/$name/keys.txt"
  python3 "$ROOT/testnets/local/pools_devnet.py" deploy --rpc "http://127.0.0.1:$PORT" --pubkeys "$RUN/$name/keys.txt" \
    --range "0..$(( n - 1 ))" --per-operator "$per" --out "$RUN/$name" >/dev/null
  /usr/bin/time -f "%M" -o "$RUN/$name/rss" "$ROOT/target/release/poolvc" pool show --datadir "$RUN/$name" --json \
    --beacon-node http://127.0.0.1:1 >"$RUN/$name/show.json" 2>"$RUN/$name/show.err"
  python3 - "$RUN/$name" "$n" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{d}/show.json"))
keys = sum(len(o["keys"]) for o in s["operators"])
assert keys == n, f"{keys} keys read, {n} deployed"
rss = int(open(f"{d}/rss").read().split()[-1])
print(f"{n} {keys} {s['rpc_requests']} {s['rpc_calls']} {s['elapsed_ms']} {rss}")
PY
}
BASE="$(measure 4 base)"
BIG="$(measure $(( (KEYS + 6) / 7 )) big)"
python3 - "$BASE" "$BIG" <<'PY'
import sys
b = [int(x) for x in sys.argv[1].split()]
g = [int(x) for x in sys.argv[2].split()]
for name, r in (("baseline", b), ("key map", g)):
    print(f"pool_map: {name}: {r[1]} keys, {r[2]} JSON-RPC requests ({r[3]} calls), {r[4]} ms, peak RSS {r[5] / 1024:.1f} MB")
print(f"pool_map: {g[1]} keys vs {b[1]}: time x{g[4] / max(b[4], 1):.1f}, requests x{g[2] / b[2]:.1f}, "
      f"peak RSS +{(g[5] - b[5]) / 1024:.1f} MB ({(g[5] - b[5]) * 1024 / g[1]:.0f} bytes a key)")
PY
