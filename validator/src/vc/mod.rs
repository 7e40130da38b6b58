//! `poolvc vc`: the validator client's duty services.
//!
//! ```text
//! startup: keystores (parallel decrypt) -> validator store; beacon nodes
//!          ranked by health; spec + genesis (checked against --testnet-dir
//!          or --network); slashing DB; indices; doppelganger watch
//! services, each its own task over a shared context (context.rs):
//!   duties        epoch duties an epoch ahead, selection proofs signed in
//!                 one batch, subscriptions, reorg watch (dependent roots);
//!                 with --distributed the proofs are exchanged for the
//!                 middleware's combined ones (distributed.rs)
//!   attestation   head event (1/3 slot at the latest): one store batch, one
//!                 POST; aggregates at 2/3 on their own task
//!   block         slot start: each proposal on its own task (RANDAO,
//!                 produce v2 or v3, checks, store, publish)
//!   sync committee  messages at head/1/3, contributions at 2/3
//!   preparation   each epoch: prepare_beacon_proposer, builder registrations
//!   health        3/4 slot: node ranking
//!   pruning       each epoch: slashing history older than N epochs
//! ```
//! Every signature goes through the validator store (`crate::store`), the
//! only holder of the signing engine. A service that falls behind acts for
//! the current slot, never a past one, and the skip is counted. Outcomes are
//! events (`crate::events`); metrics and logs subscribe.
//! Routes follow the fork of the slot: v1 attestations and produceBlockV2
//! before Electra (what Lodestar v1.5.1 serves), `SingleAttestation` on the
//! v2 pool, v2 aggregates and produceBlockV3 (full or blinded) from Electra on.

pub mod attest;
pub mod client_stats;
mod context;
mod distributed;
mod doppelganger;
pub mod duties;
mod health;
pub mod keys;
mod metrics;
mod perf;
mod pools;
mod preparation;
mod propose;
mod pruning;
pub mod runtime;
mod slot_log;
pub mod ssz_envelope;
mod sync_committee;

pub use pruning::DEFAULT_HISTORY_EPOCHS;
pub use runtime::{run, VcConfig, VcError, VcSummary};

/// The name of every series poolvc exports at `/metrics` (counters with
/// their `_total`, histograms with `_bucket`, `_sum` and `_count`): what a
/// dashboard's queries may name.
pub fn exported_metric_names() -> Vec<String> {
    metrics::Stats::new().series_names()
}
