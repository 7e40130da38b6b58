#!/usr/bin/env bash
# Per-operator performance end-to-end: specnode (Electra, Fulu from epoch 2,
# minimal preset, 2 s slots; node keys 0..31) with anvil as its execution
# layer holding the devnet pool contracts (keys 32..63 over seven operators),
# and two poolvc processes:
#   A signs every pool key but the Lido CSM operator's (52..55) and keeps the
#     ledger through the node directly;
#   B signs the CSM operator's keys through a proxy that does not serve the
#     rewards routes (a node without them), and keeps its own ledger.
# Frames are 4 epochs (0..3, 4..7, 8..11, 12..15), read by both from a
# HashConsensus stand-in (pools.yaml names no frame length). A and B are the two
# registered reporters of a PoolPerformanceOracle on anvil (quorum 2); A also
# sends Stader missed-attestation penalties to a StaderOracle stand-in. A reads
# the chain through a fault proxy; B's reporter key starts without funds.
#   slot 64 (epoch 8):  B stops: the CSM keys go offline for epochs 8..10;
#   slot 83:            an empty slot (a node key's), via /specnode/miss_slot;
#   slot 88 (epoch 11): B starts again (its ledger catches up);
#   slot 107:           A restarts mid-frame 3;
#   slot 100:           B's reporter is funded (until then: "no funds");
#   slot 120 (epoch 15): just after the ledgers judged epoch 13, the blocks of
#                       slots 120 and 119 are orphaned (a reorg across the
#                       epoch boundary into epoch 13's window: the ledgers
#                       must judge epoch 13 again and replace it);
#   slots 116..136:     A's execution RPC is down (submissions fail, then
#                       go through);
#   the end:            frames 0..2 accepted at quorum on chain, and
#                       `poolvc pool verify` proves a CSM key's frame-2 leaf.
# Then: the node's blocks give the test its own ground truth, the chain is
# replayed in pyspec for the participation flags, and e2e_perf_check.py
# compares both ledgers, the reports, the warnings, the metrics, the HTTP
# route and the page's data. Last line: the summary; exit code non-zero if a
# check fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e-perf}"
PORT="${BN_PORT:-9640}"
NOREWARDS_PORT="${NOREWARDS_PORT:-9641}"
METRICS_PORT="${METRICS_PORT:-9642}"
ANVIL_PORT="${ANVIL_PORT:-8665}"
PROXY_PORT="${PROXY_PORT:-8666}"
BN="http://127.0.0.1:$PORT"
BN_NOREWARDS="http://127.0.0.1:$NOREWARDS_PORT"
ANVIL="http://127.0.0.1:$ANVIL_PORT"
PROXY="http://127.0.0.1:$PROXY_PORT"
SLOT_MS=2000
SPE=8
END_EPOCH=18
. "$HERE/poolvc-bin.sh"
SPECNODE="$("$ROOT/testnets/specnode/install.sh" | tail -n 1)"
FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
(cd "$ROOT/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
rm -rf "$RUN" && mkdir -p "$RUN"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# anvil first (mining each transaction at once while the contracts deploy);
# specnode then takes it as its execution layer (--el): one anvil block per
# slot, so the pool reads poolvc proves are against the beacon chain's state.
"$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "$ANVIL_PORT" --silent >"$RUN/anvil.log" 2>&1 &
PIDS+=($!)
# A node without the rewards routes: everything else passes through.
python3 - "$NOREWARDS_PORT" "$BN" <<'PY' >"$RUN/norewards.log" 2>&1 &
import http.server, sys, urllib.error, urllib.request
port, up = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def _go(self, method):
        if self.path.startswith("/eth/v1/beacon/rewards/"):
            body = b'{"code":404,"message":"rewards routes are not served by this node"}'
            self.send_response(404); self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body); return
        n = int(self.headers.get("content-length") or 0)
        data = self.rfile.read(n) if n else None
        req = urllib.request.Request(up + self.path, data=data, method=method,
                                     headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, headers, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        except Exception as e:
            self.send_response(502); self.end_headers(); self.wfile.write(str(e).encode()); return
        if "text/event-stream" in (headers.get("content-type") or ""):
            self.send_response(404); self.end_headers(); return
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive", "date", "server"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self): self._go("GET")
    def do_POST(self): self._go("POST")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
PIDS+=($!)
echo ok >"$RUN/rpc-mode"
python3 "$HERE/rpc_fault_proxy.py" --listen "$PROXY_PORT" --upstream "$ANVIL" --mode-file "$RUN/rpc-mode" \
  >"$RUN/proxy.log" 2>&1 &
PIDS+=($!)
wait_until() { local deadline=$(( $(date +%s) + $1 )); shift; until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.5; done; }
wait_until 30 curl -sf -X POST -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$ANVIL" -o /dev/null \
  || { echo "e2e-perf: anvil did not start"; exit 1; }
"$POOLVC" keys interop --range 32..63 --out "$RUN/a" --kdf pbkdf2 >/dev/null
"$POOLVC" keys interop --range 52..55 --out "$RUN/b" --kdf pbkdf2 >/dev/null
python3 "$HERE/pools_devnet.py" deploy --rpc "$ANVIL" --definitions "$RUN/a/validators/validator_definitions.yml" --range 32..63 --out "$RUN/a"
echo "reporter-a-password" >"$RUN/a/reporter.pass"
echo "reporter-b-password" >"$RUN/b/reporter.pass"
REP_A="$("$POOLVC" pool reporter-key --out "$RUN/a/reporter.json" --password-file "$RUN/a/reporter.pass")"
REP_B="$("$POOLVC" pool reporter-key --out "$RUN/b/reporter.json" --password-file "$RUN/b/reporter.pass")"
read -r ORACLE STADER_ORACLE <<<"$(python3 "$HERE/pools_devnet.py" deploy-oracle --rpc "$ANVIL" --reporters "$REP_A,$REP_B")"
# Only A is a Stader oracle member (the stand-in takes one report per index).
python3 "$HERE/pools_devnet.py" deploy-oracle --rpc "$ANVIL" --reporters "$REP_A" >"$RUN/stader-oracle.txt"
STADER_ORACLE="$(cut -d' ' -f2 "$RUN/stader-oracle.txt")"
python3 "$HERE/pools_devnet.py" fund --rpc "$ANVIL" --to "$REP_A" --wei 10000000000000000000 >/dev/null
# Validator 55, the CSM operator's last key, is a consolidated (0x02) key of
# 64 ETH: Lido's oracle numbers it first among the operator's keys.
SPECNODE_KEEP_STATES=512 node "$SPECNODE/specnode.mjs" --datadir "$RUN/bn" --port "$PORT" --own 0..31 --preset minimal --fulu-epoch 2 \
  --slot-ms "$SLOT_MS" --genesis-delay 20 --el "$ANVIL" --compounding 55=64 >"$RUN/bn.log" 2>&1 &
BN_PID=$!
PIDS+=($BN_PID)
wait_until 30 curl -sf "$BN/eth/v1/node/version" -o /dev/null || { echo "e2e-perf: the node did not start"; tail "$RUN/bn.log"; exit 1; }
echo "e2e-perf: reporters A $REP_A (funded), B $REP_B (not yet); oracle $ORACLE, Stader oracle $STADER_ORACLE"
perf_section() { cat <<YAML
performance:
  hash_consensus: "$2"
  strikes:
    contract: "$3"
    tree_source: "$RUN/strikes"
  leeway_bp: [[1, 300]]
  stader_window_epochs: 4
  stader_max_missed: 1
  report:
    contract: "$ORACLE"
    keystore: $1/reporter.json
    password_file: $1/reporter.pass
YAML
}
cp "$RUN/a/pools.yaml" "$RUN/b/pools.yaml"
CONSENSUS="$(python3 -c "import json; print(json.load(open('$RUN/a/pools-devnet.json'))['contracts']['hash_consensus'])")"
STRIKES="$(python3 -c "import json; print(json.load(open('$RUN/a/pools-devnet.json'))['contracts']['strikes'])")"
# CSM's published strikes: the first CSM key one strike from ejection on the
# ICS curve (3 of 4) before poolvc ever ran, the second with one.
read -r CSM0 CSM1 <<<"$(python3 -c "import json; k=json.load(open('$RUN/a/pools-devnet.json'))['operators']['lido-csm']['keys']; print(k[0], k[1])")"
python3 "$HERE/pools_devnet.py" strikes-tree --rpc "$ANVIL" --state "$RUN/a/pools-devnet.json" --out "$RUN/strikes" \
  --key "$CSM0:1,1,1,0,0,0" --key "$CSM1:1,0,0,0,0,0" >"$RUN/strikes.txt"
echo "$CSM0" >"$RUN/strike-key.txt"
perf_section "$RUN/a" "$CONSENSUS" "$STRIKES" >>"$RUN/a/pools.yaml"
echo "    stader_oracle: \"$STADER_ORACLE\"" >>"$RUN/a/pools.yaml"
perf_section "$RUN/b" "$CONSENSUS" "$STRIKES" >>"$RUN/b/pools.yaml"
# A reads the execution chain through the fault proxy.
sed -i "s|^rpc: .*|rpc: $PROXY|" "$RUN/a/pools.yaml"
# A does not sign the CSM operator's keys (B does).
python3 - "$RUN/a/validators/validator_definitions.yml" "$RUN/a/pools-devnet.json" <<'PY'
import json, sys
path, state = sys.argv[1], json.load(open(sys.argv[2]))
csm = {state["pubkeys"][str(i)].lower() for i in state["operators"]["lido-csm"]["keys"]}
lines, cur = open(path).read().split("\n"), None
out = []
for line in lines:
    out.append(line)
for i, line in enumerate(out):
    if line.strip().startswith("voting_public_key:") and line.split(":", 1)[1].strip().strip("'\"").lower() in csm:
        j = i
        while not out[j].lstrip().startswith("- enabled:") and not out[j].lstrip().startswith("enabled:"):
            j -= 1
        out[j] = out[j].replace("true", "false")
open(path, "w").write("\n".join(out))
PY
[ "$(grep -c 'enabled: false' "$RUN/a/validators/validator_definitions.yml")" = 4 ] \
  || { echo "e2e-perf: could not disable the CSM keys in A"; exit 1; }
FEE=0x00000000000000000000000000000000000000aa
start_a() {
  "$POOLVC" vc --beacon-nodes "$BN" --datadir "$RUN/a" --init-slashing-protection --metrics --metrics-port "$METRICS_PORT" \
    --suggested-fee-recipient "$FEE" >>"$RUN/a-$1.log" 2>&1 &
  A_PID=$!
  PIDS+=($A_PID)
}
start_b() {
  "$POOLVC" vc --beacon-nodes "$BN_NOREWARDS" --datadir "$RUN/b" --init-slashing-protection \
    --suggested-fee-recipient "$FEE" >>"$RUN/b-$1.log" 2>&1 &
  B_PID=$!
  PIDS+=($B_PID)
}
start_a 1
start_b 1
GENESIS="$(python3 -c "import json; print(json.load(open('$RUN/bn/chain.json'))['genesis_time'])")"
at_slot() { python3 -c "import time; t=$GENESIS+$1*$SLOT_MS/1000; d=t-time.time(); time.sleep(max(0,d))"; }
echo "e2e-perf: specnode $BN, anvil $ANVIL, poolvc A $A_PID, B $B_PID (through $BN_NOREWARDS); genesis $GENESIS"
at_slot 64
kill -TERM "$B_PID"; wait "$B_PID" || true
echo "e2e-perf: B (the CSM operator's keys) stopped at slot 64"
# An empty slot whose proposer is a node key, in frame 2 (epoch 10's
# duties are served from epoch 9 on).
at_slot 73
MISS="$(curl -sf "$BN/eth/v1/validator/duties/proposer/10" | python3 -c "
import json, sys
d = [int(x['slot']) for x in json.load(sys.stdin)['data'] if int(x['validator_index']) < 32 and int(x['slot']) > 81]
print(d[0] if d else -1)")"
[ "$MISS" -ge 0 ] && curl -sf -X POST "$BN/specnode/miss_slot/$MISS" -o /dev/null
echo "e2e-perf: slot $MISS kept empty"
at_slot 88
start_b 2
echo "e2e-perf: B started again at slot 88"
at_slot 100
python3 "$HERE/pools_devnet.py" fund --rpc "$ANVIL" --to "$REP_B" --wei 10000000000000000000 >/dev/null
echo "e2e-perf: B's reporter funded at slot 100"
at_slot 107
python3 -c "import time; time.sleep(1.2)"  # after its attestations of slot 107
kill -TERM "$A_PID"; wait "$A_PID" || true
start_a 2
echo "e2e-perf: A restarted at slot 107"
at_slot 116
echo down >"$RUN/rpc-mode"
at_slot 120
python3 -c "import time; time.sleep(1.3)"
REORG="$(curl -sf -X POST "$BN/specnode/orphan_head" || echo '{}') $(curl -sf -X POST "$BN/specnode/orphan_head" || echo '{}')"
echo "e2e-perf: reorg across the epoch-15 boundary: $REORG"
at_slot 136
echo ok >"$RUN/rpc-mode"
echo "e2e-perf: A's execution RPC down from slot 116 to 136"
at_slot $(( END_EPOCH * SPE + 4 ))
# The ledgers judge epoch 15 a quarter into slot 136; wait for both.
export RUN
last_epoch() { python3 -c "
import os, sqlite3, sys
try:
    c = sqlite3.connect('file:' + os.environ['RUN'] + '/' + sys.argv[1] + '/performance.sqlite?mode=ro', uri=True)
    print(c.execute('SELECT MAX(epoch) FROM perf_epoch').fetchone()[0] or 0)
except Exception:
    print(0)" "$1"; }
wait_until 40 bash -c "[ \$($(declare -f last_epoch); last_epoch a) -ge 15 ] && [ \$($(declare -f last_epoch); last_epoch b) -ge 15 ]" \
  || echo "e2e-perf: the ledgers did not reach epoch 15 in time"
# Frame 2 accepted at quorum, and a CSM key's leaf proven on chain.
ONE="$(python3 -c "import json; print(json.load(open('$RUN/a/pools-devnet.json'))['pubkeys']['52'])")"
wait_until 60 "$POOLVC" pool verify --datadir "$RUN/a" --frame 2 --validator "$ONE" >"$RUN/verify.json" 2>"$RUN/verify.err" \
  || echo "e2e-perf: frame 2 not accepted and proven in time"
"$POOLVC" pool verify --datadir "$RUN/a" --frame 2 --validator "$ONE" >"$RUN/verify.json" 2>"$RUN/verify.err" || true
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$RUN/metrics.txt" || true
PAGE="$(python3 "$HERE/e2e_perf_page.py" "http://127.0.0.1:$METRICS_PORT/pool/" "$RUN" 2>&1)" || PAGE_RC=$?
echo "$PAGE" >"$RUN/page.txt"
curl -s "http://127.0.0.1:$METRICS_PORT/pool/v1/operators/0/performance?frame=2&pool=lido-csm" >"$RUN/route-csm-2.json" || true
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/pool/v1/operators/0/performance?frame=2" >"$RUN/route-ambiguous.code" || true
curl -s "http://127.0.0.1:$METRICS_PORT/pool/v1/summary?frames=4" >"$RUN/summary.json" || true
curl -s "http://127.0.0.1:$METRICS_PORT/pool/" >"$RUN/page.html" || true
kill -TERM "$A_PID" "$B_PID"; wait "$A_PID" || true; wait "$B_PID" || true
for f in 0 1 2 3; do
  "$POOLVC" pool report --datadir "$RUN/a" --frame $f --json >"$RUN/report-a-$f.json" 2>"$RUN/report-a-$f.err" || true
  "$POOLVC" pool report --datadir "$RUN/b" --frame $f --json >"$RUN/report-b-$f.json" 2>"$RUN/report-b-$f.err" || true
done
"$POOLVC" pool report --datadir "$RUN/a" --frame 2 >"$RUN/report-a-2.txt" 2>&1 || true
python3 "$HERE/e2e_perf_check.py" chain "$ANVIL" "$RUN" "$ORACLE" "$REP_A" "$REP_B" "$STADER_ORACLE"
python3 "$HERE/e2e_perf_check.py" truth "$BN" "$RUN" 0 15
kill -TERM "$BN_PID"; wait "$BN_PID" 2>/dev/null || true
rc=0
REPLAY="$("$SPECNODE/.pyspec/bin/python" "$SPECNODE/replay.py" "$RUN/bn" --flags "$RUN/flags.json" 2>&1)" || rc=1
echo "$REPLAY" | grep -v '^pyspec_roots=' || true
[ "${PAGE_RC:-0}" = 1 ] && rc=1
SUMMARY="$(python3 "$HERE/e2e_perf_check.py" check "$RUN" "$GENESIS" "$SLOT_MS" "$SPE" "$MISS")" || rc=$?
echo "$SUMMARY" | sed '$d'
echo "$PAGE" | sed '$d'
echo "$(echo "$SUMMARY" | tail -n 1) $(echo "$PAGE" | tail -n 1) $(echo "$REPLAY" | tail -n 1)"
exit $rc
