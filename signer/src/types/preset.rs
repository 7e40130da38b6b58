//! Presets: the compile-time list and vector sizes that differ between the
//! mainnet and minimal configurations. A root computed with the wrong preset
//! is simply a different root, so every container that holds a sized list is
//! generic over [`Preset`].

use serde::{de::DeserializeOwned, Serialize};
use ssz_types::typenum::{
    Prod, Unsigned, U1, U1048576, U1073741824, U128, U16, U16777216, U2, U2048, U256, U32, U4, U4096, U512, U64, U8,
    U8192,
};
use std::fmt::Debug;
use std::hash::Hash;

/// A type-level length usable in SSZ lists and vectors.
pub trait Len: Unsigned + Clone + Copy + Debug + PartialEq + Eq + Hash + Default + Send + Sync + 'static {}
impl<T: Unsigned + Clone + Copy + Debug + PartialEq + Eq + Hash + Default + Send + Sync + 'static> Len for T {}

/// The preset values that shape containers. Names follow the consensus specs.
pub trait Preset:
    'static + Debug + Clone + Copy + PartialEq + Eq + Hash + Default + Send + Sync + Serialize + DeserializeOwned
{
    /// `PRESET_BASE` as written in a config (`mainnet` or `minimal`).
    const NAME: &'static str;
    /// `SLOTS_PER_EPOCH`.
    const SLOTS_PER_EPOCH: u64;
    /// `EPOCHS_PER_SYNC_COMMITTEE_PERIOD`.
    const EPOCHS_PER_SYNC_COMMITTEE_PERIOD: u64;

    /// `MAX_VALIDATORS_PER_COMMITTEE`.
    type MaxValidatorsPerCommittee: Len;
    /// `MAX_COMMITTEES_PER_SLOT`.
    type MaxCommitteesPerSlot: Len;
    /// `MAX_VALIDATORS_PER_COMMITTEE * MAX_COMMITTEES_PER_SLOT` (Electra bit lists).
    type MaxValidatorsPerSlot: Len;
    /// `SYNC_COMMITTEE_SIZE`.
    type SyncCommitteeSize: Len;
    /// `SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT`.
    type SyncSubcommitteeSize: Len;
    /// `MAX_PROPOSER_SLASHINGS`.
    type MaxProposerSlashings: Len;
    /// `MAX_ATTESTER_SLASHINGS`.
    type MaxAttesterSlashings: Len;
    /// `MAX_ATTESTATIONS`.
    type MaxAttestations: Len;
    /// `MAX_DEPOSITS`.
    type MaxDeposits: Len;
    /// `MAX_VOLUNTARY_EXITS`.
    type MaxVoluntaryExits: Len;
    /// `MAX_BYTES_PER_TRANSACTION`.
    type MaxBytesPerTransaction: Len;
    /// `MAX_TRANSACTIONS_PER_PAYLOAD`.
    type MaxTransactionsPerPayload: Len;
    /// `BYTES_PER_LOGS_BLOOM`.
    type BytesPerLogsBloom: Len;
    /// `MAX_EXTRA_DATA_BYTES`.
    type MaxExtraDataBytes: Len;
    /// `MAX_BLS_TO_EXECUTION_CHANGES`.
    type MaxBlsToExecutionChanges: Len;
    /// `MAX_WITHDRAWALS_PER_PAYLOAD`.
    type MaxWithdrawalsPerPayload: Len;
    /// `MAX_BLOB_COMMITMENTS_PER_BLOCK`.
    type MaxBlobCommitmentsPerBlock: Len;
    /// `MAX_ATTESTER_SLASHINGS_ELECTRA`.
    type MaxAttesterSlashingsElectra: Len;
    /// `MAX_ATTESTATIONS_ELECTRA`.
    type MaxAttestationsElectra: Len;
    /// `MAX_DEPOSIT_REQUESTS_PER_PAYLOAD`.
    type MaxDepositRequestsPerPayload: Len;
    /// `MAX_WITHDRAWAL_REQUESTS_PER_PAYLOAD`.
    type MaxWithdrawalRequestsPerPayload: Len;
    /// `MAX_CONSOLIDATION_REQUESTS_PER_PAYLOAD`.
    type MaxConsolidationRequestsPerPayload: Len;
    /// `HISTORICAL_ROOTS_LIMIT` (unused by blocks; kept for completeness of checks).
    type HistoricalRootsLimit: Len;
    /// `PTC_SIZE` (Gloas): members of a slot's payload-timeliness committee.
    type PtcSize: Len;
    /// `MAX_PAYLOAD_ATTESTATIONS` (Gloas).
    type MaxPayloadAttestations: Len;
    /// `MAX_BUILDER_DEPOSIT_REQUESTS_PER_PAYLOAD` (Gloas, EIP-8282).
    type MaxBuilderDepositRequestsPerPayload: Len;
    /// `MAX_BUILDER_EXIT_REQUESTS_PER_PAYLOAD` (Gloas, EIP-8282).
    type MaxBuilderExitRequestsPerPayload: Len;

    /// `SYNC_COMMITTEE_SIZE` as a number.
    fn sync_committee_size() -> usize {
        Self::SyncCommitteeSize::to_usize()
    }
    /// `MAX_COMMITTEES_PER_SLOT` as a number.
    fn max_committees_per_slot() -> usize {
        Self::MaxCommitteesPerSlot::to_usize()
    }
}

