//! The performance service: keeps the ledger ([`crate::ledger::db`]) one
//! epoch behind the chain, re-judges an epoch whose blocks a reorg changed,
//! and warns while there is time when a key is heading below its pool's
//! threshold.
//!
//! Each slot, at a quarter into it, at most one epoch is judged (catching
//! up after a restart never starves the node): epoch `E` once the clock is
//! past `E + 1`, from the node's canonical blocks. At each epoch start the
//! open epochs (not yet below finality) are checked against the node's
//! current headers and judged again if they moved. After each judged epoch
//! the current frame is reported to the metrics, and keys at risk of ending
//! the frame below their threshold ([`frames::at_risk`]: certain, or a
//! significant shortfall; never in the first epochs after a start) are
//! warned about once per frame (the warning is kept in the ledger, so a
//! restart does not repeat it).

use super::context::{now_secs, Ctx};
use crate::el::rpc::EthRpc;
use crate::events::{Event, MessageKind, Service, Subscriber};
use crate::ledger::chain::{self, Reward};
use crate::ledger::db::{Ledger, Location};
use crate::ledger::frames;
use crate::ledger::frames::FrameSource;
use crate::ledger::onchain::{self, Reporter};
use crate::ledger::rows::{EpochRow, KeyState, Member, ValidatorRow};
use crate::ledger::{verdict, Roster};
use crate::metrics::PoolLabel;
use poolvc_signer::types::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// Epochs judged at most per pass when the ledger starts empty: the
/// current frame's, as far back as this.
const BACKFILL_EPOCHS: u64 = 64;

/// poolvc's own outcome of each duty, by (epoch, validator), kept until
/// the epoch is judged (the ledger stores it beside the chain's verdict).
#[derive(Debug, Default)]
pub(crate) struct OwnOutcomes {
    slots_per_epoch: u64,
    by_key: Mutex<HashMap<(u64, u64), Vec<String>>>,
    by_epoch: Mutex<HashMap<u64, Vec<String>>>,
}

impl OwnOutcomes {
    pub(crate) fn new(slots_per_epoch: u64) -> Self {
        Self { slots_per_epoch: slots_per_epoch.max(1), ..Default::default() }
    }

    fn note(&self, slot: u64, validator: u64, text: String) {
        let mut m = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((slot / self.slots_per_epoch, validator)).or_default().push(text);
    }

    fn note_epoch(&self, slot: u64, text: String) {
        let mut m = self.by_epoch.lock().unwrap_or_else(|p| p.into_inner());
        let v = m.entry(slot / self.slots_per_epoch).or_default();
        if v.len() < 8 && !v.contains(&text) {
            v.push(text);
        }
    }

    /// Takes epoch `epoch`'s outcomes for `local` validators: each one's
    /// notes, and for a local validator with none, the epoch's failures or
    /// "nothing published".
    fn take(&self, epoch: u64, local: &[u64]) -> HashMap<u64, String> {
        let mut keys = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        let epoch_notes =
            self.by_epoch.lock().unwrap_or_else(|p| p.into_inner()).get(&epoch).cloned().unwrap_or_default();
        let mut out = HashMap::new();
        for &v in local {
            let notes = keys.remove(&(epoch, v)).unwrap_or_default();
            let text = if !notes.is_empty() {
                notes.join("; ")
            } else if !epoch_notes.is_empty() {
                epoch_notes.join("; ")
            } else {
                "no message published by this poolvc".to_string()
            };
            out.insert(v, text);
        }
        out
    }

    /// Forgets epochs before `epoch`.
    fn prune(&self, epoch: u64) {
        self.by_key.lock().unwrap_or_else(|p| p.into_inner()).retain(|(e, _), _| *e >= epoch);
        self.by_epoch.lock().unwrap_or_else(|p| p.into_inner()).retain(|e, _| *e >= epoch);
    }
}

fn tracked(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::Attestation | MessageKind::Block | MessageKind::SyncMessage)
}

