//! The lease service: renews this instance's leases at each slot's start,
//! takes free ones a quarter into the slot, follows membership changes
//! (PostgreSQL `NOTIFY`, sent by `poolvc keys move` and `keys assign`), and
//! publishes what it holds to the fence (the slashing transaction) and the
//! view (the store's gate). On a clean stop it releases its leases.

use super::context::{now_secs, Ctx};
use crate::leases::table::{Granted, LeaseError, LeaseTable};
use crate::leases::view::{HeldShard, LeaseView};
use crate::leases::LeaseConfig;
use poolvc_signer::slashing::fence::{Fence, HeldLease};
use poolvc_signer::types::{Preset, PublicKeyBytes};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A lease held, with its deadline and membership version.
#[derive(Debug, Clone)]
struct Holding {
    lease: HeldLease,
    until: Instant,
    members: i64,
}

/// The keys of each shard read, with the membership version read at.
type ShardKeys = HashMap<String, (i64, Arc<Vec<PublicKeyBytes>>)>;

/// The leases of this instance, and the connections they use.
pub struct Leases {
    cfg: LeaseConfig,
    slot: Duration,
    table: Arc<Mutex<LeaseTable>>,
    fence: Arc<Fence>,
    view: Arc<LeaseView>,
    held: Mutex<Vec<Holding>>,
    /// Keys of each shard read, with the membership version read at.
    members: Mutex<ShardKeys>,
    /// Raised by the listener thread on every membership change.
    changed: Arc<tokio::sync::Notify>,
    url: String,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases").field("holder", &self.cfg.holder).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Leases {
    /// Connects to the lease table (blocking: call off the async threads).
    pub fn connect(
        url: &str,
        cfg: LeaseConfig,
        slot: Duration,
        fence: Arc<Fence>,
        view: Arc<LeaseView>,
    ) -> Result<Self, LeaseError> {
        let table = LeaseTable::connect(url)?;
        Ok(Self {
            cfg,
            slot,
            table: Arc::new(Mutex::new(table)),
            fence,
            view,
            held: Mutex::new(Vec::new()),
            members: Mutex::new(HashMap::new()),
            changed: Arc::new(tokio::sync::Notify::new()),
            url: url.to_string(),
        })
    }

