//! The pool service: keeps each key's pool rule current in the store and
//! follows the pools' exit requests.
//!
//! Once a slot, at the slot's start:
//! 1. at each epoch, `pools.yaml` is read again if it changed (a bad file
//!    is logged with its cause and leaves every key without a recipient:
//!    nothing proposes, everything attests);
//! 2. the beacon node's head block gives the execution block to read at
//!    and the state root every read is proven against ([`crate::el::proven`]);
//!    the logs since the last slot of the contracts each read names (and of
//!    the exit buses) are read, and an exit request is acted on only once
//!    its log is proven against its block's receipts root;
//! 3. the contracts are read again at that block when an epoch starts, a
//!    watched contract logged something, a read failed or was never made, or
//!    a Stader change is pending (so the switch comes within a slot);
//! 4. the rules go into the store ([`ValidatorStore::set_pool_recipients`]),
//!    and when a recipient changed, proposer preparation is sent again at once;
//! 5. exit requests for local keys are signed through the store and submitted
//!    (`--pool-auto-exit`) or alerted with their deadline;
//! 6. at each epoch, Stader entries with `presign:` have their keys'
//!    presigned exits registered with Stader ([`super::stader_presign`]),
//!    and each operator's standing (penalties, bond) is read and warned
//!    about ([`super::pool_standing`]).
//!
//! [`ValidatorStore::set_pool_recipients`]: crate::store::ValidatorStore::set_pool_recipients

use super::context::{now_secs, Ctx};
use crate::beacon::BeaconError;
use crate::el::ancestry::Ancestry;
use crate::el::proof::ExecAnchor;
use crate::el::proven::{self, ProvenError, ProvenReader, Reads};
use crate::el::rpc::{EthRpc, RpcError};
use crate::events::{MessageKind, Service};
use crate::metrics::PoolLabel;
use crate::policy::PoolRecipient;
use crate::pool::config::{PoolConfigError, PoolSpec, PoolsConfig, POOLS_FILE};
use crate::pool::exits::{self, ExitRequest};
use crate::pool::map::{PoolMap, MAX_AGE_SLOTS};
use crate::pool::reader::{self, ChainTime};
use poolvc_signer::types::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{error, info, warn};

/// Timeout of one JSON-RPC request.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// What the service holds between slots.
pub(super) struct State {
    /// The file's modification time and what it said.
    file: Option<(SystemTime, Result<PoolsConfig, PoolConfigError>)>,
    rpc: Option<EthRpc>,
    map: PoolMap,
    /// The next block whose logs are to be read.
    next_log_block: Option<u64>,
    finalized_epoch: u64,
    /// Exit requests for local keys, by key.
    pub(super) exits: HashMap<PublicKeyBytes, ExitRequest>,
    /// Keys whose exit the node accepted.
    exited: HashSet<PublicKeyBytes>,
    /// The epoch of each key's last exit attempt (one try an epoch).
    tried: HashMap<PublicKeyBytes, u64>,
    /// Webhook mode: requests the webhook took, and the epoch of each
    /// key's last call (one an epoch).
    webhooked: HashSet<PublicKeyBytes>,
    webhook_tried: HashMap<PublicKeyBytes, u64>,
    /// The earliest unix time each requested key may exit (its activation
    /// plus `SHARD_COMMITTEE_PERIOD`), as the node last said.
    eligible: HashMap<PublicKeyBytes, u64>,
    /// The epoch the requested keys' chain status was last read.
    status_read: Option<u64>,
    /// The last warning per entry and the epoch it was given in.
    warned: HashMap<usize, (String, u64)>,
    reported: bool,
    /// The last refresh's proven state: the next proves only what changed.
    proven: Option<proven::ProvenState>,
    /// `(first_epoch, frame_epochs)` as `performance.hash_consensus` last
    /// said, over the file's.
    frames: Option<(u64, u64)>,
    /// CSM's published strikes as last read and checked.
    strikes: Option<crate::pool::strikes::ChainStrikes>,
    /// The operators' standing (penalties, bonds) as last read and warned.
    standing: super::pool_standing::Standing,
}