impl Subscriber for OwnOutcomes {
    fn on_event(&self, event: &Event) {
        match event {
            Event::Published { kind, slot, validators } if tracked(*kind) => {
                for &v in validators {
                    self.note(*slot, v, format!("{kind} published (slot {slot})"));
                }
            }
            Event::Refused { kind, slot, validator: Some(v), reason } if tracked(*kind) => {
                self.note(*slot, *v, format!("{kind} refused (slot {slot}): {reason}"));
            }
            Event::Failed { kind, slot, reason, .. } if tracked(*kind) => {
                self.note_epoch(*slot, format!("{kind} failed (slot {slot}): {reason}"));
            }
            Event::DutyFailed { service, slot, reason } => {
                self.note_epoch(*slot, format!("{} step failed (slot {slot}): {reason}", service.as_str()));
            }
            _ => {}
        }
    }
}

/// Why a pass of the service did not finish (it is tried again at the next
/// slot).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PassError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::db::LedgerError),
    /// An epoch's window could not be read from the node.
    #[error(transparent)]
    Chain(#[from] chain::ChainError),
    /// The window's blocks do not form a chain.
    #[error(transparent)]
    Verdict(#[from] verdict::VerdictError),
    /// The node failed.
    #[error(transparent)]
    Beacon(#[from] crate::beacon::BeaconError),
}

/// What the service holds.
struct State {
    ledger: Ledger,
    roster: Option<Arc<Roster>>,
    /// Index of each measured key.
    indices: HashMap<PublicKeyBytes, u64>,
    members: Vec<Member>,
    finalized: u64,
    /// The epoch the ledger started at (when it was empty).
    floor: Option<u64>,
    /// The current frame's running sums.
    acc: Option<(u64, frames::FrameData)>,
    /// Keys below threshold in earlier frames (strikes), by frame.
    below: HashMap<u64, std::collections::BTreeSet<u64>>,
    /// Failed rewards reads: (epoch, tries).
    reward_failures: (u64, u32),
    /// The reporter, once its key is loaded.
    reporter: Option<Reporter>,
    /// Submission problems told, each once an epoch.
    told: HashMap<String, u64>,
    /// The epoch the keys' states were last read at.
    states_read: Option<u64>,
    /// EIP-7002 requests told: `(slot, key, amount)`, each once.
    el_requests: std::collections::BTreeSet<(u64, PublicKeyBytes, u64)>,
}

/// The keys' effective balances and slashings are read again after this
/// many judged epochs, at each frame's last epoch, and when the membership
/// changes: they order the numbering (0x02 keys) and strike slashed keys.
const KEY_STATE_EPOCHS: u64 = 32;

/// Runs the service until the client stops. Without `pools.yaml` there is
/// no roster and nothing is measured.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>, own: Arc<OwnOutcomes>) {
    // Beside the slashing database: PostgreSQL when it is there.
    let loc = match &ctx.cfg.slashing_db_url {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::Dir(ctx.cfg.datadir.clone()),
    };
    let ledger = match tokio::task::spawn_blocking(move || Ledger::open_at(&loc)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            warn!("performance: the ledger cannot be opened, nothing is measured: {e}");
            return;
        }
        Err(e) => {
            warn!("performance: {e}");
            return;
        }
    };
    // Frames that start before the ledger's first epoch are never complete.
    let floor = ledger.first_epoch().ok().flatten();
    let mut st = State {
        ledger,
        roster: None,
        indices: HashMap::new(),
        members: Vec::new(),
        finalized: 0,
        floor,
        reward_failures: (0, 0),
        acc: None,
        below: HashMap::new(),
        reporter: None,
        told: HashMap::new(),
        states_read: None,
        el_requests: Default::default(),
    };
    let mut slot = ctx.current_slot().max(ctx.first_slot) + 1;
    while let Some(s) = ctx.next_slot(Service::Perf, slot).await {
        slot = s + 1;
        if !ctx.sleep_until(ctx.slot_at(s, 0.25)).await {
            break;
        }
        if let Err(e) = pass(&ctx, &mut st, &own, s).await {
            ctx.stats.perf_errors.inc();
            warn!("performance: {e}");
        }
    }
    // A PostgreSQL ledger's client blocks as it closes: not on an async thread.
    let _ = tokio::task::spawn_blocking(move || drop(st)).await;
}

