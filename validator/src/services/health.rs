//! The health service: each slot at 3/4, every beacon node's
//! `/eth/v1/node/syncing` is polled at once and the ranking updated; the
//! metrics show each node's health and the log says when the preferred node
//! changes.

use super::context::Ctx;
use crate::events::Service;
use crate::metrics::NodeLabel;
use poolvc_signer::types::Preset;
use std::sync::Arc;
use tracing::info;

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Health, slot).await {
        slot = s + 1;
        if !ctx.sleep_until(ctx.slot_at(s, 0.75)).await {
            break;
        }
        let best_before = ctx.beacon.ranked().first().copied();
        ctx.beacon.check_health(ctx.slot_timeout() / 2).await;
        for (node, h) in ctx.beacon.nodes().iter().zip(ctx.beacon.health()) {
            let label = NodeLabel { node: node.clone() };
            ctx.stats.node_synced.get_or_create(&label).set(h.synced as i64);
            ctx.stats.node_failures.get_or_create(&label).set(h.consecutive_failures as i64);
        }
        let ranked = ctx.beacon.ranked();
        if ranked.first().copied() != best_before {
            if let Some(best) = ranked.first() {
                info!(slot = s, node = %ctx.beacon.nodes()[*best], health = ?ctx.beacon.health()[*best], "preferred beacon node changed");
            }
        }
        // The previous slot's duties are over (aggregates at 2/3 of it).
        if s > ctx.first_slot {
            ctx.slot_log.report(s - 1, &ctx.due_at(s - 1));
        }
    }
}