impl State {
    /// Nothing read yet.
    pub(super) fn new() -> Self {
        State {
            file: None,
            rpc: None,
            map: PoolMap::new(Vec::new()),
            next_log_block: None,
            finalized_epoch: 0,
            exits: HashMap::new(),
            exited: HashSet::new(),
            tried: HashMap::new(),
            webhooked: HashSet::new(),
            webhook_tried: HashMap::new(),
            eligible: HashMap::new(),
            status_read: None,
            warned: HashMap::new(),
            reported: false,
            proven: None,
            frames: None,
            strikes: None,
            standing: Default::default(),
        }
    }
}

/// What the service holds between slots; made by [`start`].
pub(crate) struct Pools(State);

/// The first pass, before the duty services start, so that no key proposes
/// in the first slot on a recipient its pool contradicts. Bounded by one
/// slot: if the contracts do not answer by then, the keys stay without a
/// recipient and the service goes on trying.
pub(crate) async fn start<P: Preset>(ctx: &Ctx<P>) -> Pools {
    let mut st = State::new();
    let slot = ctx.current_slot();
    let budget = Duration::from_millis(ctx.spec.slot_duration_ms.max(1000));
    if tokio::time::timeout(budget, pass(ctx, &mut st, slot, true)).await.is_err() {
        warn!("pools: the pool contracts did not answer within a slot at start; keys propose once they do");
    }
    Pools(st)
}

/// Runs the service until the client stops.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>, pools: Pools) {
    let mut st = pools.0;
    let presigner = super::stader_presign::Presigner::default();
    let mut slot = ctx.current_slot().max(ctx.first_slot) + 1;
    while let Some(s) = ctx.next_slot(Service::Pools, slot).await {
        slot = s + 1;
        let epoch_start = s % ctx.spec.slots_per_epoch == 0;
        pass(&ctx, &mut st, s, epoch_start).await;
        if epoch_start {
            if let Some((_, Ok(cfg))) = &st.file {
                presigner.tick(&ctx, super::stader_presign::jobs(cfg, &st.map), ctx.spec.epoch_of(s));
            }
        }
    }
}

/// One slot's work.
async fn pass<P: Preset>(ctx: &Ctx<P>, st: &mut State, s: u64, epoch_start: bool) {
    let epoch = ctx.spec.epoch_of(s);
    if epoch_start && !reload(ctx, st) {
        return;
    }
    let Some((_, Ok(cfg))) = &st.file else { return };
    let cfg = cfg.clone();
    let Some(rpc) = &st.rpc else { return };
    let now = now_secs() as u64;
    match head(ctx, rpc, &cfg, epoch_start).await {
        Err(e) => {
            warn_once(&mut st.warned, usize::MAX, epoch, format!("pools: {e}"));
            st.map.record_all_failed(&e.to_string(), now);
            ctx.stats.pool_read_errors.inc();
        }
        Ok(anchor) => {
            let block = anchor.block_number;
            st.map.set_head(block, now);
            let logged = follow_logs(ctx, st, &cfg, &anchor).await;
            let due = epoch_start
                || logged
                || st.map.change_pending()
                || st.map.entries.iter().any(|e| e.good.is_none() || e.error.is_some())
                || st
                    .map
                    .entries
                    .iter()
                    .any(|e| e.good.as_ref().is_some_and(|g| now.saturating_sub(g.at) > max_age(ctx) / 2));
            if due {
                refresh(ctx, st, &cfg, anchor, epoch, now).await;
            }
        }
    }
    apply(ctx, st, now).await;
    handle_exits(ctx, st, s).await;
}

/// The freshness bound in seconds.
fn max_age<P: Preset>(ctx: &Ctx<P>) -> u64 {
    MAX_AGE_SLOTS * ctx.spec.slot_duration_ms / 1000
}

