//! Frames and the pools' formulas over the ledger.
//!
//! - **Lido CSM** (`lido-oracle`, `distribution.py`): per key,
//!   `performance = Σ_d w_d · included_d / assigned_d / Σ_{d present} w_d`
//!   with weights 54 / 8 / 2 for attestations, proposals and sync; the
//!   network's performance is the same formula over every validator's sums;
//!   a key's threshold is `max(network - leeway(k), 0)` where `k` is its
//!   number within the operator; a key below its threshold, or slashed,
//!   gets a strike, and `threshold` strikes within `lifetime` frames make it
//!   ejectable. As the oracle numbers them (`distribution.py`,
//!   `_calculate_distribution_in_frame`): only keys with attestation duties
//!   in the frame are numbered, by effective balance (capped at 2,048 ETH)
//!   descending, then index; a key without attestation duties has no
//!   outcome, even with sync duties ([`numbered`], [`outcome`]).
//! - **Stader**: per key per window, the missed attestations; the oracle's
//!   rule for a strike is not public (design/pools.md §1.4): poolvc projects
//!   one strike per window in which the key missed more than
//!   `stader_max_missed` attestations, 0.2 ETH each, and a forced exit at
//!   2 ETH.
//! - **Rewards**: the attestation rewards earned over those the node calls
//!   ideal, where the node serves them.

use super::config::{OperatorParams, PerfConfig};
use super::error::LedgerError;
use super::rows::{EpochRow, KeyState, KeySum, Member, ValidatorRow};
use super::verdict::Counts;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Assigned and included of one duty type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Duty {
    /// Assigned.
    pub assigned: u64,
    /// Included.
    pub included: u64,
}

/// Lido's performance of counts: `None` without attestation duties (the
/// oracle's `calc_performance` always weighs the attestations in; a key
/// with sync duties only has no performance).
pub fn performance(c: &Counts, w: [u64; 3]) -> Option<f64> {
    if c.att_assigned == 0 {
        return None;
    }
    let duties = [(c.att_included, c.att_assigned), (c.prop_made, c.prop_assigned), (c.sync_included, c.sync_assigned)];
    let (mut num, mut den) = (0.0, 0u64);
    for ((inc, asg), w) in duties.into_iter().zip(w) {
        if asg > 0 && w > 0 {
            num += w as f64 * inc as f64 / asg as f64;
            den += w;
        }
    }
    (den > 0).then(|| num / den as f64)
}

/// One key's frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFrame {
    /// Public key.
    pub pubkey: String,
    /// Number within the operator (1-based); `None` without attestation
    /// duties in the frame (not numbered, no outcome).
    pub key_number: Option<u64>,
    /// Effective balance (gwei) and slashing as last read from the node.
    pub effective_balance_gwei: u64,
    /// Slashed (a strike each frame it has attestation duties).
    pub slashed: bool,
    /// Lido performance, `None` without attestation duties.
    pub performance: Option<f64>,
    /// Its threshold, where numbered.
    pub threshold: Option<f64>,
    /// Reward share (0..1) while above the threshold, where numbered.
    pub reward_share: Option<f64>,
    /// Whether it gets a strike this frame: below its threshold, or slashed.
    pub below: bool,
    /// Strikes within the lifetime, this frame included.
    pub strikes: u64,
    /// Whether the strikes reach the threshold (ejectable).
    pub ejectable: bool,
    /// Attestations.
    pub attestation_duty: Duty,
    /// Proposals.
    pub proposal_duty: Duty,
    /// Sync-committee duties.
    pub sync_duty: Duty,
    /// Mean inclusion delay of included attestations.
    pub inclusion_delay: Option<f64>,
    /// Included with timely source, target, head.
    pub source_target_head: [u64; 3],
    /// Attestation rewards earned / ideal (gwei), where served.
    pub rewards: Option<(i64, i64)>,
    /// Stader: missed attestations in the frame.
    pub missed_attestations: u64,
    /// poolvc's own outcome of each epoch's duties where they were missed.
    pub own_when_missed: Vec<String>,
}

