//! `poolvc vc`: the validator client runtime.
//!
//! ```text
//! startup: keystores (parallel decrypt) -> engine keys; beacon node spec +
//!          genesis (checked against --testnet-dir); slashing DB; indices
//! each epoch: duties (attester current+next, proposer, sync), subscriptions,
//!             proposer preparation, selection proofs signed in one batch
//! each slot:  0     propose (RANDAO, produce, check, slashing, sign, publish)
//!             1/3   attest: attestation data per committee -> one slashing
//!                   batch -> one signing batch -> one POST; sync messages
//!             2/3   aggregate: aggregates of the slot's aggregators
//! ```
//! Every signature goes through the batch engine; every attestation and block
//! through one batched slashing check-and-insert, durable before signing.
//!
//! This first version speaks the pre-Electra routes of the Beacon API (v1
//! attestations, produceBlockV2), which is what the Lodestar v1.5.1 dev chain
//! serves; Electra/Fulu routes, several-node health ranking, SSE, doppelganger
//! protection and sync contributions are not built yet.

mod attest;
mod builder;
mod doppelganger;
pub mod duties;
pub mod keys;
mod metrics;
mod propose;
pub mod runtime;
mod sync_committee;

pub use runtime::{run, VcConfig, VcError, VcSummary};
