//! Fork-independent containers: forks, checkpoints, headers, deposits, exits.

use super::primitives::*;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use ssz_types::{typenum::U33, FixedVector};
use tree_hash_derive::TreeHash;

/// `Fork`: the fork versions in force around `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct Fork {
    /// Version before `epoch` (the Web3Signer document's examples also spell it `previousVersion`).
    #[serde(alias = "previousVersion")]
    pub previous_version: Version,
    /// Version from `epoch` on.
    #[serde(alias = "currentVersion")]
    pub current_version: Version,
    /// Epoch of the change.
    #[serde(with = "serde_utils::quoted_u64")]
    pub epoch: Epoch,
}

/// `ForkData`: hashed into every domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct ForkData {
    /// The fork version.
    pub current_version: Version,
    /// The network's genesis validators root.
    pub genesis_validators_root: Hash256,
}

/// `SigningData`: what is actually signed, `hash_tree_root(SigningData(object_root, domain))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SigningData {
    /// Root of the message object.
    pub object_root: Hash256,
    /// The signing domain.
    pub domain: Domain,
}

/// `Checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct Checkpoint {
    /// Epoch of the checkpoint.
    #[serde(with = "serde_utils::quoted_u64")]
    pub epoch: Epoch,
    /// Block root at the epoch's first slot.
    pub root: Hash256,
}

/// `AttestationData`: what an attester votes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct AttestationData {
    /// Slot of the attestation.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// Committee index before Electra; always 0 from Electra on.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: CommitteeIndex,
    /// LMD GHOST vote.
    pub beacon_block_root: Hash256,
    /// FFG source.
    pub source: Checkpoint,
    /// FFG target.
    pub target: Checkpoint,
}

/// `BeaconBlockHeader`: a block with its body replaced by the body's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct BeaconBlockHeader {
    /// Slot of the block.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
    /// Index of the proposer.
    #[serde(with = "serde_utils::quoted_u64")]
    pub proposer_index: ValidatorIndex,
    /// Parent block root.
    pub parent_root: Hash256,
    /// Post-state root.
    pub state_root: Hash256,
    /// `hash_tree_root(body)`.
    pub body_root: Hash256,
}

/// `SignedBeaconBlockHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SignedBeaconBlockHeader {
    /// The header.
    pub message: BeaconBlockHeader,
    /// The proposer's signature.
    pub signature: SignatureBytes,
}

/// `ProposerSlashing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct ProposerSlashing {
    /// First header.
    pub signed_header_1: SignedBeaconBlockHeader,
    /// Second, conflicting header.
    pub signed_header_2: SignedBeaconBlockHeader,
}

/// `Eth1Data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct Eth1Data {
    /// Deposit tree root.
    pub deposit_root: Hash256,
    /// Deposit count.
    #[serde(with = "serde_utils::quoted_u64")]
    pub deposit_count: u64,
    /// Eth1 block hash.
    pub block_hash: Hash256,
}

/// `DepositMessage`: what a deposit's signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct DepositMessage {
    /// Validator public key.
    pub pubkey: PublicKeyBytes,
    /// Withdrawal credentials.
    pub withdrawal_credentials: Hash256,
    /// Amount in Gwei.
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
}

/// `DepositData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct DepositData {
    /// Validator public key.
    pub pubkey: PublicKeyBytes,
    /// Withdrawal credentials.
    pub withdrawal_credentials: Hash256,
    /// Amount in Gwei.
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
    /// Signature over the `DepositMessage`.
    pub signature: SignatureBytes,
}

/// `Deposit`: deposit data with its Merkle proof (depth 32 + length mix-in).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct Deposit {
    /// Branch of the deposit tree.
    pub proof: FixedVector<Hash256, U33>,
    /// The deposit.
    pub data: DepositData,
}

/// `VoluntaryExit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct VoluntaryExit {
    /// Earliest epoch the exit is valid.
    #[serde(with = "serde_utils::quoted_u64")]
    pub epoch: Epoch,
    /// Exiting validator.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
}

/// `SignedVoluntaryExit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SignedVoluntaryExit {
    /// The exit.
    pub message: VoluntaryExit,
    /// The validator's signature.
    pub signature: SignatureBytes,
}

/// `BLSToExecutionChange` (Capella).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct BlsToExecutionChange {
    /// Validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
    /// The BLS withdrawal key being replaced.
    pub from_bls_pubkey: PublicKeyBytes,
    /// The new execution withdrawal address.
    pub to_execution_address: Address,
}

/// `SignedBLSToExecutionChange` (Capella).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SignedBlsToExecutionChange {
    /// The change.
    pub message: BlsToExecutionChange,
    /// Signature of the withdrawal key.
    pub signature: SignatureBytes,
}
