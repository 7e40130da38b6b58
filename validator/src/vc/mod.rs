//! `poolvc vc`: the validator client runtime.
//!
//! ```text
//! startup: keystores (parallel decrypt) -> engine keys; beacon nodes ranked
//!          by health; spec + genesis (checked against --testnet-dir or
//!          --network); slashing DB; indices; doppelganger watch (optional)
//! each epoch: duties (attester current+next, proposer, sync), subscriptions,
//!             proposer preparation, builder registrations (signed once),
//!             attestation and sync selection proofs signed in one batch
//! each slot:  0     propose (RANDAO, produce v2 or v3, check, slashing, sign,
//!                   publish v1 or v2 with the consensus-version header)
//!             head  (event, or 1/3 slot at the latest) attest: one slashing
//!                   batch -> one signing batch -> one POST; sync messages
//!             2/3   aggregates (one per committee with our aggregators) and
//!                   sync contributions (one per subcommittee)
//!             end   node health poll; duties refetched if a dependent root moved
//! ```
//! Every signature goes through the batch engine; every attestation and block
//! through one batched slashing check-and-insert, durable before signing.
//! Routes follow the fork of the slot: v1 attestations and produceBlockV2
//! before Electra (what Lodestar v1.5.1 serves), `SingleAttestation` on the
//! v2 pool, v2 aggregates and produceBlockV3 (full or blinded) from Electra on.

mod attest;
mod builder;
mod doppelganger;
pub mod duties;
pub mod keys;
mod metrics;
mod propose;
pub mod runtime;
mod ssz_envelope;
mod sync_committee;

pub use runtime::{run, VcConfig, VcError, VcSummary};
