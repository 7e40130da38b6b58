//! The attestation service: attestations (at the slot's head event, at the
//! config's attestation due time at the latest: 1/3 slot, 1/4 from Gloas
//! on) and, on their own task, aggregates (2/3 slot, 1/2 from Gloas on;
//! `ChainSpec::due`), on the
//! routes of the slot's fork: before Electra, v1 routes with one attestation
//! data per committee; from Electra on, one attestation data per slot, each
//! vote published as a `SingleAttestation` on the v2 pool route, and
//! aggregates on the v2 routes.
//!
//! Each step is one store batch (one slashing transaction, one signing
//! batch) and one POST for all keys of the slot.

use super::context::{keep_signed, Ctx};
use super::duty_book::Attester;
use crate::beacon::{BeaconError, FETCHES_IN_FLIGHT};
use crate::events::{Event, MessageKind, Service};
use crate::outcome::Refusal;
use crate::store::{AttestationToSign, ValidatorStore};
use futures_util::stream::{self, StreamExt};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::sync::Arc;
use tree_hash::TreeHash;

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut aggregations = tokio::task::JoinSet::new();
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Attestation, slot).await {
        slot = s + 1;
        if !ctx.head_or(s, ctx.due(s, Due::Attestation)).await {
            break;
        }
        let Some(duties) = ctx.duties.get(ctx.spec.epoch_of(s)) else {
            ctx.duty_failed(Service::Attestation, s, "no duties known for the slot's epoch");
            continue;
        };
        let Some(all) = duties.attesters.get(&s).cloned() else { continue };
        // Leases taken later in the slot add their keys' votes late.
        let changes = ctx.cfg.leases.is_some().then(|| {
            let mut w = ctx.store.watch_changes();
            w.borrow_and_update();
            w
        });
        let attesters = ctx.store.keep_released(all.to_vec(), |a| a.duty.validator_index);
        if let Some(changes) = changes {
            let done = attesters.iter().map(|a| a.duty.validator_index).collect();
            aggregations.spawn(late_attesters(Arc::clone(&ctx), s, all, done, changes));
        }
        if attesters.is_empty() {
            continue;
        }
        let data_of = match attest(&ctx, s, &attesters).await {
            Ok(d) => d,
            Err(e) => {
                ctx.duty_failed(Service::Attestation, s, e);
                continue;
            }
        };
        if attesters.iter().any(|a| a.selection_proof.is_some()) {
            let ctx = Arc::clone(&ctx);
            aggregations.spawn(async move {
                if ctx.sleep_until(ctx.slot_at(s, ctx.due(s, Due::Aggregate))).await {
                    if let Err(e) = aggregate(&ctx, s, &attesters, &data_of).await {
                        ctx.duty_failed(Service::Aggregation, s, e);
                    }
                }
            });
        }
        while aggregations.try_join_next().is_some() {}
    }
    while aggregations.join_next().await.is_some() {}
}

/// With leased key shards: until the slot's aggregation point, the
/// attesters of slot `s` whose keys this instance may sign only now (a
/// lease taken over or keys moved in after the slot's attestations went
/// out) attest late, once each; they do not aggregate in this slot.
async fn late_attesters<P: Preset>(
    ctx: Arc<Ctx<P>>,
    s: u64,
    all: Arc<Vec<Attester>>,
    mut done: std::collections::HashSet<u64>,
    mut changes: tokio::sync::watch::Receiver<u64>,
) {
    let deadline = ctx.slot_at(s, ctx.due(s, Due::Aggregate));
    loop {
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = ctx.sleep_until(deadline) => return,
        }
        changes.borrow_and_update();
        let waiting: Vec<Attester> = all.iter().filter(|a| !done.contains(&a.duty.validator_index)).cloned().collect();
        let newly = ctx.store.keep_released(waiting, |a| a.duty.validator_index);
        if newly.is_empty() {
            continue;
        }
        done.extend(newly.iter().map(|a| a.duty.validator_index));
        if let Err(e) = attest(&ctx, s, &newly).await {
            ctx.duty_failed(Service::Attestation, s, e);
        }
    }
}