/// One operator's frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorFrame {
    /// Pool.
    pub pool: String,
    /// Operator.
    pub operator: String,
    /// Its bond curve, where its parameters were read from one.
    pub curve_id: Option<u64>,
    /// The strikes that make its keys ejectable.
    pub strike_threshold: u64,
    /// Lido performance of the operator's summed counts (its weights).
    pub performance: Option<f64>,
    /// Keys below their threshold.
    pub keys_below: u64,
    /// Keys ejectable.
    pub keys_ejectable: u64,
    /// The summed counts.
    pub counts: Counts,
    /// Rewards earned / ideal over the keys where served.
    pub rewards_ratio: Option<f64>,
    /// Per key, by validator index.
    pub validators: BTreeMap<u64, KeyFrame>,
}

/// A frame's report, shaped like Lido's `FramePerfLog`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameReport {
    /// Frame number.
    pub frame: u64,
    /// `[first, last]` epochs.
    pub epochs: [u64; 2],
    /// Epochs of the frame the ledger has judged.
    pub epochs_judged: u64,
    /// Whether every epoch of the frame is judged.
    pub complete: bool,
    /// Network performance (the thresholds' base).
    pub network_performance: Option<f64>,
    /// The network's counts.
    pub network: Counts,
    /// By `pool/operator`.
    pub operators: BTreeMap<String, OperatorFrame>,
}

/// What a frame report is made of: the judged epochs (with the network's
/// counts) and each key's sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameData {
    /// The judged epochs, ascending.
    pub epochs: Vec<EpochRow>,
    /// Sums by validator index.
    pub keys: HashMap<u64, KeySum>,
    /// The keys' states as of the frame's last judged epoch (a key never
    /// read has [`KeyState::default`]).
    pub states: HashMap<u64, KeyState>,
}

impl FrameData {
    /// Adds a judged epoch and its validator rows.
    pub fn add_epoch(&mut self, e: EpochRow, rows: &[ValidatorRow]) {
        self.remove_epoch(e.epoch, &[]);
        let at = self.epochs.partition_point(|x| x.epoch < e.epoch);
        self.epochs.insert(at, e);
        for r in rows {
            self.keys.entry(r.index).or_default().add(r);
        }
    }

    /// Removes epoch `epoch` and its validator rows `old` (as recorded).
    pub fn remove_epoch(&mut self, epoch: u64, old: &[ValidatorRow]) {
        self.epochs.retain(|x| x.epoch != epoch);
        for r in old {
            if let Some(k) = self.keys.get_mut(&r.index) {
                k.remove(r);
            }
        }
    }

    fn network(&self) -> Counts {
        let mut n = Counts::default();
        for e in &self.epochs {
            n.add(&e.network);
        }
        n
    }
}

/// Reads a frame's data.
pub trait FrameSource {
    /// The judged epochs and per-key sums of `[from, to)`.
    fn frame_data(&self, from: u64, to: u64) -> Result<FrameData, LedgerError>;
}

/// The keys struck in a frame (below their threshold, or slashed).
pub fn below_set(cfg: &PerfConfig, members: &[Member], d: &FrameData) -> BTreeSet<u64> {
    let net = performance(&d.network(), cfg.weights);
    let mut out = BTreeSet::new();
    for ((pool, operator), keys) in numbered_by_operator(members, d) {
        let p = cfg.params(pool, operator);
        out.extend(keys.iter().filter(|k| outcome(&p, net, k).struck).map(|k| k.member.index));
    }
    out
}

/// `MAX_EFFECTIVE_BALANCE_ELECTRA` in gwei: the numbering's cap.
pub const MAX_EFFECTIVE_BALANCE_GWEI: u64 = 2_048_000_000_000;

/// A member in a frame: its key number within its operator and what the
/// frame holds of it, each looked up once.
#[derive(Debug, Clone, Copy)]
pub struct FrameKey<'a> {
    /// The member.
    pub member: &'a Member,
    /// Its number within its operator, where it has attestation duties.
    pub number: Option<u64>,
    /// Its sums in the frame (none: no duty judged).
    pub sum: Option<&'a KeySum>,
    /// Its state as of the frame's last judged epoch.
    pub state: KeyState,
}

impl FrameKey<'_> {
    /// Its counts in the frame.
    pub fn counts(&self) -> Counts {
        self.sum.map(|k| k.counts).unwrap_or_default()
    }
}

/// Members with their key number within their operator, as the oracle
/// numbers them (lido-oracle `src/modules/oracles/staking_modules/common/
/// distribution.py`, `_calculate_distribution_in_frame`): the keys with
/// attestation duties in the frame, by `(-min(effective balance, 2048 ETH),
/// index)`, from 1; the others `None`.
pub fn numbered<'a>(members: &'a [Member], d: &'a FrameData) -> Vec<FrameKey<'a>> {
    numbered_by_operator(members, d).into_iter().flat_map(|(_, keys)| keys).collect()
}

