//! An operator's standing with its pools beyond its keys' recipients, read
//! once an epoch and warned about when it changes:
//! - Stader: each key's total penalty ([`crate::pool::stader_penalty`]),
//!   warned one missed-attestation strike before the forced exit;
//! - Lido CSM and curated module v2: the operator's bond
//!   ([`crate::pool::csm_bond`]), warned while keys are unbonded;
//! - Rocket Pool: each minipool's penalty count
//!   ([`crate::pool::rocket_penalties`]), warned from the first, with what
//!   the third costs in the smoothing pool.
//!
//! Each warning names the entry, the operator and what to do; it is given
//! again only when what was read changes.

use crate::el::proven::Reads;
use crate::policy::pool_rules::Facts;
use crate::pool::config::{PoolSpec, PoolsConfig};
use crate::pool::csm_bond::{self, BondRisk, BondState};
use crate::pool::eth;
use crate::pool::map::PoolMap;
use crate::pool::rocket_penalties::{self, PenaltyRisk as RocketRisk};
use crate::pool::stader_penalty::{self, PenaltyRisk};
use alloy_primitives::{Address, U256};
use poolvc_signer::types::PublicKeyBytes;
use std::collections::HashMap;
use tracing::{info, warn};

/// What was last read and warned about.
#[derive(Debug, Default)]
pub(super) struct Standing {
    /// The epoch of the last pass.
    epoch: Option<u64>,
    /// Stader: each key's total last warned about.
    stader: HashMap<PublicKeyBytes, U256>,
    /// Lido: each entry's bond as last read.
    bonds: HashMap<usize, BondState>,
    /// Rocket Pool: each minipool's count last warned about.
    rocket: HashMap<Address, u64>,
}

impl Standing {
    /// Reads each entry's standing, once an epoch (`epoch`), and warns about
    /// what changed. Returns the entries whose standing was not read, with
    /// why.
    pub(super) async fn check(
        &mut self,
        map: &PoolMap,
        cfg: &PoolsConfig,
        reads: &Reads<'_>,
        block: u64,
        epoch: u64,
    ) -> Vec<(usize, String)> {
        if self.epoch == Some(epoch) {
            return Vec::new();
        }
        self.epoch = Some(epoch);
        let mut failed = Vec::new();
        for (i, spec) in cfg.pools.iter().enumerate() {
            let Some(g) = map.entries.get(i).and_then(|e| e.good.as_ref()) else { continue };
            let r = match spec {
                PoolSpec::Stader { penalty: Some(penalty), .. } => {
                    let keys: Vec<PublicKeyBytes> = g.read.all_keys().collect();
                    self.stader_penalties(spec.kind(), &g.read.operator, *penalty, &keys, reads, block).await
                }
                PoolSpec::Lido { operator_id, .. } => match g.read.accounting {
                    Some(acc) => self.bond(i, spec.kind(), acc, *operator_id, reads, block).await,
                    None => Ok(()),
                },
                PoolSpec::RocketPool { network_penalties: Some(p), minipool_manager, node, .. } => {
                    let registered = matches!(g.read.facts, Facts::RocketPool { in_smoothing_pool: true, .. });
                    self.rocket_penalties(*p, *minipool_manager, *node, registered, reads, block).await
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                failed.push((i, e));
            }
        }
        failed
    }

    /// Warns about each Stader key one missed-attestation strike from the
    /// forced exit, or past it, once per total.
    async fn stader_penalties(
        &mut self,
        kind: &str,
        operator: &str,
        penalty: Address,
        keys: &[PublicKeyBytes],
        reads: &Reads<'_>,
        block: u64,
    ) -> Result<(), String> {
        let state =
            stader_penalty::read(reads, penalty, keys, block).await.map_err(|e| format!("Stader penalties: {e}"))?;
        for (pk, total) in &state.penalised {
            let Some(r) = stader_penalty::risk(*total, state.threshold, state.per_strike) else { continue };
            if self.stader.insert(*pk, *total) == Some(*total) {
                continue;
            }
            let what = match r {
                PenaltyRisk::ForcedExit => "at or past the forced-exit threshold: Stader exits it".to_string(),
                PenaltyRisk::OneStrikeAway => {
                    format!("one missed-attestation strike ({}) from the forced exit", eth(state.per_strike))
                }
            };
            warn!(pubkey = %pk, pool = kind, operator,
                "pools: Stader penalty {} of {} for this key: {what}", eth(*total), eth(state.threshold));
        }
        Ok(())
    }

    /// Warns when a Lido operator's bond leaves keys unbonded, once per
    /// state; tells when it covers every key again.
    async fn bond(
        &mut self,
        i: usize,
        kind: &str,
        accounting: Address,
        operator_id: u64,
        reads: &Reads<'_>,
        block: u64,
    ) -> Result<(), String> {
        let s = csm_bond::read(reads, accounting, operator_id, block).await.map_err(|e| format!("bond: {e}"))?;
        let before = self.bonds.insert(i, s);
        if before == Some(s) {
            return Ok(());
        }
        let held = format!("bond {} held, {} required", eth(s.current), eth(s.required));
        match s.risk() {
            Some(BondRisk::Eject { keys }) => warn!(pool = kind, operator = operator_id, %accounting,
                "pools: {kind} operator {operator_id}: {keys} key(s) not covered by the bond ({held}): the module puts \
                 the operator under its forced target limit (targetLimitMode 2) and Lido requests the exit of {keys} of \
                 its keys; add {} to keep them", eth(s.shortfall())),
            Some(BondRisk::Unbonded { keys }) => warn!(pool = kind, operator = operator_id, %accounting,
                "pools: {kind} operator {operator_id}: {keys} key(s) unbonded by a locked bond ({held}): no deposits \
                 until covered; compensate the lock before it is settled, or the keys are ejected"),
            None if before.is_some_and(|b| b.risk().is_some()) => {
                info!(
                    pool = kind,
                    operator = operator_id,
                    "pools: {kind} operator {operator_id}: the bond covers every key again ({held})"
                )
            }
            None => {}
        }
        Ok(())
    }

    /// Warns about each minipool of `node` with a penalty, once per count.
    async fn rocket_penalties(
        &mut self,
        penalties: Address,
        minipool_manager: Address,
        node: Address,
        registered: bool,
        reads: &Reads<'_>,
        block: u64,
    ) -> Result<(), String> {
        let got = rocket_penalties::read(reads, penalties, minipool_manager, node, block)
            .await
            .map_err(|e| format!("Rocket Pool penalties: {e}"))?;
        let sp = if registered { "registered in the smoothing pool" } else { "not in the smoothing pool" };
        for (minipool, count) in got {
            let Some(r) = rocket_penalties::risk(count) else { continue };
            if self.rocket.insert(minipool, count) == Some(count) {
                continue;
            }
            let what = match r {
                RocketRisk::Warned { left } => format!(
                    "{left} more and the minipool's rewards carry a penalty rate, and the smoothing pool's rewards \
                     tree counts the node a cheater (nothing from the smoothing pool)"
                ),
                RocketRisk::Cheater => "a penalty rate on the minipool's rewards, and the smoothing pool's rewards \
                     tree counts the node a cheater: nothing from the smoothing pool while it has such a minipool"
                    .to_string(),
            };
            warn!(%node, %minipool, penalties = count,
                "pools: Rocket Pool minipool {minipool} of node {node} ({sp}): {count} fee-recipient penalties: {what}");
        }
        Ok(())
    }
}
