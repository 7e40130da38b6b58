//! Doppelganger protection: before signing anything, watch whether the keys
//! are active elsewhere, for whole epochs the client has not signed in.
//!
//! Window: from the first epoch the client starts at its first slot
//! (the start epoch if it starts on its first slot, else the next one; a
//! previous instance may have signed earlier in the start epoch), for
//! `doppelganger_epochs` epochs. Signing starts at the first slot after the
//! window. At 3/4 of each slot the client asks the node's liveness route
//! (`POST /eth/v1/validator/liveness/{epoch}`, one request for all keys) for
//! the window's epochs seen so far. If no node serves that route, it says so
//! and watches the chain instead: each block of the window, its proposer and
//! its attestations' bits, mapped to validators through the client's own
//! attester duties (before Electra) or the node's committees (Electra on).
//!
//! Any sign of a key elsewhere stops the client with an error naming the
//! validators; nothing has been signed.

use super::context::Ctx;
use crate::beacon::{AttesterDuty, BeaconError, Committees, DutiesResponse};
use crate::error::VcError;
use poolvc_signer::types::Preset;
use std::collections::{BTreeSet, HashMap};
use tracing::{info, warn};

/// How the window is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Liveness,
    ChainWatch,
}

/// Watches the window starting after `start_slot`; returns when signing
/// may start (at the end of the window's last slot), or an error naming
/// validators seen elsewhere. `false` if shut down during the window.
pub(crate) async fn watch<P: Preset>(ctx: &Ctx<P>, start_slot: u64) -> Result<bool, VcError> {
    let epochs = ctx.cfg.doppelganger_epochs;
    if epochs == 0 {
        return Ok(true);
    }
    let spe = ctx.spec.slots_per_epoch;
    let e0 = ctx.spec.epoch_of(start_slot);
    let first = if start_slot % spe == 0 { e0 } else { e0 + 1 };
    let enable_slot = ctx.spec.start_slot(first + epochs);
    info!(
        first_epoch = first,
        epochs,
        signing_from_slot = enable_slot,
        "doppelganger protection: watching for the keys elsewhere before signing"
    );
    let mut mode = Mode::Liveness;
    let mut duties: HashMap<u64, Vec<AttesterDuty>> = HashMap::new();
    let mut next_block_slot = ctx.spec.start_slot(first);
    let mut slot = start_slot;
    while slot < enable_slot {
        let at = ctx.slot_at(slot, 0.75);
        if !ctx.sleep_until(at).await {
            return Ok(false);
        }
        if ctx.spec.epoch_of(slot) >= first {
            if let Err(e) = super::duty_fetch::resolve_indices(ctx).await {
                warn!("validator indices: {e}");
            }
            let seen = match mode {
                Mode::Liveness => match liveness(ctx, first, ctx.spec.epoch_of(slot)).await {
                    Err(VcError::Beacon(why @ BeaconError::NotServed { .. })) => {
                        warn!(
                            "doppelganger protection: no beacon node serves the liveness route ({why}); \
                             watching the chain for the keys' blocks and attestations instead"
                        );
                        mode = Mode::ChainWatch;
                        BTreeSet::new()
                    }
                    other => other?,
                },
                Mode::ChainWatch => BTreeSet::new(),
            };
            let seen = if mode == Mode::ChainWatch {
                let mut found = seen;
                while next_block_slot <= slot {
                    found.extend(watch_block(ctx, next_block_slot, first, &mut duties).await?);
                    next_block_slot += 1;
                }
                found
            } else {
                seen
            };
            if !seen.is_empty() {
                let list = seen.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
                return Err(VcError::Doppelganger { validators: list });
            }
        }
        slot += 1;
    }
    info!("doppelganger protection: no sign of the keys elsewhere; signing starts");
    Ok(true)
}

/// Validators the liveness route reports live in epochs `first..=now`
/// (at most the two newest).
pub(super) async fn liveness<P: Preset>(ctx: &Ctx<P>, first: u64, now: u64) -> Result<BTreeSet<u64>, VcError> {
    let indices = ctx.store.held_indices();
    let mut live = BTreeSet::new();
    for e in first.max(now.saturating_sub(1))..=now {
        let r = ctx.beacon.liveness(e, &indices, ctx.slot_timeout()).await?;
        live.extend(r.iter().filter(|l| l.is_live && ctx.store.is_held(l.index)).map(|l| l.index));
    }
    Ok(live)
}

