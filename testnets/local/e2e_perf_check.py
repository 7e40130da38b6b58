"""Checks of e2e-perf.sh.

`truth BN RUN FIRST LAST`: the test's own ground truth, computed here from
the node's canonical blocks (not from poolvc): per epoch, per validator
32..63, attestation duties assigned / included (a bit set in a canonical
block of the epoch or the next), proposals assigned / made, sync duties in
slots with a block / with the bit set. Written to RUN/truth.json.

`chain ANVIL RUN ORACLE REPORTER_A REPORTER_B STADER_ORACLE`: what the
reporting contracts hold (accepted hashes, votes, the reporters' nonces),
written to RUN/chain.json.

`check RUN GENESIS SLOT_MS SPE MISS_SLOT`: compares both poolvc ledgers with
the truth, the attestation flags with the pyspec replay's participation
flags, and checks the frame reports, the warnings, the metrics, the HTTP
route and the page's data. Prints problems, then one summary line; exits 1
if any check failed.
"""
import json
import sqlite3
import sys
import urllib.error
import urllib.request

LO, HI = 32, 63
CSM = set(range(52, 56))


def get(bn, path):
    try:
        with urllib.request.urlopen(bn + path, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def bits(hexstr):
    b = bytes.fromhex(hexstr[2:])
    return [(b[i // 8] >> (i % 8)) & 1 for i in range(len(b) * 8)]


def bitlist(hexstr):
    v = bits(hexstr)
    n = max(i for i, x in enumerate(v) if x)  # the delimiter
    return v[:n]


def truth(bn, run, first, last):
    spe = int(get(bn, "/eth/v1/config/spec")["data"]["SLOTS_PER_EPOCH"])
    blocks = {}
    for slot in range(first * spe, (last + 2) * spe):
        b = get(bn, f"/eth/v2/beacon/blocks/{slot}")
        if b is not None:
            blocks[slot] = b["data"]["message"]
    out = {}
    for e in range(first, last + 1):
        committees = {(int(c["slot"]), int(c["index"])): [int(v) for v in c["validators"]]
                      for c in get(bn, f"/eth/v1/beacon/states/{e * spe}/committees?epoch={e}")["data"]}
        counts = {v: [0, 0, 0, 0, 0, 0] for v in range(LO, HI + 1)}
        for members in committees.values():
            for v in members:
                if v in counts:
                    counts[v][0] += 1
        included = set()
        for slot in range(e * spe, (e + 2) * spe):
            b = blocks.get(slot)
            if not b:
                continue
            for a in b["body"]["attestations"]:
                aslot = int(a["data"]["slot"])
                if not e * spe <= aslot < (e + 1) * spe:
                    continue
                cb = bits(a["committee_bits"]) if "committee_bits" in a else None
                idx = [i for i, x in enumerate(cb) if x] if cb is not None else [int(a["data"]["index"])]
                agg = bitlist(a["aggregation_bits"])
                off = 0
                for ci in idx:
                    members = committees[(aslot, ci)]
                    for k, v in enumerate(members):
                        if agg[off + k]:
                            included.add(v)
                    off += len(members)
        for v in included:
            if v in counts:
                counts[v][1] = 1
        for d in get(bn, f"/eth/v1/validator/duties/proposer/{e}")["data"]:
            v, slot = int(d["validator_index"]), int(d["slot"])
            if v in counts and slot > 0:
                counts[v][2] += 1
                b = blocks.get(slot)
                if b and int(b["proposer_index"]) == v:
                    counts[v][3] += 1
        sync = get(bn, f"/eth/v1/beacon/states/{e * spe}/sync_committees?epoch={e}")
        members = [int(v) for v in sync["data"]["validators"]] if sync else []
        for slot in range(e * spe, (e + 1) * spe):
            b = blocks.get(slot)
            if not b:
                continue
            sb = bits(b["body"]["sync_aggregate"]["sync_committee_bits"])
            for pos, v in enumerate(members):
                if v in counts:
                    counts[v][4] += 1
                    counts[v][5] += sb[pos]
        out[e] = counts
    json.dump({"spe": spe, "epochs": out, "empty_slots": [s for s in range(first * spe, (last + 2) * spe)
                                                         if s not in blocks and s > 0]},
              open(f"{run}/truth.json", "w"))


def chain(url, run, oracle, rep_a, rep_b, stader):
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    import pools_devnet
    pools_devnet.CAST = pools_devnet.cast_bin()
    eth = pools_devnet.rpc
    sel = lambda sig: pools_devnet.encode(sig)[:10]
    call = lambda to, data: eth(url, "eth_call", [{"to": to, "data": data}, "latest"])
    word = lambda n: format(n, "064x")
    out = {"frames": {}}
    out["quorum"] = int(call(oracle, sel("quorum()")), 16)
    for f in range(3):
        h = call(oracle, sel("acceptedHash(uint256)") + word(f))
        votes = int(call(oracle, sel("votes(uint256,bytes32)") + word(f) + h[2:]), 16)
        by = {who: call(oracle, sel("submitted(uint256,address)") + word(f) + "0" * 24 + addr[2:].lower())
              for who, addr in (("a", rep_a), ("b", rep_b))}
        out["frames"][f] = {"accepted": h, "votes": votes, "submitted": by}
    out["nonce"] = {who: int(eth(url, "eth_getTransactionCount", [addr, "latest"]), 16)
                    for who, addr in (("a", rep_a), ("b", rep_b))}
    out["stader_index"] = int(call(stader, sel("lastReportedMAPDIndex()")), 16)
    json.dump(out, open(f"{run}/chain.json", "w"), indent=1)


def ledger(run, who):
    c = sqlite3.connect(f"file:{run}/{who}/performance.sqlite?mode=ro", uri=True)
    rows = {}
    for r in c.execute("SELECT epoch, validator, att_assigned, att_included, prop_assigned, prop_made, sync_assigned,"
                       " sync_included, att_source, att_target, att_head, own FROM perf_validator"):
        rows[(r[0], r[1])] = r[2:]
    epochs = {r[0]: r[1] for r in c.execute("SELECT epoch, rewards FROM perf_epoch")}
    warnings = list(c.execute("SELECT frame, validator, epoch, at, text FROM perf_warning"))
    return rows, epochs, warnings


def check(run, genesis, slot_ms, spe, miss):
    problems = []
    t = json.load(open(f"{run}/truth.json"))
    truth_e = {int(e): {int(v): c for v, c in vs.items()} for e, vs in t["epochs"].items()}
    summary = {}
    for who in ("a", "b"):
        rows, epochs, _ = ledger(run, who)
        good = total = 0
        for e, vs in truth_e.items():
            for v, c in vs.items():
                total += 1
                got = rows.get((e, v))
                if got is None:
                    problems.append(f"ledger {who}: no row for epoch {e} validator {v}")
                elif list(got[:6]) != c:
                    problems.append(f"ledger {who}: epoch {e} validator {v}: {list(got[:6])} != truth {c}")
                else:
                    good += 1
        summary[f"ledger_{who}"] = f"{good}/{total}"
        summary[f"rewards_{who}"] = f"{sum(1 for e in truth_e if epochs.get(e))}/{len(truth_e)}"
    if summary["rewards_a"] != f"{len(truth_e)}/{len(truth_e)}":
        problems.append(f"ledger a: rewards served for {summary['rewards_a']} epochs (the node serves them)")
    if not summary["rewards_b"].startswith("0/"):
        problems.append(f"ledger b: rewards for {summary['rewards_b']} epochs through a node without the routes")
    # Attestation flags against pyspec.
    flags = {int(e): f for e, f in json.load(open(f"{run}/flags.json")).items()}
    rows, _, warnings = ledger(run, "a")
    fgood = ftotal = 0
    for e, f in flags.items():
        if e not in truth_e:
            continue
        for v in range(LO, HI + 1):
            r = rows.get((e, v))
            if r is None:
                continue
            ftotal += 1
            want = (f[v] & 1, (f[v] >> 1) & 1, (f[v] >> 2) & 1)
            if tuple(r[6:9]) == want:
                fgood += 1
            else:
                problems.append(f"epoch {e} validator {v}: ledger flags (source, target, head) {tuple(r[6:9])} != pyspec {want}")
    summary["flags"] = f"{fgood}/{ftotal}"
    if ftotal < 10 * (HI - LO + 1):
        problems.append(f"pyspec flags compared for only {ftotal} (epoch, validator) pairs")
    # Frame 2: the CSM operator below, nobody else; the same in both ledgers' reports.
    rep = {}
    for who in ("a", "b"):
        for f in range(4):
            try:
                rep[(who, f)] = json.load(open(f"{run}/report-{who}-{f}.json"))
            except (OSError, ValueError) as e:
                problems.append(f"report {who} frame {f}: {e}")
    r2 = rep.get(("a", 2))
    below = {}
    if r2:
        if not r2["complete"]:
            problems.append("frame 2 is not complete in A's report")
        for name, o in r2["operators"].items():
            below[name] = o["keys_below"]
        if below.get("lido-csm/0") != 4:
            problems.append(f"frame 2: the CSM operator has {below.get('lido-csm/0')} keys below threshold, want 4")
        others = {n: b for n, b in below.items() if n != "lido-csm/0" and b}
        if others:
            problems.append(f"frame 2: other operators below threshold: {others}")
        csm = r2["operators"].get("lido-csm/0", {})
        summary["csm_frame2"] = f"perf={csm.get('performance', 0):.3f}<thr={min(k['threshold'] for k in csm['validators'].values() if k['threshold'] is not None):.3f}" if csm else "missing"
        summary["network_frame2"] = f"{r2['network_performance']:.3f}"
        # Each Lido operator judged by its own curve's parameters, read from
        # the parameters registry: the CSM operator on the ICS curve (500 bp
        # of leeway, 4 strikes), the curated one by the defaults (300 bp, 3);
        # both against the network's performance at the default weights.
        net = r2["network_performance"] or 0.0
        curves = []
        for name, want_curve, leeway, strikes in (("lido-csm/0", 2, 0.05, 4), ("lido-curated/0", None, 0.03, 3)):
            o = r2["operators"].get(name)
            if not o:
                problems.append(f"frame 2: no {name} in the report")
                continue
            thr = sorted({round(k["threshold"], 9) for k in o["validators"].values() if k["threshold"] is not None})
            want = [round(max(net - leeway, 0.0), 9)]
            if o.get("curve_id") != want_curve or o.get("strike_threshold") != strikes or thr != want:
                problems.append(f"frame 2: {name}: curve {o.get('curve_id')}, strikes {o.get('strike_threshold')}, "
                                f"thresholds {thr}; want curve {want_curve}, {strikes} strikes, {want}")
            curves.append(f"{name}:curve={o.get('curve_id')},thr={thr[0] if thr else None}")
        summary["curves_frame2"] = " ".join(curves)
        # Key numbers as Lido's oracle gives them (distribution.py): by
        # effective balance, capped at 2,048 ETH, descending, then index; the
        # 64-ETH 0x02 key 55 first, though its index is the highest.
        if csm:
            got = {int(i): (k.get("key_number"), k.get("effective_balance_gwei")) for i, k in csm["validators"].items()}
            want = {55: (1, 64_000_000_000), 52: (2, 32_000_000_000), 53: (3, 32_000_000_000), 54: (4, 32_000_000_000)}
            if got != want:
                problems.append(f"frame 2: the CSM keys' numbers and balances {got}, want {want}")
            summary["numbered_frame2"] = ",".join(f"v{i}:#{n}@{eb // 10**9}" for i, (n, eb) in sorted(got.items(), key=lambda x: x[1][0] or 0))
    for f in range(4):
        a, b = rep.get(("a", f)), rep.get(("b", f))
        if a and b:
            strip = lambda r: {n: {i: (k["attestation_duty"], k["proposal_duty"], k["sync_duty"]) for i, k in o["validators"].items()}
                               for n, o in r["operators"].items()}
            if strip(a) != strip(b):
                problems.append(f"frame {f}: A's and B's reports differ")
    summary["reports_a_eq_b"] = "4/4" if not any("reports differ" in p for p in problems) else "no"
    # Warnings: each CSM key warned in frame 2 before the frame ended; no other key.
    end2 = genesis + 12 * spe * slot_ms / 1000
    w2 = {v: (e, at) for f, v, e, at, _ in warnings if f == 2}
    early = [v for v, (e, at) in w2.items() if v in CSM and at < end2]
    if sorted(early) != sorted(CSM):
        problems.append(f"frame 2: CSM keys warned before the frame's end: {sorted(early)} (warnings {w2})")
    stray = sorted(v for v in w2 if v not in CSM)
    if stray:
        problems.append(f"frame 2: keys warned that were online: {stray}")
    # Never in the first epochs after a start (frames::WARMUP_EPOCHS = 2):
    # A starts at genesis (epoch 0) and again at slot 107 (epoch 13), so
    # nothing it judged as epoch 0, 12 or 13 is warned.
    restart = 107 // spe
    warm = sorted((f, v, e) for f, v, e, at, _ in warnings if e == 0 or restart - 1 <= e <= restart)
    if warm:
        problems.append(f"warnings in the first epochs after a start (frame, validator, epoch): {warm}")
    # CSM's published strikes: the key the tree gives 3 of its curve's 4
    # strikes is warned one strike from ejection before frame 2 (A never saw
    # those strikes itself); the key with 1 is not warned for strikes.
    strike_key = int(open(f"{run}/strike-key.txt").read())
    tree_warned = sorted((f, v) for f, v, e, at, text in warnings if "published strikes tree" in text)
    if not any(f < 2 and v == strike_key for f, v in tree_warned) or any(v != strike_key for _, v in tree_warned):
        problems.append(f"strikes tree: warnings {tree_warned}, want validator {strike_key} warned before frame 2, no other")
    summary["strikes_tree_warned"] = ",".join(f"f{f}:v{v}" for f, v in tree_warned)
    lead = min((end2 - at for v, (e, at) in w2.items() if v in CSM), default=0)
    summary["warned"] = f"{len(early)}/4_at_least_{lead:.0f}s_before_end"
    log = "".join(open(f"{run}/{n}").read() for n in ("a-1.log", "a-2.log"))
    if "projected below their threshold" not in log:
        problems.append("A's log has no early-warning line")
    # Metrics, route, page data.
    m = open(f"{run}/metrics.txt").read()
    need = ["poolvc_perf_operator_performance{", "poolvc_perf_operator_keys_at_risk{", "poolvc_perf_network_performance"]
    missing = [n for n in need if n not in m]
    last = __import__("re").search(r"^poolvc_perf_last_epoch (\d+)", m, __import__("re").M)
    if not last or int(last.group(1)) < 15:
        missing.append("poolvc_perf_last_epoch >= 15")
    if missing or 'pool="lido-csm"' not in m:
        problems.append(f"metrics: missing {missing or 'the lido-csm label'}")
    summary["metrics"] = "ok" if not missing else "missing"
    try:
        route = json.load(open(f"{run}/route-csm-2.json"))
        ok = route.get("frame") == 2 and route.get("keys_below") == 4 and route.get("pool") == "lido-csm"
    except ValueError:
        ok = False
    amb = open(f"{run}/route-ambiguous.code").read().strip()
    if not ok or amb != "400":
        problems.append(f"route: operator 0 of lido-csm frame 2 ok={ok}; ambiguous operator 0 answered {amb} (want 400)")
    summary["route"] = "ok" if ok and amb == "400" else "bad"
    try:
        s = json.load(open(f"{run}/summary.json"))
        csm = [o for o in s["operators"] if o["pool"] == "lido-csm"][0]
        page_ok = len(s["operators"]) == 7 and any(p["frame"] == 2 and p["keys_below"] == 4 for p in csm["frames"])
    except (ValueError, KeyError, IndexError):
        page_ok = False
    if not page_ok or "Operator performance" not in open(f"{run}/page.html").read():
        problems.append("summary route or page: the CSM operator's frame 2 is not there")
    summary["page_data"] = "ok" if page_ok else "bad"
    if miss >= 0 and miss not in t["empty_slots"]:
        problems.append(f"slot {miss} was to be empty")
    summary["empty_slots"] = ",".join(str(s) for s in t["empty_slots"])
    rejudged = "judging it again" in log
    if not rejudged or "poolvc_perf_epochs_rejudged_total 0" in m:
        problems.append("the reorg into a judged epoch was not judged again by A")
    summary["rejudged_after_reorg"] = "yes" if rejudged else "no"
    # On chain: frames 0..2 accepted with both reporters' votes; each
    # reporter sent each report once (its nonce counts its transactions,
    # every one recorded as mined in its ledger); the RPC failure and the
    # missing funds were told and then overcome.
    ch = json.load(open(f"{run}/chain.json"))
    accepted = sum(1 for f in ch["frames"].values() if int(f["accepted"], 16) and f["votes"] == 2)
    if ch["quorum"] != 2 or accepted != 3:
        problems.append(f"on chain: quorum {ch['quorum']}, frames accepted with 2 votes {accepted}/3: {ch['frames']}")
    summary["accepted_at_quorum"] = f"{accepted}/3"
    for who in ("a", "b"):
        c = sqlite3.connect(f"file:{run}/{who}/performance.sqlite?mode=ro", uri=True)
        subs = list(c.execute("SELECT frame, target, state, tx_hash FROM perf_submission"))
        sent = [x for x in subs if x[3]]
        if any(x[2] != "mined" for x in subs):
            problems.append(f"reporter {who}: submissions not mined: {[x for x in subs if x[2] != 'mined']}")
        if ch["nonce"][who] != len(sent):
            problems.append(f"reporter {who}: {ch['nonce'][who]} transactions on chain, {len(sent)} recorded (a double submission?)")
        reports = sorted(x[0] for x in subs if x[1].startswith("report:"))
        if reports[:3] != [0, 1, 2]:
            problems.append(f"reporter {who}: reports of frames {reports}")
        summary[f"txs_{who}"] = f"{ch['nonce'][who]}={len(sent)}"
    if ch["stader_index"] < 3:
        problems.append(f"Stader oracle: {ch['stader_index']} penalty reports (want one per window 0..2)")
    summary["stader_reports"] = ch["stader_index"]
    logs_a = "".join(open(f"{run}/{n}").read() for n in ("a-1.log", "a-2.log"))
    logs_b = "".join(open(f"{run}/{n}").read() for n in ("b-1.log", "b-2.log"))
    rpc_told = "report: execution RPC" in logs_a
    funds_told = "wei; the transaction needs up to" in logs_b
    if not rpc_told:
        problems.append("A's log does not tell the RPC failure at submission")
    if not funds_told:
        problems.append("B's log does not tell that its reporter has no funds")
    summary["rpc_failure_told"] = "yes" if rpc_told else "no"
    summary["no_funds_told"] = "yes" if funds_told else "no"
    try:
        v = json.load(open(f"{run}/verify.json"))
        proof_ok = v["verified_on_chain"] and v["root"] == v["accepted_root"]
    except (OSError, ValueError, KeyError):
        proof_ok = False
    if not proof_ok:
        problems.append(f"pool verify: the CSM key's frame-2 leaf did not verify on chain ({open(f'{run}/verify.err').read()[-300:]})")
    summary["proof_on_chain"] = "ok" if proof_ok else "bad"
    for p in problems[:40]:
        print(p)
    if len(problems) > 40:
        print(f"... {len(problems) - 40} more")
    print("e2e-perf: " + " ".join(f"{k}={v}" for k, v in summary.items()) + (" FAILED" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "chain":
        chain(*sys.argv[2:8])
    elif sys.argv[1] == "truth":
        truth(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(check(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])))
