//! Gloas (ePBS, EIP-7732) containers a validator client signs or reads:
//! payload attestations (the PTC duty), proposer preferences (where a
//! proposal's fee recipient now lives), the execution payload bid a block
//! carries, the envelope that reveals the payload, and the progressive
//! (EIP-7688) shapes of attestations, aggregates and the block body.
//!
//! Field order and names follow consensus-specs 1.7.0b2
//! (`specs/gloas/beacon-chain.md`, `p2p-interface.md`) and builder-specs
//! (`BuilderRequestAuth`); roots are checked against pyspec's in the Gloas
//! `ssz_static` vectors.

use super::containers::*;
use super::execution::{ConsolidationRequest, DepositRequest, Withdrawal, WithdrawalRequest};
use super::preset::Preset;
use super::primitives::*;
use super::progressive::{progressive_container, ProgressiveBitList, ProgressiveList};
use super::sync::SyncAggregate;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use ssz_types::{BitVector, FixedVector, VariableList};
use tree_hash_derive::TreeHash;

/// `BUILDER_INDEX_SELF_BUILD`: the bid of a proposer building its own payload.
pub const BUILDER_INDEX_SELF_BUILD: u64 = u64::MAX;

/// `PayloadAttestationData`: a PTC member's view of a slot's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct PayloadAttestationData {
    /// The block whose payload is attested.
    pub beacon_block_root: Hash256,
    /// Its slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// The envelope was seen in time.
    pub payload_present: bool,
    /// The blob data was available.
    pub blob_data_available: bool,
}

/// `PayloadAttestationMessage`: one PTC member's signed payload attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct PayloadAttestationMessage {
    /// The member.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
    /// What it attests.
    pub data: PayloadAttestationData,
    /// Its signature over `data` under `DOMAIN_PTC_ATTESTER`.
    pub signature: SignatureBytes,
}

progressive_container! {
    /// `PayloadAttestation`: PTC members' aggregated payload attestations.
    #[serde(bound = "P: Preset")]
    pub struct PayloadAttestation<P: Preset> {
        /// One bit per PTC position.
        pub aggregation_bits: BitVector<P::PtcSize>,
        /// What they attest.
        pub data: PayloadAttestationData,
        /// Aggregate signature.
        pub signature: SignatureBytes,
    }
}

/// `ProposerPreferences`: a proposer's fee recipient and gas limit for one
/// upcoming proposal slot; builders' bids must pay `fee_recipient`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct ProposerPreferences {
    /// Shuffling dependent root of the proposal's epoch, on the proposer's head.
    pub dependent_root: Hash256,
    /// The slot the validator proposes.
    #[serde(with = "serde_utils::quoted_u64")]
    pub proposal_slot: Slot,
    /// The proposer.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
    /// Where the builder's payment goes.
    pub fee_recipient: Address,
    /// Preferred gas limit.
    #[serde(with = "serde_utils::quoted_u64")]
    pub target_gas_limit: u64,
}

/// `SignedProposerPreferences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SignedProposerPreferences {
    /// The preferences.
    pub message: ProposerPreferences,
    /// The proposer's signature under `DOMAIN_PROPOSER_PREFERENCES`.
    pub signature: SignatureBytes,
}

/// `BuilderDepositRequest` (EIP-8282).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct BuilderDepositRequest {
    /// Builder public key.
    pub pubkey: PublicKeyBytes,
    /// Withdrawal credentials.
    pub withdrawal_credentials: Hash256,
    /// Amount in Gwei.
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
    /// Deposit signature.
    pub signature: SignatureBytes,
}

/// `BuilderExitRequest` (EIP-8282).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct BuilderExitRequest {
    /// The requesting execution address.
    pub source_address: Address,
    /// The builder.
    pub pubkey: PublicKeyBytes,
}