/// Reads `pools.yaml` again if it changed; `false` when there is no file
/// (no pool rules).
fn reload<P: Preset>(ctx: &Ctx<P>, st: &mut State) -> bool {
    let path = ctx.cfg.datadir.join(POOLS_FILE);
    let mtime = match std::fs::metadata(&path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => {
            if st.file.take().is_some() {
                warn!("pools: {} is gone: pool rules no longer apply", path.display());
                ctx.store.set_pool_recipients(|_| None);
            }
            return false;
        }
    };
    if st.file.as_ref().is_some_and(|(t, _)| *t == mtime) {
        return true;
    }
    let parsed = match PoolsConfig::load_from_dir(&ctx.cfg.datadir) {
        Ok(Some(c)) => match (&c.rpc, c.chain_id) {
            (Some(_), Some(_)) => Ok(c),
            _ if c.pools.iter().all(|p| matches!(p, PoolSpec::Custom { .. })) => Ok(c),
            _ => Err(PoolConfigError::NeedsRpc { path: path.clone() }),
        },
        Ok(None) => return false,
        Err(e) => Err(e),
    };
    match &parsed {
        Ok(c) => {
            info!(pools = c.pools.len(), rpc = c.rpc.as_deref().unwrap_or("-"), "pools: {} loaded", path.display());
            st.rpc = c.rpc.as_deref().map(|u| EthRpc::new(u, RPC_TIMEOUT));
            st.map = PoolMap::new(c.pools.iter().map(|p| p.kind().to_string()).collect())
                .with_relays(c.relays.clone())
                .with_slot_secs(ctx.spec.slot_duration_ms / 1000);
            st.next_log_block = None;
            st.frames = None;
            st.warned.clear();
            st.reported = false;
        }
        Err(e) => {
            error!("pools: {e}; no key proposes until the file is fixed (attestations go on)");
            let reason = format!("pools.yaml is not usable: {e}");
            ctx.store.set_pool_recipients(|_| {
                Some(PoolRecipient::Unknown { pool: "pools.yaml".into(), operator: "?".into(), reason: reason.clone() })
            });
        }
    }
    st.file = Some((mtime, parsed));
    true
}

/// Why there is no block to read the pools at.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    /// The execution endpoint failed (or is on another chain).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The beacon node did not give its head block.
    #[error("beacon node: the head block's execution payload: {source}")]
    Beacon {
        /// The node's error.
        source: BeaconError,
    },
    /// The head block has no execution payload to prove reads against.
    #[error("beacon node: no head block with an execution payload: pool reads cannot be proven")]
    NoPayload,
}

/// The execution block the beacon node's head block commits to, after
/// checking the endpoint's chain at each epoch.
async fn head<P: Preset>(
    ctx: &Ctx<P>,
    rpc: &EthRpc,
    cfg: &PoolsConfig,
    check_chain: bool,
) -> Result<ExecAnchor, HeadError> {
    if check_chain {
        if let Some(id) = cfg.chain_id {
            rpc.check_chain(id).await?;
        }
    }
    anchor_at(ctx, "head").await?.ok_or(HeadError::NoPayload)
}

/// What beacon block `id`'s payload commits to, as a proof anchor.
async fn anchor_at<P: Preset>(ctx: &Ctx<P>, id: &str) -> Result<Option<ExecAnchor>, HeadError> {
    ctx.beacon.payload_commitment(id, ctx.slot_timeout()).await.map_err(|source| HeadError::Beacon { source })
}

/// Why an exit request's log is not (yet) proven.
#[derive(Debug, thiserror::Error)]
enum ExitProofError {
    /// The chain contradicts it: a forged request, never acted on.
    #[error("{why}")]
    Disproven {
        /// What contradicts it.
        why: String,
    },
    /// It could not be checked now (an endpoint failed): tried again.
    #[error("{why}")]
    NotYet {
        /// What failed.
        why: String,
    },
}