/// Request timeout: block answers can be large.
fn timeout<P: Preset>(ctx: &Ctx<P>) -> Duration {
    Duration::from_millis(ctx.spec.slot_duration_ms.max(1000) * 2)
}

async fn pass<P: Preset>(ctx: &Ctx<P>, st: &mut State, own: &OwnOutcomes, s: u64) -> Result<(), PassError> {
    let spe = ctx.spec.slots_per_epoch;
    let epoch = ctx.spec.epoch_of(s);
    let roster = ctx.roster.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(roster) = roster else { return Ok(()) };
    // The pool service replaces the roster's Arc only when it changed: a
    // pointer comparison, not a walk over every key each slot.
    if !st.roster.as_ref().is_some_and(|r| Arc::ptr_eq(r, &roster)) {
        update_members(ctx, st, &roster).await?;
        st.states_read = None;
        let frames = (roster.cfg.first_epoch, roster.cfg.frame_epochs);
        if st.roster.as_ref().is_none_or(|r| (r.cfg.first_epoch, r.cfg.frame_epochs) != frames) {
            // Cut differently now (a HashConsensus read, a changed file):
            // the running sums and the strikes by frame are cut again.
            st.acc = None;
            st.below.clear();
            let source = roster.cfg.hash_consensus.map_or("pools.yaml".to_string(), |c| format!("HashConsensus {c}"));
            st.ledger.set_frames(frames.0, frames.1, &source)?;
        }
        if st.roster.as_ref().is_none_or(|r| r.cfg.curves != roster.cfg.curves) {
            // Operators judged by other parameters: earlier strikes again,
            // and the ledger's readers told.
            st.below.clear();
            st.ledger.set_curves(&roster.cfg.curves)?;
        }
        st.roster = Some(roster);
    }
    let Some(roster) = st.roster.clone() else { return Ok(()) };
    let t = timeout(ctx);
    if s % spe == 0 || st.finalized == 0 {
        st.finalized = ctx.beacon.finalized_epoch(ctx.slot_timeout()).await.unwrap_or(st.finalized);
        // Epoch E's window ends where E + 2 starts: final once E + 2 is.
        st.ledger.finalize_through(st.finalized.saturating_sub(2))?;
        for (e, digest) in st.ledger.open_epochs()? {
            let hs = chain::headers(&*ctx.beacon, e, e * spe, (e + 2) * spe, t).await?;
            if chain::digest(&hs) != digest {
                info!(epoch = e, "performance: the epoch's blocks changed (a reorg); judging it again");
                ctx.stats.perf_epochs_rejudged.inc();
                judge(ctx, st, own, e, &roster).await?;
            }
        }
    }
    // The next epoch to judge: its window (E and E + 1) must be over.
    let next = match st.ledger.last_epoch()? {
        Some(last) => last + 1,
        None => {
            let floor = *st.floor.get_or_insert_with(|| {
                let frame_start = roster.cfg.frame_bounds(roster.cfg.frame_of(epoch)).0;
                frame_start.max(epoch.saturating_sub(BACKFILL_EPOCHS))
            });
            floor
        }
    };
    if next + 2 > epoch {
        if roster.cfg.report.is_some() {
            submit(ctx, st, &roster, epoch).await;
        }
        return Ok(());
    }
    judge(ctx, st, own, next, &roster).await?;
    own.prune(next.saturating_sub(1));
    report(ctx, st, &roster, next);
    Ok(())
}

/// Tells a submission problem once an epoch.
fn tell(st: &mut State, epoch: u64, msg: String) {
    if st.told.get(&msg) == Some(&epoch) {
        return;
    }
    warn!("performance: {msg}");
    st.told.retain(|_, e| *e == epoch);
    st.told.insert(msg, epoch);
}