progressive_container! {
    /// `ExecutionRequests` (Gloas): Electra's three request lists, progressive,
    /// and the builders' deposits and exits.
    #[serde(bound = "P: Preset")]
    pub struct ExecutionRequestsGloas<P: Preset> {
        /// Deposits.
        pub deposits: ProgressiveList<DepositRequest, P::MaxDepositRequestsPerPayload>,
        /// Withdrawals.
        pub withdrawals: ProgressiveList<WithdrawalRequest, P::MaxWithdrawalRequestsPerPayload>,
        /// Consolidations.
        pub consolidations: ProgressiveList<ConsolidationRequest, P::MaxConsolidationRequestsPerPayload>,
        /// Builder deposits.
        pub builder_deposits: ProgressiveList<BuilderDepositRequest, P::MaxBuilderDepositRequestsPerPayload>,
        /// Builder exits.
        pub builder_exits: ProgressiveList<BuilderExitRequest, P::MaxBuilderExitRequestsPerPayload>,
    }
}

impl<P: Preset> Default for ExecutionRequestsGloas<P> {
    fn default() -> Self {
        Self {
            deposits: Default::default(),
            withdrawals: Default::default(),
            consolidations: Default::default(),
            builder_deposits: Default::default(),
            builder_exits: Default::default(),
        }
    }
}

progressive_container! {
    /// `ExecutionPayloadBid`: what a block commits to about its payload; its
    /// `fee_recipient` receives `value` (the builder's payment), so for a
    /// proposal it is the money field.
    #[serde(bound = "P: Preset")]
    pub struct ExecutionPayloadBid<P: Preset> {
        /// Parent execution block hash.
        pub parent_block_hash: Hash256,
        /// Parent beacon block root.
        pub parent_block_root: Hash256,
        /// The payload's block hash.
        pub block_hash: Hash256,
        /// RANDAO mix.
        pub prev_randao: Hash256,
        /// Who the payment goes to.
        pub fee_recipient: Address,
        /// Gas limit.
        #[serde(with = "serde_utils::quoted_u64")]
        pub gas_limit: u64,
        /// The builder (`BUILDER_INDEX_SELF_BUILD` for the proposer itself).
        #[serde(with = "serde_utils::quoted_u64")]
        pub builder_index: u64,
        /// Slot.
        #[serde(with = "serde_utils::quoted_u64")]
        pub slot: Slot,
        /// Payment to the proposer in Gwei (0 when self-built).
        #[serde(with = "serde_utils::quoted_u64")]
        pub value: Gwei,
        /// Payment on the execution layer in Gwei.
        #[serde(with = "serde_utils::quoted_u64")]
        pub execution_payment: Gwei,
        /// Blob commitments.
        pub blob_kzg_commitments: ProgressiveList<KzgCommitment, P::MaxBlobCommitmentsPerBlock>,
        /// Root of the payload's execution requests.
        pub execution_requests_root: Hash256,
    }
}

/// `SignedExecutionPayloadBid` (a self-build bid carries the G2 point at
/// infinity, not a signature).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedExecutionPayloadBid<P: Preset> {
    /// The bid.
    pub message: ExecutionPayloadBid<P>,
    /// The builder's signature under `DOMAIN_BEACON_BUILDER`.
    pub signature: SignatureBytes,
}

/// A transaction of a Gloas payload.
pub type TransactionGloas<P> = ProgressiveList<u8, <P as Preset>::MaxBytesPerTransaction>;

