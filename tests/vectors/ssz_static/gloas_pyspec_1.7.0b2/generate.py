"""Writes Gloas ssz_static vectors from the consensus-specs pyspec (eth-consensus-specs 1.7.0b2 on PyPI).

For each container poolvc defines for Gloas and each preset, a few cases in the consensus-spec-tests layout:
  tests/<preset>/gloas/ssz_static/<Type>/ssz_random/case_<n>/{serialized.ssz, roots.yaml}
The cases cover the randomization modes that matter for progressive lists (empty, one, many elements: 40 elements
fill three levels of the progressive spine). Deterministic: a fixed seed per type and case.

  python generate.py OUT_DIR     (python = a venv with eth-consensus-specs==1.7.0b2)
"""

import sys
from pathlib import Path
from random import Random

from eth_consensus_specs.debug.random_value import RandomizationMode, get_random_ssz_object
from eth_consensus_specs.gloas import mainnet, minimal

TYPES = [
    "AttestationData", "PayloadAttestationData", "PayloadAttestation", "PayloadAttestationMessage",
    "ExecutionPayloadBid", "SignedExecutionPayloadBid", "ExecutionPayload", "ExecutionRequests",
    "BuilderDepositRequest", "BuilderExitRequest", "ExecutionPayloadEnvelope", "SignedExecutionPayloadEnvelope",
    "ProposerPreferences", "SignedProposerPreferences", "Attestation", "IndexedAttestation", "AttesterSlashing",
    "AggregateAndProof", "SignedAggregateAndProof", "BeaconBlockBody", "BeaconBlock", "SignedBeaconBlock",
]
MODES = [RandomizationMode.mode_random, RandomizationMode.mode_nil_count, RandomizationMode.mode_one_count,
         RandomizationMode.mode_max_count, RandomizationMode.mode_zero]


def limits(spec) -> dict:
    """The consensus limits of the progressive lists (SSZ no longer bounds them; poolvc decodes within them)."""
    return {
        spec.ProposerSlashings: spec.MAX_PROPOSER_SLASHINGS,
        spec.AttesterSlashings: spec.MAX_ATTESTER_SLASHINGS_ELECTRA,
        spec.Attestations: spec.MAX_ATTESTATIONS_ELECTRA,
        spec.Deposits: spec.MAX_DEPOSITS,
        spec.VoluntaryExits: spec.MAX_VOLUNTARY_EXITS,
        spec.BLSToExecutionChanges: spec.MAX_BLS_TO_EXECUTION_CHANGES,
        spec.PayloadAttestations: spec.MAX_PAYLOAD_ATTESTATIONS,
        spec.Withdrawals: spec.MAX_WITHDRAWALS_PER_PAYLOAD,
        spec.WithdrawalRequests: spec.MAX_WITHDRAWAL_REQUESTS_PER_PAYLOAD,
        spec.ConsolidationRequests: spec.MAX_CONSOLIDATION_REQUESTS_PER_PAYLOAD,
        spec.BuilderDepositRequests: spec.MAX_BUILDER_DEPOSIT_REQUESTS_PER_PAYLOAD,
        spec.BuilderExitRequests: spec.MAX_BUILDER_EXIT_REQUESTS_PER_PAYLOAD,
    }


def main(out: Path) -> None:
    for preset, spec in (("minimal", minimal), ("mainnet", mainnet)):
        caps = limits(spec)
        for name in TYPES:
            typ = getattr(spec, name)
            for i, mode in enumerate(MODES):
                rng = Random(sum(map(ord, name)) * 1000 + i + (0 if preset == "minimal" else 500))
                value = get_random_ssz_object(rng, typ, max_bytes_length=200, max_list_length=40, mode=mode,
                                              chaos=False, list_length_limits=caps)
                case = out / "tests" / preset / "gloas" / "ssz_static" / name / "ssz_random" / f"case_{i}"
                case.mkdir(parents=True, exist_ok=True)
                data = spec.serialize(value) if hasattr(spec, "serialize") else value.encode_bytes()
                (case / "serialized.ssz").write_bytes(bytes(data))
                (case / "roots.yaml").write_text(f"{{root: '0x{spec.hash_tree_root(value).hex()}'}}\n")
                # The decoded value must give back the same bytes and root (a self-check of pyspec's SSZ).
                back = typ.decode_bytes(bytes(data))
                assert spec.hash_tree_root(back) == spec.hash_tree_root(value), (preset, name, i)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