/// One operator's keys with their numbers: `((pool, operator), keys)`.
pub type OperatorKeys<'a> = ((&'a str, &'a str), Vec<FrameKey<'a>>);

/// [`numbered`], one group per operator (by pool, then operator).
pub fn numbered_by_operator<'a>(members: &'a [Member], d: &'a FrameData) -> Vec<OperatorKeys<'a>> {
    let mut by_op: HashMap<(&str, &str), Vec<&Member>> = HashMap::new();
    for m in members {
        by_op.entry((&m.pool, &m.operator)).or_default().push(m);
    }
    let mut groups: Vec<_> = by_op.into_iter().collect();
    groups.sort_unstable_by_key(|(op, _)| *op);
    groups
        .into_iter()
        .map(|(op, ms)| {
            // Each key's sum and state looked up once; the sort key is
            // (-min(EB, cap), index), with no number for a key without
            // attestation duties.
            let mut keys: Vec<FrameKey<'a>> = ms
                .into_iter()
                .map(|m| FrameKey {
                    member: m,
                    number: None,
                    sum: d.keys.get(&m.index),
                    state: d.states.get(&m.index).copied().unwrap_or_default(),
                })
                .collect();
            let active = |k: &FrameKey<'_>| k.sum.is_some_and(|s| s.counts.att_assigned > 0);
            keys.sort_unstable_by_key(|k| {
                (
                    !active(k),
                    std::cmp::Reverse(k.state.effective_balance_gwei.min(MAX_EFFECTIVE_BALANCE_GWEI)),
                    k.member.index,
                )
            });
            for (i, k) in keys.iter_mut().take_while(|k| active(k)).enumerate() {
                k.number = Some(i as u64 + 1);
            }
            (op, keys)
        })
        .collect()
}

/// One key's outcome in a frame (the oracle's `get_validator_duties_outcome`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Its performance, where it has attestation duties.
    pub performance: Option<f64>,
    /// Its threshold, where numbered.
    pub threshold: Option<f64>,
    /// Slashed.
    pub slashed: bool,
    /// A strike this frame: numbered and slashed, or below its threshold.
    pub struck: bool,
}

/// A key's threshold: the network's performance less its leeway, at least 0.
fn threshold(p: &OperatorParams<'_>, net: Option<f64>, number: u64) -> f64 {
    (net.unwrap_or(0.0) - PerfConfig::curve(p.leeway_bp, number) as f64 / 10_000.0).max(0.0)
}

/// The outcome of key `k`, judged by its operator's parameters `p`, with
/// the network at `net`. A slashed key is struck whatever its performance;
/// a key not numbered (no attestation duty) has none.
pub fn outcome(p: &OperatorParams<'_>, net: Option<f64>, k: &FrameKey<'_>) -> Outcome {
    let slashed = k.state.slashed;
    let performance = performance(&k.counts(), p.weights);
    let threshold = k.number.map(|n| threshold(p, net, n));
    let below = matches!((performance, threshold), (Some(p), Some(t)) if p < t);
    Outcome { performance, threshold, slashed, struck: k.number.is_some() && (slashed || below) }
}

/// Strikes of the frames before `n` within each key's strike lifetime (its
/// operator's), per key.
pub fn strikes_before(
    cfg: &PerfConfig,
    members: &[Member],
    src: &impl FrameSource,
    n: u64,
) -> Result<BTreeMap<u64, u64>, LedgerError> {
    let mut struck = Vec::new();
    for back in 1..cfg.longest_strike_lifetime() {
        let Some(f) = n.checked_sub(back) else { break };
        let (a, b) = cfg.frame_bounds(f);
        let d = src.frame_data(a, b)?;
        if !d.epochs.is_empty() {
            struck.push((back, below_set(cfg, members, &d)));
        }
    }
    Ok(count_strikes(cfg, members, struck.iter().map(|(b, s)| (*b, s))))
}

