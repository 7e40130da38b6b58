"""Checks an e2e run across the Gloas fork on specnode, from what the node's
own states, blocks, envelopes and pools say (not from poolvc's logs).

Usage: e2e_gloas_check.py BN FIRST LAST STOP_SLOT RESTART_SLOT FEE OTHER "BID_SLOTS" VC_LOG...

- attestations: for every epoch that is over and does not overlap the
  restart gap, each of poolvc's validators FIRST..LAST has participation
  flags in the node's state: included, and with the correct target;
- proposals: every slot outside the gap whose proposer is one of poolvc's
  has a canonical block from that proposer (published through the API)
  paying FEE: before Gloas its payload, from Gloas on its bid;
- envelopes: every self-built Gloas block of poolvc's has its envelope,
  taken by the node from poolvc (checked there as
  verify_execution_payload_envelope does; the replay checks it in pyspec);
- preferences: for every proposal of poolvc's in Gloas outside the gap, the
  node took proposer preferences from the proposer, for that slot, paying
  FEE, before the slot began;
- PTC: every PTC seat of poolvc's (slot outside the gap, its block and the
  next slot's block canonical) is carried by the next block's payload
  attestations;
- builder bids (BID_SLOTS: the first paying OTHER, the second the
  preferences): the first slot's block is self-built paying FEE, the second
  commits to the builder's bid paying FEE and its payload was revealed by
  the builder;
- sync committee >= 95%; the node's pools refused nothing poolvc sent;
  the chain is in Gloas and finalized MIN_FINALIZED; poolvc logged no panic.
The last line is the summary; exit 1 if a check fails.
"""
import os
import sys

from e2e_common import attestations, get, run_failures, sync_positions, timing_line, vc_refusals


