//! Outcome events: what happened to each message, told once, in one place.
//!
//! The validator store tells what it refused and what failed to sign; the
//! duty services tell what they published, what failed to publish, which
//! duty steps failed and which slots they skipped. Metrics, logs and (later)
//! the performance ledger subscribe; no service counts anything by hand.
//!
//! Subscribers are called synchronously on the emitting task, so a
//! subscriber must be cheap (a counter, a log line, a channel send).

use crate::outcome::{Failure, Refusal};
use std::fmt;
use std::sync::{Arc, RwLock};

/// The kinds of message a validator signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// Attestations (`SingleAttestation` from Electra on).
    Attestation,
    /// Aggregate-and-proofs.
    Aggregate,
    /// Attestation-aggregator selection proofs.
    SelectionProof,
    /// Beacon blocks (full or blinded).
    Block,
    /// RANDAO reveals.
    Randao,
    /// Sync-committee messages.
    SyncMessage,
    /// Sync-aggregator selection proofs.
    SyncSelectionProof,
    /// Sync contribution-and-proofs.
    Contribution,
    /// Voluntary exits.
    VoluntaryExit,
    /// Builder (validator) registrations.
    Registration,
    /// Gloas payload attestations (PTC votes).
    PayloadAttestation,
    /// Gloas proposer preferences.
    ProposerPreferences,
    /// Gloas execution payload envelopes (self-built payloads).
    Envelope,
}

impl MessageKind {
    /// A short lower-case name (metric labels, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attestation => "attestation",
            Self::Aggregate => "aggregate",
            Self::SelectionProof => "selection_proof",
            Self::Block => "block",
            Self::Randao => "randao",
            Self::SyncMessage => "sync_message",
            Self::SyncSelectionProof => "sync_selection_proof",
            Self::Contribution => "contribution",
            Self::VoluntaryExit => "voluntary_exit",
            Self::Registration => "registration",
            Self::PayloadAttestation => "payload_attestation",
            Self::ProposerPreferences => "proposer_preferences",
            Self::Envelope => "envelope",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The duty services (for events about a service rather than a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Duties, indices and the reorg watch.
    Duties,
    /// Attestations.
    Attestation,
    /// Aggregates.
    Aggregation,
    /// Block proposals.
    Block,
    /// Sync-committee messages and contributions.
    SyncCommittee,
    /// Proposer preparation and builder registrations.
    Preparation,
    /// Beacon-node health.
    Health,
    /// Slashing-history pruning.
    Pruning,
    /// Pool contracts: recipients and exit requests.
    Pools,
    /// The performance ledger.
    Perf,
    /// Gloas payload attestations (the PTC).
    Ptc,
    /// Gloas proposer preferences.
    Preferences,
    /// Attestation selection proofs, a few slots ahead.
    SelectionProofs,
}

impl Service {
    /// A short lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duties => "duties",
            Self::Attestation => "attestation",
            Self::Aggregation => "aggregation",
            Self::Block => "block",
            Self::SyncCommittee => "sync_committee",
            Self::Preparation => "preparation",
            Self::Health => "health",
            Self::Pruning => "pruning",
            Self::Pools => "pools",
            Self::Perf => "performance",
            Self::Ptc => "ptc",
            Self::Preferences => "preferences",
            Self::SelectionProofs => "selection_proofs",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// Messages published to (accepted by) a beacon node.
    Published {
        /// What.
        kind: MessageKind,
        /// Slot of the duty.
        slot: u64,
        /// Validators whose message it was.
        validators: Vec<u64>,
    },
    /// A message was refused: by the store (slashing protection, policy,
    /// doppelganger, a duty that disagrees with poolvc's own key map) or by
    /// a service (the node served data inconsistent with the duty).
    Refused {
        /// What.
        kind: MessageKind,
        /// Slot of the duty.
        slot: u64,
        /// The validator, when known.
        validator: Option<u64>,
        /// Why.
        reason: Refusal,
    },
    /// Messages that could not be signed or published: an outage, not a
    /// refusal.
    Failed {
        /// What.
        kind: MessageKind,
        /// Slot of the duty.
        slot: u64,
        /// How many messages.
        count: usize,
        /// Why.
        reason: Failure,
    },
    /// A duty step failed as a whole (e.g. no node served the duties).
    DutyFailed {
        /// Which service.
        service: Service,
        /// The slot (or the epoch's first slot).
        slot: u64,
        /// Why.
        reason: String,
    },
    /// A service fell behind and skipped slots to act for the current one.
    Skipped {
        /// Which service.
        service: Service,
        /// The slots skipped.
        slots: u64,
    },
    /// An epoch's duties were refetched because their dependent root moved.
    DutiesRefreshed {
        /// The epoch.
        epoch: u64,
    },
}

/// Receives events.
pub trait Subscriber: Send + Sync {
    /// Called once per event, on the emitting task.
    fn on_event(&self, event: &Event);
}

/// The subscribers; emitting calls each in turn.
#[derive(Default)]
pub struct EventBus {
    subscribers: RwLock<Vec<Arc<dyn Subscriber>>>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.subscribers.read().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("EventBus").field("subscribers", &n).finish()
    }
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn subscribe(&self, s: Arc<dyn Subscriber>) {
        self.subscribers.write().unwrap_or_else(|p| p.into_inner()).push(s);
    }

    /// Tells every subscriber.
    pub fn emit(&self, event: Event) {
        let subs = self.subscribers.read().unwrap_or_else(|p| p.into_inner());
        for s in subs.iter() {
            s.on_event(&event);
        }
    }
}

/// Logs refusals, failures and skips (the one place that words them).
#[derive(Debug, Default)]
pub struct LogSubscriber;

impl Subscriber for LogSubscriber {
    fn on_event(&self, event: &Event) {
        match event {
            Event::Refused { kind, slot, validator, reason } => {
                tracing::warn!(slot, validator, kind = kind.as_str(), "refused: {reason}");
            }
            Event::Failed { kind, slot, count, reason } => {
                tracing::warn!(slot, count, kind = kind.as_str(), "failed: {reason}");
            }
            Event::DutyFailed { service, slot, reason } => {
                tracing::warn!(slot, service = service.as_str(), "duty step failed: {reason}");
            }
            Event::Skipped { service, slots } => {
                tracing::warn!(service = service.as_str(), slots, "fell behind the clock; skipped to the current slot");
            }
            Event::DutiesRefreshed { epoch } => {
                tracing::info!(epoch, "dependent root changed; duties refetched");
            }
            Event::Published { .. } => {}
        }
    }
}
