"""Known-answer signing roots computed with the consensus-specs pyspec.

Independent of poolvc's Rust code: uses `eth2spec` 1.1.10 (PyPI; bellatrix
minimal preset) for SSZ hashing, compute_domain and compute_signing_root.
Run: python3 gen_kats.py > pyspec_kats.json   (see SOURCE.md)
"""
import json, os
from eth2spec.bellatrix import minimal as spec
from eth2spec.utils.ssz.ssz_typing import Bitlist, Bitvector, uint, boolean, List, Vector, ByteVector, ByteList, Container

HERE = os.path.dirname(os.path.abspath(__file__))
LODESTAR = os.path.join(HERE, "..", "lodestar")

def decode(data, typ):
    if issubclass(typ, (uint, boolean)):
        return typ(int(data))
    if issubclass(typ, (Bitlist, Bitvector)):
        return typ.decode_bytes(bytes.fromhex(data[2:]))
    if issubclass(typ, (List, Vector)):
        return typ(decode(e, typ.element_cls()) for e in data)
    if issubclass(typ, (ByteVector, ByteList)):
        return typ(bytes.fromhex(data[2:]))
    if issubclass(typ, Container):
        return typ(**{k: decode(data[k], t) for k, t in typ.fields().items()})
    raise Exception(f"type {typ}")

def load(name):
    # Recorded responses may carry a trailing " http=200" note after the JSON.
    text = open(os.path.join(LODESTAR, name)).read()
    return json.loads(text[: text.rindex("}") + 1])

def h(x):
    return "0x" + bytes(x).hex()

gvr = spec.Root(bytes.fromhex(load("genesis.json")["data"]["genesis_validators_root"][2:]))
version = spec.Version(bytes.fromhex("02000001"))  # BELLATRIX_FORK_VERSION of the Lodestar dev chain (all forks at epoch 0)
capella = spec.Version(bytes.fromhex("03000001"))
genesis_version = spec.Version(bytes.fromhex("00000001"))

def root(obj, domain_type, fork_version=version, gvr=gvr):
    return h(spec.compute_signing_root(obj, spec.compute_domain(domain_type, fork_version, gvr)))

block_json = load("produce_v2_infinity.json")["data"]
block = decode(block_json, spec.BeaconBlock)
att_json = load("attestation_data.json")["data"]
att = decode(att_json, spec.AttestationData)
agg = spec.AggregateAndProof(aggregator_index=39, aggregate=block.body.attestations[0], selection_proof=spec.BLSSignature(b"\x11" * 96))
sel = spec.SyncAggregatorSelectionData(slot=27, subcommittee_index=3)
contrib = spec.ContributionAndProof(
    aggregator_index=7,
    contribution=spec.SyncCommitteeContribution(slot=27, beacon_block_root=block.parent_root, subcommittee_index=3,
        aggregation_bits=Bitvector[8](1, 0, 1, 0, 0, 0, 0, 1), signature=spec.BLSSignature(b"\x22" * 96)),
    selection_proof=spec.BLSSignature(b"\x33" * 96))
exit_ = spec.VoluntaryExit(epoch=3, validator_index=40)
dep = spec.DepositMessage(pubkey=spec.BLSPubkey(b"\x44" * 48), withdrawal_credentials=spec.Bytes32(b"\x00" + b"\x55" * 31), amount=32_000_000_000)

class ValidatorRegistrationV1(Container):
    fee_recipient: spec.ExecutionAddress
    gas_limit: spec.uint64
    timestamp: spec.uint64
    pubkey: spec.BLSPubkey
reg = ValidatorRegistrationV1(fee_recipient=spec.ExecutionAddress(b"\x66" * 20), gas_limit=30_000_000, timestamp=1_700_000_000, pubkey=spec.BLSPubkey(b"\x77" * 48))

out = {
    "genesis_validators_root": h(gvr),
    "block_root_produce_v2_infinity": h(spec.hash_tree_root(block)),
    "block_body_root_produce_v2_infinity": h(spec.hash_tree_root(block.body)),
    "block": root(block, spec.DOMAIN_BEACON_PROPOSER),
    "attestation": root(att, spec.DOMAIN_BEACON_ATTESTER),
    "randao_epoch_3": root(spec.Epoch(3), spec.DOMAIN_RANDAO),
    "selection_proof_slot_27": root(spec.Slot(27), spec.DOMAIN_SELECTION_PROOF),
    "aggregate_and_proof": root(agg, spec.DOMAIN_AGGREGATE_AND_PROOF),
    "sync_committee_message_slot_27": root(block.parent_root, spec.DOMAIN_SYNC_COMMITTEE),
    "sync_selection_proof": root(sel, spec.DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF),
    "contribution_and_proof": root(contrib, spec.DOMAIN_CONTRIBUTION_AND_PROOF),
    "voluntary_exit": root(exit_, spec.DOMAIN_VOLUNTARY_EXIT),
    "voluntary_exit_eip7044_capella_version": root(exit_, spec.DOMAIN_VOLUNTARY_EXIT, fork_version=capella),
    "deposit": root(dep, spec.DOMAIN_DEPOSIT, fork_version=genesis_version, gvr=spec.Root()),
    "builder_registration": root(reg, spec.DomainType(bytes.fromhex("00000001")), fork_version=genesis_version, gvr=spec.Root()),
}
print(json.dumps(out, indent=2))
