#!/usr/bin/env bash
# Pool awareness end-to-end: specnode (Electra, Fulu from epoch 2, Gloas
# (ePBS) from epoch 4, minimal preset, 2 s slots, SHARD_COMMITTEE_PERIOD=1
# so that exits are possible)
# with anvil as its execution layer (one anvil block per slot, paying the
# proposer's fee recipient) holding the devnet pool contracts, and poolvc with keys
# 32..67 split over eight operators (Stader permissionless in and out,
# Stader permissioned, Lido curated, CSM and curated module v2 (an entry of
# kind `lido`: the module's type read from it), Rocket Pool in and out of the
# smoothing pool), reading the contracts through a fault-injecting proxy.
#   ten days before the beacon chain begins (anvil's clock): Lido asks the
#              curated module v2's validator 64 to exit; poolvc must find the
#              request in its look back over past blocks, prove its block by
#              parent hashes from the first payloads (no beacon block commits
#              to it) and exit the key once it may;
#   epoch 2:   the opted-out Stader operator opts in (its blocks must move to
#              the socializing pool only after 96 anvil blocks; its keys use
#              builder blocks, and their registrations must follow within a
#              slot of the switch, the old recipient never registered after);
#   epoch 3:   Lido asks validator 51 to exit, Stader validator 47
#              (poolvc runs with --pool-auto-exit); the node is told to pay
#              a wrong recipient in one of poolvc's proposals of epoch 4;
#   from epoch 5, mid-epoch to mid-epoch: the RPC down, garbage proofs, a
#              lying endpoint (forged proofs and call answers, a forged Lido
#              exit request for a local key), another chain id, one epoch
#              each; then a pools.yaml
#              with an unknown pool kind over an epoch start, then one whose
#              Lido entry pins a vault the LidoLocator contradicts;
#   from Gloas on: proposals' fee recipients travel in signed proposer
#              preferences (the switch of the flipping operator, 96 blocks
#              after its opt-in, falls in Gloas); once the builder stand-in
#              is active it bids at every one of poolvc's proposals paying
#              0x…bad1, which keys with builder blocks on must refuse;
#   throughout: the Stader entries register their keys' presigned exits with
#              a stand-in of Stader's backend (RSA-OAEP to its key; it
#              decrypts with openssl and verifies in pyspec), which refuses
#              the first upload (poolvc must try again);
#   exit requests are also posted to a webhook (Lido validator-ejector's
#              webhook mode), which records them;
#   at the end: `poolvc pool show`, and `poolvc pool presign-exits`, plain and
#              encrypted for Lido's validator-ejector (the node must accept
#              one plain file, and one encrypted file once opened by the
#              ejector's own library).
# Everything is then read back from the node and checked (e2e_pools_check.py);
# the last line is the summary, the exit code non-zero if a check fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${RUN_DIR:-$HERE/.run/e2e-pools}"
PORT="${BN_PORT:-9630}"
ANVIL_PORT="${ANVIL_PORT:-8655}"
PROXY_PORT="${PROXY_PORT:-8656}"
PRESIGN_PORT="${PRESIGN_PORT:-8657}"
WEBHOOK_PORT="${WEBHOOK_PORT:-8658}"
END_EPOCH="${END_EPOCH:-20}"
BN="http://127.0.0.1:$PORT"
ANVIL="http://127.0.0.1:$ANVIL_PORT"
PROXY="http://127.0.0.1:$PROXY_PORT"
SLOT_MS=2000
SPE=8
. "$HERE/poolvc-bin.sh"
SPECNODE="$("$ROOT/testnets/specnode/install.sh" | tail -n 1)"
FOUNDRY="$("$ROOT/contracts/tools/install.sh" | tail -n 1)"
(cd "$ROOT/contracts" && "$FOUNDRY/forge-linux-amd64/bin/forge" build --offline -q)
rm -rf "$RUN" && mkdir -p "$RUN"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# anvil first, mining each transaction at once while the pools deploy; then
# specnode takes it as its execution layer (--el): anvil's latest block is the
# genesis payload, and from then on anvil mines one block per slot, for the
# slot's proposer, so every payload's state root is the pool contracts' state.
# anvil's clock starts ten days and an hour back: the pools deploy, and Lido
# asks for an exit, ten days before the beacon chain begins.
"$FOUNDRY/anvil-linux-amd64/bin/anvil" --port "$ANVIL_PORT" --silent --timestamp "$(( $(date +%s) - 10 * 86400 - 3600 ))" \
  >"$RUN/anvil.log" 2>&1 &
