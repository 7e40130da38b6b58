//! Per-operator performance, measured from the chain the way the pools'
//! oracles measure it.
//!
//! - [`verdict`]: one epoch's duties judged from canonical blocks (pure);
//! - [`chain`]: reading an epoch's window (blocks, committees, proposers,
//!   sync committee, rewards) from a beacon node;
//! - [`db`]: the per-validator, per-epoch ledger in SQLite or PostgreSQL
//!   (its errors in [`error`]);
//! - [`frames`]: frames and the pools' formulas (Lido CSM, Stader, rewards);
//! - [`strikes_tree`]: CSM's published strikes tree, checked against its root.

pub mod chain;
pub mod config;
pub mod db;
pub mod error;
pub mod frames;
pub mod merkle;
pub mod onchain;
pub mod report;
pub mod reporter_key;
pub mod rows;
pub mod strikes_tree;
pub mod verdict;

use poolvc_signer::types::PublicKeyBytes;

/// Who is measured: every key the pool map gives each operator (local or
/// not: an operator's keys may be spread over several machines), and how
/// frames are cut. The pool service publishes it after each read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    /// Frames and formulas.
    pub cfg: config::PerfConfig,
    /// `(pool, operator, keys)`.
    pub groups: Vec<(String, String, Vec<PublicKeyBytes>)>,
    /// The execution node and its chain id (`pools.yaml`), for reports.
    pub rpc: Option<(String, u64)>,
}