/// Our validators active in the block of `slot` (proposer, or attesters
/// of attestations for epochs from `first` on).
pub(super) async fn watch_block<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    first: u64,
    duties: &mut HashMap<u64, Vec<AttesterDuty>>,
) -> Result<BTreeSet<u64>, VcError> {
    let t = ctx.slot_timeout();
    // Read strictly: a malformed block is an error, never "not seen".
    let Some(block) = ctx.beacon.block_participation(&slot.to_string(), t).await? else {
        return Ok(BTreeSet::new()); // empty slot
    };
    let mut seen = BTreeSet::new();
    if ctx.store.is_held(block.proposer) {
        seen.insert(block.proposer);
    }
    // An Electra block's attestations name their committees (committee_bits).
    let electra = ctx.spec.fork_name_at_slot(block.slot).electra_enabled();
    for att in &block.attestations {
        let epoch = ctx.spec.epoch_of(att.slot);
        if epoch < first {
            continue;
        }
        if electra {
            // Electra: the bits run over the committees named, in order;
            // members from the node.
            let mut committees = ctx.beacon.committees(&att.slot.to_string(), Committees::AtSlot(att.slot), t).await?;
            committees.sort_by_key(|c| c.index);
            let mut offset = 0usize;
            for c in committees.iter().filter(|c| att.committees.contains(&c.index)) {
                for (pos, v) in c.validators.iter().enumerate() {
                    if ctx.store.is_held(*v) && att.bits.get(offset + pos) == Some(&true) {
                        seen.insert(*v);
                    }
                }
                offset += c.validators.len();
            }
        } else {
            // Before Electra: one committee (data.index); our members and
            // positions from our own duties.
            let Some(&index) = att.committees.first() else { continue };
            if let std::collections::hash_map::Entry::Vacant(slot_duties) = duties.entry(epoch) {
                let indices = ctx.store.indices();
                let d: DutiesResponse<AttesterDuty> = ctx.beacon.attester_duties(epoch, &indices, t).await?;
                slot_duties.insert(d.data);
            }
            for d in duties.get(&epoch).into_iter().flatten() {
                if d.slot == att.slot
                    && d.committee_index == index
                    && ctx.store.is_held(d.validator_index)
                    && att.bits.get(d.validator_committee_index as usize) == Some(&true)
                {
                    seen.insert(d.validator_index);
                }
            }
        }
    }
    Ok(seen)
}

/// The doppelganger service: runs beside the others (which build nothing
/// for a key still held, and the store signs nothing for one) and releases
/// the held keys when the window passes with no sign of them elsewhere; the
/// duties fetched while they were held (without selection proofs) are
/// fetched again. Seeing a key elsewhere stops the client. Keys imported
/// later (the keymanager API) are held too, and watched in a window of
/// their own that starts at the next slot; only the keys still held are
/// looked for, so the client's own signatures never count against it.
pub(crate) async fn run<P: Preset>(
    ctx: std::sync::Arc<Ctx<P>>,
    stop: tokio::sync::watch::Sender<bool>,
) -> Result<(), VcError> {
    if ctx.cfg.doppelganger_epochs == 0 {
        return Ok(());
    }
    let mut changes = ctx.store.watch_changes();
    // The window counts whole epochs watched after start; slot 0's duties
    // (when started before genesis) do not shorten it.
    let mut from_slot = ctx.first_slot.max(1);
    loop {
        changes.borrow_and_update();
        let held = ctx.store.held_pubkeys();
        if !held.is_empty() {
            ctx.stats.doppelganger_watching.set(1);
            let watched = watch(&ctx, from_slot).await;
            ctx.stats.doppelganger_watching.set(0);
            match watched {
                Ok(true) => {
                    ctx.store.enable_signing(&held);
                    let epoch = ctx.spec.epoch_of(ctx.current_slot() + 1);
                    for e in [epoch, epoch + 1] {
                        match super::duty_fetch::fetch_duties(&ctx, e).await {
                            Ok(d) => ctx.duties.insert(e, d),
                            Err(err) => ctx.duty_failed(crate::events::Service::Duties, ctx.spec.start_slot(e), err),
                        }
                    }
                }
                Ok(false) => return Ok(()),
                Err(e) => {
                    let _ = stop.send(true);
                    return Err(e);
                }
            }
            // Keys added during that window get a window of their own.
            if !ctx.store.held_pubkeys().is_empty() {
                from_slot = ctx.current_slot() + 1;
                continue;
            }
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return Ok(()) },
            _ = ctx.stopped() => return Ok(()),
        }
        from_slot = ctx.current_slot() + 1;
    }
}
