"""Replays a specnode chain in the consensus-specs pyspec, an implementation
independent of the node's (Lodestar's state transition), and requires the
same block root and post-state root after every block.

Reads DATADIR/config.yaml, DATADIR/genesis.ssz, DATADIR/chain.json and
DATADIR/blocks/. Each block is imported with every check on: the proposer's
signature, `process_block` (randao, attestations, sync aggregate, exits, the
execution payload's consistency with the state) and the state root; the
Electra -> Fulu and Fulu -> Gloas upgrades run at the fork epochs. From
Gloas on, every envelope the node took (`blocks/envelope_SLOT.ssz`) is
checked with pyspec's `verify_execution_payload_envelope` against its
block's post-state.

Usage: python replay.py DATADIR [--flags OUT.json]
With --flags, writes the participation flags each epoch ends with (epoch ->
one integer per validator: bit 0 timely source, 1 target, 2 head), read from
`previous_epoch_participation` before the first block of a later epoch.
Prints one line per block that differs and, last,
`pyspec_roots=K/N` (after `pyspec_envelopes=M/E` on a Gloas chain); exits
1 unless K == N (and N > 0) and M == E.
"""
import importlib
import json
import os
import sys
import time


def read_config(path):
    """The scalar `KEY: value` lines of a consensus config.yaml."""
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith((" ", "#", "-")) or ":" not in line:
            continue
        k, v = line.split(":", 1)
        v = v.strip().strip("'\"")
        if v:
            out[k.strip()] = v
    return out


def configure(specs, values):
    """Sets every config value the spec modules know to the chain's."""
    for spec in specs:
        cfg = spec.config._asdict()
        types = spec.Configuration.__annotations__
        for k, v in values.items():
            if k not in cfg or k == "PRESET_BASE":
                continue
            raw = bytes.fromhex(v[2:]) if v.startswith("0x") else int(v) if v.isdigit() else v
            try:
                cfg[k] = types[k](raw)
            except (TypeError, ValueError):
                continue
        spec.config = spec.Configuration(**cfg)


def main(datadir, flags_out=None):
    chain = json.load(open(os.path.join(datadir, "chain.json"), encoding="utf-8"))
    preset = chain["preset"]
    electra = importlib.import_module(f"eth_consensus_specs.electra.{preset}")
    fulu = importlib.import_module(f"eth_consensus_specs.fulu.{preset}")
    gloas = importlib.import_module(f"eth_consensus_specs.gloas.{preset}")
    configure((electra, fulu, gloas), read_config(os.path.join(datadir, "config.yaml")))
    specs = {"electra": electra, "fulu": fulu, "gloas": gloas}
    fulu_epoch = int(fulu.config.FULU_FORK_EPOCH)
    gloas_epoch = chain.get("gloas_epoch")

    state = electra.ssz_deserialize(electra.BeaconState, open(os.path.join(datadir, "genesis.ssz"), "rb").read())
    header = state.latest_block_header.copy()
    header.state_root = electra.hash_tree_root(state)
    genesis_root = "0x" + bytes(electra.hash_tree_root(header)).hex()
    if genesis_root != chain["genesis_block_root"]:
        print(f"replay: genesis block root {genesis_root} != the node's {chain['genesis_block_root']}")
        print("pyspec_roots=0/%d" % len(chain["blocks"]))
        return 1

    ok = 0
    envelopes = envelopes_ok = 0
    started = time.time()
    flags = {}
    spe = int(electra.SLOTS_PER_EPOCH)
    for entry in chain["blocks"]:
        slot = entry["slot"]
        spec = specs[entry["fork"]]
        state_epoch = int(state.slot) // spe
        if slot // spe > state_epoch and state_epoch >= 1:
            flags[state_epoch - 1] = [int(f) for f in state.previous_epoch_participation]
        data = open(os.path.join(datadir, "blocks", entry["file"]), "rb").read()
        try:
            signed = spec.ssz_deserialize(spec.SignedBeaconBlock, data)
            # process_slots, with the Electra -> Fulu and Fulu -> Gloas upgrades at the fork epochs.
            fork_slot = fulu_epoch * spe
            if state.fork.current_version == electra.config.ELECTRA_FORK_VERSION and state.slot < fork_slot <= slot:
                electra.process_slots(state, fork_slot)
                state = fulu.upgrade_to_fulu(state)
            if gloas_epoch is not None:
                fork_slot = int(gloas_epoch) * spe
                if state.fork.current_version == fulu.config.FULU_FORK_VERSION and state.slot < fork_slot <= slot:
                    fulu.process_slots(state, fork_slot)
                    state = gloas.upgrade_to_gloas(state)
            if state.slot < slot:
                spec.process_slots(state, slot)
            assert spec.verify_block_signature(state, signed), "proposer signature"
            spec.process_block(state, signed.message)
            assert signed.message.state_root == spec.hash_tree_root(state), "block's state root"
        except (AssertionError, IndexError, ValueError) as e:
            print(f"replay: slot {slot} ({entry['fork']}): pyspec refuses the block: {e or type(e).__name__}")
            break
        block_root = "0x" + bytes(spec.hash_tree_root(signed.message)).hex()
        state_root = "0x" + bytes(spec.hash_tree_root(state)).hex()
        if block_root != entry["block_root"] or state_root != entry["state_root"]:
            print(f"replay: slot {slot}: block root {block_root} / state root {state_root} differ from the node's "
                  f"{entry['block_root']} / {entry['state_root']}")
            break
        ok += 1
        if entry.get("envelope"):
            envelopes += 1
            raw = open(os.path.join(datadir, "blocks", entry["envelope"]), "rb").read()
            try:
                env = gloas.ssz_deserialize(gloas.SignedExecutionPayloadEnvelope, raw)
                gloas.verify_execution_payload_envelope(state, env, gloas.NoopExecutionEngine())
                envelopes_ok += 1
            except (AssertionError, IndexError, ValueError) as e:
                print(f"replay: slot {slot}: pyspec refuses the envelope: {e or type(e).__name__}")
    n = len(chain["blocks"])
    print(f"replay: {ok} of {n} blocks in {time.time() - started:.1f} s; finalized epoch "
          f"{int(state.finalized_checkpoint.epoch)} at slot {int(state.slot)}")
    if flags_out:
        with open(flags_out, "w", encoding="utf-8") as f:
            json.dump(flags, f)
    if gloas_epoch is not None:
        print(f"pyspec_envelopes={envelopes_ok}/{envelopes}")
    print(f"pyspec_roots={ok}/{n}")
    return 0 if ok == n and n > 0 and envelopes_ok == envelopes else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    out = None
    if len(args) == 3 and args[1] == "--flags":
        out = args[2]
        args = args[:1]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(args[0], out))