/// Each key's strikes from the keys struck `back` frames before the
/// current one, counting a frame only within the key's operator's strike
/// lifetime (the current frame is 0 back and not counted here).
pub fn count_strikes<'a>(
    cfg: &PerfConfig,
    members: &[Member],
    struck: impl IntoIterator<Item = (u64, &'a BTreeSet<u64>)>,
) -> BTreeMap<u64, u64> {
    let lifetime: HashMap<u64, u64> =
        members.iter().map(|m| (m.index, cfg.params(&m.pool, &m.operator).strike_lifetime_frames)).collect();
    let mut out: BTreeMap<u64, u64> = BTreeMap::new();
    for (back, keys) in struck {
        for i in keys {
            if lifetime.get(i).is_some_and(|l| back < *l) {
                *out.entry(*i).or_default() += 1;
            }
        }
    }
    out
}

/// Raises each member's earlier strikes to the chain's published count
/// (`chain`, by `0x` + hex public key) where that is more; returns the
/// members whose count is the chain's. The tree covers the frames the
/// oracle has reported, the ledger the frames it judged: the higher count
/// stands (a fresh install or a lost ledger shows the chain's).
pub fn merge_chain_strikes(
    earlier: &mut BTreeMap<u64, u64>,
    members: &[Member],
    chain: &BTreeMap<String, u64>,
) -> BTreeSet<u64> {
    let mut from_chain = BTreeSet::new();
    if chain.is_empty() {
        return from_chain;
    }
    for m in members {
        if let Some(c) = chain.get(&m.pubkey.to_ascii_lowercase()) {
            let e = earlier.entry(m.index).or_default();
            if *c > *e {
                *e = *c;
                from_chain.insert(m.index);
            }
        }
    }
    from_chain
}

/// The report of frame `n` for `members`, with strikes counted over the
/// frames of the strike lifetime that end with `n`.
pub fn frame_report(
    cfg: &PerfConfig,
    members: &[Member],
    src: &impl FrameSource,
    n: u64,
) -> Result<FrameReport, LedgerError> {
    let (first, end) = cfg.frame_bounds(n);
    let data = src.frame_data(first, end)?;
    let earlier = strikes_before(cfg, members, src, n)?;
    Ok(build_report(cfg, members, n, &data, &earlier))
}

/// The report of frame `n` from its data and the earlier frames' strikes.
pub fn build_report(
    cfg: &PerfConfig,
    members: &[Member],
    n: u64,
    data: &FrameData,
    earlier: &BTreeMap<u64, u64>,
) -> FrameReport {
    let (first, end) = cfg.frame_bounds(n);
    let network = data.network();
    let net = performance(&network, cfg.weights);
    let mut operators: BTreeMap<String, OperatorFrame> = BTreeMap::new();
    for ((pool, operator), keys) in numbered_by_operator(members, data) {
        // The operator's parameters, once for all its keys.
        let p = cfg.params(pool, operator);
        let op = operators.entry(format!("{pool}/{operator}")).or_insert_with(|| OperatorFrame {
            pool: pool.to_string(),
            operator: operator.to_string(),
            curve_id: p.curve_id,
            strike_threshold: p.strike_threshold,
            performance: None,
            keys_below: 0,
            keys_ejectable: 0,
            counts: Counts::default(),
            rewards_ratio: None,
            validators: BTreeMap::new(),
        });
        for k in keys {
            let (m, number, sum, c) = (k.member, k.number, k.sum, k.counts());
            let o = outcome(&p, net, &k);
            let strikes = earlier.get(&m.index).copied().unwrap_or(0) + u64::from(o.struck);
            let key = KeyFrame {
                pubkey: m.pubkey.clone(),
                key_number: number,
                effective_balance_gwei: k.state.effective_balance_gwei,
                slashed: o.slashed,
                performance: o.performance,
                threshold: o.threshold,
                reward_share: number.map(|k| PerfConfig::curve(p.reward_share_bp, k) as f64 / 10_000.0),
                below: o.struck,
                strikes,
                ejectable: strikes >= p.strike_threshold,
                attestation_duty: Duty { assigned: c.att_assigned, included: c.att_included },
                proposal_duty: Duty { assigned: c.prop_assigned, included: c.prop_made },
                sync_duty: Duty { assigned: c.sync_assigned, included: c.sync_included },
                inclusion_delay: (c.att_included > 0).then(|| c.att_delay_sum as f64 / c.att_included as f64),
                source_target_head: [c.att_source, c.att_target, c.att_head],
                rewards: sum.and_then(|k| k.rewards),
                missed_attestations: c.att_missed(),
                own_when_missed: sum.map(|k| k.misses.clone()).unwrap_or_default(),
            };
            op.counts.add(&c);
            op.keys_below += u64::from(key.below);
            op.keys_ejectable += u64::from(key.ejectable);
            op.validators.insert(m.index, key);
        }
    }
    for op in operators.values_mut() {
        op.performance = performance(&op.counts, cfg.params(&op.pool, &op.operator).weights);
        let (a, i) = op.validators.values().filter_map(|k| k.rewards).fold((0i64, 0i64), |s, r| (s.0 + r.0, s.1 + r.1));
        op.rewards_ratio = (i > 0).then(|| a as f64 / i as f64);
    }
    let judged = data.epochs.len() as u64;
    FrameReport {
        frame: n,
        epochs: [first, end - 1],
        epochs_judged: judged,
        complete: judged >= cfg.frame_epochs,
        network_performance: net,
        network,
        operators,
    }
}

