"""Checks a devnet run against the beacon node's own API (not poolvc's logs):
finality, poolvc's validators' balances, their canonical blocks, their
attestations and sync-committee messages included on chain, no slashings.
Duties come from the node's own duties API, recorded during the run by
e2e_duties.py (this node's committees endpoint does not report slots right).
Usage: e2e_check.py BN_URL FIRST LAST BALANCES_BEFORE.json RESTART_EPOCH DUTIES_DIR POOLVC_LOG..."""
import glob
import os
import json
import sys
import urllib.error
import urllib.request

bn, first, last, before_file, restart_epoch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
duties_dir = sys.argv[6]
logs = sys.argv[7:]
ours = set(range(first, last + 1))
failures = []


def get(path, missing=(404,)):
    try:
        with urllib.request.urlopen(bn + path, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        if e.code in missing:
            return None
        raise


def first_answer(paths):
    """The first path the node can answer (a non-archive node keeps few old states)."""
    for p in paths:
        r = get(p, missing=(400, 404, 500))
        if r is not None:
            return r
    return None


def bits(hexstr, bitlist):
    b = bytes.fromhex(hexstr[2:])
    out = [(b[i // 8] >> (i % 8)) & 1 for i in range(len(b) * 8)]
    if bitlist:  # drop the length marker
        n = max(i for i, v in enumerate(out) if v)
        out = out[:n]
    return out


spec = get("/eth/v1/config/spec")["data"]
spe = int(spec["SLOTS_PER_EPOCH"])
fin = get("/eth/v1/beacon/states/head/finality_checkpoints")["data"]
finalized = int(fin["finalized"]["epoch"])
head_slot = int(get("/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
head_epoch = head_slot // spe

# Who sits where, from the recorded duties: (slot, committee, position) -> validator.
position = {}
checked_epochs = set()
for f in glob.glob(os.path.join(duties_dir, "attester-*.json")):
    e = int(os.path.basename(f)[len("attester-"):-len(".json")])
    checked_epochs.add(e)
    for d in json.load(open(f))["data"]:
        position[(int(d["slot"]), int(d["committee_index"]), int(d["validator_committee_index"]))] = int(d["validator_index"])
sync_pos = {}  # epoch -> positions of ours in the sync committee
for f in glob.glob(os.path.join(duties_dir, "sync-*.json")):
    e = int(os.path.basename(f)[len("sync-"):-len(".json")])
    sync_pos[e] = [int(p) for d in json.load(open(f))["data"] for p in d["validator_sync_committee_indices"]]

included = set()
blocks_ours = 0
sync_set = sync_total = 0
slashings = 0
for slot in range(1, head_slot + 1):
    blk = get(f"/eth/v2/beacon/blocks/{slot}")
    if blk is None:
        continue
    msg = blk["data"]["message"]
    if int(msg["proposer_index"]) in ours:
        blocks_ours += 1
    body = msg["body"]
    slashings += len(body.get("attester_slashings", [])) + len(body.get("proposer_slashings", []))
    for att in body["attestations"]:
        d = att["data"]
        for pos, bit in enumerate(bits(att["aggregation_bits"], True)):
            v = position.get((int(d["slot"]), int(d["index"]), pos))
            if bit and v is not None:
                included.add((v, int(d["target"]["epoch"])))
    # A block's sync aggregate signs the previous slot's head.
    ours_pos = sync_pos.get(max(slot - 1, 0) // spe) if "sync_aggregate" in body else None
    if ours_pos:
        sb = bits(body["sync_aggregate"]["sync_committee_bits"], False)
        for pos in ours_pos:
            if pos < len(sb):
                sync_total += 1
                sync_set += sb[pos]

# Attestations expected: every poolvc validator, every epoch from 1 to the
# last epoch whose attestations had time to be included, outside the restart gap.
# Not from the epoch poolvc was stopped in (E2E_STOP_EPOCH, set by e2e.sh):
# the node's chain goes on while the check runs, poolvc's duties do not.
last_epoch = min(head_epoch - 2, int(os.environ.get("E2E_STOP_EPOCH", head_epoch)) - 1)
gap = {restart_epoch, restart_epoch + 1} if restart_epoch > 0 else set()
expected = {(v, int(s) // spe) for (s, _, _), v in position.items()}
expected = {(v, e) for (v, e) in expected if 1 <= e <= last_epoch and e not in gap}
x = len(included & expected)
y = len(expected)
after = {(v, e) for (v, e) in expected if e > restart_epoch + 1}
x_after = len(included & after)

before = {int(b["index"]): int(b["balance"]) for b in json.load(open(before_file))["data"] if int(b["index"]) in ours}
# (this node ignores the id filter of validator_balances: filter here)
now = [b for b in get("/eth/v1/beacon/states/head/validator_balances")["data"] if int(b["index"]) in ours]
gain = sum(int(b["balance"]) - before[int(b["index"])] for b in now)

refusals = 0
for log in logs:
    for line in open(log, errors="replace"):
        if "refused: " in line:
            refusals += 1

sync_part = sync_set / sync_total if sync_total else 0.0
if len([e for e in checked_epochs if 1 <= e <= last_epoch]) < 3:
    failures.append(f"duties were recorded for only epochs {sorted(checked_epochs)}")
if finalized < 3:
    failures.append(f"finalized epoch {finalized} < 3")
if gain <= 0:
    failures.append(f"poolvc validators' balances did not rise (total change {gain} gwei)")
if blocks_ours == 0:
    failures.append("no canonical block by poolvc validators")
if y == 0 or x / y < 0.9:
    failures.append(f"attestations included {x}/{y} < 90%")
if after and x_after / len(after) < 0.9:
    failures.append(f"after the restart only {x_after}/{len(after)} attestations included")
slot_of = {(v, int(s) // spe): int(s) for (s, _, _), v in position.items()}
missed = sorted((e, slot_of.get((v, e)), v) for (v, e) in expected - included)
if missed:
    print("e2e: not included (epoch, slot, validator): " + ", ".join(map(str, missed[:40])))
if sync_total and sync_part < 0.8:
    failures.append(f"sync participation {sync_part:.2f} < 0.80")
if slashings:
    failures.append(f"{slashings} slashings on chain")
if refusals:
    failures.append(f"{refusals} slashing refusals in poolvc logs")
for f in failures:
    print("e2e: FAIL:", f)
print(f"e2e: finalized_epoch={finalized} attestations_included={x}/{y} blocks_proposed={blocks_ours} "
      f"sync_participation={sync_part:.2f} refusals={refusals}")
sys.exit(1 if failures else 0)