/// Submits every finished, final frame not yet on chain: the report to the
/// reporting contract, and Stader's penalties where configured.
async fn submit<P: Preset>(ctx: &Ctx<P>, st: &mut State, roster: &Roster, epoch: u64) {
    let Some(rc) = roster.cfg.report.clone() else { return };
    let Some((url, chain_id)) = roster.rpc.clone() else {
        tell(st, epoch, "performance.report needs rpc and chain_id in pools.yaml".into());
        return;
    };
    if st.reporter.is_none() {
        match Reporter::load(&rc, EthRpc::new(&url, Duration::from_secs(10)), chain_id) {
            Ok(r) => {
                info!(reporter = %r.key.address(), contract = %rc.contract, "performance: frame reports go on chain");
                st.reporter = Some(r);
            }
            Err(e) => {
                tell(st, epoch, format!("the reporter key cannot be loaded, no report is sent: {e}"));
                return;
            }
        }
    }
    // Epochs up to finalized - 2 are final (their windows are finalized).
    let Some(last_final) = st.finalized.checked_sub(2) else { return };
    let cfg = &roster.cfg;
    let newest = cfg.frame_of(last_final);
    for n in newest.saturating_sub(3)..=newest {
        let (first, end) = cfg.frame_bounds(n);
        if end - 1 > last_final || st.floor.is_some_and(|f| f > first) {
            continue;
        }
        let Some(me) = st.reporter.as_ref().map(|r| r.key.address()) else { return };
        let target = format!("report:{}:{me}", rc.contract);
        if st.ledger.submission(n, &target).ok().flatten().is_some_and(|s| s.state != "sent") {
            continue;
        }
        let r = match frames::frame_report(cfg, &st.members, &st.ledger, n) {
            Ok(r) if r.complete => r,
            Ok(_) => continue,
            Err(e) => {
                tell(st, epoch, format!("frame {n}: {e}"));
                continue;
            }
        };
        let Some(rep) = &st.reporter else { return };
        let step = async {
            let done = rep.submitted(rc.contract, n).await?;
            rep.step(&st.ledger, n, &target, rc.contract, onchain::report_calldata(&r), done).await
        };
        match step.await {
            Ok(onchain::Outcome::Sent(h)) => {
                info!(frame = n, tx = %h, "performance: frame report sent to {}", rc.contract);
            }
            Ok(onchain::Outcome::Mined) | Ok(onchain::Outcome::AlreadyDone) => {
                let block = rep.rpc.block_number().await.unwrap_or(0);
                let accepted = rep
                    .rpc
                    .call(rc.contract, onchain::sol::acceptedHashCall { frame: alloy_primitives::U256::from(n) }, block)
                    .await
                    .map(|h| h != alloy_primitives::B256::ZERO)
                    .unwrap_or(false);
                info!(
                    frame = n,
                    accepted,
                    "performance: frame report on chain{}",
                    if accepted { " and accepted at quorum" } else { "; awaiting the other reporters' quorum" }
                );
            }
            Ok(onchain::Outcome::Pending(h)) => info!(frame = n, tx = %h, "performance: frame report pending"),
            Err(e) => {
                ctx.stats.perf_errors.inc();
                tell(st, epoch, format!("frame {n} report: {e}"));
            }
        }
    }
    if let Some(oracle) = rc.stader_oracle {
        stader_submit(ctx, st, roster, oracle, last_final, epoch).await;
    }
}

