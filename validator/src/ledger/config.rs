//! `performance:` in `pools.yaml`: how frames are cut, the pools' formulas'
//! parameters ([`PerfConfig`]) and where finished frames are reported on
//! chain ([`ReportConfig`]). A leaf: `pools.yaml`'s reader and the ledger
//! both read it.

use alloy_primitives::Address;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `performance:` in `pools.yaml`; every field has the mainnet default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerfConfig {
    /// Epochs per frame (Lido CSM mainnet: 6,300; Hoodi: 1,575).
    pub frame_epochs: u64,
    /// The first epoch of frame 0.
    pub first_epoch: u64,
    /// Weights of attestations, proposals and sync duties.
    pub weights: [u64; 3],
    /// Leeway in basis points by key number: `[from_key, bp]`, ascending
    /// (mainnet: `[[1, 300]]`; ICS: `[[1, 500], [151, 300]]`).
    pub leeway_bp: Vec<[u64; 2]>,
    /// Reward share in basis points by key number, same shape.
    pub reward_share_bp: Vec<[u64; 2]>,
    /// Strikes that make a key ejectable.
    pub strike_threshold: u64,
    /// Frames a strike lives.
    pub strike_lifetime_frames: u64,
    /// Stader's missed-attestation window in epochs (50,400 blocks).
    pub stader_window_epochs: u64,
    /// Missed attestations in a window above which a strike is projected.
    pub stader_max_missed: u64,
    /// Penalty per strike, gwei (0.2 ETH).
    pub stader_penalty_per_strike_gwei: u64,
    /// Penalty at which Stader forces an exit, gwei (2 ETH).
    pub stader_exit_penalty_gwei: u64,
    /// Where and how finished frames are reported on chain (none: not reported).
    pub report: Option<ReportConfig>,
    /// The `HashConsensus` whose frames these are (CSM: its fee oracle's
    /// consensus contract): when set, `first_epoch` and `frame_epochs` are
    /// read from its `getFrameConfig()` at each pool read, over what the
    /// file says, so poolvc's frames are the oracle's.
    pub hash_consensus: Option<Address>,
    /// Operators' own parameters by pool, then operator, as their bond
    /// curves have them on chain (CSM's parameters registry), over the
    /// file's; filled by the pool reads, never from the file.
    #[serde(skip)]
    pub curves: BTreeMap<String, BTreeMap<String, CurveParams>>,
    /// CSM's published strikes: the `CSStrikes` contract and where its
    /// trees are fetched by CID (none: the ledger's own strikes only).
    pub strikes: Option<StrikesConfig>,
    /// Each key's strikes (`0x` + hex public key) in the last published tree
    /// that checked against the chain's root; filled by the pool reads.
    #[serde(skip)]
    pub chain_strikes: std::sync::Arc<BTreeMap<String, u64>>,
}

/// `performance.strikes` in `pools.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikesConfig {
    /// The `CSStrikes` contract (`treeRoot()`, `treeCid()`).
    pub contract: Address,
    /// Where a tree is fetched by its CID: an HTTP(S) prefix the CID is
    /// appended to (an IPFS gateway's `…/ipfs/`), or a directory holding a
    /// file named by the CID.
    pub tree_source: String,
}

/// One operator's parameters as its bond curve has them: CSM's
/// `CSParametersRegistry` getters for the curve `CSAccounting.
/// getBondCurveId(operator)` names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct CurveParams {
    /// The bond curve (0: the default curve; mainnet ICS: 2).
    pub curve_id: u64,
    /// `getPerformanceCoefficients`: attestations, blocks, sync.
    pub weights: [u64; 3],
    /// `getPerformanceLeewayData`: `[minKeyNumber, bp]`, ascending from 1.
    pub leeway_bp: Vec<[u64; 2]>,
    /// `getRewardShareData`, same shape.
    pub reward_share_bp: Vec<[u64; 2]>,
    /// `getStrikesParams`: strikes that make a key ejectable.
    pub strike_threshold: u64,
    /// `getStrikesParams`: frames a strike lives.
    pub strike_lifetime_frames: u64,
}

/// The parameters one operator is judged by (a view: its curve's, or the
/// file's where it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorParams<'a> {
    /// Its curve, where read.
    pub curve_id: Option<u64>,
    /// Weights of attestations, proposals and sync duties.
    pub weights: [u64; 3],
    /// Leeway by key number.
    pub leeway_bp: &'a [[u64; 2]],
    /// Reward share by key number.
    pub reward_share_bp: &'a [[u64; 2]],
    /// Strikes that make a key ejectable.
    pub strike_threshold: u64,
    /// Frames a strike lives.
    pub strike_lifetime_frames: u64,
}

impl Default for PerfConfig {
    fn default() -> Self {
        Self {
            frame_epochs: 6300,
            first_epoch: 0,
            weights: [54, 8, 2],
            leeway_bp: vec![[1, 300]],
            reward_share_bp: vec![[1, 5834]],
            strike_threshold: 3,
            strike_lifetime_frames: 6,
            stader_window_epochs: 1575,
            stader_max_missed: 157,
            stader_penalty_per_strike_gwei: 200_000_000,
            stader_exit_penalty_gwei: 2_000_000_000,
            report: None,
            hash_consensus: None,
            curves: BTreeMap::new(),
            strikes: None,
            chain_strikes: Default::default(),
        }
    }
}

