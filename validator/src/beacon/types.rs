//! The Beacon API's envelopes and the answers and bodies the client
//! exchanges with a node, as typed values.

use poolvc_signer::types::*;
use serde::{Deserialize, Serialize};

/// `{"data": T}` envelope.
#[derive(Debug, Deserialize)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// `{"version": fork, "data": T}` envelope of the v2 routes.
#[derive(Debug, Deserialize)]
pub struct VersionedData<T> {
    /// Fork name of the payload.
    pub version: String,
    /// The payload.
    pub data: T,
}

/// `{"data": T, "dependent_root": ..}` envelope of duties.
#[derive(Debug, Deserialize)]
pub struct DutiesResponse<T> {
    /// The duties.
    pub data: Vec<T>,
    /// The block root the duties depend on (a reorg past it changes them).
    pub dependent_root: Hash256,
}

/// `GET /eth/v1/beacon/genesis`.
#[derive(Debug, Clone, Deserialize)]
pub struct Genesis {
    /// Unix time of slot 0.
    #[serde(with = "serde_utils::quoted_u64")]
    pub genesis_time: u64,
    /// The network's genesis validators root.
    pub genesis_validators_root: Hash256,
}

/// An entry of `GET /eth/v1/beacon/states/{state}/validators`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatorEntry {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
    /// Status (`active_ongoing`, ...).
    pub status: String,
    /// The validator.
    pub validator: ValidatorInfo,
}

/// The `validator` object of [`ValidatorEntry`].
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatorInfo {
    /// Public key.
    pub pubkey: PublicKeyBytes,
    /// Effective balance in gwei; `None` where the node leaves it out.
    #[serde(default, deserialize_with = "quoted_u64_opt")]
    pub effective_balance: Option<u64>,
    /// Whether it is slashed; `None` where the node leaves it out.
    #[serde(default)]
    pub slashed: Option<bool>,
    /// Its activation epoch (`u64::MAX` before activation); `None` where the
    /// node leaves it out.
    #[serde(default, deserialize_with = "quoted_u64_opt")]
    pub activation_epoch: Option<u64>,
}

/// A quoted `u64` that may be absent (`null` or missing).
fn quoted_u64_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse::<u64>().map_err(|e| serde::de::Error::custom(format!("{s:?} is not a quoted u64: {e}"))))
        .transpose()
}

/// An attester duty.
#[derive(Debug, Clone, Deserialize)]
pub struct AttesterDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_index: u64,
    /// Committee size.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_length: u64,
    /// Committees in the slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committees_at_slot: u64,
    /// Position in the committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_committee_index: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
}

/// A proposer duty.
#[derive(Debug, Clone, Deserialize)]
pub struct ProposerDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
}

/// A payload-timeliness-committee duty (Gloas): a PTC seat at `slot`.
#[derive(Debug, Clone, Deserialize)]
pub struct PtcDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
}

/// A sync-committee duty.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Positions in the sync committee.
    #[serde(with = "serde_utils::quoted_u64_vec")]
    pub validator_sync_committee_indices: Vec<u64>,
}

/// `POST /eth/v1/validator/prepare_beacon_proposer` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ProposerPreparation {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Fee recipient.
    pub fee_recipient: Address,
}

/// `POST /eth/v1/validator/beacon_committee_subscriptions` entry.
#[derive(Debug, Clone, Serialize)]
pub struct CommitteeSubscription {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_index: u64,
    /// Committees at the slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committees_at_slot: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// Whether this validator aggregates.
    pub is_aggregator: bool,
}

/// An entry of `POST /eth/v1/validator/liveness/{epoch}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Liveness {
    /// The validator.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
    /// Whether the node saw it take part in the epoch.
    pub is_live: bool,
}