/// Stader's missed-attestation penalties of each finished window.
async fn stader_submit<P: Preset>(
    ctx: &Ctx<P>,
    st: &mut State,
    roster: &Roster,
    oracle: alloy_primitives::Address,
    last_final: u64,
    epoch: u64,
) {
    let mut cfg = roster.cfg.clone();
    cfg.frame_epochs = cfg.stader_window_epochs;
    let n = cfg.frame_of(last_final);
    let (first, end) = cfg.frame_bounds(n);
    let w = if end - 1 <= last_final {
        n
    } else if let Some(p) = n.checked_sub(1) {
        p
    } else {
        return;
    };
    if st.floor.is_some_and(|f| f > first.min(cfg.frame_bounds(w).0)) {
        return;
    }
    let Some(me) = st.reporter.as_ref().map(|r| r.key.address()) else { return };
    // One submission per window and reportable block: a transaction mined
    // after the oracle's reportable block moved reverts (the real
    // StaderOracle takes only its current one), and the window is sent again
    // for the new block; once one is mined the window is done.
    let prefix = format!("stader:{oracle}:{me}:");
    // Earlier versions named the target without the block: still this window's.
    let legacy = format!("stader:{oracle}:{me}");
    let ours: Vec<_> = match st.ledger.submissions() {
        Ok(v) => {
            v.into_iter().filter(|s| s.frame == w && (s.target == legacy || s.target.starts_with(&prefix))).collect()
        }
        Err(e) => {
            tell(st, epoch, format!("Stader window {w}: the ledger: {e}"));
            return;
        }
    };
    if ours.iter().any(|s| s.state == "mined") {
        return;
    }
    let in_flight = ours.iter().find(|s| s.state == "sent").map(|s| s.target.clone());
    let r = match frames::frame_report(&cfg, &st.members, &st.ledger, w) {
        Ok(r) if r.complete => r,
        _ => return,
    };
    let Some(rep) = &st.reporter else { return };
    let keys = onchain::stader_penalty_keys(&cfg, &r);
    let step = async {
        let block = rep.rpc.block_number().await?;
        // The block the oracle takes reports for now: the current one
        // rounded down to its update frequency (50,400 on mainnet).
        let reportable =
            rep.rpc.call(oracle, onchain::sol::getMissedAttestationPenaltyReportableBlockCall {}, block).await?;
        let reportable = u64::try_from(reportable).unwrap_or(u64::MAX);
        let target = in_flight.clone().unwrap_or_else(|| format!("{prefix}{reportable}"));
        if in_flight.is_none() && ours.iter().any(|s| s.target == target) {
            // Reverted for this reportable block already: wait for the next.
            return Ok(None);
        }
        let index = rep.rpc.call(oracle, onchain::sol::lastReportedMAPDIndexCall {}, block).await?;
        let index = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1);
        let data = onchain::stader_calldata(reportable, index, keys.clone());
        rep.step(&st.ledger, w, &target, oracle, data, false).await.map(Some)
    };
    match step.await {
        Ok(None) => {}
        Ok(Some(o)) => {
            info!(window = w, keys = keys.len(), "performance: Stader missed-attestation penalties: {o:?}")
        }
        Err(e) => {
            ctx.stats.perf_errors.inc();
            tell(st, epoch, format!("Stader window {w} penalties: {e}"));
        }
    }
}