/// Epochs judged after a start during which no key is warned: the start's
/// own misses (duties fetched late, a node catching up) fall there.
pub const WARMUP_EPOCHS: u64 = 2;
/// Attestation duties a key's rate must rest on before its rate alone warns.
pub const MIN_SAMPLE_DUTIES: u64 = 32;
/// Standard errors below the threshold a key's rate must be to warn.
pub const SIGNIFICANCE_SE: f64 = 3.0;

/// Why a key is warned before its frame ends ([`at_risk`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtRisk {
    /// Even with every remaining duty of the frame met it ends below its
    /// threshold: `best_case` is its performance then.
    Certain {
        /// Its performance at the frame's end if every remaining duty is met.
        best_case: f64,
    },
    /// Its rate so far, held to the frame's end, is below its threshold by
    /// more than [`SIGNIFICANCE_SE`] standard errors of a rate measured
    /// over `duties` duties.
    Trend {
        /// Its performance so far.
        so_far: f64,
        /// Attestation duties that rate rests on.
        duties: u64,
    },
}

/// The early-warning rule for a key whose frame is not over: `so_far` its
/// performance over `duties` attestation duties in the `judged` epochs of a
/// frame of `frame_epochs`, against `threshold`; `since_start` the epochs
/// judged since this process started.
///
/// - Nothing during [`WARMUP_EPOCHS`] after a start.
/// - [`AtRisk::Certain`] when even a perfect rest of the frame leaves the
///   key below: no noise can undo that.
/// - [`AtRisk::Trend`] when the rate so far is below the threshold and the
///   gap is significant: at least [`MIN_SAMPLE_DUTIES`] duties, and
///   `threshold - so_far >= 3·sqrt(t(1-t)/n)`. A key whose true rate is the
///   threshold `t` shows such a shortfall over `n` duties by chance less than
///   0.2 % of the time (one-sided, normal approximation of the binomial);
///   at 0.95 and 32 duties that takes 6 misses or more.
///
/// The rate of the newest epoch alone is never extrapolated: one missed
/// attestation would project a key to 0 (the devnet's first epoch after a
/// start warned every operator so).
pub fn at_risk(
    so_far: f64,
    duties: u64,
    judged: u64,
    since_start: u64,
    frame_epochs: u64,
    threshold: f64,
) -> Option<AtRisk> {
    if since_start < WARMUP_EPOCHS {
        return None;
    }
    let (j, l) = (judged.min(frame_epochs) as f64, frame_epochs.max(1) as f64);
    let best_case = (so_far * j + (l - j)) / l;
    if best_case < threshold {
        return Some(AtRisk::Certain { best_case });
    }
    let t = threshold.clamp(0.0, 1.0);
    let noise = SIGNIFICANCE_SE * (t * (1.0 - t) / duties.max(1) as f64).sqrt();
    (duties >= MIN_SAMPLE_DUTIES && threshold - so_far >= noise).then_some(AtRisk::Trend { so_far, duties })
}

impl std::fmt::Display for AtRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AtRisk::Certain { best_case } => {
                write!(f, "{best_case:.3} at best by the frame's end, every remaining duty met")
            }
            AtRisk::Trend { so_far, duties } => {
                write!(f, "{so_far:.3} over {duties} duties, below by more than chance")
            }
        }
    }
}

