"""Checks an e2e run on specnode, from what the node's own states and blocks say
(not from poolvc's logs).

Usage: e2e_specnode_check.py BN FIRST LAST STOP_SLOT RESTART_SLOT FEE_RECIPIENT VC_LOG...

- attestations: for every epoch that is over (head epoch - 2 and before) and
  does not overlap the restart gap, each of poolvc's validators FIRST..LAST
  has participation flags in the node's state: included (any flag) and with
  the correct target (TIMELY_TARGET);
- proposals: every slot outside the gap whose proposer is one of poolvc's
  has a canonical block from that proposer, paying FEE_RECIPIENT;
- sync committee: in every block outside the gap, the positions held by
  poolvc's validators signed (>= 95%);
- the node's pools refused nothing poolvc sent;
- the chain finalized epoch 4 or later; poolvc logged no panic.
The last line is the summary; exit 1 if a check fails.
"""
import json
import os
import sys
import urllib.request

from e2e_common import attestations, get, run_failures, sync_positions, timing_line, vc_refusals


def main():
    bn, first, last, stop, restart, fee = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
        int(sys.argv[5]), sys.argv[6].lower()
    logs = sys.argv[7:]
    mine = set(range(first, last + 1))
    gap = range(stop, restart + 5)  # slots: stopped, starting again (keystores, duties)
    failures = []

    head = int(get(bn, "/eth/v1/beacon/headers/head")["data"]["header"]["message"]["slot"])
    fin = get(bn, "/eth/v1/beacon/states/head/finality_checkpoints")["data"]
    finalized = int(fin["finalized"]["epoch"])
    fork = get(bn, "/eth/v1/beacon/states/head/fork")["data"]["current_version"]
    spec = get(bn, "/eth/v1/config/spec")["data"]
    spe = int(spec["SLOTS_PER_EPOCH"])
    slot_ms = int(spec.get("SLOT_DURATION_MS", int(spec.get("SECONDS_PER_SLOT", 12)) * 1000))
    min_finalized = int(os.environ.get("MIN_FINALIZED", "4"))
    timings = get(bn, "/specnode/timings")
    fork_name = "fulu" if fork == spec["FULU_FORK_VERSION"] else "electra" if fork == spec["ELECTRA_FORK_VERSION"] else fork

    # Attestations, from the participation flags the node's states hold.
    gap_epochs = set(range(gap.start // spe, (gap.stop - 1) // spe + 1))
    checked = [e for e in range(0, head // spe - 1) if e not in gap_epochs]
    x, t, y = attestations(bn, mine, checked, failures)

    # Proposals and sync aggregates, slot by slot.
    slots = get(bn, f"/specnode/slots?from=1&to={head}")
    duties = proposed = 0
    sync_due = sync_done = 0
    for s in slots:
        slot = s["slot"]
        if slot in gap or slot - 1 in gap or s["expected_proposer"] is None:
            continue
        b = s["block"]
        if s["expected_proposer"] in mine:
            duties += 1
            if b and b["proposer"] == s["expected_proposer"] and b["by"] == "api":
                proposed += 1
                if b["fee_recipient"].lower() != fee:
                    failures.append(f"slot {slot}: block pays {b['fee_recipient']}, not {fee}")
            else:
                failures.append(f"slot {slot}: poolvc's proposer {s['expected_proposer']} has no canonical block")
        if b and s["sync_committee"]:
            done, due = sync_positions(b, s["sync_committee"], mine)
            sync_done, sync_due = sync_done + done, sync_due + due
    sync = sync_done / sync_due if sync_due else 0.0

    # Rewards for the last checked epoch, from the node's rewards route (Lodestar's
    # reward functions over its state): every one of poolvc's validators earned
    # its target reward.
    rewarded = 0
    if checked:
        e = checked[-1]
        body = json.dumps([str(v) for v in sorted(mine)]).encode()
        req = urllib.request.Request(f"{bn}/eth/v1/beacon/rewards/attestations/{e}", data=body,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            total = json.load(r)["data"]["total_rewards"]
        rewarded = sum(1 for t in total if int(t["validator_index"]) in mine and int(t["target"]) > 0)
        if rewarded != len(mine):
            failures.append(f"epoch {e}: {rewarded}/{len(mine)} of poolvc's validators earned a target reward")

    from_vc, refused = vc_refusals(bn)
    refused_n = sum(from_vc.values())
    if refused_n:
        failures.append(f"the node refused {refused_n} of poolvc's messages: {from_vc}; recent: {refused['recent'][-5:]}")

    panics = [f for f in logs if "panicked" in open(f, encoding="utf-8", errors="replace").read()]
    if panics:
        failures.append(f"poolvc panicked (logs: {panics})")
    run_failures(failures, finalized, min_finalized, timings, slot_ms, (x, t, y), sync, (sync_done, sync_due))
    if duties == 0 or proposed != duties:
        failures.append(f"proposals {proposed}/{duties}")

    for f in failures[:30]:
        print(f"e2e-specnode: FAIL {f}")
    print(f"e2e-specnode: head slot {head}, epochs checked {checked}, restart gap slots {gap.start}..{gap.stop - 1}; "
          f"node accepted {refused['accepted']}; target rewards in epoch {checked[-1] if checked else None}: "
          f"{rewarded}/{len(mine)}")
    print(timing_line("e2e-specnode", timings))
    print(f"e2e-specnode: fork={fork_name} finalized_epoch={finalized} attestations_included={x}/{y} "
          f"target_correct={t}/{y} blocks_proposed={proposed}/{duties} sync_participation={sync:.3f} refused={refused_n}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