progressive_container! {
    /// `ExecutionPayload` (Gloas): Deneb's fields, progressive lists, the
    /// block access list (EIP-7928) and the slot number (EIP-7843).
    #[serde(bound = "P: Preset")]
    pub struct ExecutionPayloadGloas<P: Preset> {
        /// Parent execution block hash.
        pub parent_hash: Hash256,
        /// Fee recipient.
        pub fee_recipient: Address,
        /// Execution state root.
        pub state_root: Hash256,
        /// Receipts root.
        pub receipts_root: Hash256,
        /// Logs bloom.
        #[serde(with = "ssz_types::serde_utils::hex_fixed_vec")]
        pub logs_bloom: FixedVector<u8, P::BytesPerLogsBloom>,
        /// RANDAO mix.
        pub prev_randao: Hash256,
        /// Block number.
        #[serde(with = "serde_utils::quoted_u64")]
        pub block_number: u64,
        /// Gas limit.
        #[serde(with = "serde_utils::quoted_u64")]
        pub gas_limit: u64,
        /// Gas used.
        #[serde(with = "serde_utils::quoted_u64")]
        pub gas_used: u64,
        /// Timestamp.
        #[serde(with = "serde_utils::quoted_u64")]
        pub timestamp: u64,
        /// Extra data.
        #[serde(with = "ssz_types::serde_utils::hex_var_list")]
        pub extra_data: VariableList<u8, P::MaxExtraDataBytes>,
        /// Base fee per gas.
        #[serde(with = "serde_utils::quoted_u256")]
        pub base_fee_per_gas: Uint256,
        /// Execution block hash.
        pub block_hash: Hash256,
        /// Transactions.
        #[serde(with = "super::progressive::serde_list_of_hex")]
        pub transactions: ProgressiveList<TransactionGloas<P>, P::MaxTransactionsPerPayload>,
        /// Withdrawals.
        pub withdrawals: ProgressiveList<Withdrawal, P::MaxWithdrawalsPerPayload>,
        /// Blob gas used.
        #[serde(with = "serde_utils::quoted_u64")]
        pub blob_gas_used: u64,
        /// Excess blob gas.
        #[serde(with = "serde_utils::quoted_u64")]
        pub excess_blob_gas: u64,
        /// Block access list (EIP-7928), opaque here. poolvc bounds it by the
        /// transaction size limit (SSZ does not bound it).
        #[serde(with = "super::progressive::serde_hex")]
        pub block_access_list: ProgressiveList<u8, P::MaxBytesPerTransaction>,
        /// The beacon slot (EIP-7843).
        #[serde(with = "serde_utils::quoted_u64")]
        pub slot_number: u64,
    }
}

progressive_container! {
    /// `ExecutionPayloadEnvelope`: reveals the payload of a block's bid. A
    /// self-building proposer signs it with its validator key under
    /// `DOMAIN_BEACON_BUILDER`.
    #[serde(bound = "P: Preset")]
    pub struct ExecutionPayloadEnvelope<P: Preset> {
        /// The payload.
        pub payload: ExecutionPayloadGloas<P>,
        /// Its execution requests.
        pub execution_requests: ExecutionRequestsGloas<P>,
        /// The builder (`BUILDER_INDEX_SELF_BUILD` for the proposer).
        #[serde(with = "serde_utils::quoted_u64")]
        pub builder_index: u64,
        /// The block whose bid this payload fulfils.
        pub beacon_block_root: Hash256,
        /// That block's parent.
        pub parent_beacon_block_root: Hash256,
    }
}

/// `SignedExecutionPayloadEnvelope`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedExecutionPayloadEnvelope<P: Preset> {
    /// The envelope.
    pub message: ExecutionPayloadEnvelope<P>,
    /// Signature under `DOMAIN_BEACON_BUILDER`.
    pub signature: SignatureBytes,
}

progressive_container! {
    /// `Attestation` (Gloas): Electra's shape with progressive roots;
    /// `data.index` is the payload status voted (0 empty, 1 full).
    #[serde(bound = "P: Preset")]
    pub struct AttestationGloas<P: Preset> {
        /// One bit per member of every committee set in `committee_bits`.
        pub aggregation_bits: ProgressiveBitList<P::MaxValidatorsPerSlot>,
        /// The vote.
        pub data: AttestationData,
        /// Aggregate signature.
        pub signature: SignatureBytes,
        /// Which committees contribute.
        pub committee_bits: BitVector<P::MaxCommitteesPerSlot>,
    }
}

impl<P: Preset> From<super::attestation::AttestationElectra<P>> for AttestationGloas<P> {
    fn from(a: super::attestation::AttestationElectra<P>) -> Self {
        Self {
            aggregation_bits: ProgressiveBitList(a.aggregation_bits),
            data: a.data,
            signature: a.signature,
            committee_bits: a.committee_bits,
        }
    }
}