/// Proves the log of an exit request against the receipts root of the
/// beacon chain's payload at the log's block. Where the beacon node serves
/// no block at the log's slot (before the chain's first payload, a skipped
/// slot, or history a checkpoint-synced node does not keep), the log's
/// block is proven from `head`'s payload down by parent hashes, at most
/// `max_depth` blocks (a forged block is not on that chain).
async fn prove_exit<P: Preset>(
    ctx: &Ctx<P>,
    rpc: &EthRpc,
    head: &ExecAnchor,
    ancestry: &mut Ancestry,
    max_depth: u64,
    r: &ExitRequest,
) -> Result<(), ExitProofError> {
    let not_yet = |e: &dyn std::fmt::Display| ExitProofError::NotYet { why: e.to_string() };
    let Some(log) = &r.log else { return Err(ExitProofError::Disproven { why: "no log to prove".into() }) };
    let ts = proven::block_timestamp(rpc, log.block_hash).await.map_err(|e| not_yet(&e))?;
    let secs = (ctx.spec.slot_duration_ms / 1000).max(1);
    let genesis = ctx.genesis.genesis_time;
    // Slot 0 carries no payload: a block of that time or before is older
    // than the beacon chain.
    let by_slot = if ts >= genesis + secs {
        anchor_at(ctx, &((ts - genesis) / secs).to_string()).await.map_err(|e| not_yet(&e))?
    } else {
        None
    };
    let anchor = match by_slot {
        Some(a) => a,
        None => match ancestry.anchor_of(rpc, head, log.block, max_depth).await {
            Ok(a) => a,
            Err(e @ ProvenError::Proof(_)) => {
                return Err(ExitProofError::Disproven {
                    why: format!("{e} (walking back from slot {}'s payload, block {})", head.slot, head.block_number),
                })
            }
            Err(e) => return Err(not_yet(&e)),
        },
    };
    match proven::prove_log(rpc, &anchor, log).await {
        Ok(()) => Ok(()),
        Err(e @ ProvenError::Proof(_)) => Err(ExitProofError::Disproven { why: e.to_string() }),
        Err(e) => Err(not_yet(&e)),
    }
}

/// Reads the logs since the last slot: exit requests are recorded; `true`
/// if a watched contract logged anything (the reads may be out of date).
async fn follow_logs<P: Preset>(ctx: &Ctx<P>, st: &mut State, cfg: &PoolsConfig, head: &ExecAnchor) -> bool {
    let Some(rpc) = &st.rpc else { return false };
    let block = head.block_number;
    // Blocks older than the beacon chain's payloads, proven once a pass.
    let mut ancestry = Ancestry::default();
    let from = st.next_log_block.unwrap_or(block.saturating_sub(cfg.exit_lookback_blocks));
    if from > block {
        return false;
    }
    let mut logged = false;
    let mut ok = true;
    let mut watch: Vec<_> =
        st.map.entries.iter().filter_map(|e| e.good.as_ref()).flat_map(|g| g.read.watch.iter().copied()).collect();
    watch.sort();
    watch.dedup();
    // Only since the last slot: at start every read is due anyway. One
    // request for every watched contract.
    if st.next_log_block.is_some() && !watch.is_empty() {
        match rpc.logs(&watch, &[], from, block).await {
            Ok(l) => logged = !l.is_empty(),
            Err(e) => {
                ok = false;
                warn!("pools: logs of the watched contracts: {e}");
            }
        }
    }
    // Stader entries share one Penalty contract: its logs are asked once.
    let mut penalty_logs: HashMap<Address, Vec<crate::el::rpc::Log>> = HashMap::new();
    for (i, spec) in cfg.pools.iter().enumerate() {
        let read = st.map.entries.get(i).and_then(|e| e.good.as_ref()).map(|g| &g.read);
        // An entry whose requests name its read (Lido's exit bus, the keys a
        // Stader penalty log is matched against) and which has none yet:
        // the window is searched again once it has, not skipped (at start
        // the first logs are followed before the first read).
        if read.is_none() && exits::follows_requests(spec) {
            ok = false;
            continue;
        }
        let found = exits::fetch(rpc, spec, read, from, block, &mut penalty_logs).await;
        match found {
            Ok(v) => {
                for r in v {
                    if st.exits.contains_key(&r.pubkey) || !ctx.store.holds(&r.pubkey) {
                        continue;
                    }
                    // Nothing is exited on the endpoint's word.
                    match prove_exit(ctx, rpc, head, &mut ancestry, cfg.exit_lookback_blocks, &r).await {
                        Ok(()) => {
                            // Its age (hours since delivery), for requests found after downtime.
                            let age_h = r.delivered.map(|d| (now_secs() as u64).saturating_sub(d) / 3600);
                            warn!(pubkey = %r.pubkey, pool = %r.pool, block = r.block, age_h = ?age_h,
                                "pools: exit requested (log proven)");
                            st.exits.insert(r.pubkey, r);
                        }
                        Err(why @ ExitProofError::Disproven { .. }) => {
                            ctx.stats.pool_read_errors.inc();
                            error!(
                                pubkey = %r.pubkey, pool = %r.pool, block = r.block,
                                "pools: an exit request the chain does not prove, ignored (a lying endpoint?): {why}"
                            );
                        }
                        Err(why @ ExitProofError::NotYet { .. }) => {
                            ok = false;
                            warn!(pubkey = %r.pubkey, block = r.block, "pools: exit request not proven yet: {why}");
                        }
                    }
                }
            }
            Err(e) => {
                ok = false;
                warn!("pools: pools[{i}] ({}): exit requests: {e}", spec.kind());
            }
        }
    }
    if ok {
        st.next_log_block = Some(block + 1);
    }
    logged
}

