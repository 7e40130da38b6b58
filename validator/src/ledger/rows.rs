//! The ledger's rows: members, judged epochs, each validator's epoch, and
//! one key's sums over a frame. A leaf of the ledger: the database writes
//! and reads them, the frames' formulas take them.

use super::chain::Reward;
use super::verdict::Counts;

/// One member of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Validator index.
    pub index: u64,
    /// Public key, hex.
    pub pubkey: String,
    /// Pool (`pools.yaml` kind or custom name).
    pub pool: String,
    /// Operator as the pool names it.
    pub operator: String,
}

/// What the oracle reads of a key at a frame's reference slot: its
/// effective balance (the numbering's order) and whether it is slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    /// Effective balance, gwei.
    pub effective_balance_gwei: u64,
    /// Slashed.
    pub slashed: bool,
}

impl Default for KeyState {
    /// A key whose state was never read: 32 ETH and not slashed, the state
    /// of every key before 0x02 credentials (it numbers by index).
    fn default() -> Self {
        Self { effective_balance_gwei: 32_000_000_000, slashed: false }
    }
}

/// A judged epoch's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRow {
    /// Epoch.
    pub epoch: u64,
    /// Digest of its window's headers.
    pub digest: [u8; 32],
    /// Whether it will not be judged again.
    pub final_: bool,
    /// Whether rewards were served.
    pub rewards: bool,
    /// The network's counts.
    pub network: Counts,
}

/// One validator's row of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorRow {
    /// Epoch.
    pub epoch: u64,
    /// Validator index.
    pub index: u64,
    /// The chain's counts.
    pub counts: Counts,
    /// The attestation reward, where served.
    pub reward: Option<Reward>,
    /// poolvc's own outcome for its duties, where it holds the key.
    pub own: Option<String>,
}

/// One key's sums over (part of) a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySum {
    /// Its counts.
    pub counts: Counts,
    /// Rewards earned / ideal (gwei) over the epochs that had them.
    pub rewards: Option<(i64, i64)>,
    /// poolvc's own outcome in epochs with a missed duty (`epoch E: …`),
    /// newest last, at most [`MISSES_KEPT`].
    pub misses: Vec<String>,
}

/// Own outcomes of missed duties kept per key in a report.
pub const MISSES_KEPT: usize = 8;

impl KeySum {
    /// Adds one epoch's row.
    pub fn add(&mut self, r: &ValidatorRow) {
        self.counts.add(&r.counts);
        if let Some(rw) = r.reward {
            let t = self.rewards.get_or_insert((0, 0));
            t.0 += rw.actual;
            t.1 += rw.ideal;
        }
        if r.counts.att_assigned > r.counts.att_included || r.counts.prop_assigned > r.counts.prop_made {
            self.misses.push(format!(
                "epoch {}: {}",
                r.epoch,
                r.own.as_deref().unwrap_or("no duty outcome recorded by this poolvc")
            ));
            if self.misses.len() > MISSES_KEPT {
                self.misses.remove(0);
            }
        }
    }

    /// Takes one epoch's row back out (the epoch is judged again).
    pub fn remove(&mut self, r: &ValidatorRow) {
        self.counts.sub(&r.counts);
        if let (Some(t), Some(rw)) = (self.rewards.as_mut(), r.reward) {
            t.0 -= rw.actual;
            t.1 -= rw.ideal;
        }
        let prefix = format!("epoch {}: ", r.epoch);
        self.misses.retain(|m| !m.starts_with(&prefix));
    }
}