/// The slot's attestation data: one per committee before Electra, one for
/// the slot after. Data that does not fit its request is refused and told.
async fn attestation_data<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    attesters: &[Attester],
    electra: bool,
) -> Result<HashMap<u64, AttestationData>, BeaconError> {
    let t = ctx.slot_timeout();
    let mut committees: Vec<u64> = attesters.iter().map(|a| a.duty.committee_index).collect();
    committees.sort_unstable();
    committees.dedup();
    let mut data_of = HashMap::new();
    let asks: Vec<u64> = if electra { vec![0] } else { committees.clone() };
    for ci in asks {
        let d = ctx.beacon.attestation_data(slot, ci, t).await?;
        // Gloas: `index` is the payload status of the head (0 empty, 1 full).
        let index_ok = if ctx.spec.fork_name_at_slot(slot).gloas_enabled() {
            d.index <= 1
        } else if electra {
            d.index == 0
        } else {
            d.index == ci
        };
        if d.slot != slot || !index_ok || d.source.epoch > d.target.epoch || d.target.epoch != ctx.spec.epoch_of(slot) {
            let what = format!(
                "attestation data for slot {slot} committee {ci} has slot {}, index {}, source {}, target {}",
                d.slot, d.index, d.source.epoch, d.target.epoch
            );
            ctx.events.emit(Event::Refused {
                kind: MessageKind::Attestation,
                slot,
                validator: None,
                reason: Refusal::InconsistentNodeData { what },
            });
            continue;
        }
        if electra {
            for c in &committees {
                data_of.insert(*c, d);
            }
        } else {
            data_of.insert(ci, d);
        }
    }
    Ok(data_of)
}

/// A slot's signed attestations, as the fork's pool route takes them.
#[derive(Debug)]
pub enum SlotAttestations<P: Preset> {
    /// Electra on: `SingleAttestation`s for the v2 pool route.
    Single(Vec<SingleAttestation>),
    /// Before Electra: one-bit `Attestation`s for the v1 pool route.
    Base(Vec<AttestationBase<P>>),
}

/// The signing half of the attestation step, with no I/O: the slot's duties
/// with their data go through the validator store in one batch, and the
/// signed ones come back as the pool route's body, with their validators.
/// The service fetches the data before and publishes after; `poolvc bench
/// slot` calls this directly.
pub async fn sign_slot<P: Preset>(
    store: &ValidatorStore<P>,
    slot: u64,
    electra: bool,
    attesters: &[Attester],
    data_of: &HashMap<u64, AttestationData>,
) -> (SlotAttestations<P>, Vec<u64>) {
    let work: Vec<(&Attester, AttestationData)> =
        attesters.iter().filter_map(|a| Some((a, *data_of.get(&a.duty.committee_index)?))).collect();
    let batch: Vec<AttestationToSign> = work
        .iter()
        .map(|(a, d)| AttestationToSign { validator_index: a.duty.validator_index, pubkey: a.duty.pubkey, data: *d })
        .collect();
    let outcomes = store.sign_attestations(slot, &batch).await;
    let signed: Vec<(&Attester, AttestationData, SignatureBytes)> =
        work.into_iter().zip(outcomes).filter_map(|((a, d), o)| Some((a, d, o.signature()?))).collect();
    let validators: Vec<u64> = signed.iter().map(|(a, _, _)| a.duty.validator_index).collect();
    if electra {
        let out = signed
            .iter()
            .map(|(a, data, signature)| SingleAttestation {
                committee_index: a.duty.committee_index,
                attester_index: a.duty.validator_index,
                data: *data,
                signature: *signature,
            })
            .collect();
        return (SlotAttestations::Single(out), validators);
    }
    let mut out = Vec::with_capacity(signed.len());
    let mut kept = Vec::with_capacity(signed.len());
    for (a, data, signature) in &signed {
        // Duties were checked on arrival: position < length <= maximum.
        let Ok(mut bits) =
            ssz_types::BitList::<P::MaxValidatorsPerCommittee>::with_capacity(a.duty.committee_length as usize)
        else {
            continue;
        };
        if bits.set(a.duty.validator_committee_index as usize, true).is_err() {
            continue;
        }
        out.push(AttestationBase::<P> { aggregation_bits: bits, data: *data, signature: *signature });
        kept.push(a.duty.validator_index);
    }
    (SlotAttestations::Base(out), kept)
}

/// Attests for the slot's duties; returns the attestation data used, by
/// committee, for the aggregation step.
pub(super) async fn attest<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    attesters: &[Attester],
) -> Result<HashMap<u64, AttestationData>, BeaconError> {
    if attesters.is_empty() {
        return Ok(HashMap::new());
    }
    let t = ctx.slot_timeout();
    let fork = ctx.spec.fork_name_at_slot(slot);
    let electra = fork.electra_enabled();
    let data_of = attestation_data(ctx, slot, attesters, electra).await?;
    let (signed, validators) = sign_slot(&ctx.store, slot, electra, attesters, &data_of).await;
    if validators.is_empty() {
        return Ok(data_of);
    }
    let published = match &signed {
        SlotAttestations::Single(out) => ctx.beacon.publish_single_attestations(out, fork, t).await,
        SlotAttestations::Base(out) => ctx.beacon.publish_attestations_v1(out, t).await,
    };
    ctx.publish_outcome(MessageKind::Attestation, slot, validators, published);
    Ok(data_of)
}

/// The node's aggregate of one committee, by fork.
enum Fetched<P: Preset> {
    /// Before Electra.
    Base(AttestationBase<P>),
    /// Electra on.
    Electra(AttestationElectra<P>),
}

