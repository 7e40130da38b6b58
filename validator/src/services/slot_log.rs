//! One readable line per slot: what was due of the local keys (attestations,
//! aggregations, the block, sync messages), what was published, what was
//! refused and why; and a warning naming the validators of every duty that
//! was due and neither published nor refused (a missed duty is never silent).
//!
//! Fed by the event bus; the health service calls [`SlotLog::report`] for
//! the previous slot, whose duties are all over by then.

use crate::events::{Event, MessageKind, Subscriber};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

/// What one slot's messages came to.
#[derive(Debug, Default)]
struct Tally {
    published: HashMap<MessageKind, BTreeSet<u64>>,
    refused: HashMap<MessageKind, BTreeMap<u64, String>>,
    /// Refusals with no validator (node data) and failures, with why.
    other: Vec<String>,
}

/// The subscriber. Invariant: only slots not yet reported are kept.
#[derive(Debug, Default)]
pub(crate) struct SlotLog {
    slots: Mutex<BTreeMap<u64, Tally>>,
}

impl Subscriber for SlotLog {
    fn on_event(&self, event: &Event) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Published { kind, slot, validators } => {
                slots.entry(*slot).or_default().published.entry(*kind).or_default().extend(validators.iter().copied());
            }
            Event::Refused { kind, slot, validator: Some(v), reason } => {
                slots.entry(*slot).or_default().refused.entry(*kind).or_default().insert(*v, reason.to_string());
            }
            Event::Refused { kind, slot, validator: None, reason } => {
                slots.entry(*slot).or_default().other.push(format!("{kind} not signed: {reason}"));
            }
            Event::Failed { kind, slot, count, reason } => {
                slots.entry(*slot).or_default().other.push(format!("{count} {kind} failed: {reason}"));
            }
            Event::DutyFailed { service, slot, reason } => {
                slots.entry(*slot).or_default().other.push(format!("{} failed: {reason}", service.as_str()));
            }
            _ => {}
        }
    }
}

/// One duty kind's line part and the validators missed.
fn part(out: &mut String, missed: &mut Vec<String>, name: &str, due: &BTreeSet<u64>, tally: &Tally, kind: MessageKind) {
    if due.is_empty() {
        return;
    }
    let empty_p = BTreeSet::new();
    let empty_r = BTreeMap::new();
    let published = tally.published.get(&kind).unwrap_or(&empty_p);
    let refused = tally.refused.get(&kind).unwrap_or(&empty_r);
    let done = due.iter().filter(|v| published.contains(v)).count();
    let _ = write!(out, " {name} {done}/{}", due.len());
    let refused_due: Vec<String> = due.iter().filter_map(|v| refused.get(v).map(|why| format!("{v}: {why}"))).collect();
    if !refused_due.is_empty() {
        let _ = write!(out, " (refused {})", refused_due.join("; "));
    }
    let gone: Vec<String> =
        due.iter().filter(|v| !published.contains(v) && !refused.contains_key(v)).map(u64::to_string).collect();
    if !gone.is_empty() {
        missed.push(format!("{name} of validators {}", gone.join(", ")));
    }
}

/// The validators due at one slot, by duty: what the slot's line counts
/// against (the context works it out from the duty book and the store).
#[derive(Debug, Default)]
pub(crate) struct SlotDue {
    /// Attesters.
    pub(crate) attesters: BTreeSet<u64>,
    /// Aggregators (attesters with a selection proof).
    pub(crate) aggregators: BTreeSet<u64>,
    /// The proposer, if ours.
    pub(crate) proposer: BTreeSet<u64>,
    /// Sync-committee members.
    pub(crate) sync: BTreeSet<u64>,
}

impl SlotLog {
    /// Logs slot `slot`'s line (and the missed duties' warning), then
    /// forgets it and anything older.
    pub(crate) fn report(&self, slot: u64, due: &SlotDue) {
        let tally = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let t = slots.remove(&slot).unwrap_or_default();
            slots.retain(|s, _| *s > slot);
            t
        };
        let SlotDue { attesters, aggregators, proposer, sync } = due;
        if attesters.is_empty() && proposer.is_empty() && sync.is_empty() && tally.other.is_empty() {
            return;
        }
        let mut line = String::new();
        let mut missed = Vec::new();
        part(&mut line, &mut missed, "block", proposer, &tally, MessageKind::Block);
        part(&mut line, &mut missed, "attestations", attesters, &tally, MessageKind::Attestation);
        part(&mut line, &mut missed, "aggregates", aggregators, &tally, MessageKind::Aggregate);
        part(&mut line, &mut missed, "sync messages", sync, &tally, MessageKind::SyncMessage);
        if !tally.other.is_empty() {
            let _ = write!(line, "; {}", tally.other.join("; "));
        }
        tracing::info!(slot, "slot {slot}:{line}");
        if !missed.is_empty() {
            tracing::warn!(slot, "slot {slot}: duties missed (neither published nor refused): {}", missed.join("; "));
        }
    }
}