/// The mainnet preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
pub struct Mainnet;

/// The minimal preset (local devnets, spec tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
pub struct Minimal;

impl Preset for Mainnet {
    const NAME: &'static str = "mainnet";
    const SLOTS_PER_EPOCH: u64 = 32;
    const EPOCHS_PER_SYNC_COMMITTEE_PERIOD: u64 = 256;
    type MaxValidatorsPerCommittee = U2048;
    type MaxCommitteesPerSlot = U64;
    type MaxValidatorsPerSlot = Prod<U2048, U64>;
    type SyncCommitteeSize = U512;
    type SyncSubcommitteeSize = U128;
    type MaxProposerSlashings = U16;
    type MaxAttesterSlashings = U2;
    type MaxAttestations = U128;
    type MaxDeposits = U16;
    type MaxVoluntaryExits = U16;
    type MaxBytesPerTransaction = U1073741824;
    type MaxTransactionsPerPayload = U1048576;
    type BytesPerLogsBloom = U256;
    type MaxExtraDataBytes = U32;
    type MaxBlsToExecutionChanges = U16;
    type MaxWithdrawalsPerPayload = U16;
    type MaxBlobCommitmentsPerBlock = U4096;
    type MaxAttesterSlashingsElectra = U1;
    type MaxAttestationsElectra = U8;
    type MaxDepositRequestsPerPayload = U8192;
    type MaxWithdrawalRequestsPerPayload = U16;
    type MaxConsolidationRequestsPerPayload = U2;
    type HistoricalRootsLimit = U16777216;
    type PtcSize = U512;
    type MaxPayloadAttestations = U4;
    type MaxBuilderDepositRequestsPerPayload = U64;
    type MaxBuilderExitRequestsPerPayload = U16;
}

impl Preset for Minimal {
    const NAME: &'static str = "minimal";
    const SLOTS_PER_EPOCH: u64 = 8;
    const EPOCHS_PER_SYNC_COMMITTEE_PERIOD: u64 = 8;
    type MaxValidatorsPerCommittee = U2048;
    type MaxCommitteesPerSlot = U4;
    type MaxValidatorsPerSlot = Prod<U2048, U4>;
    type SyncCommitteeSize = U32;
    type SyncSubcommitteeSize = U8;
    type MaxProposerSlashings = U16;
    type MaxAttesterSlashings = U2;
    type MaxAttestations = U128;
    type MaxDeposits = U16;
    type MaxVoluntaryExits = U16;
    type MaxBytesPerTransaction = U1073741824;
    type MaxTransactionsPerPayload = U1048576;
    type BytesPerLogsBloom = U256;
    type MaxExtraDataBytes = U32;
    type MaxBlsToExecutionChanges = U16;
    type MaxWithdrawalsPerPayload = U4;
    type MaxBlobCommitmentsPerBlock = U4096;
    type MaxAttesterSlashingsElectra = U1;
    type MaxAttestationsElectra = U8;
    type MaxDepositRequestsPerPayload = U8192;
    type MaxWithdrawalRequestsPerPayload = U16;
    type MaxConsolidationRequestsPerPayload = U2;
    type HistoricalRootsLimit = U16777216;
    type PtcSize = U16;
    type MaxPayloadAttestations = U4;
    type MaxBuilderDepositRequestsPerPayload = U64;
    type MaxBuilderExitRequestsPerPayload = U16;
}

/// Which preset a network uses, known only at run time (from `PRESET_BASE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresetName {
    /// The mainnet preset.
    Mainnet,
    /// The minimal preset.
    Minimal,
}

impl PresetName {
    /// Parses `PRESET_BASE` (`mainnet`/`minimal`, case-insensitive). Other
    /// presets (e.g. gnosis) are not supported.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().trim_matches('"').to_ascii_lowercase().as_str() {
            "mainnet" => Some(Self::Mainnet),
            "minimal" => Some(Self::Minimal),
            _ => None,
        }
    }

    /// The name as written in configs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Mainnet => Mainnet::NAME,
            Self::Minimal => Minimal::NAME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_lengths() {
        assert_eq!(<Mainnet as Preset>::MaxValidatorsPerSlot::to_usize(), 131_072);
        assert_eq!(<Minimal as Preset>::MaxValidatorsPerSlot::to_usize(), 8_192);
        assert_eq!(Mainnet::sync_committee_size(), 512);
        assert_eq!(Minimal::sync_committee_size(), 32);
    }
}
