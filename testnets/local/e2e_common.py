"""What the specnode e2e checks share: reading the node, the participation
flags of poolvc's validators, the sync committee positions they signed, and
what the node refused of theirs."""
import json
import urllib.request

TIMELY_TARGET = 1 << 1


def get(bn, path):
    """The node's JSON answer to GET `path`."""
    with urllib.request.urlopen(bn + path, timeout=20) as r:
        return json.load(r)


def attestations(bn, mine, epochs, failures):
    """Over `epochs`, from the node's participation flags: how many of
    `mine`'s duties were included, how many with the correct target, and
    how many there were; each miss appended to `failures`."""
    due = included = target = 0
    for e in epochs:
        flags = get(bn, f"/specnode/participation/{e}")["flags"]
        for v in sorted(mine):
            due += 1
            if flags[v]:
                included += 1
            else:
                failures.append(f"epoch {e}: validator {v}'s attestation not included")
            if flags[v] & TIMELY_TARGET:
                target += 1
            elif flags[v]:
                failures.append(f"epoch {e}: validator {v}'s attestation included without the correct target")
    return included, target, due


def sync_positions(block, members, mine):
    """Of the sync committee positions `mine` holds at a slot, how many the
    block's aggregate carries, and how many there are."""
    due = done = 0
    for pos, v in enumerate(members):
        if v in mine:
            due += 1
            done += 1 if block["sync_bits"][pos] else 0
    return done, due


def vc_refusals(bn):
    """What the node refused of what a validator client sent (not its own), by reason; and the whole answer."""
    refused = get(bn, "/specnode/refused")
    return {k: n for k, n in refused["by_reason"].items() if not k.startswith("own ")}, refused


def run_failures(failures, finalized, min_finalized, timings, slot_ms, attested, sync, sync_counts):
    """The checks every specnode e2e ends with: finality, the node kept up,
    every attestation included with the correct target, sync >= 95%."""
    x, t, y = attested
    if finalized < min_finalized:
        failures.append(f"finalized epoch {finalized} < {min_finalized}")
    if timings["max_tick_lag_ms"] > 500 or timings["max_ms"] > slot_ms / 3:
        failures.append(f"the node fell behind: {timings}")
    if y == 0 or x != y or t != y:
        failures.append(f"attestations {x}/{y} included, {t}/{y} with the correct target")
    if sync < 0.95:
        failures.append(f"sync participation {sync:.3f} < 0.95 ({sync_counts[0]}/{sync_counts[1]})")


def timing_line(name, timings):
    """The node's per-slot processing, as the e2e summaries print it."""
    return (f"{name}: node per-slot processing median {timings['median_ms']:.1f} ms, max {timings['max_ms']:.1f} ms "
            f"over {timings['n']} steps; slot ticks at most {timings['max_tick_lag_ms']:.0f} ms late")
