//! `poolvc bench`: measurements an operator runs on their own hardware, each
//! against a baseline measured in the same run.
//!
//! - [`signing`]: stock per-signature signing vs the batch engine (and the
//!   slashing and pruning benches);
//! - [`slot`]: the attestation service's signing step for one slot;
//! - [`key_cache`]: a restart's key loading with and without the key cache;
//! - [`remote`]: single requests vs the batch route through `poolvc signer`;
//! - [`perf`]: the performance ledger's cost per epoch;
//! - [`aggregate_fetch`]: the 2/3-slot aggregate fetch, one GET at a time vs
//!   bounded concurrency.

pub mod aggregate_fetch;
pub mod key_cache;
pub mod perf;
pub mod remote;
pub mod signing;
pub mod slot;
