//! What the duty services share: the clock, the beacon client, the
//! validator store, the epoch duties, the events, head events and the stop
//! signal. Each service is its own task holding an `Arc<Ctx>`; none waits for
//! another.

use super::duty_book::DutyBook;
use super::slot_log::SlotDue;
use crate::beacon::{BeaconApi, Genesis};
use crate::beacon::{BeaconError, NodeError};
use crate::config::VcConfig;
use crate::events::MessageKind;
use crate::events::{Event, EventBus, Service};
use crate::metrics::Stats;
use crate::outcome::{Failure, NodeFault, Refusal};
use crate::store::ValidatorStore;
use poolvc_signer::types::{ChainSpec, Due, Hash256, Preset};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Unix time in seconds, fractional.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The messages the store signed, each wrapped with its signature; the
/// refused and failed ones are dropped (the store told them already).
pub(crate) fn keep_signed<M, S>(
    messages: Vec<M>,
    outcomes: Vec<crate::outcome::Outcome>,
    wrap: impl Fn(M, poolvc_signer::types::SignatureBytes) -> S,
) -> Vec<S> {
    messages.into_iter().zip(outcomes).filter_map(|(m, o)| Some(wrap(m, o.signature()?))).collect()
}

/// How each node's attempt at a request ended, in the order tried.
pub(crate) fn node_faults(e: &BeaconError) -> Vec<NodeFault> {
    match e {
        BeaconError::AllFailed { errors, .. } | BeaconError::NotServed { errors, .. } => errors
            .iter()
            .map(|n| match n {
                NodeError::Timeout { .. } => NodeFault::Timeout,
                NodeError::Connect { .. } => NodeFault::Connect,
                NodeError::Status { status, .. } => NodeFault::Status(*status),
                NodeError::TooLarge { .. } => NodeFault::TooLarge,
                NodeError::Malformed { .. } => NodeFault::Malformed,
                NodeError::Transport { .. } => NodeFault::Transport,
            })
            .collect(),
        BeaconError::Invalid { .. } => vec![NodeFault::Malformed],
        BeaconError::Encode { .. } => vec![NodeFault::Encode],
    }
}

/// The shared context.
pub(crate) struct Ctx<P: Preset> {
    pub(crate) cfg: VcConfig,
    /// The beacon nodes (the health-ranked client; an in-memory node in
    /// the services' unit tests).
    pub(crate) beacon: Arc<dyn BeaconApi<P>>,
    /// `--proposer-nodes`: blocks are produced and published there first.
    pub(crate) proposer_nodes: Option<Arc<dyn BeaconApi<P>>>,
    pub(crate) spec: ChainSpec,
    pub(crate) genesis: Genesis,
    pub(crate) store: Arc<ValidatorStore<P>>,
    pub(crate) duties: DutyBook,
    pub(crate) events: Arc<EventBus>,
    pub(crate) stats: Arc<Stats>,
    /// Newest (slot, block root) of the node's head events.
    pub(crate) heads: watch::Receiver<(u64, Hash256)>,
    /// The first slot the services act for.
    pub(crate) first_slot: u64,
    /// Services stop before this slot (tests); `None` runs until stopped.
    pub(crate) end_slot: Option<u64>,
    pub(crate) stop: watch::Receiver<bool>,
    /// One line per slot and the missed duties (fed by the event bus).
    pub(crate) slot_log: Arc<super::slot_log::SlotLog>,
    /// Who the performance service measures; set by the pool service.
    pub(crate) roster: RwLock<Option<Arc<crate::ledger::Roster>>>,
    /// Told when keys' fee recipients moved mid-slot (the pool service):
    /// the preferences service signs again at once, not at the next slot,
    /// which may be the proposal's own.
    pub(crate) recipients_moved: tokio::sync::Notify,
}

impl<P: Preset> Ctx<P> {
    /// Unix time at the start of `slot`.
    pub(crate) fn slot_start(&self, slot: u64) -> f64 {
        self.genesis.genesis_time as f64 + slot as f64 * self.spec.slot_duration_ms as f64 / 1000.0
    }

    /// Unix time at `fraction` (0..1) into `slot`.
    pub(crate) fn slot_at(&self, slot: u64, fraction: f64) -> f64 {
        self.slot_start(slot) + fraction * self.spec.slot_duration_ms as f64 / 1000.0
    }

