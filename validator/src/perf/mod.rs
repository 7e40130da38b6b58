//! Per-operator performance, measured from the chain the way the pools'
//! oracles measure it.
//!
//! - [`verdict`]: one epoch's duties judged from canonical blocks (pure);
//! - [`chain`]: reading an epoch's window (blocks, committees, proposers,
//!   sync committee, rewards) from a beacon node;
//! - [`ledger`]: the per-validator, per-epoch ledger in SQLite;
//! - [`frames`]: frames and the pools' formulas (Lido CSM, Stader, rewards).

pub mod chain;
pub mod frames;
pub mod ledger;
pub mod verdict;
