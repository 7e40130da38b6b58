//! Attestations and aggregates, in both the pre-Electra shape (one committee
//! per attestation, `data.index` = committee) and the Electra shape
//! (`committee_bits`, `data.index` = 0, `SingleAttestation` on the wire).

use super::containers::AttestationData;
use super::preset::Preset;
use super::primitives::*;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use ssz_types::{BitList, BitVector, VariableList};
use tree_hash_derive::TreeHash;

/// `Attestation` before Electra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AttestationBase<P: Preset> {
    /// One bit per committee member.
    pub aggregation_bits: BitList<P::MaxValidatorsPerCommittee>,
    /// The vote.
    pub data: AttestationData,
    /// Aggregate signature.
    pub signature: SignatureBytes,
}

/// `Attestation` from Electra on: bits across all committees of the slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AttestationElectra<P: Preset> {
    /// One bit per member of every committee set in `committee_bits`, in order.
    pub aggregation_bits: BitList<P::MaxValidatorsPerSlot>,
    /// The vote (`index` is 0).
    pub data: AttestationData,
    /// Aggregate signature.
    pub signature: SignatureBytes,
    /// Which committees of the slot contribute.
    pub committee_bits: BitVector<P::MaxCommitteesPerSlot>,
}

/// `SingleAttestation` (Electra): one attester's vote as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SingleAttestation {
    /// The attester's committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_index: CommitteeIndex,
    /// The attester's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub attester_index: ValidatorIndex,
    /// The vote.
    pub data: AttestationData,
    /// The attester's signature.
    pub signature: SignatureBytes,
}

/// `IndexedAttestation` before Electra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct IndexedAttestationBase<P: Preset> {
    /// Sorted attesting validator indices.
    #[serde(with = "ssz_types::serde_utils::quoted_u64_var_list")]
    pub attesting_indices: VariableList<u64, P::MaxValidatorsPerCommittee>,
    /// The vote.
    pub data: AttestationData,
    /// Aggregate signature.
    pub signature: SignatureBytes,
}

/// `IndexedAttestation` from Electra on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct IndexedAttestationElectra<P: Preset> {
    /// Sorted attesting validator indices.
    #[serde(with = "ssz_types::serde_utils::quoted_u64_var_list")]
    pub attesting_indices: VariableList<u64, P::MaxValidatorsPerSlot>,
    /// The vote.
    pub data: AttestationData,
    /// Aggregate signature.
    pub signature: SignatureBytes,
}

/// `AttesterSlashing` before Electra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AttesterSlashingBase<P: Preset> {
    /// First attestation.
    pub attestation_1: IndexedAttestationBase<P>,
    /// Second, conflicting attestation.
    pub attestation_2: IndexedAttestationBase<P>,
}

/// `AttesterSlashing` from Electra on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AttesterSlashingElectra<P: Preset> {
    /// First attestation.
    pub attestation_1: IndexedAttestationElectra<P>,
    /// Second, conflicting attestation.
    pub attestation_2: IndexedAttestationElectra<P>,
}

/// `AggregateAndProof` before Electra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AggregateAndProofBase<P: Preset> {
    /// The aggregator's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub aggregator_index: ValidatorIndex,
    /// The aggregate.
    pub aggregate: AttestationBase<P>,
    /// The aggregator's selection proof (signature over the slot).
    pub selection_proof: SignatureBytes,
}

/// `AggregateAndProof` from Electra on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AggregateAndProofElectra<P: Preset> {
    /// The aggregator's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub aggregator_index: ValidatorIndex,
    /// The aggregate.
    pub aggregate: AttestationElectra<P>,
    /// The aggregator's selection proof (signature over the slot).
    pub selection_proof: SignatureBytes,
}

/// `SignedAggregateAndProof` before Electra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedAggregateAndProofBase<P: Preset> {
    /// The message.
    pub message: AggregateAndProofBase<P>,
    /// The aggregator's signature over it.
    pub signature: SignatureBytes,
}

/// `SignedAggregateAndProof` from Electra on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedAggregateAndProofElectra<P: Preset> {
    /// The message.
    pub message: AggregateAndProofElectra<P>,
    /// The aggregator's signature over it.
    pub signature: SignatureBytes,
}
