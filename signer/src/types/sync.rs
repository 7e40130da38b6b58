//! Sync-committee messages, selection data, contributions (Altair on).

use super::preset::Preset;
use super::primitives::*;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use ssz_types::BitVector;
use tree_hash_derive::TreeHash;

/// `SyncCommitteeMessage`: a member's signature over the head block root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SyncCommitteeMessage {
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// The head block root signed.
    pub beacon_block_root: Hash256,
    /// The member's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
    /// Signature over `beacon_block_root`.
    pub signature: SignatureBytes,
}

/// `SyncAggregatorSelectionData`: what a sync selection proof signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SyncAggregatorSelectionData {
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// Sync subcommittee (subnet) index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub subcommittee_index: u64,
}

/// `SyncCommitteeContribution`: an aggregate over one subcommittee.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SyncCommitteeContribution<P: Preset> {
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// The head block root signed.
    pub beacon_block_root: Hash256,
    /// Subcommittee index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub subcommittee_index: u64,
    /// One bit per subcommittee member.
    pub aggregation_bits: BitVector<P::SyncSubcommitteeSize>,
    /// Aggregate signature.
    pub signature: SignatureBytes,
}

/// `ContributionAndProof`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct ContributionAndProof<P: Preset> {
    /// The aggregator's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub aggregator_index: ValidatorIndex,
    /// The contribution.
    pub contribution: SyncCommitteeContribution<P>,
    /// Sync selection proof.
    pub selection_proof: SignatureBytes,
}

/// `SignedContributionAndProof`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedContributionAndProof<P: Preset> {
    /// The message.
    pub message: ContributionAndProof<P>,
    /// The aggregator's signature.
    pub signature: SignatureBytes,
}

/// `SyncAggregate`: included in blocks from Altair on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SyncAggregate<P: Preset> {
    /// One bit per sync-committee member.
    pub sync_committee_bits: BitVector<P::SyncCommitteeSize>,
    /// Aggregate signature.
    pub sync_committee_signature: SignatureBytes,
}