def main():
    bn, first, last, stop, restart = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    fee, other = sys.argv[6].lower(), sys.argv[7].lower()
    bid_slots = [int(x) for x in sys.argv[8].split()]
    logs = sys.argv[9:]
    mine = set(range(first, last + 1))
    gap = range(stop, restart + 5)  # slots: stopped, starting again (keystores, duties)
    failures = []

    head = int(get(bn, "/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
    finalized = int(get(bn, "/eth/v1/beacon/states/head/finality_checkpoints")["data"]["finalized"]["epoch"])
    fork = get(bn, "/eth/v1/beacon/states/head/fork")["data"]["current_version"]
    spec = get(bn, "/eth/v1/config/spec")["data"]
    spe = int(spec["SLOTS_PER_EPOCH"])
    gloas_slot = int(spec["GLOAS_FORK_EPOCH"]) * spe
    slot_ms = int(spec.get("SLOT_DURATION_MS", int(spec.get("SECONDS_PER_SLOT", 12)) * 1000))
    min_finalized = int(os.environ.get("MIN_FINALIZED", "5"))
    timings = get(bn, "/specnode/timings")
    names = {spec["GLOAS_FORK_VERSION"]: "gloas", spec["FULU_FORK_VERSION"]: "fulu", spec["ELECTRA_FORK_VERSION"]: "electra"}
    fork_name = names.get(fork, fork)
    genesis_ms = int(get(bn, "/eth/v1/beacon/genesis")["data"]["genesis_time"]) * 1000

    # Attestations, from the participation flags the node's states hold.
    gap_epochs = set(range(gap.start // spe, (gap.stop - 1) // spe + 1))
    checked = [e for e in range(0, head // spe - 1) if e not in gap_epochs]
    x, t, y = attestations(bn, mine, checked, failures)

    # Proposals, envelopes, preferences, sync aggregates: slot by slot.
    slots = get(bn, f"/specnode/slots?from=1&to={head}")
    prefs = {}
    for p in get(bn, "/specnode/preferences"):
        prefs.setdefault((p["proposal_slot"], p["validator_index"]), []).append(p)
    duties = proposed = 0
    env_due = env_done = 0
    pref_due = pref_ok = 0
    sync_due = sync_done = 0
    for s in slots:
        slot = s["slot"]
        if slot in gap or slot - 1 in gap or s["expected_proposer"] is None:
            continue
        b = s["block"]
        v = s["expected_proposer"]
        if v in mine:
            duties += 1
            if b and b["proposer"] == v and b["by"] == "api":
                proposed += 1
                if b["fee_recipient"].lower() != fee:
                    failures.append(f"slot {slot}: block pays {b['fee_recipient']}, not {fee}")
                if slot >= gloas_slot and b["builder"] == "self":
                    env_due += 1
                    if b["envelope"] and b["envelope_by"] == "api":
                        env_done += 1
                    else:
                        failures.append(f"slot {slot}: poolvc's self-built block has no envelope from poolvc ({b['envelope_by']})")
            else:
                failures.append(f"slot {slot}: poolvc's proposer {v} has no canonical block")
            if slot >= gloas_slot:
                pref_due += 1
                start = genesis_ms + slot * slot_ms
                ok = [p for p in prefs.get((slot, v), []) if p["fee_recipient"].lower() == fee and p["at_ms"] < start]
                if ok:
                    pref_ok += 1
                else:
                    failures.append(f"slot {slot}: no preferences paying {fee} from validator {v} before the slot: {prefs.get((slot, v))}")
        if b and s["sync_committee"]:
            done, due = sync_positions(b, s["sync_committee"], mine)
            sync_done, sync_due = sync_done + done, sync_due + due
    sync = sync_done / sync_due if sync_due else 0.0

    # PTC seats of poolvc's keys, carried by the next block.
    ptc_due = ptc_in = 0
    for r in get(bn, f"/specnode/ptc?from={gloas_slot}&to={head}"):
        if r["slot"] in gap or r["slot"] + 1 in gap:
            continue
        for pos, m in enumerate(r["ptc"]):
            if m in mine:
                ptc_due += 1
                if r["included"][pos]:
                    ptc_in += 1
                else:
                    failures.append(f"slot {r['slot']}: poolvc's PTC seat {pos} (validator {m}) not carried by the next block")

    # The builder stand-in's bids.
    by_slot = {s["slot"]: s["block"] for s in slots}
    builder = "none"
    if len(bid_slots) == 2:
        refused_slot, taken_slot = bid_slots
        a, b = by_slot.get(refused_slot), by_slot.get(taken_slot)
        if not a or a["builder"] != "self" or a["fee_recipient"].lower() != fee:
            failures.append(f"slot {refused_slot}: the builder's bid paying {other} was not refused for a self-built block: {a}")
        if not b or b["builder"] == "self" or b["fee_recipient"].lower() != fee or b["envelope_by"] != "builder":
            failures.append(f"slot {taken_slot}: the builder's bid paying the preferences was not proposed and revealed: {b}")
        builder = f"refused@{refused_slot},taken@{taken_slot}"
    else:
        failures.append("the builder stand-in did not bid at two of poolvc's slots")

    from_vc, refused = vc_refusals(bn)
    refused_n = sum(from_vc.values())
    if refused_n:
        failures.append(f"the node refused {refused_n} of poolvc's messages: {from_vc}; recent: {refused['recent'][-5:]}")
    panics = [f for f in logs if "panicked" in open(f, encoding="utf-8", errors="replace").read()]
    if panics:
        failures.append(f"poolvc panicked (logs: {panics})")
    if fork_name != "gloas":
        failures.append(f"the head is in {fork_name}, not gloas")
    run_failures(failures, finalized, min_finalized, timings, slot_ms, (x, t, y), sync, (sync_done, sync_due))
    for what, done, due in (("proposals", proposed, duties), ("envelopes", env_done, env_due),
                            ("preferences", pref_ok, pref_due), ("PTC seats", ptc_in, ptc_due)):
        if due == 0 or done != due:
            failures.append(f"{what} {done}/{due}")

    for f in failures[:30]:
        print(f"e2e-gloas: FAIL {f}")
    print(f"e2e-gloas: head slot {head}, Gloas from slot {gloas_slot}, epochs checked {checked}, restart gap slots "
          f"{gap.start}..{gap.stop - 1}; builder bids {builder}; sync participation {sync:.3f}; node accepted "
          f"{refused['accepted']} {refused['gloas']}")
    print(timing_line("e2e-gloas", timings))
    print(f"e2e-gloas: fork={fork_name} finalized_epoch={finalized} attestations_included={x}/{y} target_correct={t}/{y} "
          f"ptc_included={ptc_in}/{ptc_due} preferences={pref_ok}/{pref_due} envelopes={env_done}/{env_due} "
          f"blocks_proposed={proposed}/{duties} refused={refused_n}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