PIDS+=($!)
echo ok >"$RUN/rpc-mode"
python3 "$HERE/rpc_fault_proxy.py" --listen "$PROXY_PORT" --upstream "$ANVIL" --mode-file "$RUN/rpc-mode" \
  >"$RUN/proxy.log" 2>&1 &
PIDS+=($!)
wait_until() { local deadline=$(( $(date +%s) + $1 )); shift; until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.5; done; }
wait_until 30 curl -sf -X POST -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$ANVIL" -o /dev/null \
  || { echo "e2e-pools: anvil did not start"; exit 1; }
"$POOLVC" keys interop --range 32..67 --out "$RUN/vc" --kdf pbkdf2 >/dev/null
# Stader's presign key pair (the stand-in holds the private half).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$RUN/stader-presign.key" 2>/dev/null
openssl pkey -in "$RUN/stader-presign.key" -pubout -out "$RUN/stader-presign.pem"
python3 "$HERE/pools_devnet.py" deploy --rpc "$ANVIL" --definitions "$RUN/vc/validators/validator_definitions.yml" --range 32..67 \
  --cmv2 4 --stader-presign "http://127.0.0.1:$PRESIGN_PORT,$RUN/stader-presign.pem" --out "$RUN/vc"
CAST="$FOUNDRY/cast-linux-amd64/bin/cast"
# A Lido exit request ten days old when the chain begins (anvil's clock),
# before any beacon block: the curated module v2's validator 64. poolvc must
# find it by looking back once its reads exist, prove its block from the
# first payloads down by parent hashes (no beacon block commits to it), and
# exit the key once it may (activation + SHARD_COMMITTEE_PERIOD).
OLD_EXIT=64
python3 "$HERE/pools_devnet.py" exit-lido --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" --index "$OLD_EXIT" >"$RUN/old-exit-block"
echo "$OLD_EXIT $("$CAST" block "$(cat "$RUN/old-exit-block")" -r "$ANVIL" -f timestamp)" >"$RUN/old-exit"
echo "e2e-pools: Lido asked validator $OLD_EXIT to exit in anvil block $(cat "$RUN/old-exit-block") ($(cat "$RUN/old-exit"))"
node "$SPECNODE/specnode.mjs" --datadir "$RUN/bn" --port "$PORT" --validators 68 --own 0..31 --preset minimal --fulu-epoch 2 --gloas-epoch 4 \
  --slot-ms "$SLOT_MS" --genesis-delay 14 --config SHARD_COMMITTEE_PERIOD=1 --el "$ANVIL" \
  --compounding 49=34 --compounding 50=33 >"$RUN/bn.log" 2>&1 &
PIDS+=($!)
wait_until 30 curl -sf "$BN/eth/v1/node/version" -o /dev/null || { echo "e2e-pools: the node did not start"; tail "$RUN/bn.log"; exit 1; }
"$SPECNODE/.pyspec/bin/python" "$HERE/stader_presign_standin.py" --port "$PRESIGN_PORT" --key "$RUN/stader-presign.key" \
  --pub "$RUN/stader-presign.pem" --bn "$BN" --refuse-first 1 --out "$RUN/presigns.jsonl" >"$RUN/presign-standin.log" 2>&1 &
PIDS+=($!)
wait_until 60 grep -q listening "$RUN/presign-standin.log" || { echo "e2e-pools: the presign stand-in did not start"; cat "$RUN/presign-standin.log"; exit 1; }
sed -i "s|^rpc: .*|rpc: $PROXY|" "$RUN/vc/pools.yaml"
# anvil's height over time, for the 96-block check.
python3 - "$ANVIL" "$RUN/heights" <<'EOF' &
import json, sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
with open(out, "w") as f:
    while True:
        try:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                f.write(f"{time.time():.3f} {int(json.load(r)['result'], 16)}\n")
                f.flush()
        except Exception:
            pass
        time.sleep(0.2)
