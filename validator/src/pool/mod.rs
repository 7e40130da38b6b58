//! Pool awareness: which pool and operator each key belongs to.
//!
//! - [`config`]: `pools.yaml` (the pools, their contracts, the operator).
//!
//! The fee-recipient rules themselves are in [`crate::policy::pool_rules`],
//! next to the one payment check.

pub mod config;
pub mod csm_bond;
pub mod exit_webhook;
pub mod exits;
pub mod map;
pub mod reader;
pub mod rocket_penalties;
pub mod snapshot;
pub mod stader_penalty;
pub mod stader_presign;
pub mod strikes;
