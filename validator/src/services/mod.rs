//! `poolvc vc`'s duty services, each its own task over one shared context
//! ([`context`]), started by [`crate::runtime`].
//!
//! ```text
//! tasks (each a file with `run`; no task imports another):
//!   duties          epoch duties an epoch ahead, subscriptions, reorg
//!                   watch (dependent roots)
//!   selection       0.5 slot: the next slots' selection proofs (a slot per
//!                   batch), aggregator subscriptions
//!   attestation     head event (1/3 slot at the latest): one store batch, one
//!                   POST; aggregates at 2/3 on their own task
//!   block           slot start: each proposal on its own task (RANDAO,
//!                   produce v2 or v3, checks, store, publish)
//!   sync_committee  messages at head/1/3, contributions at 2/3
//!   ptc             Gloas: payload attestations at 3/4, one batch per slot
//!   preferences     Gloas: proposer preferences for the lookahead's proposals
//!   preparation     each epoch: prepare_beacon_proposer, builder registrations
//!   doppelganger    start: liveness of the keys before they may sign
//!   pool            pools.yaml's contracts -> the store's recipients, exits
//!   performance     the ledger: each finished epoch judged from the chain
//!   health          3/4 slot: node ranking
//!   pruning         each epoch: slashing history older than N epochs
//!   leases          leased key shards: renewals at each slot's start (before
//!                   genesis too), takeovers at 1/4, membership changes
//!   client_stats    --monitoring-endpoint pushes
//! shared steps and state (not tasks):
//!   context         clock, beacon client, store, duty book, events, stop;
//!                   publish_outcome, keep_signed, refuse_node_data
//!   duty_book       EpochDuties, DutyBook, aggregator selection (leaf)
//!   duty_fetch      indices, one epoch's duties, checked answers, proofs
//!   proposer_preparation  prepare_beacon_proposer for every indexed key
//!   distributed     --distributed: the middleware's combined proofs
//!   slot_log        one line per slot and the missed duties
//! ```
//! Every signature goes through the validator store (`crate::store`), the
//! only holder of the signing engine. A service that falls behind acts for
//! the current slot, never a past one, and the skip is counted. Outcomes are
//! events (`crate::events`); metrics and logs subscribe.
//! Routes follow the fork of the slot: v1 attestations and produceBlockV2
//! before Electra (what Lodestar v1.5.1 serves), `SingleAttestation` on the
//! v2 pool, v2 aggregates and produceBlockV3 (full or blinded) from Electra on.

pub mod attestation;
pub mod block;
mod block_gloas;
pub mod client_stats;
pub mod context;
pub mod distributed;
pub mod doppelganger;
pub mod duties;
pub mod duty_book;
pub mod duty_fetch;
pub mod health;
pub mod leases;
pub mod performance;
pub mod pool;
pub mod pool_standing;
pub mod preferences;
pub mod preparation;
mod proposal;
pub mod proposer_preparation;
pub mod pruning;
pub mod ptc;
pub mod selection;
pub mod slot_log;
pub mod stader_presign;
pub mod sync_committee;

#[cfg(test)]
mod step_tests;
#[cfg(test)]
pub(crate) mod testing;
