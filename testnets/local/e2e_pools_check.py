#!/usr/bin/env python3
"""Checks of the pools e2e (e2e-pools.sh), read back from specnode, anvil's
recorded heights and poolvc's log.

  e2e_pools_check.py BN RUN_DIR FLIP_BLOCK WRONG_SLOT GENESIS_TIME MODE:FROM:TO...

- every block poolvc proposed pays exactly its operator's rule, read from the
  canonical block's payload; the flipping Stader operator's blocks pay its
  vault while anvil is at or below FLIP_BLOCK + 96 and the socializing pool
  from a few blocks later (one slot and a read apart); each of the seven
  operators (the curated module v2's, read through kind `lido`, among them)
  proposed at least once; every duty of poolvc's has its block but
  WRONG_SLOT's, which poolvc refused (the node paid 0x…bad0), and those it
  refused inside a fault window because a recipient could not be known;
- the exit requests (validators 47 and 51) have an exit epoch on chain, and so
  has the one Lido made ten days before the chain began (RUN_DIR/old-exit:
  the validator and its block's time), which poolvc's log shows found and
  proven, at least 240 hours old; the
  exit request the lying endpoint forged (RUN_DIR/forged-exit) has none, and
  poolvc's log says it was not proven;
- during each fault window every one of poolvc's keys attested (participation
  flags of the epochs the window touches) and poolvc's log names the cause;
- the flipping operator's keys (builder blocks on): each key's first
  registration paying the socializing pool reached the node within a slot of
  poolvc's switch (its log), and none paying the vault after it;
- from Gloas on: each of poolvc's proposals had, before its slot, proposer
  preferences from its key paying what the block pays (its operator's rule),
  and its self-built payload's envelope from poolvc; the flipping operator's
  keys sent no preferences paying the vault after the switch, and some
  paying the socializing pool; at the slots where the builder stand-in bid
  0x…bad1 (RUN_DIR/builder-bids), keys with builder blocks on proposed a
  self-built block (the bid refused), and at least one did;
- `poolvc pool show --json` at the end lists every operator and key;
- the exit webhook received each proven request for a local key (47, 51
  and the old one) as Lido's validator-ejector posts it, and not the forged one;
- `poolvc pool presign-exits --encrypt-password-file` wrote one encrypted
  file per key, 0600, and one, opened by the ejector's own library
  (@chainsafe/bls-keystore 3.1.0), was accepted by the node;
- `poolvc pool presign-exits` wrote one file per key, all 0600, and the node accepted
  one of them (its signature checked under the EIP-7044 domain);
- every Stader key's presigned exit reached the backend stand-in
  (RUN_DIR/presigns.jsonl), decrypted with its key and verified there, after
  the stand-in refused the first upload and poolvc tried again;
- the Stader key penalised 1.8 ETH (RUN_DIR/penalised) is warned once, one
  missed-attestation strike from the forced exit at 2 ETH, and no other key.
"""
import bisect
import json
import os
import re
import sys

from e2e_common import get, vc_refusals

FAR = 2**64 - 1
CAUSES = {
    # Before the chain's first block there is no execution state to prove reads against.
    "genesis": "no head block with an execution payload",
    "down": "execution RPC http://127.0.0.1:",
    "garbage": "malformed answer to eth_getProof",
    "lie": "proof does not match",
    "chain": "is on chain 1, pools.yaml names chain 31337",
    "badfile": 'unknown pool kind "stader-permissionles"',
    # Both addresses named: the pin and the locator's vault.
    "badvault": "lido-curated: pools.yaml pins el_rewards_vault 0x1d0000000000000000000000000000000000bad2, "
                "but the chain names 0x1d00000000000000000000000000000000000001",
}
MARGIN = 4  # anvil blocks after FLIP + 96 within which either recipient is accepted