/// Reads every entry at `anchor`'s block, each read proven against its
/// state root.
async fn refresh<P: Preset>(ctx: &Ctx<P>, st: &mut State, cfg: &PoolsConfig, anchor: ExecAnchor, epoch: u64, now: u64) {
    let Some(rpc) = &st.rpc else { return };
    let block = anchor.block_number;
    // `reload` admits an `rpc` only with a `chain_id`.
    let mut prover = ProvenReader::new(rpc, anchor, cfg.chain_id.unwrap_or_default());
    if let Some(prev) = st.proven.take() {
        prover = prover.with_previous(prev);
    }
    let reads = Reads::Proven(&prover);
    match ctx.beacon.finalized_epoch(ctx.slot_timeout()).await {
        Ok(e) => st.finalized_epoch = e,
        Err(e) => warn!("pools: finalized epoch: {e} (using {})", st.finalized_epoch),
    }
    let time = ChainTime {
        genesis_time: ctx.genesis.genesis_time,
        seconds_per_slot: (ctx.spec.slot_duration_ms / 1000).max(1),
        slots_per_epoch: ctx.spec.slots_per_epoch,
        finalized_epoch: st.finalized_epoch,
    };
    for (i, spec) in cfg.pools.iter().enumerate() {
        let r = reader::read_operator(&reads, spec, block, &time).await;
        if let Err(e) = &r {
            ctx.stats.pool_read_errors.inc();
            warn_once(&mut st.warned, i, epoch, format!("pools: pools[{i}] ({}): {e}", spec.kind()));
        } else if st.warned.remove(&i).is_some() {
            info!("pools: pools[{i}] ({}) read again at block {block}", spec.kind());
        }
        st.map.record(i, r, now, block);
    }
    if let Some(consensus) = cfg.performance.hash_consensus {
        match reader::read_frame_config(&reads, consensus, block).await {
            Ok(f) => {
                if st.frames != Some(f) {
                    info!(first_epoch = f.0, frame_epochs = f.1, "pools: frames from HashConsensus {consensus}");
                }
                st.frames = Some(f);
            }
            Err(e) => {
                ctx.stats.pool_read_errors.inc();
                let keep = st.frames.map_or("the file's".to_string(), |(a, b)| format!("{b} epochs from {a}"));
                warn_once(&mut st.warned, usize::MAX - 1, epoch, format!("pools: frames: {e} (keeping {keep})"));
            }
        }
    }
    if let Some(sc) = &cfg.performance.strikes {
        match crate::pool::strikes::read(&reads, sc, block, st.strikes.as_ref()).await {
            Ok(s) => {
                if st.strikes.as_ref().is_none_or(|l| l.root != s.root) {
                    info!(root = %s.root, cid = %s.cid, keys = s.counts.len(), "pools: CSM's published strikes read");
                }
                st.strikes = Some(s);
            }
            Err(e) => {
                ctx.stats.pool_read_errors.inc();
                warn_once(
                    &mut st.warned,
                    usize::MAX - 2,
                    epoch,
                    format!("pools: strikes: {e} (keeping the last read)"),
                );
            }
        }
    }
    for (i, e) in st.standing.check(&st.map, cfg, &reads, block, epoch).await {
        ctx.stats.pool_read_errors.inc();
        warn_once(&mut st.warned, usize::MAX - 3 - i, epoch, format!("pools: pools[{i}]: {e}"));
    }
    st.proven = Some(prover.into_state());
    publish_roster(ctx, st, cfg);
}