EOF
PIDS+=($!)
# The flipping Stader operator's keys ask for builder blocks: their builder
# registrations must follow its opt-in switch within a slot. Lido curated's
# keys too: more of poolvc's proposals see the builder's bids from Gloas on.
python3 - "$RUN/vc/validators/validator_definitions.yml" "$RUN/vc/pools-devnet.json" <<'EOF'
import json, sys
path, s = sys.argv[1], json.load(open(sys.argv[2]))
flip = {s["pubkeys"][str(i)].lower() for o in ("stader-out", "lido-curated") for i in s["operators"][o]["keys"]}
out = []
for line in open(path).read().splitlines():
    out.append(line)
    if line.strip().startswith("voting_public_key:") and line.split(":", 1)[1].strip().lower() in flip:
        out.append("  builder_proposals: true")
open(path, "w").write("\n".join(out) + "\n")
EOF
GENESIS="$(python3 -c "import json; print(json.load(open('$RUN/bn/chain.json'))['genesis_time'])")"
at_slot() { python3 -c "import time; t=$GENESIS+$1*$SLOT_MS/1000; d=t-time.time(); time.sleep(max(0,d))"; }
# The exit webhook: records each POST (one JSON line), answers 200.
python3 - "$WEBHOOK_PORT" "$RUN/webhook.jsonl" <<'EOF' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                "body": json.loads(body)}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
PIDS+=($!)
touch "$RUN/webhook.jsonl"
"$POOLVC" vc --beacon-nodes "$BN" --datadir "$RUN/vc" --init-slashing-protection --pool-auto-exit \
  --pool-exit-webhook "http://127.0.0.1:$WEBHOOK_PORT/exit" \
  --suggested-fee-recipient 0x00000000000000000000000000000000000000aa >"$RUN/vc.log" 2>&1 &
VC_PID=$!
PIDS+=($VC_PID)

# From the builder stand-in's activation on: a bid paying 0x…bad1 at each of
# poolvc's proposals of this epoch and the next (RUN/builder-bids: the slots).
python3 - "$BN" "$RUN/builder-bids" <<'EOF' &
import json, sys, time, urllib.request
bn, out = sys.argv[1], sys.argv[2]
get = lambda p: json.load(urllib.request.urlopen(bn + p, timeout=10))
done = set()
while True:
    try:
        if get("/specnode/builder")["active"]:
            head = int(get("/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
            for epoch in (head // 8, head // 8 + 1):
                for d in get(f"/eth/v1/validator/duties/proposer/{epoch}")["data"]:
                    slot, v = int(d["slot"]), int(d["validator_index"])
                    if 32 <= v <= 67 and slot > head + 1 and slot not in done:
                        urllib.request.urlopen(urllib.request.Request(
                            f"{bn}/specnode/builder_bid/{slot}?pays=0x000000000000000000000000000000000000bad1", method="POST"), timeout=10)
                        done.add(slot)
                        with open(out, "a") as f:
                            f.write(f"{slot}\n")
    except Exception:
        pass
    time.sleep(4)
EOF
PIDS+=($!)
echo "e2e-pools: specnode $BN, anvil $ANVIL behind the proxy $PROXY, poolvc $VC_PID; genesis $GENESIS"

at_slot $(( 2 * SPE ))
# EIP-7002 requests from the execution layer in the block of slot 2*SPE+3
# (Fulu), from each key's own withdrawal address (0x02 credentials): a full
# exit of curated validator 50, and 1 ETH of curated validator 49's 34 ETH.
for req in "50 0" "49 1000000000"; do
  read -r IDX AMOUNT <<<"$req"
  PK="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['pubkeys']['$IDX'])")"
  curl -sf -X POST "$BN/specnode/withdrawal_request/$(( 2 * SPE + 3 ))?pubkey=$PK&amount=$AMOUNT" -o /dev/null \
    || { echo "e2e-pools: the node took no withdrawal request for $IDX"; exit 1; }
done
# And one from Gloas on (epoch 4): 0.5 ETH more of validator 49's, in the
# payload of slot 4*SPE+3; the envelope carries it, the next block processes
# it (its parent_execution_requests).
PK49="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['pubkeys']['49'])")"
curl -sf -X POST "$BN/specnode/withdrawal_request/$(( 4 * SPE + 3 ))?pubkey=$PK49&amount=500000000" -o /dev/null \
  || { echo "e2e-pools: the node took no Gloas withdrawal request for 49"; exit 1; }
echo "$(( 2 * SPE + 3 )) $(( 4 * SPE + 3 ))" >"$RUN/el-requests-slot"
FLIP="$(python3 "$HERE/pools_devnet.py" flip --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json")"
echo "e2e-pools: the opted-out Stader operator opted in at anvil block $FLIP"
at_slot $(( 3 * SPE ))
python3 "$HERE/pools_devnet.py" exit-lido --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" --index 51 >/dev/null
python3 "$HERE/pools_devnet.py" exit-stader --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" --index 47 >/dev/null
# A Stader key penalised 1.8 ETH: one missed-attestation strike (0.2 ETH) from
# the forced exit at 2 ETH, which poolvc must warn about.
PENALISED="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['operators']['stader-in']['keys'][0])")"
python3 "$HERE/pools_devnet.py" stader-penalty --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" \
  --index "$PENALISED" --wei 1800000000000000000 >/dev/null
