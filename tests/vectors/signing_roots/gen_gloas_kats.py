"""Gloas signing-root and signature known answers from the consensus-specs pyspec (eth-consensus-specs 1.7.0b2).

The chain: minimal preset, the minimal config's versions, Fulu at epoch 1 and Gloas at epoch 2 (the e2e's schedule),
and a fixed genesis validators root. Each case gives the message's SSZ bytes, the domain, the signing root and the
signature of interop key 3 (the interop secret of index i is sha256(i as 32 little-endian bytes) mod r). The fork
version of each domain is chosen here as the spec says, written out per message:
- PayloadAttestationData: get_domain(state, DOMAIN_PTC_ATTESTER, epoch(data.slot));
- ProposerPreferences: compute_fork_version(epoch(proposal_slot)) with the real root;
- ExecutionPayloadEnvelope and ExecutionPayloadBid: get_domain(state, DOMAIN_BEACON_BUILDER) at the payload's slot;
- AggregateAndProof, BeaconBlock, AttestationData: their usual domains at the message's epoch.

  python gen_gloas_kats.py > pyspec_gloas_kats.json
"""

import hashlib
import json
from random import Random

from eth_consensus_specs.debug.random_value import RandomizationMode, get_random_ssz_object
from eth_consensus_specs.gloas import minimal as spec

GVR = bytes.fromhex("9a" * 32)
VERSIONS = {0: bytes.fromhex("00000001"), 1: bytes.fromhex("06000001"), 2: bytes.fromhex("07000001")}
R = 52435875175126190479447740508185965837690552500527637822603658699938581184513


def version_at(epoch: int) -> bytes:
    return VERSIONS[2] if epoch >= 2 else VERSIONS[1] if epoch >= 1 else VERSIONS[0]


def interop_secret(i: int) -> int:
    return int.from_bytes(hashlib.sha256(i.to_bytes(32, "little")).digest(), "little") % R


def random(typ, seed: int):
    return get_random_ssz_object(Random(seed), typ, 120, 1, RandomizationMode.mode_one_count, False)


def case(name, obj, domain_type, version, root=GVR):
    domain = spec.compute_domain(domain_type, version, root)
    signing_root = spec.compute_signing_root(obj, domain)
    sig = spec.bls.Sign(interop_secret(3), signing_root)
    return {
        "name": name,
        "ssz": "0x" + spec.serialize(obj).hex() if hasattr(spec, "serialize") else "0x" + obj.encode_bytes().hex(),
        "object_root": "0x" + spec.hash_tree_root(obj).hex(),
        "domain": "0x" + bytes(domain).hex(),
        "signing_root": "0x" + bytes(signing_root).hex(),
        "signature": "0x" + bytes(sig).hex(),
    }


def main():
    out = []
    ptc = spec.PayloadAttestationData(beacon_block_root=b"\x11" * 32, slot=17, payload_present=True,
                                      blob_data_available=True)
    out.append(case("payload_attestation_data", ptc, spec.DOMAIN_PTC_ATTESTER, version_at(17 // 8)))
    for slot in (16, 23):
        prefs = spec.ProposerPreferences(dependent_root=b"\x22" * 32, proposal_slot=slot, validator_index=3,
                                         fee_recipient=b"\x33" * 20, target_gas_limit=60_000_000)
        out.append(case(f"proposer_preferences_{slot}", prefs, spec.DOMAIN_PROPOSER_PREFERENCES,
                        version_at(slot // 8)))
    envelope = random(spec.ExecutionPayloadEnvelope, 1)
    envelope.payload.slot_number = 18
    envelope.builder_index = spec.BUILDER_INDEX_SELF_BUILD
    out.append(case("execution_payload_envelope", envelope, spec.DOMAIN_BEACON_BUILDER, version_at(18 // 8)))
    bid = random(spec.ExecutionPayloadBid, 2)
    bid.slot = 18
    out.append(case("execution_payload_bid", bid, spec.DOMAIN_BEACON_BUILDER, version_at(18 // 8)))
    agg = random(spec.AggregateAndProof, 3)
    agg.aggregate.data.slot = 17
    out.append(case("aggregate_and_proof", agg, spec.DOMAIN_AGGREGATE_AND_PROOF, version_at(17 // 8)))
    block = random(spec.BeaconBlock, 4)
    block.slot = 17
    out.append(case("beacon_block", block, spec.DOMAIN_BEACON_PROPOSER, version_at(17 // 8)))
    data = spec.AttestationData(slot=17, index=1, beacon_block_root=b"\x44" * 32,
                                source=spec.Checkpoint(epoch=1, root=b"\x55" * 32),
                                target=spec.Checkpoint(epoch=2, root=b"\x66" * 32))
    out.append(case("attestation_data_full", data, spec.DOMAIN_BEACON_ATTESTER, version_at(2)))
    print(json.dumps({"genesis_validators_root": "0x" + GVR.hex(), "secret_index": 3, "cases": out}, indent=1))


if __name__ == "__main__":
    main()
