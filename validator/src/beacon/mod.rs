//! A Beacon API client over one or more beacon nodes, ranked by health: a
//! request goes to the best node first and, if it fails there (timeout, 5xx,
//! bad JSON, connection refused), to the next. Timeouts are set per request
//! by the caller (fractions of a slot).
//!
//! Ranking: synced nodes before syncing or unreachable ones, then fewer
//! consecutive failures, then smaller head distance, then the operator's
//! order. Health comes from `/eth/v1/node/syncing`, polled by
//! [`BeaconClient::check_health`] (each slot), and from every request's
//! outcome.

mod anchor;
mod api;
mod body;
mod chain;
mod client;
mod error;
mod fallback;
pub mod limits;
pub mod options;
mod participation;
mod produce;
mod routes;
mod sse;
pub mod ssz_envelope;
mod types;

pub use anchor::PayloadCommitment;
pub use api::{AnswerCheck, BeaconApi};
pub use chain::{AttestationReward, Committee, Committees};
pub use client::{BeaconClient, NodeHealth};
pub use error::{AnswerError, BeaconError, NodeError};
pub use participation::{
    bitlist, bitvector, read_block, BlockParticipation, IncludedBits, ParticipationError, WithdrawalRequest,
};
pub use produce::{BlockRequest, GloasPayload, ProduceError, Produced, Sidecars};
pub use routes::{
    BeaconCommitteeSelection, Indices, SyncCommitteeSelection, SyncCommitteeSubscription, BULK_CHUNK, FETCHES_IN_FLIGHT,
};
pub use types::*;