progressive_container! {
    /// `IndexedAttestation` (Gloas).
    #[serde(bound = "P: Preset")]
    pub struct IndexedAttestationGloas<P: Preset> {
        /// Sorted attesting validator indices.
        #[serde(with = "super::progressive::serde_quoted_u64s")]
        pub attesting_indices: ProgressiveList<u64, P::MaxValidatorsPerSlot>,
        /// The vote.
        pub data: AttestationData,
        /// Aggregate signature.
        pub signature: SignatureBytes,
    }
}

/// `AttesterSlashing` (Gloas).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AttesterSlashingGloas<P: Preset> {
    /// First vote.
    pub attestation_1: IndexedAttestationGloas<P>,
    /// Conflicting vote.
    pub attestation_2: IndexedAttestationGloas<P>,
}

/// `AggregateAndProof` (Gloas).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct AggregateAndProofGloas<P: Preset> {
    /// The aggregator's validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub aggregator_index: ValidatorIndex,
    /// The aggregate.
    pub aggregate: AttestationGloas<P>,
    /// The aggregator's selection proof.
    pub selection_proof: SignatureBytes,
}

impl<P: Preset> From<super::attestation::AggregateAndProofElectra<P>> for AggregateAndProofGloas<P> {
    fn from(a: super::attestation::AggregateAndProofElectra<P>) -> Self {
        Self { aggregator_index: a.aggregator_index, aggregate: a.aggregate.into(), selection_proof: a.selection_proof }
    }
}

/// `SignedAggregateAndProof` (Gloas).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct SignedAggregateAndProofGloas<P: Preset> {
    /// The message.
    pub message: AggregateAndProofGloas<P>,
    /// The aggregator's signature.
    pub signature: SignatureBytes,
}

progressive_container! {
    /// `BeaconBlockBody` (Gloas): no payload, a signed bid for it instead,
    /// the PTC's payload attestations and the parent payload's requests.
    #[serde(bound = "P: Preset")]
    pub struct BeaconBlockBodyGloas<P: Preset> {
        /// RANDAO reveal.
        pub randao_reveal: SignatureBytes,
        /// Eth1 vote.
        pub eth1_data: Eth1Data,
        /// Graffiti.
        pub graffiti: Graffiti,
        /// Proposer slashings.
        pub proposer_slashings: ProgressiveList<ProposerSlashing, P::MaxProposerSlashings>,
        /// Attester slashings.
        pub attester_slashings: ProgressiveList<AttesterSlashingGloas<P>, P::MaxAttesterSlashingsElectra>,
        /// Attestations.
        pub attestations: ProgressiveList<AttestationGloas<P>, P::MaxAttestationsElectra>,
        /// Deposits.
        pub deposits: ProgressiveList<Deposit, P::MaxDeposits>,
        /// Voluntary exits.
        pub voluntary_exits: ProgressiveList<SignedVoluntaryExit, P::MaxVoluntaryExits>,
        /// Sync-committee aggregate.
        pub sync_aggregate: SyncAggregate<P>,
        /// Withdrawal-credential changes.
        pub bls_to_execution_changes: ProgressiveList<SignedBlsToExecutionChange, P::MaxBlsToExecutionChanges>,
        /// The payload's bid.
        pub signed_execution_payload_bid: SignedExecutionPayloadBid<P>,
        /// PTC votes on earlier payloads.
        pub payload_attestations: ProgressiveList<PayloadAttestation<P>, P::MaxPayloadAttestations>,
        /// The parent payload's execution requests.
        pub parent_execution_requests: ExecutionRequestsGloas<P>,
    }
}

/// `BuilderRequestAuth` (builder-specs Gloas `RequestAuthV1`, Lodestar's
/// `BuilderRequestAuth`): a proposer's authentication to a builder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct BuilderRequestAuth {
    /// Opaque data, usually the builder's URL.
    #[serde(with = "ssz_types::serde_utils::hex_var_list")]
    pub data: VariableList<u8, ssz_types::typenum::U4096>,
    /// The slot whose bid is requested.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
}
