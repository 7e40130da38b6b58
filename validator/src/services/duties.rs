//! The duties service: validator indices, per-epoch duties (one request per
//! duty kind for all keys; the near slots' selection proofs, the rest are
//! the selection service's), committee and sync subscriptions, and the reorg watch that refetches an
//! epoch whose dependent root moved. It runs on its own task: a slow duty
//! fetch delays no attestation (the next epoch's duties are fetched an
//! epoch ahead).

use super::context::Ctx;
use super::duty_fetch::{dependent_roots, fetch_duties, refetch_proposers, resolve_indices};
use crate::events::{Event, Service};
use poolvc_signer::types::Preset;
use std::sync::Arc;
use tracing::{info, warn};

/// Fetches `epoch`'s duties into the book; tells a failure.
async fn fetch_into<P: Preset>(ctx: &Ctx<P>, epoch: u64) -> bool {
    match fetch_duties(ctx, epoch).await {
        Ok(d) => {
            ctx.duties.insert(epoch, d);
            true
        }
        Err(e) => {
            ctx.duty_failed(Service::Duties, ctx.spec.start_slot(epoch), format!("duties of epoch {epoch}: {e}"));
            false
        }
    }
}

/// Runs the duties service until the run ends. Each slot at 0.4 (after the
/// attestations of a slot whose block came on time, before the aggregates):
/// at an epoch's first slot, the next epoch (and any missing one) and the
/// indices of keys not yet active; every slot, the reorg watch for the
/// current and next epoch.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut slot = ctx.first_slot;
    // Keys added or removed at run time (the keymanager API): their
    // indices and duties are fetched at the next slot, not the next epoch.
    let mut changes = ctx.store.watch_changes();
    changes.borrow_and_update();
    while let Some(s) = ctx.next_slot(Service::Duties, slot).await {
        slot = s + 1;
        if !ctx.sleep_until(ctx.slot_at(s, 0.4)).await {
            break;
        }
        let epoch = ctx.spec.epoch_of(s);
        let epoch_start = s % ctx.spec.slots_per_epoch == 0;
        let keys_changed = changes.has_changed().unwrap_or(false);
        changes.borrow_and_update();
        if (epoch_start || keys_changed) && !ctx.store.pubkeys_without_index().is_empty() {
            if let Err(e) = resolve_indices(&ctx).await {
                warn!("validator indices: {e}");
            }
            changes.borrow_and_update();
        }
        let mut fetched = Vec::new();
        for e in [epoch, epoch + 1] {
            if ctx.duties.get(e).is_none() || (epoch_start && e == epoch + 1) || keys_changed {
                fetch_into(&ctx, e).await;
                fetched.push(e);
            }
        }
        ctx.duties.retain_from(epoch.saturating_sub(1));
        // Not in an epoch's last slot: some nodes (Lodestar) already count
        // the next epoch as current there and refuse the current one's
        // proposer duties; the next slot checks both again.
        if (s + 1) % ctx.spec.slots_per_epoch == 0 {
            continue;
        }
        for e in [epoch, epoch + 1] {
            if fetched.contains(&e) {
                continue;
            }
            let Some(known) = ctx.duties.get(e) else { continue };
            let roots = match dependent_roots(&ctx, e).await {
                Ok(r) => r,
                Err(err) => {
                    warn!(epoch = e, "dependent roots: {err}");
                    continue;
                }
            };
            if roots == (known.dependent_root, known.proposer_dependent_root) {
                continue;
            }
            if roots.0 == known.dependent_root {
                // Only the proposers moved (as they do once an epoch for
                // duties fetched an epoch ahead): refetch those alone.
                match refetch_proposers(&ctx, e, &known).await {
                    Ok(d) => ctx.duties.insert(e, d),
                    Err(err) => ctx.duty_failed(Service::Duties, s, format!("proposer duties of epoch {e}: {err}")),
                }
                continue;
            }
            info!(epoch = e, attester_root = %roots.0, proposer_root = %roots.1, "dependent root changed; refetching duties");
            if fetch_into(&ctx, e).await {
                ctx.events.emit(Event::DutiesRefreshed { epoch: e });
            }
        }
    }
}