/// A committee with aggregators among ours: its index, the aggregators
/// with their selection proofs, and the data they attested to.
struct Committee {
    ci: u64,
    aggregators: Vec<(u64, SignatureBytes)>,
    data: AttestationData,
}

/// The node's aggregate of committee `c`, returned with the committee.
async fn fetch_aggregate<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    c: Committee,
) -> (Committee, Result<Fetched<P>, BeaconError>) {
    let (root, t) = (c.data.tree_hash_root(), ctx.slot_timeout());
    let r = if ctx.spec.fork_name_at_slot(slot).electra_enabled() {
        ctx.beacon.aggregate_attestation_v2(slot, root, c.ci, t).await.map(Fetched::Electra)
    } else {
        ctx.beacon.aggregate_attestation_v1(slot, root, t).await.map(Fetched::Base)
    };
    (c, r)
}

/// One aggregate per committee with an aggregator among ours (never one
/// request per key), then one store batch and one POST.
pub(super) async fn aggregate<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    attesters: &[Attester],
    data_of: &HashMap<u64, AttestationData>,
) -> Result<(), BeaconError> {
    let fork = ctx.spec.fork_name_at_slot(slot);
    let mut by_committee: HashMap<u64, Vec<(u64, SignatureBytes)>> = HashMap::new();
    for a in attesters {
        if let Some(proof) = &a.selection_proof {
            by_committee.entry(a.duty.committee_index).or_default().push((a.duty.validator_index, **proof));
        }
    }
    let t = ctx.slot_timeout();
    // Only committees attested for: their data passed the checks.
    let mut wanted: Vec<Committee> = by_committee
        .into_iter()
        .filter_map(|(ci, aggregators)| Some(Committee { ci, aggregators, data: *data_of.get(&ci)? }))
        .collect();
    wanted.sort_by_key(|c| c.ci);
    // One GET per committee, at most FETCHES_IN_FLIGHT at once; then one
    // store batch and one POST, as for a single committee.
    let fetched: Vec<(Committee, Result<Fetched<P>, BeaconError>)> =
        stream::iter(wanted.into_iter().map(|c| fetch_aggregate(ctx, slot, c)))
            .buffer_unordered(FETCHES_IN_FLIGHT)
            .collect()
            .await;
    let mut base: Vec<AggregateAndProofBase<P>> = Vec::new();
    let mut el: Vec<AggregateAndProofElectra<P>> = Vec::new();
    for (Committee { ci, aggregators, data }, r) in fetched {
        match r {
            Err(e) => ctx.duty_failed(Service::Aggregation, slot, format!("aggregate of committee {ci}: {e}")),
            Ok(Fetched::Electra(agg)) => {
                let only_ours = agg.committee_bits.iter().enumerate().all(|(i, b)| b == (i as u64 == ci));
                if agg.data != data || !only_ours {
                    ctx.refuse_node_data(
                        MessageKind::Aggregate,
                        slot,
                        format!("aggregate for committee {ci} has other data or committees"),
                    );
                    continue;
                }
                el.extend(aggregators.into_iter().map(|(aggregator_index, selection_proof)| {
                    AggregateAndProofElectra { aggregator_index, aggregate: agg.clone(), selection_proof }
                }));
            }
            Ok(Fetched::Base(agg)) => {
                if agg.data != data {
                    ctx.refuse_node_data(
                        MessageKind::Aggregate,
                        slot,
                        format!("aggregate for committee {ci} has other attestation data"),
                    );
                    continue;
                }
                base.extend(aggregators.into_iter().map(|(aggregator_index, selection_proof)| AggregateAndProofBase {
                    aggregator_index,
                    aggregate: agg.clone(),
                    selection_proof,
                }));
            }
        }
    }
    if !el.is_empty() {
        let outcomes = ctx.store.sign_aggregates_electra(slot, &el).await;
        let signed =
            keep_signed(el, outcomes, |message, signature| SignedAggregateAndProofElectra { message, signature });
        if !signed.is_empty() {
            let validators = signed.iter().map(|s| s.message.aggregator_index).collect();
            let r = ctx.beacon.publish_aggregates_v2(&signed, fork, t).await;
            ctx.publish_outcome(MessageKind::Aggregate, slot, validators, r);
        }
    }
    if !base.is_empty() {
        let outcomes = ctx.store.sign_aggregates_base(slot, &base).await;
        let signed =
            keep_signed(base, outcomes, |message, signature| SignedAggregateAndProofBase { message, signature });
        if !signed.is_empty() {
            let validators = signed.iter().map(|s| s.message.aggregator_index).collect();
            let r = ctx.beacon.publish_aggregates_v1(&signed, t).await;
            ctx.publish_outcome(MessageKind::Aggregate, slot, validators, r);
        }
    }
    Ok(())
}