/// Resolves the roster's keys to indices and records the membership.
async fn update_members<P: Preset>(ctx: &Ctx<P>, st: &mut State, roster: &Roster) -> Result<(), PassError> {
    let missing: Vec<String> = roster
        .groups
        .iter()
        .flat_map(|g| g.2.iter())
        .filter(|k| !st.indices.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    for chunk in missing.chunks(crate::beacon::BULK_CHUNK) {
        let found = ctx.beacon.validators_by_post(chunk, timeout(ctx)).await?;
        for v in found {
            st.indices.insert(v.validator.pubkey, v.index);
        }
    }
    let mut members = Vec::new();
    for (pool, operator, keys) in &roster.groups {
        for k in keys {
            if let Some(&index) = st.indices.get(k) {
                members.push(Member { index, pubkey: k.to_string(), pool: pool.clone(), operator: operator.clone() });
            }
        }
    }
    members.sort_by_key(|m| m.index);
    members.dedup_by_key(|m| m.index);
    st.ledger.set_members(&members)?;
    info!(keys = members.len(), operators = roster.groups.len(), "performance: measuring the pools' keys");
    st.members = members;
    Ok(())
}

/// Reads the tracked keys' effective balances and slashings at the head
/// and records them as of epoch `e`; returns the ledger rows written (the
/// changes). A node that leaves the fields out leaves a key at its default
/// (32 ETH, not slashed).
async fn read_key_states<P: Preset>(
    ctx: &Ctx<P>,
    tracked: &[u64],
    e: u64,
    ledger: &Ledger,
) -> Result<usize, PassError> {
    let mut states = Vec::with_capacity(tracked.len());
    let ids: Vec<String> = tracked.iter().map(u64::to_string).collect();
    for chunk in ids.chunks(crate::beacon::BULK_CHUNK) {
        for v in ctx.beacon.validators_by_post(chunk, timeout(ctx)).await? {
            let d = KeyState::default();
            states.push((
                v.index,
                KeyState {
                    effective_balance_gwei: v.validator.effective_balance.unwrap_or(d.effective_balance_gwei),
                    slashed: v.validator.slashed.unwrap_or(d.slashed),
                },
            ));
        }
    }
    Ok(ledger.record_key_states(e, &states)?)
}

/// Tells each EIP-7002 withdrawal request of the window's epoch for a
/// measured key, once: a full exit is one the key never signed (its pool's
/// protocol exit, as Lido's and Rocket Pool's triggered exits are, or
/// whoever holds its withdrawal address), a partial withdrawal takes
/// balance above 32 ETH. The consensus layer acts on a request only when it
/// comes from the key's withdrawal address; the key's status then shows it.
fn tell_withdrawal_requests(st: &mut State, w: &verdict::Window) {
    for (slot, r) in &w.withdrawal_requests {
        let Some(&index) = st.indices.get(&r.pubkey) else { continue };
        if !st.el_requests.insert((*slot, r.pubkey, r.amount_gwei)) {
            continue;
        }
        let (pool, operator) =
            st.members.iter().find(|m| m.index == index).map_or(("", ""), |m| (m.pool.as_str(), m.operator.as_str()));
        let source = r.source_address;
        if r.is_full_exit() {
            warn!(validator = index, pubkey = %r.pubkey, pool, operator, %source, slot,
                "performance: validator {index}: a full exit requested from the execution layer (EIP-7002) by {source} \
                 in the block of slot {slot}: a triggered exit, not a voluntary one (the pool's protocol exit, or \
                 whoever holds the key's withdrawal address)");
        } else {
            let amount = crate::pool::eth(
                alloy_primitives::U256::from(r.amount_gwei) * alloy_primitives::U256::from(1_000_000_000u64),
            );
            info!(validator = index, pubkey = %r.pubkey, pool, operator, %source, slot,
                "performance: validator {index}: a partial withdrawal of {amount} requested from the execution \
                 layer (EIP-7002) by {source} in the block of slot {slot}");
        }
    }
    // A re-judged epoch (a reorg) is told only what is new; older slots are
    // past a reorg's reach.
    let keep = w.epoch.saturating_sub(4).saturating_mul(w.slots_per_epoch);
    st.el_requests.retain(|(s, _, _)| *s >= keep);
}

/// Judges epoch `e` and records it.
async fn judge<P: Preset>(
    ctx: &Ctx<P>,
    st: &mut State,
    own: &OwnOutcomes,
    e: u64,
    roster: &Roster,
) -> Result<(), PassError> {
    let started = std::time::Instant::now();
    let t = timeout(ctx);
    let (window, digest) = chain::read_window(&*ctx.beacon, e, ctx.spec.slots_per_epoch, t).await?;
    let v = verdict::judge(&window)?;
    tell_withdrawal_requests(st, &window);
    let tracked: Vec<u64> = st.members.iter().map(|m| m.index).collect();
    // A node that serves rewards but fails to: tried again at the next
    // slots; after three failures the epoch is recorded without them (the
    // counts must not wait on the secondary view).
    let rewards: Option<HashMap<u64, Reward>> = match chain::attestation_rewards(&*ctx.beacon, e, &tracked, t).await {
        Ok(r) => r,
        Err(err) => {
            let tries = if st.reward_failures.0 == e { st.reward_failures.1 + 1 } else { 1 };
            st.reward_failures = (e, tries);
            if tries < 3 {
                return Err(err.into());
            }
            warn!("performance: epoch {e}: rewards not read after {tries} tries ({err}); recorded without them");
            None
        }
    };
    let held: std::collections::HashSet<u64> = ctx.store.indices().into_iter().collect();
    let local: Vec<u64> = tracked.iter().copied().filter(|i| held.contains(i)).collect();
    let own_map = own.take(e, &local);
    let final_ = e + 2 <= st.finalized;
    let cfg = &roster.cfg;
    let f = cfg.frame_of(e);
    // The running sums of the current frame: a re-judged epoch's old rows
    // come out before its new ones go in.
    let in_acc = st.acc.as_ref().is_some_and(|(af, d)| *af == f && d.epochs.iter().any(|x| x.epoch == e));
    let old = if in_acc { st.ledger.validator_rows(e, e + 1)? } else { Vec::new() };
    st.ledger.record_epoch(&v, digest, final_, &tracked, rewards.as_ref(), &own_map)?;
    let frame_end = cfg.frame_bounds(cfg.frame_of(e)).1 == e + 1;
    if frame_end || st.states_read.is_none_or(|r| e >= r + KEY_STATE_EPOCHS) {
        match read_key_states(ctx, &tracked, e, &st.ledger).await {
            Ok(written) => {
                st.states_read = Some(e);
                if written > 0 {
                    // The numbering of earlier frames is read again.
                    st.below.clear();
                }
            }
            // The counts do not wait on the states: tried again next epoch.
            Err(err) => warn!("performance: epoch {e}: the keys' effective balances not read: {err}"),
        }
    }
    match &mut st.acc {
        Some((af, d)) if *af == f => {
            let rows: Vec<ValidatorRow> = tracked
                .iter()
                .map(|&i| ValidatorRow {
                    epoch: e,
                    index: i,
                    counts: v.by_validator.get(&i).copied().unwrap_or_default(),
                    reward: rewards.as_ref().and_then(|r| r.get(&i)).copied(),
                    own: own_map.get(&i).cloned(),
                })
                .collect();
            d.remove_epoch(e, &old);
            let row = EpochRow { epoch: e, digest, final_, rewards: rewards.is_some(), network: v.network };
            d.add_epoch(row, &rows);
            if st.states_read == Some(e) {
                d.states = st.ledger.key_states_at(e)?;
            }
        }
        Some((af, _)) if *af > f => {
            // An epoch of an earlier frame changed: its strikes are read again.
            st.below.remove(&f);
        }
        _ => {
            // A new frame (or the first epoch since start): its sums so far
            // from the ledger, once; epochs of frames past the strike
            // lifetime are dropped (nothing reads them any more).
            if let Some(old) = f.checked_sub(cfg.longest_strike_lifetime()) {
                let before = cfg.frame_bounds(old).0;
                match st.ledger.prune_before(before) {
                    Ok(0) => {}
                    Ok(rows) => {
                        info!(rows, before_epoch = before, "performance: ledger pruned past the strike lifetime")
                    }
                    Err(e) => warn!("performance: pruning: {e}"),
                }
            }
            let (first, end) = cfg.frame_bounds(f);
            st.acc = Some((f, st.ledger.frame_data(first, end)?));
        }
    }
    ctx.stats.perf_last_epoch.set(e as i64);
    info!(
        epoch = e,
        validators = tracked.len(),
        rewards = rewards.is_some(),
        blocks = window.blocks.len(),
        ms = started.elapsed().as_millis() as u64,
        "performance: epoch judged"
    );
    Ok(())
}

/// The current frame to the metrics, and the early warnings.
fn report<P: Preset>(ctx: &Ctx<P>, st: &mut State, roster: &Roster, last: u64) {
    let cfg = &roster.cfg;
    let n = cfg.frame_of(last);
    // Earlier frames' strikes: each frame's struck keys read once.
    for back in 1..cfg.longest_strike_lifetime() {
        let Some(f) = n.checked_sub(back) else { break };
        if !st.below.contains_key(&f) {
            let (a, b) = cfg.frame_bounds(f);
            match st.ledger.frame_data(a, b) {
                Ok(d) => {
                    st.below.insert(f, frames::below_set(cfg, &st.members, &d));
                }
                Err(e) => {
                    warn!("performance: frame {f}: {e}");
                    return;
                }
            }
        }
    }
    let struck = (1..cfg.longest_strike_lifetime())
        .filter_map(|back| n.checked_sub(back).and_then(|f| st.below.get(&f)).map(|s| (back, s)));
    let mut earlier = frames::count_strikes(cfg, &st.members, struck);
    // The chain's published strikes stand where they are more than the
    // ledger's (a fresh install, a lost ledger, frames this ledger never saw).
    let on_chain = frames::merge_chain_strikes(&mut earlier, &st.members, &cfg.chain_strikes);
    let Some((_, data)) = st.acc.as_ref().filter(|(af, _)| *af == n) else { return };
    let r = frames::build_report(cfg, &st.members, n, data, &earlier);
    ctx.stats.perf_frame.set(n as i64);
    ctx.stats.perf_network_performance.set(r.network_performance.unwrap_or(0.0));
    // Epochs judged since this process started (back-filled ones count 0).
    let since_start = (last + 1).saturating_sub(ctx.spec.epoch_of(ctx.first_slot));
    let mut at_risk: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, op) in &r.operators {
        let label = PoolLabel { pool: op.pool.clone(), operator: op.operator.clone() };
        ctx.stats.perf_operator_performance.get_or_create(&label).set(op.performance.unwrap_or(0.0));
        let thr = op.validators.values().filter_map(|k| k.threshold).fold(f64::NAN, f64::min);
        ctx.stats.perf_operator_threshold.get_or_create(&label).set(if thr.is_nan() { 0.0 } else { thr });
        ctx.stats.perf_operator_keys_below.get_or_create(&label).set(op.keys_below as i64);
        ctx.stats.perf_operator_keys_ejectable.get_or_create(&label).set(op.keys_ejectable as i64);
        ctx.stats.perf_operator_attestations_missed.get_or_create(&label).set(op.counts.att_missed() as i64);
        ctx.stats.perf_operator_rewards_ratio.get_or_create(&label).set(op.rewards_ratio.unwrap_or(0.0));
        let mut risky = 0i64;
        if !r.complete {
            for (index, k) in &op.validators {
                let (Some(so_far), Some(threshold)) = (k.performance, k.threshold) else { continue };
                let before = earlier.get(index).copied().unwrap_or(0);
                let mut why: Vec<String> = Vec::new();
                if k.slashed {
                    why.push("slashed: a strike in each frame it has attestation duties".into());
                } else if let Some(w) = frames::at_risk(
                    so_far,
                    k.attestation_duty.assigned,
                    r.epochs_judged,
                    since_start,
                    cfg.frame_epochs,
                    threshold,
                ) {
                    why.push(format!(
                        "{so_far:.3} so far over {} of {} epochs; {w}; its threshold {threshold:.3}",
                        r.epochs_judged, cfg.frame_epochs
                    ));
                }
                // One strike from ejection: the next bad frame ejects it.
                if !k.ejectable && before + 1 >= op.strike_threshold && since_start >= frames::WARMUP_EPOCHS {
                    why.push(format!(
                        "{before} of {} strikes within the lifetime{}: one more bad frame makes it ejectable",
                        op.strike_threshold,
                        if on_chain.contains(index) { " (CSM's published strikes tree)" } else { "" }
                    ));
                }
                if why.is_empty() {
                    continue;
                }
                let text = format!("validator {index}: {}", why.join("; "));
                risky += 1;
                if st.ledger.warn_once(n, *index, last, now_secs() as u64, &text).unwrap_or(false) {
                    at_risk.entry(name.clone()).or_default().push(text);
                }
            }
        }
        ctx.stats.perf_operator_keys_at_risk.get_or_create(&label).set(risky);
    }
    for (name, lines) in at_risk {
        let (first, end) = cfg.frame_bounds(n);
        warn!(
            keys = lines.len(),
            frame = n,
            "performance: {name}: {} key(s) projected below their threshold by the end of frame {n} (epochs \
             {first}..{}), {} epochs before it ends: {}",
            lines.len(),
            end - 1,
            end.saturating_sub(last + 1),
            lines.iter().take(5).cloned().collect::<Vec<_>>().join(" | ")
        );
    }
}