echo "$PENALISED" >"$RUN/penalised"
# The CSM operator's bond falls to 4 ETH (its 4 keys need 5.4 ETH on the ICS
# curve: 2 keys uncovered), and the oDAO penalises a smoothing-pool node's
# minipool 3 times: poolvc must warn about both.
python3 "$HERE/pools_devnet.py" csm-bond --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" \
  --wei 4000000000000000000 >/dev/null
RP_KEY="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['operators']['rocket-sp']['keys'][1])")"
python3 "$HERE/pools_devnet.py" rocket-penalty --rpc "$ANVIL" --state "$RUN/vc/pools-devnet.json" \
  --index "$RP_KEY" --count 3 >"$RUN/penalised-minipool"
# One of poolvc's proposals of epoch 4 (not the flipping operator's): the node pays 0x…bad0.
WRONG="$(curl -sf "$BN/eth/v1/validator/duties/proposer/4" | python3 -c "
import json, sys
s = json.load(open('$RUN/vc/pools-devnet.json'))
skip = set(s['operators']['stader-out']['keys']) | {47, 51, 64}
d = [int(x['slot']) for x in json.load(sys.stdin)['data'] if 32 <= int(x['validator_index']) <= 67 and int(x['validator_index']) not in skip]
print(d[0] if d else -1)")"
[ "$WRONG" -ge 0 ] && curl -sf -X POST "$BN/specnode/wrong_fee/$WRONG" -o /dev/null
echo "e2e-pools: exit requests for 51 (Lido) and 47 (Stader); the node pays a wrong recipient at slot $WRONG"
# Before the chain's first block no read can be proven: poolvc's proposals
# there are refused (fail closed), like those inside a fault.
FAULTS="genesis:1:$SPE"
# What the lying endpoint forges: Lido's exit request for one of the CSM
# operator's keys (validator FORGED), in the last block of every logs query.
FORGED="$(python3 -c "import json; s=json.load(open('$RUN/vc/pools-devnet.json')); print([i for i in s['operators']['lido-csm']['keys'] if i != 51][0])")"
echo "$FORGED" >"$RUN/forged-exit"
python3 - "$RUN/vc/pools-devnet.json" "$FORGED" "$("$CAST" keccak "ValidatorExitRequest(uint256,uint256,uint256,bytes,uint256)")" \
  "$("$CAST" abi-encode "f(bytes,uint256)" "$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['pubkeys']['$FORGED'])")" 1)" \
  >"$RUN/rpc-mode.forge" <<'EOF'
import json, sys
s, v, sig, data = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3], sys.argv[4]
o = s["operators"]["lido-csm"]
word = lambda n: "0x%064x" % n
print(json.dumps([{"address": s["contracts"]["exit_bus"], "topics": [sig, word(o["module_id"]), word(o.get("operator_id", 0)), word(v)],
                   "data": data}]))
EOF
E=5
for mode in down garbage lie chain; do
  at_slot $(( E * SPE + 4 ))
  echo "$mode" >"$RUN/rpc-mode"
  FAULTS="$FAULTS $mode:$(( E * SPE + 4 )):$(( (E + 1) * SPE + 4 ))"
  E=$(( E + 1 ))