/// A value of `performance:` out of range; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerfConfigError {
    /// A count that must be at least 1.
    #[error("performance.{field} must be at least 1")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// Every weight is zero.
    #[error("performance.weights: at least one weight must be non-zero")]
    NoWeight,
    /// A curve that does not start at key 1.
    #[error("performance.{field} must start at key 1")]
    CurveStart {
        /// The field.
        field: &'static str,
    },
    /// A curve whose keys do not ascend or whose values pass 10000 bp.
    #[error("performance.{field}: keys must ascend and values be at most 10000 bp")]
    CurveShape {
        /// The field.
        field: &'static str,
    },
}

impl PerfConfig {
    /// Checks the values; the error names the field.
    pub fn check(&self) -> Result<(), PerfConfigError> {
        if self.frame_epochs == 0 {
            return Err(PerfConfigError::Zero { field: "frame_epochs" });
        }
        if self.stader_window_epochs == 0 {
            return Err(PerfConfigError::Zero { field: "stader_window_epochs" });
        }
        if self.weights.iter().all(|w| *w == 0) {
            return Err(PerfConfigError::NoWeight);
        }
        for (field, curve) in [("leeway_bp", &self.leeway_bp), ("reward_share_bp", &self.reward_share_bp)] {
            if curve.is_empty() || curve[0][0] != 1 {
                return Err(PerfConfigError::CurveStart { field });
            }
            if curve.windows(2).any(|w| w[1][0] <= w[0][0]) || curve.iter().any(|p| p[1] > 10_000) {
                return Err(PerfConfigError::CurveShape { field });
            }
        }
        Ok(())
    }

    /// This config cut by `frames` (`(first_epoch, frame_epochs)` as a
    /// `HashConsensus` has them) when known, over the file's: the one place
    /// the chain's frames win.
    pub fn cut_by(&self, frames: Option<(u64, u64)>) -> PerfConfig {
        let mut cfg = self.clone();
        if let Some((first, len)) = frames {
            (cfg.first_epoch, cfg.frame_epochs) = (first, len);
        }
        cfg
    }

    /// What operator `operator` of `pool` is judged by: its curve's
    /// parameters where read, the file's otherwise. The network's
    /// performance is never judged by these: it takes the file's weights
    /// (Lido's oracle: the default coefficients, 54/8/2).
    pub fn params(&self, pool: &str, operator: &str) -> OperatorParams<'_> {
        match self.curves.get(pool).and_then(|m| m.get(operator)) {
            Some(c) => OperatorParams {
                curve_id: Some(c.curve_id),
                weights: c.weights,
                leeway_bp: &c.leeway_bp,
                reward_share_bp: &c.reward_share_bp,
                strike_threshold: c.strike_threshold,
                strike_lifetime_frames: c.strike_lifetime_frames,
            },
            None => OperatorParams {
                curve_id: None,
                weights: self.weights,
                leeway_bp: &self.leeway_bp,
                reward_share_bp: &self.reward_share_bp,
                strike_threshold: self.strike_threshold,
                strike_lifetime_frames: self.strike_lifetime_frames,
            },
        }
    }

    /// The longest strike lifetime any operator has (the frames strikes
    /// are counted back over).
    pub fn longest_strike_lifetime(&self) -> u64 {
        self.curves
            .values()
            .flat_map(|m| m.values())
            .map(|c| c.strike_lifetime_frames)
            .fold(self.strike_lifetime_frames, u64::max)
            .max(1)
    }

    /// The frame holding `epoch` (epochs before `first_epoch` are frame 0).
    pub fn frame_of(&self, epoch: u64) -> u64 {
        epoch.saturating_sub(self.first_epoch) / self.frame_epochs
    }

    /// `[first, end)` epochs of frame `n`.
    pub fn frame_bounds(&self, n: u64) -> (u64, u64) {
        let first = self.first_epoch.saturating_add(n.saturating_mul(self.frame_epochs));
        (first, first.saturating_add(self.frame_epochs))
    }

    pub(crate) fn curve(curve: &[[u64; 2]], key_number: u64) -> u64 {
        curve.iter().take_while(|p| p[0] <= key_number).last().map(|p| p[1]).unwrap_or(0)
    }
}

/// `performance.report` in `pools.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The `PoolPerformanceOracle`.
    pub contract: Address,
    /// The reporter's V3 keystore.
    pub keystore: PathBuf,
    /// A file holding its password.
    pub password_file: PathBuf,
    /// A StaderOracle-shaped contract to send missed-attestation penalties
    /// to, for a member of Stader's oracle.
    #[serde(default)]
    pub stader_oracle: Option<Address>,
    /// What the reporter's transactions may cost, checked before signing
    /// (the fee quotes come from the JSON-RPC endpoint, which is not
    /// trusted with the reporter's money).
    #[serde(default)]
    pub fee_cap: FeeCap,
}

/// `performance.report.fee_cap` in `pools.yaml` (gwei).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeCap {
    /// Highest max fee per gas signed (default 100 gwei).
    pub max_fee_per_gas_gwei: u64,
    /// Highest priority fee (tip) per gas signed (default 2 gwei).
    pub max_priority_fee_per_gas_gwei: u64,
    /// Most all of one frame's transactions may cost together, at their
    /// gas limit and max fee (default 0.01 ETH = 10,000,000 gwei).
    pub max_spend_per_frame_gwei: u64,
}

impl Default for FeeCap {
    fn default() -> Self {
        Self { max_fee_per_gas_gwei: 100, max_priority_fee_per_gas_gwei: 2, max_spend_per_frame_gwei: 10_000_000 }
    }
}