def main():
    bn, run, flip, wrong, genesis = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    faults = [(m, int(a), int(b)) for m, a, b in (f.split(":") for f in sys.argv[6:])]
    state = json.load(open(os.path.join(run, "vc", "pools-devnet.json")))
    log = re.sub(r"\x1b\[[0-9;]*m", "", open(os.path.join(run, "vc.log"), encoding="utf-8", errors="replace").read())
    spec = get(bn, "/eth/v1/config/spec")["data"]
    spe = int(spec["SLOTS_PER_EPOCH"])
    slot_s = int(spec.get("SLOT_DURATION_MS", int(spec.get("SECONDS_PER_SLOT", 12)) * 1000)) / 1000
    op_of = {i: name for name, o in state["operators"].items() for i in o["keys"]}
    mine = set(op_of)
    heights = []
    for line in open(os.path.join(run, "heights")):
        t, h = line.split()
        heights.append((float(t), int(h)))
    times = [t for t, _ in heights]

    def height_at(t):
        i = bisect.bisect_right(times, t) - 1
        return heights[i][1] if i >= 0 else None

    failures = []
    m = re.search(r"first_slot\D+(\d+)", log)
    first = int(m.group(1)) if m else 0
    head = int(get(bn, "/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
    slots = get(bn, f"/specnode/slots?from={max(first, 1)}&to={head}")
    per_op = {name: 0 for name in state["operators"]}
    wrong_proposer = None
    # Blocks poolvc refused because a recipient could not be known (fail
    # closed): allowed only inside a fault window.
    unknown_refusals = {int(m.group(1)) for m in re.finditer(
        r"refused: [^\n]*fee recipient is not known[^\n]*slot=(\d+)[^\n]*kind=\"block\"", log)}
    in_fault = lambda slot: any(a <= slot <= b for _, a, b in faults)
    closed = 0
    flip_op = state["operators"]["stader-out"]
    vault_in_window = pool_after = 0
    duties = proposed = 0
    wrong_refused = False
    gloas_slot = int(spec["GLOAS_FORK_EPOCH"]) * spe
    try:
        prefs = json.load(open(os.path.join(run, "preferences.json")))
    except (OSError, ValueError):
        prefs = []
    bids = {int(x) for x in open(os.path.join(run, "builder-bids")).read().split()} if os.path.exists(os.path.join(run, "builder-bids")) else set()
    builder_on = set(state["operators"]["stader-out"]["keys"]) | set(state["operators"]["lido-curated"]["keys"])
    pref_due = pref_ok = env_due = env_ok = bids_refused = 0
    for s in slots:
        slot, p, b = s["slot"], s["expected_proposer"], s["block"]
        if p not in mine:
            continue
        if slot == wrong:
            wrong_refused = not (b and b["proposer"] == p and b["by"] == "api")
            wrong_proposer = p
            continue
        duties += 1
        if not (b and b["proposer"] == p and b["by"] == "api"):
            if slot in unknown_refusals and in_fault(slot):
                closed += 1
                duties -= 1
                continue
            failures.append(f"slot {slot}: poolvc's proposer {p} ({op_of[p]}) has no canonical block")
            continue
        proposed += 1
        name = op_of[p]
        per_op[name] += 1
        pays = b["fee_recipient"].lower()
        if slot >= gloas_slot:
            start_ms = (genesis + slot * slot_s) * 1000
            sent = [x for x in prefs if x["proposal_slot"] == slot and x["validator_index"] == p and x["at_ms"] < start_ms]
            pref_due += 1
            if sent and sent[-1]["fee_recipient"].lower() == pays:
                pref_ok += 1
            else:
                failures.append(f"slot {slot}: the preferences before the slot ({[x['fee_recipient'] for x in sent]}) do not pay {pays}")
            if b["builder"] == "self":
                env_due += 1
                env_ok += 1 if b["envelope_by"] == "api" else 0
                if b["envelope_by"] != "api":
                    failures.append(f"slot {slot}: poolvc's self-built block has no envelope from poolvc")
            if slot in bids and p in builder_on:
                if b["builder"] == "self":
                    bids_refused += 1
                else:
                    failures.append(f"slot {slot}: the builder's bid paying 0x…bad1 was proposed")
        if name == "stader-out":
            h = height_at(genesis + slot * slot_s)
            vault, pool = flip_op["recipient"].lower(), flip_op["after_flip"].lower()
            if h is None:
                failures.append(f"slot {slot}: no anvil height recorded")
            elif h <= flip + 96:
                if pays != vault:
                    failures.append(f"slot {slot}: anvil at {h} <= {flip}+96 but the block pays {pays}, not the vault")
                elif h > flip:
                    vault_in_window += 1
            elif h >= flip + 96 + MARGIN:
                if pays != pool:
                    failures.append(f"slot {slot}: anvil at {h} > {flip}+96 but the block pays {pays}, not the pool")
                else:
                    pool_after += 1
            elif pays not in (vault, pool):
                failures.append(f"slot {slot}: the block pays {pays}")
        elif pays != state["operators"][name]["recipient"].lower():
            failures.append(f"slot {slot}: {name}'s block pays {pays}, not {state['operators'][name]['recipient']}")
    missing_ops = [n for n, c in per_op.items() if c == 0]
    if missing_ops:
        failures.append(f"operators with no block: {missing_ops}")
    if vault_in_window == 0 or pool_after == 0:
        failures.append(f"the flip is not shown: {vault_in_window} vault blocks inside the 96-block window, "
                        f"{pool_after} pool blocks after it")
    if wrong < 0:
        failures.append("no wrong-fee slot was set")
    elif not wrong_refused:
        failures.append(f"slot {wrong}: the node's wrong-fee block was signed")
    elif any(not get(bn, f"/specnode/participation/{e}")["flags"][wrong_proposer]
             for e in (wrong // spe, wrong // spe + 1)):
        failures.append(f"validator {wrong_proposer}, whose block was refused at slot {wrong}, stopped attesting")
    elif not re.search(r"refused: the message pays fee recipient 0x000000000000000000000000000000000000[bB][aA][dD]0", log):
        failures.append(f"slot {wrong}: no refusal naming the wrong recipient in poolvc's log")

    # Exits.
    vals = get(bn, "/eth/v1/beacon/states/head/validators?id=47&id=51&id=50&id=49")["data"]
    exited = {int(v["index"]): int(v["validator"]["exit_epoch"]) for v in vals}
    # EIP-7002: validator 50's full exit and validator 49's partial
    # withdrawal, requested from the execution layer: the chain acted on the
    # exit (49 stays), and poolvc told each as such, once.
    # From Gloas on, 0.5 ETH more of 49's, carried by the payload envelope
    # of its slot and processed by a later block (parent_execution_requests).
    el_requests = "FAIL"
    fulu_slot, gloas_slot = (int(x) for x in open(os.path.join(run, "el-requests-slot")).read().split())
    el_lines = [ln for ln in log.splitlines() if "requested from the execution layer (EIP-7002)" in ln]
    full = [ln for ln in el_lines if "validator 50: a full exit" in ln and "a triggered exit" in ln]
    part = [ln for ln in el_lines if "validator 49: a partial withdrawal of 1.000 ETH" in ln]
    later = [int(m.group(1)) for ln in el_lines if "validator 49: a partial withdrawal of 0.500 ETH" in ln
             for m in [re.search(r"in the block of slot (\d+)", ln)] if m]
    if exited.get(50, FAR) == FAR or exited.get(49, FAR) != FAR:
        failures.append(f"EIP-7002: the chain did not act on the requests as asked: exit epochs {exited}")
    elif len(full) != 1 or len(part) != 1 or any(f"in the block of slot {fulu_slot}" not in ln for ln in full + part):
        failures.append(f"EIP-7002: poolvc told {el_lines[:4]}")
    elif len(later) != 1 or later[0] <= gloas_slot or len(el_lines) != 3:
        failures.append(f"EIP-7002 from Gloas on (requested in slot {gloas_slot}'s payload): poolvc told {el_lines[:4]}")
    else:
        el_requests = "full_exit=1 partial=2 gloas_slot=%d" % later[0]
    exited.pop(49, None)
    exits_ok = sum(1 for i in (47, 51) if exited.get(i, FAR) != FAR)
    if exits_ok != 2:
        failures.append(f"exit epochs: {exited}")
    # The request made before poolvc's first read: found and acted on.
    old_ok = False
    try:
        old, old_at = (int(x) for x in open(os.path.join(run, "old-exit")).read().split())
        genesis = int(get(bn, "/eth/v1/beacon/genesis")["data"]["genesis_time"])
        v = get(bn, f"/eth/v1/beacon/states/head/validators?id={old}")["data"]
        found = [ln for ln in log.splitlines() if "exit requested (log proven)" in ln
                 and state["pubkeys"][str(old)].lower() in ln.lower()]
        age = re.search(r"age_h=Some\((\d+)\)", found[0]) if found else None
        if genesis - old_at < 10 * 86400:
            failures.append(f"validator {old}: the request's block is {genesis - old_at} s before genesis, not ten days")
        elif not v or int(v[0]["validator"]["exit_epoch"]) == FAR:
            failures.append(f"validator {old}, asked to exit ten days before the chain began, did not exit: {v}")
        elif not age or int(age.group(1)) < 240:
            failures.append(f"validator {old}: the request is not in poolvc's log as 240 hours old or more: {found[:1]}")
        else:
            old_ok = "ok(%dh)" % int(age.group(1))
            exits_ok += 1
            exited[old] = int(v[0]["validator"]["exit_epoch"])
    except (OSError, ValueError) as e:
        failures.append(f"the old exit request: {e}")
    forged = int(open(os.path.join(run, "forged-exit")).read()) if os.path.exists(os.path.join(run, "forged-exit")) else None
    forged_ok = False
    if forged is None:
        failures.append("no forged exit request was set")
    else:
        v = get(bn, f"/eth/v1/beacon/states/head/validators?id={forged}")["data"]
        if not v or int(v[0]["validator"]["exit_epoch"]) != FAR:
            failures.append(f"validator {forged} exited on a forged exit request: {v}")
        elif "an exit request the chain does not prove" not in log:
            failures.append(f"validator {forged}: poolvc's log does not say the forged request was not proven")
        else:
            forged_ok = True

    # Attestations during each fault, and the causes named.
    fault_lines = []
    for mode, a, b in faults:
        epochs = range(a // spe, (b - 1) // spe + 1)
        due = ok = 0
        for e in epochs:
            flags = get(bn, f"/specnode/participation/{e}")["flags"]
            for v in sorted(mine):
                if v in exited and exited[v] != FAR and e >= exited[v]:
                    continue
                due += 1
                ok += 1 if flags[v] else 0
        if ok != due:
            failures.append(f"fault {mode} (slots {a}..{b}): {ok}/{due} attestations included")
        named = CAUSES[mode].lower() in log.lower()
        if not named:
            failures.append(f"fault {mode}: poolvc's log does not name the cause ({CAUSES[mode]!r})")
        fault_lines.append(f"{mode} {ok}/{due}{'' if named else ' (cause not logged)'}")

    # Registrations follow the switch within a slot; the old one never again.
    reg_line = "missing"
    pref_flip = "missing"
    try:
        regs = json.load(open(os.path.join(run, "registrations.json")))
    except (OSError, ValueError):
        regs = []
    vault, pool = flip_op["recipient"].lower(), flip_op["after_flip"].lower()
    who = state["flip_operator"].lower()
    switch_ms = None
    for line in log.splitlines():
        low = line.lower()
        if f"operator {who}" in low and f"pays {pool}" in low:
            import datetime
            ts = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
            switch_ms = ts.timestamp() * 1000
            break
    if switch_ms is None:
        failures.append("poolvc's log does not show the flipping operator's switch to the socializing pool")
    else:
        lags = []
        for v in flip_op["keys"]:
            mine_regs = sorted((r for r in regs if r["validator_index"] == v), key=lambda r: r["at_ms"])
            first_new = next((r for r in mine_regs if r["fee_recipient"].lower() == pool), None)
            if not any(r["fee_recipient"].lower() == vault for r in mine_regs):
                failures.append(f"validator {v}: no registration paying the vault before the switch")
            if first_new is None:
                failures.append(f"validator {v}: no registration paying the socializing pool")
                continue
            lag = first_new["at_ms"] - switch_ms
            lags.append(lag)
            if lag > slot_s * 1000 + 500:
                failures.append(f"validator {v}: the new registration came {lag:.0f} ms after the switch (more than a slot)")
            late_old = [r for r in mine_regs if r["at_ms"] > first_new["at_ms"] and r["fee_recipient"].lower() == vault]
            if late_old:
                failures.append(f"validator {v}: {len(late_old)} registrations paying the vault after the switch")
        if lags:
            reg_line = f"max {max(lags):.0f} ms after the switch"
        # The same switch in the preferences (Gloas): none paying the vault after it.
        flip_prefs = [x for x in prefs if x["validator_index"] in flip_op["keys"]]
        late_vault = [x for x in flip_prefs if x["at_ms"] > switch_ms + slot_s * 1000 and x["fee_recipient"].lower() == vault]
        new_pool = [x for x in flip_prefs if x["at_ms"] > switch_ms and x["fee_recipient"].lower() == pool]
        if late_vault:
            failures.append(f"the flipping operator's keys sent {len(late_vault)} preferences paying the vault after the switch")
        if not new_pool:
            failures.append("no preferences paying the socializing pool after the flipping operator's switch")
        pref_flip = f"{len(new_pool)} paying the pool after the switch, {len(late_vault)} the vault"

    # pool show.
    try:
        show = json.load(open(os.path.join(run, "pool-show.json")))
        show_keys = sum(len(o["keys"]) for o in show["operators"])
        show_ok = (len(show["operators"]) == len(state["operators"]) and show_keys == len(op_of)
                   and all(o["recipient"] for o in show["operators"]))
    except (OSError, ValueError, KeyError) as e:
        show_ok, show_keys = False, f"unreadable ({e}; {open(os.path.join(run, 'pool-show.err')).read()[-300:]})"
    if not show_ok:
        failures.append(f"pool show: {show_keys}")

    # Pre-signed exits: one file per pool key, 0600, and the node accepted one.
    try:
        pre = dict(line.split(" ", 1) for line in open(os.path.join(run, "presign.txt")).read().splitlines())
        presign_ok = pre["encrypted_files"].strip() == str(len(op_of)) and pre["encrypted_modes"].strip() == "600" \
            and pre["encrypted_pbkdf2"].strip() == str(len(op_of)) and pre["ejector_opened_accepted"].strip() == "200" \
            and pre["files"].strip() == str(len(op_of)) and pre["modes"].strip() == "600" and pre["accepted"].strip() == "200"
    except (OSError, ValueError, KeyError) as e:
        pre, presign_ok = {"error": str(e)}, False
    if not presign_ok:
        failures.append(f"presign-exits: {pre}")

    # Stader's penalty state: the key penalised 1.8 ETH (RUN_DIR/penalised) is
    # warned, once, one strike from the forced exit at 2 ETH; no other key.
    penalty_ok = False
    try:
        state = json.load(open(os.path.join(run, "vc", "pools-devnet.json")))
        pen = state["pubkeys"][open(os.path.join(run, "penalised")).read().strip()].lower()
        lines = [ln for ln in log.splitlines() if "Stader penalty" in ln]
        warned = [m.group(1).lower() for ln in lines for m in [re.search(r"pubkey=(0x[0-9a-fA-F]{96})", ln)] if m]
        if warned != [pen] or "1.800 ETH of 2.000 ETH" not in lines[0] or "one missed-attestation strike" not in lines[0]:
            failures.append(f"Stader penalty: warned {warned}, want [{pen}] once, one strike from 2 ETH: {lines[:2]}")
        else:
            penalty_ok = True
    except (OSError, KeyError, ValueError) as e:
        failures.append(f"Stader penalty: {e}")

    # The CSM bond left 2 keys uncovered, and a smoothing-pool node's
    # minipool penalised 3 times: each warned, with its count and what it
    # costs (a count read part-way may be warned first).
    standing = "FAIL"
    try:
        bond = [ln for ln in log.splitlines() if "lido-csm operator 0:" in ln and "not covered by the bond" in ln]
        minipool = open(os.path.join(run, "penalised-minipool")).read().strip().lower()
        rp = [ln for ln in log.splitlines() if "pools: Rocket Pool minipool" in ln]
        rp_ok = bool(rp) and all(minipool in ln.lower() for ln in rp) and "3 fee-recipient penalties" in rp[-1] \
            and "counts the node a cheater" in rp[-1] and "registered in the smoothing pool" in rp[-1]
        bond_ok = len(bond) == 1 and "2 key(s)" in bond[0] and "4.000 ETH held, 5.400 ETH required" in bond[0] \
            and "add 1.400 ETH" in bond[0]
        if bond_ok and rp_ok:
            standing = "csm_unbonded=2 rocket_penalties=3"
        else:
            failures.append(f"standing: bond warned {bond[:2]}; Rocket Pool warned {rp[:3]} (minipool {minipool})")
    except (OSError, ValueError) as e:
        failures.append(f"standing: {e}")

    # The exit webhook: each proven request for a local key, in the ejector's shape.
    webhook = "FAIL"
    try:
        posts = [json.loads(ln) for ln in open(os.path.join(run, "webhook.jsonl")) if ln.strip()]
        old_v = int(open(os.path.join(run, "old-exit")).read().split()[0])
        want = {str(i): state["pubkeys"][str(i)].lower() for i in (47, 51, old_v)}
        got = {p["body"].get("validatorIndex"): str(p["body"].get("validatorPubkey", "")).lower() for p in posts}
        shape_ok = all(set(p["body"]) == {"validatorIndex", "validatorPubkey"} and p["content_type"] == "application/json"
                       for p in posts)
        if got != want or not shape_ok or (forged is not None and str(forged) in got):
            failures.append(f"exit webhook: got {got}, want {want} (shape ok: {shape_ok})")
        else:
            webhook = f"{len(got)}/3"
    except (OSError, ValueError, KeyError) as e:
        failures.append(f"exit webhook: {e}")

    # Stader's presigned exits: every Stader key held, verified, after a retry.
    presign_up = "FAIL"
    try:
        stader_keys = {state["pubkeys"][str(i)].lower().removeprefix("0x")
                       for n, o in state["operators"].items() if n.startswith("stader") for i in o["keys"]}
        rec = [json.loads(ln) for ln in open(os.path.join(run, "presigns.jsonl")) if ln.strip()]
        good = {r["pubkey"] for r in rec if r["verified"]}
        bad = [r for r in rec if not r["verified"]]
        retried = "presigned exits of" in log and "not uploaded" in log
        if good != stader_keys or bad or not retried:
            failures.append(f"Stader presign: {len(good & stader_keys)}/{len(stader_keys)} held, {len(good - stader_keys)} "
                            f"not Stader's, refused {bad[:2]}, retried after the 503: {retried}")
        else:
            presign_up = f"{len(good)}/{len(stader_keys)} retried=1"
    except (OSError, ValueError, KeyError) as e:
        failures.append(f"Stader presign: {e}")

    if pref_due == 0 or pref_ok != pref_due:
        failures.append(f"preferences {pref_ok}/{pref_due}")
    if env_due == 0 or env_ok != env_due:
        failures.append(f"envelopes {env_ok}/{env_due}")
    if bids_refused == 0:
        failures.append(f"no builder bid paying 0x…bad1 was refused (bids at slots {sorted(bids)})")
    elif "the node's block on a builder's bid was refused" not in log:
        failures.append("poolvc's log does not say it refused the builder's bid")

    from_vc, _ = vc_refusals(bn)
    if from_vc:
        failures.append(f"the node refused poolvc's messages: {from_vc}")
    if "panicked" in log:
        failures.append("poolvc panicked")

    for f in failures[:30]:
        print(f"e2e-pools: FAIL {f}")
    print(f"e2e-pools: head slot {head}, first slot {first}; flip at anvil block {flip}; wrong-fee slot {wrong}")
    print(f"e2e-pools: Gloas from slot {gloas_slot}: preferences={pref_ok}/{pref_due} envelopes={env_ok}/{env_due} "
          f"builder_bids_refused={bids_refused} (bids at {len(bids)} slots); flipping operator's preferences: {pref_flip}")
    print("e2e-pools: blocks=%d/%d closed_in_faults=%d per_operator=%s flip_vault_in_window=%d flip_pool_after=%d "
          "wrong_fee_refused=%d exits=%d/3 old_exit=%s forged_exit_refused=%d registrations=[%s] faults=[%s] pool_show=%s presign=%s "
          "stader_penalty_warned=%s stader_presign=%s exit_webhook=%s standing=%s el_requests=%s" % (
              proposed, duties, closed, ",".join(f"{k}:{v}" for k, v in per_op.items()), vault_in_window, pool_after,
              1 if wrong_refused else 0, exits_ok, old_ok or "FAIL", 1 if forged_ok else 0, reg_line, "; ".join(fault_lines), "ok" if show_ok else "FAIL",
              "ok" if presign_ok else "FAIL", "1/1" if penalty_ok else "FAIL", presign_up, webhook, standing, el_requests))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