done
at_slot $(( E * SPE + 4 ))
echo ok >"$RUN/rpc-mode"
# A bad pools.yaml (an unknown pool kind) for an epoch start, then the good one again.
cp "$RUN/vc/pools.yaml" "$RUN/pools.yaml.good"
sed -i '0,/kind: stader-permissionless/s//kind: stader-permissionles/' "$RUN/vc/pools.yaml"
FAULTS="$FAULTS badfile:$(( E * SPE + 4 )):$(( (E + 2) * SPE ))"
at_slot $(( (E + 1) * SPE + 4 ))
cp "$RUN/pools.yaml.good" "$RUN/vc/pools.yaml"
# Then the Lido curated entry pinning a wrong EL rewards vault (a typo, or
# another network's) over an epoch start: the chain's vault (read from the
# locator) contradicts it, so that entry's keys must not propose, and the log
# must name both addresses.
at_slot $(( (E + 2) * SPE + 4 ))
sed -i 's|el_rewards_vault: 0x1d00000000000000000000000000000000000001|el_rewards_vault: 0x1d0000000000000000000000000000000000bad2|' "$RUN/vc/pools.yaml"
grep -q "el_rewards_vault: 0x1d0000000000000000000000000000000000bad2" "$RUN/vc/pools.yaml" \
  || { echo "e2e-pools: the devnet's pools.yaml pins no vault to break"; exit 1; }
FAULTS="$FAULTS badvault:$(( (E + 2) * SPE + 4 )):$(( (E + 4) * SPE ))"
at_slot $(( (E + 3) * SPE + 4 ))
cp "$RUN/pools.yaml.good" "$RUN/vc/pools.yaml"
echo "e2e-pools: faults (mode:from_slot:to_slot):$FAULTS"
at_slot $(( END_EPOCH * SPE + 2 ))
"$POOLVC" pool show --datadir "$RUN/vc" --beacon-node "$BN" --json >"$RUN/pool-show.json" 2>"$RUN/pool-show.err" || true
# Pre-signed exits for every pool key; the node must accept one (it checks the
# signature under the EIP-7044 domain), and the files must be 0600.
"$POOLVC" pool presign-exits --datadir "$RUN/vc" --beacon-node "$BN" --out "$RUN/exits" >"$RUN/presign.log" 2>&1 || true
ONE="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['pubkeys']['33'])").json"
# The same, encrypted as Lido's validator-ejector reads them (MESSAGES_PASSWORD_FILE),
# one opened by the ejector's own library and handed to the node.
printf 'ejector password\n' >"$RUN/ejector-password"
"$POOLVC" pool presign-exits --datadir "$RUN/vc" --beacon-node "$BN" --out "$RUN/exits-enc" \
  --encrypt-password-file "$RUN/ejector-password" >>"$RUN/presign.log" 2>&1 || true
EJECTOR="$("$HERE/ejector/install.sh" | tail -n 1)"
TWO="$(python3 -c "import json; print(json.load(open('$RUN/vc/pools-devnet.json'))['pubkeys']['34'])").json"
node "$EJECTOR/open-message.mjs" "$RUN/exits-enc/$TWO" "$RUN/ejector-password" >"$RUN/exit-opened.json" 2>>"$RUN/presign.log" || true
{
  echo "files $(ls "$RUN/exits" 2>/dev/null | wc -l)"
  echo "modes $(stat -c %a "$RUN"/exits/* 2>/dev/null | sort -u | tr '\n' ' ')"
  echo "accepted $(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data @"$RUN/exits/$ONE" "$BN/eth/v1/beacon/pool/voluntary_exits")"
  echo "encrypted_files $(ls "$RUN/exits-enc" 2>/dev/null | wc -l)"
  echo "encrypted_modes $(stat -c %a "$RUN"/exits-enc/* 2>/dev/null | sort -u | tr '\n' ' ')"
  echo "encrypted_pbkdf2 $(grep -l '"pbkdf2"' "$RUN"/exits-enc/* 2>/dev/null | wc -l)"
  echo "ejector_opened_accepted $(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data @"$RUN/exit-opened.json" "$BN/eth/v1/beacon/pool/voluntary_exits")"
} >"$RUN/presign.txt"
curl -sf "$BN/specnode/registrations" >"$RUN/registrations.json" || echo "[]" >"$RUN/registrations.json"
curl -sf "$BN/specnode/preferences" >"$RUN/preferences.json" || echo "[]" >"$RUN/preferences.json"
touch "$RUN/builder-bids"
kill -TERM "$VC_PID"; wait "$VC_PID" || true
python3 "$HERE/e2e_pools_check.py" "$BN" "$RUN" "$FLIP" "$WRONG" "$GENESIS" $FAULTS
