//! Beacon blocks and blinded blocks for every fork, and the fork-tagged enums
//! the validator client handles.

use super::attestation::*;
use super::containers::*;
use super::execution::*;
use super::fork::ForkName;
use super::gloas::BeaconBlockBodyGloas;
use super::preset::Preset;
use super::primitives::*;
use super::sync::SyncAggregate;
use serde::{Deserialize, Serialize};
use ssz::{Decode, DecodeError, Encode};
use ssz_types::VariableList;
use tree_hash::TreeHash;

/// Defines a block body. The prefix shared by all forks is written here; the
/// attester-slashing and attestation types vary (Electra changed them), and
/// `tail { .. }` holds the fork's own fields in SSZ order. With `pair` two
/// bodies are made, the full one holding `execution_payload` and the blinded
/// one `execution_payload_header`, both right after `sync_aggregate`.
macro_rules! block_body {
    (@struct $(#[$m:meta])* $name:ident, $as:ty, $att:ty, { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ssz_derive::Encode, ssz_derive::Decode, tree_hash_derive::TreeHash)]
        #[serde(bound = "P: Preset")]
        pub struct $name<P: Preset> {
            /// RANDAO reveal: the proposer's signature over the epoch.
            pub randao_reveal: SignatureBytes,
            /// Eth1 vote.
            pub eth1_data: Eth1Data,
            /// Graffiti.
            pub graffiti: Graffiti,
            /// Proposer slashings.
            pub proposer_slashings: VariableList<ProposerSlashing, P::MaxProposerSlashings>,
            /// Attester slashings.
            pub attester_slashings: $as,
            /// Attestations.
            pub attestations: $att,
            /// Deposits.
            pub deposits: VariableList<Deposit, P::MaxDeposits>,
            /// Voluntary exits.
            pub voluntary_exits: VariableList<SignedVoluntaryExit, P::MaxVoluntaryExits>,
            $($(#[$fm])* pub $f: $t,)*
        }
    };
    (pair $(#[$m:meta])* $full:ident, $(#[$bm:meta])* $blinded:ident, $as:ty, $att:ty,
     payload: $payload:ty, header: $header:ty, tail { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        block_body!(@struct $(#[$m])* $full, $as, $att, {
            /// Sync-committee aggregate.
            sync_aggregate: SyncAggregate<P>,
            /// Execution payload.
            execution_payload: $payload,
            $($(#[$fm])* $f: $t,)*
        });
        block_body!(@struct $(#[$bm])* $blinded, $as, $att, {
            /// Sync-committee aggregate.
            sync_aggregate: SyncAggregate<P>,
            /// Execution payload header (the payload stays with the builder).
            execution_payload_header: $header,
            $($(#[$fm])* $f: $t,)*
        });
    };
}

type AttesterSlashingsBase<P> = VariableList<AttesterSlashingBase<P>, <P as Preset>::MaxAttesterSlashings>;
type AttestationsBase<P> = VariableList<AttestationBase<P>, <P as Preset>::MaxAttestations>;
type AttesterSlashingsElectra<P> = VariableList<AttesterSlashingElectra<P>, <P as Preset>::MaxAttesterSlashingsElectra>;
type AttestationsElectra<P> = VariableList<AttestationElectra<P>, <P as Preset>::MaxAttestationsElectra>;
type BlsChanges<P> = VariableList<SignedBlsToExecutionChange, <P as Preset>::MaxBlsToExecutionChanges>;
type BlobCommitments<P> = VariableList<KzgCommitment, <P as Preset>::MaxBlobCommitmentsPerBlock>;

block_body!(@struct
    /// `BeaconBlockBody` (phase0).
    BeaconBlockBodyPhase0, AttesterSlashingsBase<P>, AttestationsBase<P>, {});

block_body!(@struct
/// `BeaconBlockBody` (Altair).
BeaconBlockBodyAltair, AttesterSlashingsBase<P>, AttestationsBase<P>, {
    /// Sync-committee aggregate.
    sync_aggregate: SyncAggregate<P>,
});

block_body!(pair
    /// `BeaconBlockBody` (Bellatrix).
    BeaconBlockBodyBellatrix,
    /// `BlindedBeaconBlockBody` (Bellatrix).
    BlindedBeaconBlockBodyBellatrix,
    AttesterSlashingsBase<P>, AttestationsBase<P>,
    payload: ExecutionPayloadBellatrix<P>, header: ExecutionPayloadHeaderBellatrix<P>,
    tail {});

block_body!(pair
/// `BeaconBlockBody` (Capella).
BeaconBlockBodyCapella,
/// `BlindedBeaconBlockBody` (Capella).
BlindedBeaconBlockBodyCapella,
AttesterSlashingsBase<P>, AttestationsBase<P>,
payload: ExecutionPayloadCapella<P>, header: ExecutionPayloadHeaderCapella<P>,
tail {
    /// Withdrawal-credential changes.
    bls_to_execution_changes: BlsChanges<P>,
});

block_body!(pair
/// `BeaconBlockBody` (Deneb).
BeaconBlockBodyDeneb,
/// `BlindedBeaconBlockBody` (Deneb).
BlindedBeaconBlockBodyDeneb,
AttesterSlashingsBase<P>, AttestationsBase<P>,
payload: ExecutionPayloadDeneb<P>, header: ExecutionPayloadHeaderDeneb<P>,
tail {
    /// Withdrawal-credential changes.
    bls_to_execution_changes: BlsChanges<P>,
    /// Blob KZG commitments.
    blob_kzg_commitments: BlobCommitments<P>,
});

block_body!(pair
/// `BeaconBlockBody` (Electra; unchanged in Fulu).
BeaconBlockBodyElectra,
/// `BlindedBeaconBlockBody` (Electra; unchanged in Fulu).
BlindedBeaconBlockBodyElectra,
AttesterSlashingsElectra<P>, AttestationsElectra<P>,
payload: ExecutionPayloadDeneb<P>, header: ExecutionPayloadHeaderDeneb<P>,
tail {
    /// Withdrawal-credential changes.
    bls_to_execution_changes: BlsChanges<P>,
    /// Blob KZG commitments.
    blob_kzg_commitments: BlobCommitments<P>,
    /// Execution-layer requests (deposits, withdrawals, consolidations).
    execution_requests: ExecutionRequests<P>,
});

/// Defines a block over a body type, and its signed form.
macro_rules! block_struct {
    ($(#[$m:meta])* $name:ident, $(#[$sm:meta])* $signed:ident, $body:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ssz_derive::Encode, ssz_derive::Decode, tree_hash_derive::TreeHash)]
        #[serde(bound = "P: Preset")]
        pub struct $name<P: Preset> {
            /// Slot.
            #[serde(with = "serde_utils::quoted_u64")]
            pub slot: Slot,
            /// Proposer index.
            #[serde(with = "serde_utils::quoted_u64")]
            pub proposer_index: ValidatorIndex,
            /// Parent block root.
            pub parent_root: Hash256,
            /// Post-state root.
            pub state_root: Hash256,
            /// Body.
            pub body: $body<P>,
        }

        impl<P: Preset> $name<P> {
            /// The header of this block (its root equals the block's root).
            pub fn header(&self) -> BeaconBlockHeader {
                BeaconBlockHeader {
                    slot: self.slot,
                    proposer_index: self.proposer_index,
                    parent_root: self.parent_root,
                    state_root: self.state_root,
                    body_root: self.body.tree_hash_root(),
                }
            }
        }

        $(#[$sm])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ssz_derive::Encode, ssz_derive::Decode, tree_hash_derive::TreeHash)]
        #[serde(bound = "P: Preset")]
        pub struct $signed<P: Preset> {
            /// The block.
            pub message: $name<P>,
            /// The proposer's signature.
            pub signature: SignatureBytes,
        }
    };
}

block_struct!(
    /// `BeaconBlock` (phase0).
    BeaconBlockPhase0,
    /// `SignedBeaconBlock` (phase0).
    SignedBeaconBlockPhase0,
    BeaconBlockBodyPhase0
);
block_struct!(
    /// `BeaconBlock` (Altair).
    BeaconBlockAltair,
    /// `SignedBeaconBlock` (Altair).
    SignedBeaconBlockAltair,
    BeaconBlockBodyAltair
);
block_struct!(
    /// `BeaconBlock` (Bellatrix).
    BeaconBlockBellatrix,
    /// `SignedBeaconBlock` (Bellatrix).
    SignedBeaconBlockBellatrix,
    BeaconBlockBodyBellatrix
);
block_struct!(
    /// `BeaconBlock` (Capella).
    BeaconBlockCapella,
    /// `SignedBeaconBlock` (Capella).
    SignedBeaconBlockCapella,
    BeaconBlockBodyCapella
);
block_struct!(
    /// `BeaconBlock` (Deneb).
    BeaconBlockDeneb,
    /// `SignedBeaconBlock` (Deneb).
    SignedBeaconBlockDeneb,
    BeaconBlockBodyDeneb
);
block_struct!(
    /// `BeaconBlock` (Electra and Fulu).
    BeaconBlockElectra,
    /// `SignedBeaconBlock` (Electra and Fulu).
    SignedBeaconBlockElectra,
    BeaconBlockBodyElectra
);
block_struct!(
    /// `BeaconBlock` (Gloas): the body carries a bid for the payload, not the payload.
    BeaconBlockGloas,
    /// `SignedBeaconBlock` (Gloas).
    SignedBeaconBlockGloas,
    BeaconBlockBodyGloas
);
block_struct!(
    /// `BlindedBeaconBlock` (Bellatrix).
    BlindedBeaconBlockBellatrix,
    /// `SignedBlindedBeaconBlock` (Bellatrix).
    SignedBlindedBeaconBlockBellatrix,
    BlindedBeaconBlockBodyBellatrix
);
block_struct!(
    /// `BlindedBeaconBlock` (Capella).
    BlindedBeaconBlockCapella,
    /// `SignedBlindedBeaconBlock` (Capella).
    SignedBlindedBeaconBlockCapella,
    BlindedBeaconBlockBodyCapella
);
block_struct!(
    /// `BlindedBeaconBlock` (Deneb).
    BlindedBeaconBlockDeneb,
    /// `SignedBlindedBeaconBlock` (Deneb).
    SignedBlindedBeaconBlockDeneb,
    BlindedBeaconBlockBodyDeneb
);
block_struct!(
    /// `BlindedBeaconBlock` (Electra and Fulu).
    BlindedBeaconBlockElectra,
    /// `SignedBlindedBeaconBlock` (Electra and Fulu).
    SignedBlindedBeaconBlockElectra,
    BlindedBeaconBlockBodyElectra
);

/// Errors decoding a block of a given fork.
#[derive(Debug, thiserror::Error)]
pub enum BlockDecodeError {
    /// The SSZ bytes do not decode as this fork's block.
    #[error("{fork} block: invalid SSZ: {0:?}", fork = .1)]
    Ssz(DecodeError, ForkName),
    /// The JSON does not parse as this fork's block.
    #[error("{1} block: invalid JSON: {0}")]
    Json(serde_json::Error, ForkName),
    /// The fork has no blinded blocks (before Bellatrix, and from Gloas on,
    /// where a block carries a bid instead of a payload).
    #[error("{0} has no blinded blocks")]
    NoBlindedBlocks(ForkName),
}

/// Dispatches `$body` over every variant of a block enum, binding the inner
/// block to `$b`.
macro_rules! each_variant {
    ($enum:ident, $value:expr, $b:ident => $body:expr, [$($variant:ident),*]) => {
        match $value {
            $($enum::$variant($b) => $body,)*
        }
    };
}

/// A beacon block of any fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeaconBlock<P: Preset> {
    /// Phase0.
    Phase0(BeaconBlockPhase0<P>),
    /// Altair.
    Altair(BeaconBlockAltair<P>),
    /// Bellatrix.
    Bellatrix(BeaconBlockBellatrix<P>),
    /// Capella.
    Capella(BeaconBlockCapella<P>),
    /// Deneb.
    Deneb(BeaconBlockDeneb<P>),
    /// Electra.
    Electra(BeaconBlockElectra<P>),
    /// Fulu (same container as Electra).
    Fulu(BeaconBlockElectra<P>),
    /// Gloas (the body holds a bid for the payload, not the payload).
    Gloas(BeaconBlockGloas<P>),
}

macro_rules! full_block {
    ($value:expr, $b:ident => $body:expr) => {
        each_variant!(BeaconBlock, $value, $b => $body, [Phase0, Altair, Bellatrix, Capella, Deneb, Electra, Fulu, Gloas])
    };
}

impl<P: Preset> BeaconBlock<P> {
    /// The fork this block belongs to.
    pub fn fork_name(&self) -> ForkName {
        match self {
            Self::Phase0(_) => ForkName::Phase0,
            Self::Altair(_) => ForkName::Altair,
            Self::Bellatrix(_) => ForkName::Bellatrix,
            Self::Capella(_) => ForkName::Capella,
            Self::Deneb(_) => ForkName::Deneb,
            Self::Electra(_) => ForkName::Electra,
            Self::Fulu(_) => ForkName::Fulu,
            Self::Gloas(_) => ForkName::Gloas,
        }
    }

    /// The block's header; `header().tree_hash_root()` is the block root.
    pub fn header(&self) -> BeaconBlockHeader {
        full_block!(self, b => b.header())
    }

    /// The block's slot (no hashing).
    pub fn slot(&self) -> Slot {
        full_block!(self, b => b.slot)
    }

    /// `hash_tree_root(block)`.
    pub fn tree_hash_root(&self) -> Hash256 {
        full_block!(self, b => b.tree_hash_root())
    }

    /// The fee recipient of the block's execution payload; `None` where the
    /// block pays no one: before Bellatrix, and before the merge completes
    /// (the empty payload, whose block hash is zero). From Gloas on, the
    /// block holds no payload: this is its bid's `fee_recipient`, the address
    /// the builder's payment goes to (and, for a self-built bid, where the
    /// proposer's own envelope must pay).
    pub fn execution_fee_recipient(&self) -> Option<Address> {
        let (hash, recipient) = match self {
            Self::Phase0(_) | Self::Altair(_) => return None,
            Self::Gloas(b) => return Some(b.body.signed_execution_payload_bid.message.fee_recipient),
            Self::Bellatrix(b) => (b.body.execution_payload.block_hash, b.body.execution_payload.fee_recipient),
            Self::Capella(b) => (b.body.execution_payload.block_hash, b.body.execution_payload.fee_recipient),
            Self::Deneb(b) => (b.body.execution_payload.block_hash, b.body.execution_payload.fee_recipient),
            Self::Electra(b) | Self::Fulu(b) => {
                (b.body.execution_payload.block_hash, b.body.execution_payload.fee_recipient)
            }
        };
        (hash != Hash256::ZERO).then_some(recipient)
    }

    /// SSZ encoding of the inner block.
    pub fn as_ssz_bytes(&self) -> Vec<u8> {
        full_block!(self, b => b.as_ssz_bytes())
    }

    /// Decodes SSZ bytes as a block of `fork`.
    pub fn from_ssz_bytes(fork: ForkName, bytes: &[u8]) -> Result<Self, BlockDecodeError> {
        let e = |err| BlockDecodeError::Ssz(err, fork);
        Ok(match fork {
            ForkName::Phase0 => Self::Phase0(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Altair => Self::Altair(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Bellatrix => Self::Bellatrix(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Capella => Self::Capella(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Deneb => Self::Deneb(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Electra => Self::Electra(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Fulu => Self::Fulu(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Gloas => Self::Gloas(Decode::from_ssz_bytes(bytes).map_err(e)?),
        })
    }

    /// Parses the Beacon API JSON form of a block of `fork`.
    pub fn from_json(fork: ForkName, value: serde_json::Value) -> Result<Self, BlockDecodeError> {
        let e = |err| BlockDecodeError::Json(err, fork);
        Ok(match fork {
            ForkName::Phase0 => Self::Phase0(serde_json::from_value(value).map_err(e)?),
            ForkName::Altair => Self::Altair(serde_json::from_value(value).map_err(e)?),
            ForkName::Bellatrix => Self::Bellatrix(serde_json::from_value(value).map_err(e)?),
            ForkName::Capella => Self::Capella(serde_json::from_value(value).map_err(e)?),
            ForkName::Deneb => Self::Deneb(serde_json::from_value(value).map_err(e)?),
            ForkName::Electra => Self::Electra(serde_json::from_value(value).map_err(e)?),
            ForkName::Fulu => Self::Fulu(serde_json::from_value(value).map_err(e)?),
            ForkName::Gloas => Self::Gloas(serde_json::from_value(value).map_err(e)?),
        })
    }

    /// The Beacon API JSON form of the inner block.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing these plain data types cannot fail.
        full_block!(self, b => serde_json::to_value(b).unwrap_or(serde_json::Value::Null))
    }
}

/// A blinded beacon block (Bellatrix on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlindedBeaconBlock<P: Preset> {
    /// Bellatrix.
    Bellatrix(BlindedBeaconBlockBellatrix<P>),
    /// Capella.
    Capella(BlindedBeaconBlockCapella<P>),
    /// Deneb.
    Deneb(BlindedBeaconBlockDeneb<P>),
    /// Electra.
    Electra(BlindedBeaconBlockElectra<P>),
    /// Fulu (same container as Electra).
    Fulu(BlindedBeaconBlockElectra<P>),
}

macro_rules! blinded_block {
    ($value:expr, $b:ident => $body:expr) => {
        each_variant!(BlindedBeaconBlock, $value, $b => $body, [Bellatrix, Capella, Deneb, Electra, Fulu])
    };
}

impl<P: Preset> BlindedBeaconBlock<P> {
    /// The fork this block belongs to.
    pub fn fork_name(&self) -> ForkName {
        match self {
            Self::Bellatrix(_) => ForkName::Bellatrix,
            Self::Capella(_) => ForkName::Capella,
            Self::Deneb(_) => ForkName::Deneb,
            Self::Electra(_) => ForkName::Electra,
            Self::Fulu(_) => ForkName::Fulu,
        }
    }

    /// The block's header; its root equals the root of the full block.
    pub fn header(&self) -> BeaconBlockHeader {
        blinded_block!(self, b => b.header())
    }

    /// The block's slot (no hashing).
    pub fn slot(&self) -> Slot {
        blinded_block!(self, b => b.slot)
    }

    /// `hash_tree_root(block)`: equal to the full block's root.
    pub fn tree_hash_root(&self) -> Hash256 {
        blinded_block!(self, b => b.tree_hash_root())
    }

    /// SSZ encoding of the inner block.
    pub fn as_ssz_bytes(&self) -> Vec<u8> {
        blinded_block!(self, b => b.as_ssz_bytes())
    }

    /// Decodes SSZ bytes as a blinded block of `fork`.
    pub fn from_ssz_bytes(fork: ForkName, bytes: &[u8]) -> Result<Self, BlockDecodeError> {
        let e = |err| BlockDecodeError::Ssz(err, fork);
        Ok(match fork {
            ForkName::Phase0 | ForkName::Altair | ForkName::Gloas => {
                return Err(BlockDecodeError::NoBlindedBlocks(fork))
            }
            ForkName::Bellatrix => Self::Bellatrix(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Capella => Self::Capella(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Deneb => Self::Deneb(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Electra => Self::Electra(Decode::from_ssz_bytes(bytes).map_err(e)?),
            ForkName::Fulu => Self::Fulu(Decode::from_ssz_bytes(bytes).map_err(e)?),
        })
    }

    /// Parses the Beacon API JSON form of a blinded block of `fork`.
    pub fn from_json(fork: ForkName, value: serde_json::Value) -> Result<Self, BlockDecodeError> {
        let e = |err| BlockDecodeError::Json(err, fork);
        Ok(match fork {
            ForkName::Phase0 | ForkName::Altair | ForkName::Gloas => {
                return Err(BlockDecodeError::NoBlindedBlocks(fork))
            }
            ForkName::Bellatrix => Self::Bellatrix(serde_json::from_value(value).map_err(e)?),
            ForkName::Capella => Self::Capella(serde_json::from_value(value).map_err(e)?),
            ForkName::Deneb => Self::Deneb(serde_json::from_value(value).map_err(e)?),
            ForkName::Electra => Self::Electra(serde_json::from_value(value).map_err(e)?),
            ForkName::Fulu => Self::Fulu(serde_json::from_value(value).map_err(e)?),
        })
    }

    /// The Beacon API JSON form of the inner block.
    pub fn to_json(&self) -> serde_json::Value {
        blinded_block!(self, b => serde_json::to_value(b).unwrap_or(serde_json::Value::Null))
    }
}