    /// The shards held now, by name.
    pub fn held(&self) -> Vec<String> {
        lock(&self.held).iter().map(|h| h.lease.shard.clone()).collect()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LeaseTable) -> Result<T, LeaseError> + Send + 'static,
    ) -> Result<T, LeaseError> {
        let table = Arc::clone(&self.table);
        match tokio::task::spawn_blocking(move || f(&mut lock(&table))).await {
            Ok(r) => r,
            Err(e) => Err(LeaseError::Task { reason: e.to_string() }),
        }
    }

    /// Renews every lease held; a lease the database no longer grants is
    /// dropped (and said). Returns whether what is held changed.
    pub async fn renew(&self) -> Result<bool, LeaseError> {
        let held: Vec<HeldLease> = lock(&self.held).iter().map(|h| h.lease.clone()).collect();
        if held.is_empty() {
            return Ok(false);
        }
        let sent = Instant::now();
        let (holder, ttl) = (self.cfg.holder.clone(), self.cfg.ttl(self.slot));
        let asked = held.clone();
        let granted = match self.blocking(move |t| t.renew(&holder, &asked, ttl)).await {
            Ok(g) => g,
            Err(e) => {
                // Nothing renewed: the leases run out at their deadlines.
                self.publish().await;
                return Err(e);
            }
        };
        let lost: Vec<&HeldLease> = held.iter().filter(|h| !granted.iter().any(|g| &g.lease == *h)).collect();
        for l in &lost {
            warn!(shard = %l.shard, lease_epoch = l.epoch, "lease lost (expired or taken over): its keys sign no more here");
        }
        let until = sent + self.cfg.local_validity(self.slot);
        *lock(&self.held) =
            granted.iter().map(|g| Holding { lease: g.lease.clone(), until, members: g.members }).collect();
        self.publish().await;
        Ok(!lost.is_empty())
    }

    /// Takes the free leases this instance may take. Returns whether any was.
    pub async fn acquire(&self) -> Result<bool, LeaseError> {
        let sent = Instant::now();
        let (holder, ttl) = (self.cfg.holder.clone(), self.cfg.ttl(self.slot));
        let (preferred, standby) = (self.cfg.shards.clone(), self.cfg.standby);
        let granted: Vec<Granted> = self.blocking(move |t| t.acquire(&holder, &preferred, standby, ttl)).await?;
        if granted.is_empty() {
            return Ok(false);
        }
        let until = sent + self.cfg.local_validity(self.slot);
        for g in &granted {
            info!(
                shard = %g.lease.shard,
                lease_epoch = g.lease.epoch,
                previous = g.previous.as_deref().unwrap_or("nobody"),
                "lease taken: this instance signs for the shard's keys"
            );
        }
        lock(&self.held).extend(granted.into_iter().map(|g| Holding { lease: g.lease, until, members: g.members }));
        self.publish().await;
        Ok(true)
    }

    /// Gives up every lease (a clean stop).
    pub async fn release(&self) {
        let held: Vec<HeldLease> = std::mem::take(&mut *lock(&self.held)).into_iter().map(|h| h.lease).collect();
        self.fence.set(Vec::new());
        self.view.set(Vec::new(), Vec::new());
        if held.is_empty() {
            return;
        }
        let holder = self.cfg.holder.clone();
        let asked = held.clone();
        match self.blocking(move |t| t.release(&holder, &asked)).await {
            Ok(n) => info!(released = n, "leases released"),
            Err(e) => warn!("releasing leases: {e} (they expire on their own)"),
        }
    }

    /// Reads the keys of held shards whose membership changed, then hands
    /// the fence and the view what is held.
    async fn publish(&self) {
        let held = lock(&self.held).clone();
        let stale: Vec<(String, i64)> = {
            let m = lock(&self.members);
            held.iter()
                .filter(|h| m.get(&h.lease.shard).is_none_or(|(v, _)| *v != h.members))
                .map(|h| (h.lease.shard.clone(), h.members))
                .collect()
        };
        for (shard, version) in stale {
            let s = shard.clone();
            match self.blocking(move |t| t.members(&s)).await {
                Ok(keys) => {
                    info!(shard = %shard, keys = keys.len(), "shard keys read");
                    lock(&self.members).insert(shard, (version, Arc::new(keys)));
                }
                Err(e) => warn!(shard = %shard, "reading the shard's keys: {e}"),
            }
        }
        let members = lock(&self.members);
        let (mut shards, mut keys) = (Vec::new(), Vec::new());
        for h in &held {
            // A shard whose keys could not be read signs nothing.
            let Some((_, k)) = members.get(&h.lease.shard) else { continue };
            shards.push(HeldShard { shard: h.lease.shard.clone(), until: h.until });
            keys.push(k.as_ref().clone());
        }
        drop(members);
        self.fence.set(held.iter().map(|h| h.lease.clone()).collect());
        self.view.set(shards, keys);
    }

    /// Listens for membership changes on a connection of its own (a thread
    /// that reconnects after errors).
    fn listen(self: &Arc<Self>, stop: Arc<std::sync::atomic::AtomicBool>) {
        let (url, changed) = (self.url.clone(), Arc::clone(&self.changed));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut t = match LeaseTable::connect(&url).and_then(|mut t| t.listen().map(|_| t)) {
                    Ok(t) => t,
                    Err(e) => {
                        warn!("lease listener: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match t.wait_for_change(Duration::from_millis(500)) {
                        Ok(true) => changed.notify_one(),
                        Ok(false) => {}
                        Err(e) => {
                            warn!("lease listener: {e}");
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Takes the leases this instance may take before the first duty.
pub async fn start(leases: &Leases) {
    if let Err(e) = leases.acquire().await {
        warn!("taking leases at start: {e}");
    }
    let held = leases.held();
    if held.is_empty() {
        info!(holder = %leases.cfg.holder, "no lease held yet: signing nothing until one is taken");
    } else {
        info!(holder = %leases.cfg.holder, shards = %held.join(","), "leases held at start");
    }
}

/// Waits until `t` (Unix seconds), reading the held shards' keys again at
/// each membership change meanwhile; false when the client is stopping.
async fn follow_until<P: Preset>(ctx: &Ctx<P>, leases: &Leases, slot: u64, t: f64) -> bool {
    loop {
        tokio::select! {
            ok = ctx.sleep_until(t) => return ok,
            _ = leases.changed.notified() => {
                // Keys moved or added: renewing reads the versions, and
                // the keys of every shard whose version moved.
                if let Err(e) = leases.renew().await {
                    warn!(slot, "renewing leases after a membership change: {e}");
                }
                ctx.store.leases_changed();
            }
        }
    }
}

/// Renews at each slot's start, takes free leases at a quarter of the
/// slot, follows membership changes between; releases at the end. Slots
/// are counted from genesis before it too: a lease taken at start-up is
/// renewed while the chain has not begun.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>, leases: Arc<Leases>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    leases.listen(Arc::clone(&stop));
    let slot_s = leases.slot.as_secs_f64().max(0.001);
    let offset = LeaseConfig::takeover_offset(leases.slot).as_secs_f64();
    let genesis = ctx.slot_start(0);
    loop {
        // The next slot's start (a negative slot before genesis).
        let k = ((now_secs() - genesis) / slot_s).floor() + 1.0;
        let start = genesis + k * slot_s;
        let slot = k.max(0.0) as u64;
        if k >= 0.0 && ctx.end_slot.is_some_and(|end| slot >= end) {
            break;
        }
        if !follow_until(&ctx, &leases, slot, start).await {
            break;
        }
        match leases.renew().await {
            Ok(true) => ctx.store.leases_changed(),
            Ok(false) => {}
            Err(e) => warn!(slot, "renewing leases: {e}"),
        }
        if !follow_until(&ctx, &leases, slot, start + offset).await {
            break;
        }
        match leases.acquire().await {
            Ok(true) => ctx.store.leases_changed(),
            Ok(false) => {}
            Err(e) => warn!(slot, "taking leases: {e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    leases.release().await;
    // The PostgreSQL client blocks when it closes: not on an async thread.
    let _ = tokio::task::spawn_blocking(move || drop(leases)).await;
}