/// Stader's view of one key over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StaderView {
    /// Window number.
    pub window: u64,
    /// Attestations missed so far in the window.
    pub missed: u64,
    /// Strikes projected (0 or 1 per window).
    pub projected_strikes: u64,
    /// Penalty projected, gwei.
    pub projected_penalty_gwei: u64,
    /// Whether the projected penalty reaches the forced-exit level.
    pub force_exit: bool,
}

/// Stader's view of `missed` attestations in window `window`, on top of
/// `strikes_before` strikes already recorded.
pub fn stader_view(cfg: &PerfConfig, window: u64, missed: u64, strikes_before: u64) -> StaderView {
    let strikes = strikes_before + u64::from(missed > cfg.stader_max_missed);
    let penalty = strikes.saturating_mul(cfg.stader_penalty_per_strike_gwei);
    StaderView {
        window,
        missed,
        projected_strikes: strikes,
        projected_penalty_gwei: penalty,
        force_exit: penalty >= cfg.stader_exit_penalty_gwei,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lido_performance_weighs_the_duties_present() {
        let w = [54, 8, 2];
        let att_only = Counts { att_assigned: 10, att_included: 9, ..Default::default() };
        assert!((performance(&att_only, w).unwrap() - 0.9).abs() < 1e-12);
        let all = Counts {
            att_assigned: 10,
            att_included: 10,
            prop_assigned: 1,
            prop_made: 0,
            sync_assigned: 4,
            sync_included: 2,
            ..Default::default()
        };
        // (54 * 1 + 8 * 0 + 2 * 0.5) / 64
        assert!((performance(&all, w).unwrap() - 55.0 / 64.0).abs() < 1e-12);
        assert_eq!(performance(&Counts::default(), w), None);
    }

    #[test]
    fn frames_leeway_curves_and_projections() {
        let cfg =
            PerfConfig { frame_epochs: 4, first_epoch: 2, leeway_bp: vec![[1, 500], [151, 300]], ..Default::default() };
        cfg.check().unwrap();
        assert_eq!((cfg.frame_of(0), cfg.frame_of(5), cfg.frame_of(6)), (0, 0, 1));
        assert_eq!(cfg.frame_bounds(1), (6, 10));
        assert_eq!(PerfConfig::curve(&cfg.leeway_bp, 150), 500);
        assert_eq!(PerfConfig::curve(&cfg.leeway_bp, 151), 300);
        let p = cfg.params("lido-csm", "1");
        assert!((threshold(&p, Some(0.97), 1) - 0.92).abs() < 1e-12);
        assert_eq!(threshold(&p, Some(0.01), 1), 0.0);
        assert_eq!(at_risk(0.0, 1, 1, 2, 4, 0.9), Some(AtRisk::Certain { best_case: 0.75 }));
        assert!(PerfConfig { frame_epochs: 0, ..Default::default() }.check().is_err());
        assert!(PerfConfig { leeway_bp: vec![[2, 300]], ..Default::default() }.check().is_err());
    }

    /// The devnet's noise: one epoch missed at a start, over a mainnet frame
    /// of 6,300 epochs, is no warning (the old rule projected 0.000).
    #[test]
    fn one_missed_epoch_is_no_warning_and_a_third_of_a_frame_offline_is() {
        let (frame, t) = (6_300, 0.95);
        // The first epochs after a start: never.
        assert_eq!(at_risk(0.0, 1, 1, 1, frame, t), None);
        // Later, one miss of one duty: the best case is 0.9998, the sample 1.
        assert_eq!(at_risk(0.0, 1, 1, 2, frame, t), None);
        // 3 misses of 32 (0.906): within chance of 0.95 (3 SE is 0.116).
        assert_eq!(at_risk(29.0 / 32.0, 32, 32, 32, frame, t), None);
        // 28 of 32 (0.875, 4 misses): not yet 3 SE either.
        assert_eq!(at_risk(28.0 / 32.0, 32, 32, 32, frame, t), None);
        // 26 of 32 (0.8125): 0.1375 below, more than 3 SE: a trend.
        assert_eq!(at_risk(26.0 / 32.0, 32, 32, 32, frame, t), Some(AtRisk::Trend { so_far: 0.8125, duties: 32 }));
        // Below but under the minimum sample: no trend yet.
        assert_eq!(at_risk(0.5, 31, 31, 31, frame, t), None);
        // Offline for a third of the frame from its start: certain, as soon
        // as the lost duties exceed what the leeway allows (5 % of 6,300).
        // Offline from the frame's start for 300 epochs (4.8 %): still able
        // to end above, but a rate of 0 over 300 duties is no chance.
        assert_eq!(at_risk(0.0, 300, 300, 300, frame, t), Some(AtRisk::Trend { so_far: 0.0, duties: 300 }));
        let third = frame / 3;
        assert!(
            matches!(at_risk(0.0, third, third, third, frame, t), Some(AtRisk::Certain { best_case }) if (best_case - 2.0 / 3.0).abs() < 1e-3)
        );
        // A 4-epoch devnet frame: one epoch offline after the warm-up is certain.
        assert!(matches!(at_risk(2.0 / 3.0, 3, 3, 3, 4, 0.94), Some(AtRisk::Certain { .. })));
    }

    #[test]
    fn stader_projects_a_strike_per_bad_window_and_the_exit_at_two_eth() {
        let cfg = PerfConfig { stader_max_missed: 3, ..Default::default() };
        assert_eq!(stader_view(&cfg, 0, 3, 0).projected_strikes, 0);
        let v = stader_view(&cfg, 0, 4, 9);
        assert_eq!((v.projected_strikes, v.projected_penalty_gwei, v.force_exit), (10, 2_000_000_000, true));
    }

    struct Mem(Vec<EpochRow>, Vec<ValidatorRow>);
    impl FrameSource for Mem {
        fn frame_data(&self, from: u64, to: u64) -> Result<FrameData, LedgerError> {
            let mut d = FrameData::default();
            for e in self.0.iter().filter(|e| e.epoch >= from && e.epoch < to) {
                let rows: Vec<ValidatorRow> = self.1.iter().filter(|r| r.epoch == e.epoch).cloned().collect();
                d.add_epoch(e.clone(), &rows);
            }
            Ok(d)
        }
    }

    /// A worked example of the oracle's numbering and outcomes, each line
    /// as lido-oracle computes it in `src/modules/oracles/staking_modules/
    /// common/distribution.py` (commit 01337199): `_calculate_distribution_
    /// in_frame` numbers the active keys by `(-min(EB, MAX_EFFECTIVE_BALANCE_
    /// ELECTRA), index)` from 1; `get_validator_duties_outcome` gives no
    /// outcome without attestation duties and a strike to a slashed key.
    #[test]
    fn keys_are_numbered_by_capped_balance_then_index_active_ones_only() {
        const ETH: u64 = 1_000_000_000;
        // The ICS curve's shape, its boundary moved to key 3 for the example.
        let cfg = PerfConfig { frame_epochs: 1, leeway_bp: vec![[1, 500], [3, 300]], ..Default::default() };
        let att = |asg, inc| Counts { att_assigned: asg, att_included: inc, ..Default::default() };
        let mut d = FrameData::default();
        let network = Counts { att_assigned: 100, att_included: 98, ..Default::default() };
        let mut rows = Vec::new();
        // (index, effective balance, slashed, attestations assigned/included, sync assigned)
        type Key = (u64, u64, bool, (u64, u64), u64);
        let keys: [Key; 6] = [
            (20, 32, false, (10, 10), 0),
            (21, 64, false, (100, 94), 0),   // 0x02, grown to 64 ETH
            (22, 32, false, (0, 0), 32),     // exited, still in a sync committee
            (23, 2_100, false, (10, 10), 0), // above the cap: counts as 2,048
            (24, 2_048, false, (10, 10), 0),
            (25, 32, true, (10, 10), 0), // slashed, every duty met
        ];
        for (index, eb, slashed, (asg, inc), sync) in keys {
            let mut counts = att(asg, inc);
            counts.sync_assigned = sync;
            counts.sync_included = sync;
            rows.push(ValidatorRow { epoch: 0, index, counts, reward: None, own: None });
            d.states.insert(index, KeyState { effective_balance_gwei: eb * ETH, slashed });
        }
        d.add_epoch(EpochRow { epoch: 0, digest: [0; 32], final_: true, rewards: false, network }, &rows);
        let members: Vec<Member> = keys
            .iter()
            .map(|k| Member { index: k.0, pubkey: format!("0x{}", k.0), pool: "lido-csm".into(), operator: "1".into() })
            .collect();
        let numbers: BTreeMap<u64, Option<u64>> =
            numbered(&members, &d).into_iter().map(|k| (k.member.index, k.number)).collect();
        // 23 and 24 tie at the cap and go by index; 21 (64 ETH) before the
        // 32 ETH keys 20 and 25; 22 has no attestation duty: not numbered.
        let want =
            BTreeMap::from([(20, Some(4)), (21, Some(3)), (22, None), (23, Some(1)), (24, Some(2)), (25, Some(5))]);
        assert_eq!(numbers, want);
        let r = build_report(&cfg, &members, 0, &d, &BTreeMap::new());
        let v = &r.operators["lido-csm/1"].validators;
        // Network 0.98: keys 1-2 have 0.93 (500 bp), keys 3+ 0.95 (300 bp).
        let thr = |i: u64| v[&i].threshold.unwrap();
        assert!((thr(23) - 0.93).abs() < 1e-12 && (thr(24) - 0.93).abs() < 1e-12);
        assert!((thr(21) - 0.95).abs() < 1e-12 && (thr(20) - 0.95).abs() < 1e-12);
        // 21 at 0.94 is below its 0.95 as key 3; numbered by index (key 2,
        // 0.93) it would have passed.
        assert!(v[&21].below && !v[&20].below && !v[&23].below);
        // 22: sync duties only, no performance, no threshold, no strike.
        assert_eq!((v[&22].key_number, v[&22].performance, v[&22].threshold, v[&22].below), (None, None, None, false));
        // 25: every duty met, slashed: a strike.
        assert!(v[&25].slashed && v[&25].performance == Some(1.0) && v[&25].below && v[&25].strikes == 1);
        assert_eq!(below_set(&cfg, &members, &d), BTreeSet::from([21, 25]));
    }

    #[test]
    fn the_chain_s_strikes_stand_where_they_are_more_than_the_ledger_s() {
        let m =
            |i: u64| Member { index: i, pubkey: format!("0x{i:02X}"), pool: "lido-csm".into(), operator: "0".into() };
        let members = [m(1), m(2), m(3)];
        let mut earlier = BTreeMap::from([(1, 1), (2, 3)]);
        let chain = BTreeMap::from([("0x01".to_string(), 2), ("0x02".to_string(), 1), ("0x03".to_string(), 2)]);
        let from_chain = merge_chain_strikes(&mut earlier, &members, &chain);
        // 1: the chain's 2 over the ledger's 1; 2: the ledger's 3 stands;
        // 3: the ledger never saw it struck (a fresh install): the chain's 2.
        assert_eq!(earlier, BTreeMap::from([(1, 2), (2, 3), (3, 2)]));
        assert_eq!(from_chain, BTreeSet::from([1, 3]));
    }

    #[test]
    fn a_key_below_the_network_less_leeway_is_struck_in_each_frame() {
        let cfg = PerfConfig { frame_epochs: 1, strike_threshold: 2, ..Default::default() };
        let att = |inc| Counts { att_assigned: 1, att_included: inc, ..Default::default() };
        let mut epochs = Vec::new();
        let mut rows = Vec::new();
        for e in 0..3 {
            // 100 validators, 98 included: network 0.98, threshold 0.95.
            let network = Counts { att_assigned: 100, att_included: 98, ..Default::default() };
            epochs.push(EpochRow { epoch: e, digest: [0; 32], final_: true, rewards: false, network });
            rows.push(ValidatorRow { epoch: e, index: 1, counts: att(1), reward: None, own: None });
            rows.push(ValidatorRow {
                epoch: e,
                index: 2,
                counts: att(0),
                reward: None,
                own: Some("attestation: refused".into()),
            });
        }
        let members = [1, 2].map(|i| Member {
            index: i,
            pubkey: format!("0x{i}"),
            pool: "lido-csm".into(),
            operator: "7".into(),
        });
        let r = frame_report(&cfg, &members, &Mem(epochs, rows), 2).unwrap();
        let op = &r.operators["lido-csm/7"];
        assert!(r.complete);
        assert!((r.network_performance.unwrap() - 0.98).abs() < 1e-12);
        let (good, bad) = (&op.validators[&1], &op.validators[&2]);
        assert!(!good.below && good.strikes == 0);
        assert!(bad.below && bad.strikes == 3 && bad.ejectable);
        assert_eq!(bad.own_when_missed, vec!["epoch 2: attestation: refused".to_string()]);
        assert_eq!((op.keys_below, op.keys_ejectable), (1, 1));
        assert!((op.performance.unwrap() - 0.5).abs() < 1e-12);
    }
}
