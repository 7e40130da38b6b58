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

use alloy_primitives::U256;

/// ETH of `wei` to the milli-ether, for messages (`1.800 ETH`): the one
/// formatter of penalties, bonds and withdrawals.
pub fn eth(wei: U256) -> String {
    let gwei = u128::try_from(wei / U256::from(1_000_000_000u64)).unwrap_or(u128::MAX);
    format!("{}.{:03} ETH", gwei / 1_000_000_000, (gwei % 1_000_000_000) / 1_000_000)
}