/// Tells the performance service every operator's keys as last read.
fn publish_roster<P: Preset>(ctx: &Ctx<P>, st: &State, cfg: &PoolsConfig) {
    let groups = st
        .map
        .entries
        .iter()
        .filter_map(|e| e.good.as_ref())
        .map(|g| (g.read.pool.clone(), g.read.operator.clone(), g.read.all_keys().collect::<Vec<_>>()))
        .collect();
    let rpc = cfg.rpc.clone().zip(cfg.chain_id);
    let mut perf = cfg.performance.cut_by(st.frames);
    for g in st.map.entries.iter().filter_map(|e| e.good.as_ref()) {
        if let Some(c) = &g.read.curve {
            perf.curves.entry(g.read.pool.clone()).or_default().insert(g.read.operator.clone(), c.clone());
        }
    }
    if let Some(s) = &st.strikes {
        perf.chain_strikes = s.counts.clone();
    }
    let roster = crate::ledger::Roster { cfg: perf, groups, rpc };
    let mut slot = ctx.roster.write().unwrap_or_else(|p| p.into_inner());
    if slot.as_deref() != Some(&roster) {
        *slot = Some(Arc::new(roster));
    }
}

/// Logs `msg` for entry `i` unless the same was logged this epoch.
fn warn_once(warned: &mut HashMap<usize, (String, u64)>, i: usize, epoch: u64, msg: String) {
    if warned.get(&i).is_some_and(|(m, e)| *m == msg && *e == epoch) {
        return;
    }
    warn!("{msg}");
    warned.insert(i, (msg, epoch));
}

/// Puts the rules into the store; sends preparation again if one changed.
async fn apply<P: Preset>(ctx: &Ctx<P>, st: &mut State, now: u64) {
    let rules = st.map.rules(now, max_age(ctx));
    // What each key paid and why: a change of either is told.
    let told = |c: &crate::policy::ProposalConfig| {
        let why = match &c.pool {
            Some(PoolRecipient::Rule { decision, .. }) => Some(decision.why.clone()),
            _ => None,
        };
        (c.recipient(), why)
    };
    // Only the keys whose rule changed come back, with their config before.
    let changed = ctx.store.set_pool_recipients(|pk| rules.rule_of(pk));
    // One line per (pool, operator, outcome), not per key.
    let mut groups: std::collections::BTreeMap<String, (usize, PublicKeyBytes)> = Default::default();
    let mut moved = 0;
    for (pk, was) in &changed {
        let now_rule = rules.rule_of(pk);
        let before = told(was);
        let after = told(&crate::policy::ProposalConfig { pool: now_rule.clone(), ..was.clone() });
        if before == after {
            continue;
        }
        if before.0 != after.0 {
            moved += 1;
        }
        let line = match now_rule {
            Some(PoolRecipient::Rule { pool, operator, decision, no_builder }) => {
                let builder = no_builder.map_or(String::new(), |why| format!("; no builder blocks: {why}"));
                format!("{pool} operator {operator}: pays {} ({}){builder}", decision.recipient, decision.why)
            }
            Some(PoolRecipient::Unknown { pool, operator, reason }) => {
                format!("{pool} operator {operator}: no fee recipient, does not propose: {reason}")
            }
            None => "in no pool: the configured recipient applies".to_string(),
        };
        groups.entry(line).or_insert((0, *pk)).0 += 1;
    }
    for (line, (keys, first)) in groups {
        if line.contains("does not propose") {
            warn!(keys, %first, "pools: {line}");
        } else {
            info!(keys, %first, "pools: {line}");
        }
    }
    if moved > 0 {
        info!(keys = moved, "pools: fee recipients changed; sending proposer preparation again");
        super::proposer_preparation::prepare_proposers(ctx).await;
        ctx.recipients_moved.notify_one();
    }
    // Metrics and the start report: only when something changed.
    if changed.is_empty() && st.reported {
        return;
    }
    let mut per: HashMap<PoolLabel, i64> = HashMap::new();
    let mut unknown = 0;
    let mut in_no_pool = 0;
    for pk in ctx.store.pubkeys() {
        match rules.rule_of(&pk) {
            Some(PoolRecipient::Rule { pool, operator, .. }) => {
                *per.entry(PoolLabel { pool, operator }).or_default() += 1
            }
            Some(PoolRecipient::Unknown { .. }) => unknown += 1,
            None => in_no_pool += 1,
        }
    }
    ctx.stats.pool_keys.clear();
    for (l, n) in per {
        ctx.stats.pool_keys.get_or_create(&l).set(n);
    }
    ctx.stats.pool_keys_without_recipient.set(unknown);
    ctx.stats.pool_local_keys_in_no_pool.set(in_no_pool);
    let local: HashSet<PublicKeyBytes> = ctx.store.pubkeys().into_iter().collect();
    let claimed = st.map.claimed();
    ctx.stats.pool_keys_without_keystore.set(claimed.difference(&local).count() as i64);
    if !st.reported && st.map.entries.iter().all(|e| e.good.is_some()) {
        st.reported = true;
        report(ctx, &rules, &local, &claimed);
    }
}

