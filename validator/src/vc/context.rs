//! What the duty services share: the clock, the beacon client, the
//! validator store, the epoch duties, the events, head events and the stop
//! signal. Each service is its own task holding an `Arc<Ctx>`; none waits for
//! another.

use super::duties::EpochDuties;
use super::metrics::Stats;
use super::runtime::VcConfig;
use crate::beacon::{BeaconClient, Genesis};
use crate::events::{Event, EventBus, Service};
use crate::store::ValidatorStore;
use poolvc_signer::types::{ChainSpec, Hash256, Preset};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Unix time in seconds, fractional.
pub(super) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The messages the store signed, each wrapped with its signature; the
/// refused and failed ones are dropped (the store told them already).
pub(super) fn keep_signed<M, S>(
    messages: Vec<M>,
    outcomes: Vec<crate::store::outcome::Outcome>,
    wrap: impl Fn(M, poolvc_signer::types::SignatureBytes) -> S,
) -> Vec<S> {
    messages.into_iter().zip(outcomes).filter_map(|(m, o)| Some(wrap(m, o.signature()?))).collect()
}

/// Epoch duties by epoch. Invariant: an entry is replaced as a whole (a
/// refetch after its dependent root moved), never edited in place, so a
/// service holding an `Arc` of it sees one consistent set.
#[derive(Debug, Default)]
pub(super) struct DutyBook {
    epochs: RwLock<HashMap<u64, Arc<EpochDuties>>>,
}

impl DutyBook {
    /// The duties of `epoch`, if fetched.
    pub(super) fn get(&self, epoch: u64) -> Option<Arc<EpochDuties>> {
        self.epochs.read().unwrap_or_else(|p| p.into_inner()).get(&epoch).cloned()
    }

    /// Stores (or replaces) an epoch's duties.
    pub(super) fn insert(&self, epoch: u64, d: EpochDuties) {
        self.epochs.write().unwrap_or_else(|p| p.into_inner()).insert(epoch, Arc::new(d));
    }

    /// Drops epochs before `epoch`.
    pub(super) fn retain_from(&self, epoch: u64) {
        self.epochs.write().unwrap_or_else(|p| p.into_inner()).retain(|e, _| *e >= epoch);
    }
}

/// The shared context.
pub(super) struct Ctx<P: Preset> {
    pub(super) cfg: VcConfig,
    pub(super) beacon: BeaconClient,
    /// `--proposer-nodes`: blocks are produced and published there first.
    pub(super) proposer_nodes: Option<BeaconClient>,
    pub(super) spec: ChainSpec,
    pub(super) genesis: Genesis,
    pub(super) store: Arc<ValidatorStore<P>>,
    pub(super) duties: DutyBook,
    pub(super) events: Arc<EventBus>,
    pub(super) stats: Arc<Stats>,
    /// Newest (slot, block root) of the node's head events.
    pub(super) heads: watch::Receiver<(u64, Hash256)>,
    /// The first slot the services act for.
    pub(super) first_slot: u64,
    /// Services stop before this slot (tests); `None` runs until stopped.
    pub(super) end_slot: Option<u64>,
    pub(super) stop: watch::Receiver<bool>,
    /// One line per slot and the missed duties (fed by the event bus).
    pub(super) slot_log: Arc<super::slot_log::SlotLog>,
    /// Who the performance service measures; set by the pool service.
    pub(super) roster: RwLock<Option<Arc<crate::perf::Roster>>>,
}

impl<P: Preset> Ctx<P> {
    /// Unix time at the start of `slot`.
    pub(super) fn slot_start(&self, slot: u64) -> f64 {
        self.genesis.genesis_time as f64 + slot as f64 * self.spec.slot_duration_ms as f64 / 1000.0
    }

    /// Unix time at `fraction` (0..1) into `slot`.
    pub(super) fn slot_at(&self, slot: u64, fraction: f64) -> f64 {
        self.slot_start(slot) + fraction * self.spec.slot_duration_ms as f64 / 1000.0
    }

    /// The slot the clock is in (0 before genesis).
    pub(super) fn current_slot(&self) -> u64 {
        let dt = now_secs() - self.genesis.genesis_time as f64;
        if dt < 0.0 {
            0
        } else {
            (dt * 1000.0 / self.spec.slot_duration_ms as f64) as u64
        }
    }

    /// The timeout of a request on the hot path: half a slot (with long
    /// timeouts, the multiplier's slots).
    pub(super) fn slot_timeout(&self) -> Duration {
        let slot = self.spec.slot_duration_ms.max(1000);
        match self.cfg.beacon_options.long_timeouts {
            // `--use-long-timeouts`: whole slots, times the multiplier.
            Some(m) => Duration::from_millis(slot.saturating_mul(u64::from(m.max(1)))),
            None => Duration::from_millis(slot / 2),
        }
    }

    /// Whether the client is stopping.
    pub(super) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the client is stopping.
    pub(super) async fn stopped(&self) {
        let mut rx = self.stop.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps until unix time `t`; `false` if the client is stopping.
    pub(super) async fn sleep_until(&self, t: f64) -> bool {
        let d = t - now_secs();
        if d > 0.0 {
            tokio::select! {
                _ = self.stopped() => return false,
                _ = tokio::time::sleep(Duration::from_secs_f64(d)) => {}
            }
        }
        !self.stopping()
    }

    /// The next slot a service acts for, at or after `want`: never a past
    /// slot (a service that fell behind acts for the current slot and the
    /// skip is told), waiting for its start. `None` when the run is over.
    pub(super) async fn next_slot(&self, service: Service, want: u64) -> Option<u64> {
        let now = self.current_slot();
        let slot = if now > want {
            self.events.emit(Event::Skipped { service, slots: now - want });
            now
        } else {
            want
        };
        if self.end_slot.is_some_and(|end| slot >= end) || self.stopping() {
            return None;
        }
        self.sleep_until(self.slot_start(slot)).await.then_some(slot)
    }

    /// Waits for the head event of `slot`, or until `fraction` of the slot
    /// at the latest; `false` if the client is stopping.
    pub(super) async fn head_or(&self, slot: u64, fraction: f64) -> bool {
        let mut heads = self.heads.clone();
        let head_of_slot = async {
            while heads.borrow_and_update().0 < slot {
                if heads.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            ok = self.sleep_until(self.slot_at(slot, fraction)) => ok,
            _ = head_of_slot => !self.stopping(),
        }
    }

    /// Tells that a duty step failed.
    pub(super) fn duty_failed(&self, service: Service, slot: u64, reason: impl std::fmt::Display) {
        self.events.emit(Event::DutyFailed { service, slot, reason: reason.to_string() });
    }
}
