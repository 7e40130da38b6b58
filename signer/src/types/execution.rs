//! Execution payloads and headers (Bellatrix, Capella, Deneb shapes; Electra
//! and Fulu reuse Deneb's), withdrawals and Electra's execution requests.

use super::preset::Preset;
use super::primitives::*;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use ssz_types::{FixedVector, VariableList};
use tree_hash_derive::TreeHash;

/// What a beacon block's execution payload commits to: the block number,
/// hash, state and receipts roots (the root of every pool-read proof) and
/// timestamp, with the beacon slot that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionCommitment {
    /// The beacon block's slot.
    pub slot: u64,
    /// The payload's block number.
    pub block_number: u64,
    /// The payload's block hash.
    pub block_hash: Hash256,
    /// The payload's state root.
    pub state_root: Hash256,
    /// The payload's receipts root.
    pub receipts_root: Hash256,
    /// The payload's timestamp (unix seconds).
    pub timestamp: u64,
}

/// One transaction: opaque bytes.
pub type Transaction<P> = VariableList<u8, <P as Preset>::MaxBytesPerTransaction>;

/// `Withdrawal` (Capella).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct Withdrawal {
    /// Global withdrawal index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
    /// Validator index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: ValidatorIndex,
    /// Destination address.
    pub address: Address,
    /// Amount in Gwei.
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
}

/// Defines a payload and its header with the fields every fork shares, then
/// the fork's own trailing fields (`full { .. }` on the payload, `header { .. }`
/// on the header). Field order is the SSZ order.
macro_rules! payload_pair {
    (
        $(#[$pm:meta])* $payload:ident, $(#[$hm:meta])* $header:ident,
        full { $($(#[$ffm:meta])* $ff:ident : $ft:ty,)* }
        header { $($(#[$hfm:meta])* $hf:ident : $ht:ty,)* }
    ) => {
        $(#[$pm])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
        #[serde(bound = "P: Preset")]
        pub struct $payload<P: Preset> {
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
            #[serde(with = "ssz_types::serde_utils::list_of_hex_var_list")]
            pub transactions: VariableList<Transaction<P>, P::MaxTransactionsPerPayload>,
            $($(#[$ffm])* pub $ff: $ft,)*
        }

        $(#[$hm])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
        #[serde(bound = "P: Preset")]
        pub struct $header<P: Preset> {
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
            /// `hash_tree_root(transactions)`.
            pub transactions_root: Hash256,
            $($(#[$hfm])* pub $hf: $ht,)*
        }
    };
}

payload_pair!(
    /// `ExecutionPayload` (Bellatrix).
    ExecutionPayloadBellatrix,
    /// `ExecutionPayloadHeader` (Bellatrix).
    ExecutionPayloadHeaderBellatrix,
    full {}
    header {}
);

payload_pair!(
    /// `ExecutionPayload` (Capella).
    ExecutionPayloadCapella,
    /// `ExecutionPayloadHeader` (Capella).
    ExecutionPayloadHeaderCapella,
    full {
        /// Withdrawals.
        withdrawals: VariableList<Withdrawal, P::MaxWithdrawalsPerPayload>,
    }
    header {
        /// `hash_tree_root(withdrawals)`.
        withdrawals_root: Hash256,
    }
);

payload_pair!(
    /// `ExecutionPayload` (Deneb; unchanged in Electra and Fulu).
    ExecutionPayloadDeneb,
    /// `ExecutionPayloadHeader` (Deneb; unchanged in Electra and Fulu).
    ExecutionPayloadHeaderDeneb,
    full {
        /// Withdrawals.
        withdrawals: VariableList<Withdrawal, P::MaxWithdrawalsPerPayload>,
        /// Blob gas used.
        #[serde(with = "serde_utils::quoted_u64")]
        blob_gas_used: u64,
        /// Excess blob gas.
        #[serde(with = "serde_utils::quoted_u64")]
        excess_blob_gas: u64,
    }
    header {
        /// `hash_tree_root(withdrawals)`.
        withdrawals_root: Hash256,
        /// Blob gas used.
        #[serde(with = "serde_utils::quoted_u64")]
        blob_gas_used: u64,
        /// Excess blob gas.
        #[serde(with = "serde_utils::quoted_u64")]
        excess_blob_gas: u64,
    }
);

/// `DepositRequest` (Electra).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct DepositRequest {
    /// Validator public key.
    pub pubkey: PublicKeyBytes,
    /// Withdrawal credentials.
    pub withdrawal_credentials: Hash256,
    /// Amount in Gwei.
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
    /// Deposit signature.
    pub signature: SignatureBytes,
    /// Deposit index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
}

/// `WithdrawalRequest` (Electra, EIP-7002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct WithdrawalRequest {
    /// The requesting execution address.
    pub source_address: Address,
    /// The validator.
    pub validator_pubkey: PublicKeyBytes,
    /// Amount (0 = full exit).
    #[serde(with = "serde_utils::quoted_u64")]
    pub amount: Gwei,
}

/// `ConsolidationRequest` (Electra, EIP-7251).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct ConsolidationRequest {
    /// The requesting execution address.
    pub source_address: Address,
    /// Source validator.
    pub source_pubkey: PublicKeyBytes,
    /// Target validator.
    pub target_pubkey: PublicKeyBytes,
}

/// `ExecutionRequests` (Electra).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode, TreeHash)]
#[serde(bound = "P: Preset")]
pub struct ExecutionRequests<P: Preset> {
    /// Deposits.
    pub deposits: VariableList<DepositRequest, P::MaxDepositRequestsPerPayload>,
    /// Withdrawals.
    pub withdrawals: VariableList<WithdrawalRequest, P::MaxWithdrawalRequestsPerPayload>,
    /// Consolidations.
    pub consolidations: VariableList<ConsolidationRequest, P::MaxConsolidationRequestsPerPayload>,
}
