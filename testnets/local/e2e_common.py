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
