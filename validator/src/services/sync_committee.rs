//! The sync-committee service: messages (at the slot's head event, at the
//! due time at the latest: 1/3 slot, 1/4 from Gloas on; one store batch and
//! one POST for all members) and, on their own task, contributions (2/3
//! slot, 1/2 from Gloas on; one contribution fetched per
//! subcommittee with an aggregator among ours, selection proofs signed
//! ahead with the epoch's duties).

use super::context::{keep_signed, Ctx};
use super::duty_book::SyncAggregator;
use crate::beacon::{BeaconError, SyncDuty, FETCHES_IN_FLIGHT};
use crate::events::{MessageKind, Service};
use futures_util::stream::{self, StreamExt};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut contributions = tokio::task::JoinSet::new();
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::SyncCommittee, slot).await {
        slot = s + 1;
        // Messages at `slot` are for the committee of `slot + 1`'s epoch.
        let members = ctx
            .duties
            .get(ctx.spec.epoch_of(s + 1))
            .or_else(|| ctx.duties.get(ctx.spec.epoch_of(s)))
            .map(|d| d.sync.clone())
            .unwrap_or_default();
        let members = ctx.store.keep_released(members, |m| m.validator_index);
        if members.is_empty() {
            continue;
        }
        if !ctx.head_or(s, ctx.due(s, Due::SyncMessage)).await {
            break;
        }
        let head = match sync_messages(&ctx, s, &members).await {
            Ok(h) => h,
            Err(e) => {
                ctx.duty_failed(Service::SyncCommittee, s, e);
                continue;
            }
        };
        // Aggregators of `slot` are chosen among the committee of `slot + 1`
        // (whose duties computed their selection proofs for `slot`).
        let aggregators = ctx
            .duties
            .get(ctx.spec.epoch_of(s + 1))
            .and_then(|d| d.sync_aggregators.get(&s).cloned())
            .unwrap_or_default();
        let aggregators = ctx.store.keep_released(aggregators, |a| a.validator_index);
        if aggregators.is_empty() {
            continue;
        }
        let ctx = Arc::clone(&ctx);
        contributions.spawn(async move {
            if ctx.sleep_until(ctx.slot_at(s, ctx.due(s, Due::Contribution))).await {
                contribute(&ctx, s, head, &aggregators).await;
            }
        });
        while contributions.try_join_next().is_some() {}
    }
    while contributions.join_next().await.is_some() {}
}

/// Signs and publishes the slot's sync-committee messages over the node's
/// head; returns the head root signed (for the contributions).
pub(super) async fn sync_messages<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    members: &[SyncDuty],
) -> Result<Hash256, BeaconError> {
    let t = ctx.slot_timeout();
    let head = ctx.beacon.head_root(t).await?;
    let batch: Vec<(u64, PublicKeyBytes)> = members.iter().map(|m| (m.validator_index, m.pubkey)).collect();
    let outcomes = ctx.store.sign_sync_messages(slot, head, &batch).await;
    let msgs: Vec<SyncCommitteeMessage> = members
        .iter()
        .zip(outcomes)
        .filter_map(|(m, o)| {
            Some(SyncCommitteeMessage {
                slot,
                beacon_block_root: head,
                validator_index: m.validator_index,
                signature: o.signature()?,
            })
        })
        .collect();
    if !msgs.is_empty() {
        let validators = msgs.iter().map(|m| m.validator_index).collect();
        let r = ctx.beacon.publish_sync_messages(&msgs, t).await;
        ctx.publish_outcome(MessageKind::SyncMessage, slot, validators, r);
    }
    Ok(head)
}

/// A subcommittee, its aggregators among ours, and the node's answer.
type FetchedContribution<P> = (u64, Vec<SyncAggregator>, Result<SyncCommitteeContribution<P>, BeaconError>);

/// The node's contribution of subcommittee `sub` for `head`, returned with
/// the aggregators that asked for it.
async fn fetch_contribution<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    sub: u64,
    head: Hash256,
    aggs: Vec<SyncAggregator>,
) -> FetchedContribution<P> {
    let r = ctx.beacon.sync_committee_contribution(slot, sub, head, ctx.slot_timeout()).await;
    (sub, aggs, r)
}

/// Signs and publishes the slot's contribution-and-proofs.
async fn contribute<P: Preset>(ctx: &Ctx<P>, slot: u64, head: Hash256, aggregators: &[SyncAggregator]) {
    let t = ctx.slot_timeout();
    let mut by_sub: HashMap<u64, Vec<SyncAggregator>> = HashMap::new();
    for a in aggregators {
        by_sub.entry(a.subcommittee_index).or_default().push(a.clone());
    }
    let mut wanted: Vec<(u64, Vec<SyncAggregator>)> = by_sub.into_iter().collect();
    wanted.sort_by_key(|(sub, _)| *sub);
    // One GET per subcommittee, at most FETCHES_IN_FLIGHT at once; then one
    // store batch and one POST.
    let fetched: Vec<FetchedContribution<P>> =
        stream::iter(wanted.into_iter().map(|(sub, aggs)| fetch_contribution(ctx, slot, sub, head, aggs)))
            .buffer_unordered(FETCHES_IN_FLIGHT)
            .collect()
            .await;
    let mut messages = Vec::new();
    for (sub, aggs, r) in fetched {
        let c = match r {
            Ok(c) => c,
            Err(e) => {
                ctx.duty_failed(Service::SyncCommittee, slot, format!("contribution of subcommittee {sub}: {e}"));
                continue;
            }
        };
        if c.slot != slot || c.beacon_block_root != head || c.subcommittee_index != sub {
            ctx.refuse_node_data(
                MessageKind::Contribution,
                slot,
                format!("contribution for subcommittee {sub} is for another slot, root or subnet"),
            );
            continue;
        }
        for a in aggs {
            messages.push(ContributionAndProof::<P> {
                aggregator_index: a.validator_index,
                contribution: c.clone(),
                selection_proof: a.selection_proof,
            });
        }
    }
    if messages.is_empty() {
        return;
    }
    let outcomes = ctx.store.sign_contributions(slot, &messages).await;
    let signed =
        keep_signed(messages, outcomes, |message, signature| SignedContributionAndProof { message, signature });
    if !signed.is_empty() {
        let validators = signed.iter().map(|s| s.message.aggregator_index).collect();
        let r = ctx.beacon.publish_contributions(&signed, t).await;
        ctx.publish_outcome(MessageKind::Contribution, slot, validators, r);
    }
}
