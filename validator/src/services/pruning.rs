//! The pruning service: once per epoch (at half of its second slot, away
//! from the attestation deadlines) it deletes slashing-protection history
//! older than `--slashing-protection-history-epochs` epochs, then hands the
//! heap's free pages back to the system (`crate::heap`): the epoch's duty
//! bodies and batches are freed by then.
//!
//! Protection is unchanged: the database decides with each key's watermarks
//! (highest source, target and slot), which pruning never lowers; history
//! only names refusals and feeds exports. At one attestation per key per
//! epoch the history is bounded by about `keys x epochs` rows: 10,000 keys
//! and the default 512 epochs (about 2.3 days, as Lighthouse keeps) hold at
//! most 5.1 million rows, instead of growing by 2.25 million a day.

use super::context::Ctx;
use crate::events::Service;
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::Preset;
use std::sync::Arc;
use tracing::debug;

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>, db: Arc<dyn SlashingDatabase>) {
    let keep = ctx.cfg.slashing_history_epochs;
    let spe = ctx.spec.slots_per_epoch;
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Pruning, slot).await {
        slot = s + 1;
        if s % spe != 1.min(spe - 1) {
            continue;
        }
        if !ctx.sleep_until(ctx.slot_at(s, 0.5)).await {
            break;
        }
        let before = ctx.spec.epoch_of(s).checked_sub(keep).filter(|_| keep > 0);
        if let Some(before) = before {
            let db = Arc::clone(&db);
            let started = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || db.prune(before, spe)).await {
                Ok(Ok(())) => {
                    debug!(before_epoch = before, ms = started.elapsed().as_millis() as u64, "slashing history pruned")
                }
                Ok(Err(e)) => ctx.duty_failed(Service::Pruning, s, format!("pruning before epoch {before}: {e}")),
                Err(e) => ctx.duty_failed(Service::Pruning, s, format!("pruning task: {e}")),
            }
        }
        let started = std::time::Instant::now();
        let released = tokio::task::spawn_blocking(crate::heap::release_free_pages).await.unwrap_or(false);
        debug!(released, ms = started.elapsed().as_millis() as u64, "heap: free pages handed back");
    }
}