/// The start report: keys in no pool, pool keys with no keystore, and
/// configured recipients the pool rule overrides.
fn report<P: Preset>(
    ctx: &Ctx<P>,
    rules: &crate::pool::map::Rules,
    local: &HashSet<PublicKeyBytes>,
    claimed: &HashSet<PublicKeyBytes>,
) {
    let none: Vec<_> = local.difference(claimed).collect();
    if !none.is_empty() {
        warn!(
            keys = none.len(),
            first = %none[0],
            "pools: local keys in no pool of pools.yaml: their configured fee recipient applies"
        );
    }
    let missing: Vec<_> = claimed.difference(local).collect();
    if !missing.is_empty() {
        warn!(keys = missing.len(), first = %missing[0], "pools: pool keys of this operator with no local keystore");
    }
    for (pk, c) in ctx.store.configs() {
        if let (true, Some(own), Some(PoolRecipient::Rule { pool, decision, .. })) =
            (c.own_fee_recipient, c.fee_recipient, rules.rule_of(&pk))
        {
            if own != decision.recipient {
                warn!(
                    pubkey = %pk, configured = %own, rule = %decision.recipient, %pool,
                    "pools: validator_definitions.yml's suggested_fee_recipient contradicts the pool rule; the pool rule wins"
                );
            }
        }
    }
}

/// Whether a validator status of the Beacon API means the key is already
/// on its way out (its exit epoch is set): not pending, not `active_ongoing`.
fn exiting_status(status: &str) -> bool {
    !(status.starts_with("pending") || status == "active_ongoing")
}

/// Reads the requested keys' status from the node, once an epoch: a key
/// already exiting is done with (never alerted or exited again), and each
/// other key's earliest voluntary exit is kept for its deadline. A node that
/// fails leaves the keys as they were (alerted, from the delivery).
async fn read_exit_status<P: Preset>(ctx: &Ctx<P>, st: &mut State, pending: &[ExitRequest], epoch: u64) {
    if st.status_read == Some(epoch) {
        return;
    }
    st.status_read = Some(epoch);
    let ids: Vec<String> = pending.iter().map(|r| r.pubkey.to_string()).collect();
    let period = ctx.spec.raw.get("SHARD_COMMITTEE_PERIOD").and_then(|v| v.parse().ok()).unwrap_or(256);
    let epoch_secs = ctx.spec.seconds_per_slot * ctx.spec.slots_per_epoch;
    for chunk in ids.chunks(crate::beacon::BULK_CHUNK) {
        let found = match ctx.beacon.validators_by_post(chunk, ctx.slot_timeout()).await {
            Ok(f) => f,
            Err(e) => {
                warn!("pools: the exit-requested keys' status not read ({e}); alerted from the request's delivery");
                return;
            }
        };
        for v in found {
            let pk = v.validator.pubkey;
            if exiting_status(&v.status) {
                info!(pubkey = %pk, status = %v.status,
                    "pools: the pool's exit request is already met on chain: not alerted or exited again");
                st.exited.insert(pk);
            } else if let Some(a) = v.validator.activation_epoch.filter(|a| *a != u64::MAX) {
                st.eligible.insert(pk, exits::earliest_voluntary_exit(ctx.genesis.genesis_time, a, period, epoch_secs));
            }
        }
    }
}