    /// The slot the clock is in (0 before genesis).
    pub(crate) fn current_slot(&self) -> u64 {
        let dt = now_secs() - self.genesis.genesis_time as f64;
        if dt < 0.0 {
            0
        } else {
            (dt * 1000.0 / self.spec.slot_duration_ms as f64) as u64
        }
    }

    /// The timeout of a request on the hot path: half a slot (with long
    /// timeouts, the multiplier's slots).
    pub(crate) fn slot_timeout(&self) -> Duration {
        let slot = self.spec.slot_duration_ms.max(1000);
        match self.cfg.beacon_options.long_timeouts {
            // `--use-long-timeouts`: whole slots, times the multiplier.
            Some(m) => Duration::from_millis(slot.saturating_mul(u64::from(m.max(1)))),
            None => Duration::from_millis(slot / 2),
        }
    }

    /// Whether the client is stopping.
    pub(crate) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the client is stopping.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.stop.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps until unix time `t`; `false` if the client is stopping.
    pub(crate) async fn sleep_until(&self, t: f64) -> bool {
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
    pub(crate) async fn next_slot(&self, service: Service, want: u64) -> Option<u64> {
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

    /// The fraction of `slot` at which `duty` is due: the config's
    /// `*_DUE_BPS` for the slot's fork (a third and two thirds before Gloas,
    /// a quarter and a half from Gloas on, three quarters for the PTC).
    pub(crate) fn due(&self, slot: u64, duty: Due) -> f64 {
        self.spec.due.fraction(duty, self.spec.fork_name_at_slot(slot))
    }

    /// Waits for the head event of `slot`, or until `fraction` of the slot
    /// at the latest; `false` if the client is stopping.
    pub(crate) async fn head_or(&self, slot: u64, fraction: f64) -> bool {
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
    pub(crate) fn duty_failed(&self, service: Service, slot: u64, reason: impl std::fmt::Display) {
        self.events.emit(Event::DutyFailed { service, slot, reason: reason.to_string() });
    }

    /// Tells what a POST did: published for `validators`, or failed.
    pub(crate) fn publish_outcome(
        &self,
        kind: MessageKind,
        slot: u64,
        validators: Vec<u64>,
        r: Result<(), BeaconError>,
    ) {
        match r {
            Ok(()) => self.events.emit(Event::Published { kind, slot, validators }),
            Err(e) => self.events.emit(Event::Failed {
                kind,
                slot,
                count: validators.len(),
                reason: Failure::Publish { faults: node_faults(&e), reason: e.to_string() },
            }),
        }
    }

    /// Tells that the node's data for a `kind` duty at `slot` was refused as
    /// inconsistent (`what` it was).
    pub(crate) fn refuse_node_data(&self, kind: MessageKind, slot: u64, what: String) {
        self.events.emit(Event::Refused {
            kind,
            slot,
            validator: None,
            reason: Refusal::InconsistentNodeData { what },
        });
    }

    /// The released validators of ours due at `slot`, by duty (for the
    /// slot's log line).
    pub(crate) fn due_at(&self, slot: u64) -> SlotDue {
        let epoch = self.spec.epoch_of(slot);
        let duties = self.duties.get(epoch);
        let released = |v: &u64| self.store.released(*v);
        let (mut attesters, mut aggregators, mut proposer, mut sync) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        if let Some(d) = &duties {
            if !self.cfg.disable_attesting {
                for a in d.attesters.get(&slot).iter().flat_map(|v| v.iter()) {
                    let v = a.duty.validator_index;
                    if released(&v) {
                        attesters.insert(v);
                        if a.selection_proof.is_some() {
                            aggregators.insert(v);
                        }
                    }
                }
            }
            if let Some(p) = d.proposers.get(&slot).filter(|p| released(&p.validator_index)) {
                if slot > 0 {
                    proposer.insert(p.validator_index);
                }
            }
        }
        let sync_duties = self.duties.get(self.spec.epoch_of(slot + 1)).or(duties);
        if let Some(d) = sync_duties {
            sync.extend(d.sync.iter().map(|s| s.validator_index).filter(|v| released(v)));
        }
        SlotDue { attesters, aggregators, proposer, sync }
    }
}