/// Signs and submits (or alerts) the exit requests not yet handled.
/// Webhook mode: each pending request the webhook has not taken yet is
/// posted to it, once an epoch per key ([`crate::pool::exit_webhook`]).
async fn post_to_webhook<P: Preset>(ctx: &Ctx<P>, st: &mut State, pending: &[ExitRequest], url: &str, epoch: u64) {
    use crate::pool::exit_webhook;
    let http = reqwest::Client::new();
    for r in pending {
        if st.webhooked.contains(&r.pubkey) || st.webhook_tried.get(&r.pubkey) == Some(&epoch) {
            continue;
        }
        let Some(index) = ctx.store.index_of(&r.pubkey) else { continue };
        st.webhook_tried.insert(r.pubkey, epoch);
        match exit_webhook::notify(&http, url, index, &r.pubkey).await {
            Ok(()) => {
                info!(validator = index, pool = %r.pool, "pools: exit request posted to the exit webhook");
                st.webhooked.insert(r.pubkey);
            }
            Err(e) => warn!(validator = index, "pools: {e}; trying again next epoch"),
        }
    }
}

pub(super) async fn handle_exits<P: Preset>(ctx: &Ctx<P>, st: &mut State, slot: u64) {
    let epoch = ctx.spec.epoch_of(slot);
    let pending = |st: &State| -> Vec<ExitRequest> {
        st.exits.values().filter(|r| !st.exited.contains(&r.pubkey)).cloned().collect()
    };
    let mut todo = pending(st);
    if !todo.is_empty() {
        read_exit_status(ctx, st, &todo, epoch).await;
        todo = pending(st);
    }
    let pending = todo;
    ctx.stats.pool_exit_requests.set(pending.len() as i64);
    if pending.is_empty() {
        return;
    }
    if let Some(url) = &ctx.cfg.pool_exit_webhook {
        post_to_webhook(ctx, st, &pending, url, epoch).await;
    }
    if !ctx.cfg.pool_auto_exit {
        if slot % ctx.spec.slots_per_epoch == 0 {
            let now = now_secs() as u64;
            for r in &pending {
                let due = match r.deadline(st.eligible.get(&r.pubkey).copied()) {
                    None => "as soon as possible".to_string(),
                    Some(d) => format!(
                        "by unix time {d} ({}){}",
                        if d > now { format!("in {} h", (d - now) / 3600) } else { "overdue".to_string() },
                        if r.allowed_delay_secs.is_none() {
                            "; exitDeadlineThreshold not read: 4-day default"
                        } else {
                            ""
                        }
                    ),
                };
                warn!(pubkey = %r.pubkey, pool = %r.pool, block = r.block,
                    "pools: the pool asks this validator to exit, due {due}; run with --pool-auto-exit to exit on request");
            }
        }
        return;
    }
    let mut exits = Vec::new();
    let now = now_secs() as u64;
    for r in &pending {
        if st.tried.get(&r.pubkey) == Some(&epoch) {
            continue;
        }
        // Not before the key may exit (activation + SHARD_COMMITTEE_PERIOD):
        // the node would refuse it.
        if st.eligible.get(&r.pubkey).is_some_and(|t| *t > now) {
            continue;
        }
        st.tried.insert(r.pubkey, epoch);
        match ctx.store.index_of(&r.pubkey) {
            Some(validator_index) => exits.push(VoluntaryExit { epoch, validator_index }),
            None => warn!(pubkey = %r.pubkey, "pools: exit requested, but the key's index is not known yet"),
        }
    }
    if exits.is_empty() {
        return;
    }
    let outcomes = ctx.store.sign_voluntary_exits(&exits).await;
    for (e, o) in exits.into_iter().zip(outcomes) {
        let Some(signature) = o.signature() else { continue };
        let signed = SignedVoluntaryExit { message: e, signature };
        let pk = ctx.store.pubkey_of(e.validator_index).unwrap_or_default();
        match ctx.beacon.publish_voluntary_exit(&signed, ctx.slot_timeout()).await {
            Ok(()) => {
                info!(validator = e.validator_index, epoch, "pools: voluntary exit submitted on the pool's request");
                ctx.events.emit(crate::events::Event::Published {
                    kind: MessageKind::VoluntaryExit,
                    slot,
                    validators: vec![e.validator_index],
                });
                st.exited.insert(pk);
            }
            Err(err) => {
                warn!(
                    validator = e.validator_index,
                    "pools: voluntary exit not accepted ({err}); trying again next epoch"
                )
            }
        }
    }
}
