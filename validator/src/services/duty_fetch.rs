//! Asking the node for duties: validator indices, one epoch's duties (one
//! request per duty kind for all keys, each answer checked against what was
//! asked), the near slots' selection proofs, subscriptions, and the
//! cheap dependent-root probe. Steps shared by the duties service, the block
//! service (proposers again at an epoch's start), doppelganger protection and
//! start-up; not a task of its own.

use super::context::Ctx;
use super::duty_book::{is_aggregator, is_sync_aggregator, Attester, EpochDuties, SyncAggregator};
use crate::beacon::{
    AnswerError, AttesterDuty, BeaconError, CommitteeSubscription, ProposerDuty, SyncCommitteeSubscription, SyncDuty,
};
use crate::events::{Event, MessageKind};
use poolvc_signer::types::{Hash256, Preset, PublicKeyBytes, SignatureBytes, SyncAggregatorSelectionData};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// How many slots ahead of the clock's the attestation selection proofs are
/// signed: a fetch signs those of the current slot and the next
/// `PROOF_LOOKAHEAD`, the selection-proof service each slot's next ones
/// after the slot's attestations. One slot of proofs is one signing batch
/// of one message (31,250 signatures at 1,000,000 keys); an epoch's, signed
/// when its duties come, took the signer from the attestations for most of
/// an epoch and made start-up sign two epochs before the first duty.
pub(crate) const PROOF_LOOKAHEAD: u64 = 2;

/// Finds the indices of keys that have none yet: POST with the ids in the
/// body (1,000 per request), or, on nodes without that route, GET with
/// repeated `id=` parameters (old Lodestar does not split comma-separated
/// lists). Only our own keys are recorded, and an index never moves.
pub(crate) async fn resolve_indices<P: Preset>(ctx: &Ctx<P>) -> Result<(), BeaconError> {
    let missing: Vec<String> = ctx.store.pubkeys_without_index().iter().map(|pk| pk.to_string()).collect();
    let t = Duration::from_secs(10).min(ctx.slot_timeout() * 4);
    let mut post_served = true;
    for chunk in missing.chunks(1000) {
        let entries = if post_served {
            match ctx.beacon.validators_by_post(chunk, t).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!("validators by POST: {e}; asking by GET");
                    post_served = false;
                    by_get(ctx, chunk, t).await?
                }
            }
        } else {
            by_get(ctx, chunk, t).await?
        };
        for conflict in ctx.store.set_indices(entries.into_iter().map(|e| (e.validator.pubkey, e.index))) {
            warn!("validator indices: {conflict}; ignored");
        }
    }
    Ok(())
}

async fn by_get<P: Preset>(
    ctx: &Ctx<P>,
    ids: &[String],
    t: Duration,
) -> Result<Vec<crate::beacon::ValidatorEntry>, BeaconError> {
    let mut all = Vec::new();
    for chunk in ids.chunks(64) {
        all.extend(ctx.beacon.validators_by_get(chunk, t).await?);
    }
    Ok(all)
}

/// Keeps a duty only if its index is ours and its key is the one poolvc
/// holds for that index; tells each one refused.
fn own_duty<P: Preset>(ctx: &Ctx<P>, kind: MessageKind, slot: u64, index: u64, pubkey: &PublicKeyBytes) -> bool {
    match ctx.store.pubkey_of(index) {
        Some(ours) if ours == *pubkey => true,
        Some(ours) => {
            ctx.events.emit(Event::Refused {
                kind,
                slot,
                validator: Some(index),
                reason: crate::outcome::Refusal::KeyMismatch { index, claimed: *pubkey, ours },
            });
            false
        }
        None => false,
    }
}

/// An attester duty within the spec's bounds for `epoch`: its slot in the
/// epoch, its committee among the slot's (at most `MAX_COMMITTEES_PER_SLOT`),
/// its position inside a committee of at most `MAX_VALIDATORS_PER_COMMITTEE`.
fn attester_duty_in_bounds<P: Preset>(spec: &poolvc_signer::types::ChainSpec, epoch: u64, d: &AttesterDuty) -> bool {
    spec.epoch_of(d.slot) == epoch
        && d.committee_index < d.committees_at_slot
        && d.committees_at_slot <= P::max_committees_per_slot() as u64
        && d.validator_committee_index < d.committee_length
        && d.committee_length <= <P::MaxValidatorsPerCommittee as ssz_types::typenum::Unsigned>::to_u64()
}

/// Why a node's duties are not an answer to what was asked (the first
/// fault found). Such an answer sends the request on to the next node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DutyFault {
    /// More duties than validators asked for.
    #[error("{got} {kind} duties for {asked} validators")]
    TooMany {
        /// Attester or sync.
        kind: &'static str,
        /// Duties answered.
        got: usize,
        /// Validators asked for.
        asked: usize,
    },
    /// An attester duty outside the spec's bounds for the epoch.
    #[error(
        "validator {validator}: duty out of bounds for epoch {epoch} (slot {slot}, committee {committee} of \
         {committees}, position {position} of {length})"
    )]
    OutOfBounds {
        /// The validator.
        validator: u64,
        /// The epoch asked.
        epoch: u64,
        /// The duty's slot.
        slot: u64,
        /// Its committee.
        committee: u64,
        /// Committees at the slot.
        committees: u64,
        /// Its position.
        position: u64,
        /// The committee's length.
        length: u64,
    },
    /// A duty labelled with a key that is not the one poolvc holds for the index.
    #[error("validator {validator}: {kind} duty labelled with key {claimed}, not its own")]
    Relabelled {
        /// Attester or sync.
        kind: &'static str,
        /// The validator.
        validator: u64,
        /// The key the duty names.
        claimed: PublicKeyBytes,
    },
    /// Two duties of one kind for one validator.
    #[error("validator {validator}: more than one {kind} duty in epoch {epoch}")]
    Twice {
        /// Attester or sync.
        kind: &'static str,
        /// The validator.
        validator: u64,
        /// The epoch asked.
        epoch: u64,
    },
    /// Sync committee positions repeated or not below the committee's size.
    #[error("validator {validator}: sync committee positions repeated or not below {size}")]
    SyncPositions {
        /// The validator.
        validator: u64,
        /// `SYNC_COMMITTEE_SIZE`.
        size: u64,
    },
    /// A proposer duty outside the epoch, or a slot named twice.
    #[error("slot {slot}: not a slot of epoch {epoch}, or named twice")]
    ProposerSlot {
        /// The slot.
        slot: u64,
        /// The epoch asked.
        epoch: u64,
    },
}

/// The fault of a node's attester duties, if any: more duties than keys
/// asked for, a duty out of bounds, a key that is not the one poolvc holds
/// for the index, two duties for one validator.
pub(super) fn attester_answer_fault<P: Preset>(
    ctx: &Ctx<P>,
    epoch: u64,
    asked: usize,
    d: &[AttesterDuty],
) -> Result<(), DutyFault> {
    if d.len() > asked {
        return Err(DutyFault::TooMany { kind: "attester", got: d.len(), asked });
    }
    let mut seen = std::collections::HashSet::with_capacity(d.len());
    for x in d {
        let v = x.validator_index;
        if !attester_duty_in_bounds::<P>(&ctx.spec, epoch, x) {
            return Err(DutyFault::OutOfBounds {
                validator: v,
                epoch,
                slot: x.slot,
                committee: x.committee_index,
                committees: x.committees_at_slot,
                position: x.validator_committee_index,
                length: x.committee_length,
            });
        }
        if ctx.store.pubkey_of(v) != Some(x.pubkey) {
            return Err(DutyFault::Relabelled { kind: "attester", validator: v, claimed: x.pubkey });
        }
        if !seen.insert(v) {
            return Err(DutyFault::Twice { kind: "attester", validator: v, epoch });
        }
    }
    Ok(())
}

/// The same for sync duties: each for a key of ours, once, with committee
/// positions below `SYNC_COMMITTEE_SIZE`, each once.
pub(super) fn sync_answer_fault<P: Preset>(
    ctx: &Ctx<P>,
    epoch: u64,
    asked: usize,
    d: &[SyncDuty],
) -> Result<(), DutyFault> {
    if d.len() > asked {
        return Err(DutyFault::TooMany { kind: "sync", got: d.len(), asked });
    }
    let size = ctx.spec.sync_committee_size;
    let mut seen = std::collections::HashSet::with_capacity(d.len());
    for x in d {
        let v = x.validator_index;
        if ctx.store.pubkey_of(v) != Some(x.pubkey) {
            return Err(DutyFault::Relabelled { kind: "sync", validator: v, claimed: x.pubkey });
        }
        if !seen.insert(v) {
            return Err(DutyFault::Twice { kind: "sync", validator: v, epoch });
        }
        let mut positions = x.validator_sync_committee_indices.clone();
        positions.sort_unstable();
        positions.dedup();
        if positions.len() != x.validator_sync_committee_indices.len() || positions.last().is_some_and(|p| *p >= size) {
            return Err(DutyFault::SyncPositions { validator: v, size });
        }
    }
    Ok(())
}

/// The same for proposer duties: each slot of the epoch at most once.
pub(super) fn proposer_answer_fault<P: Preset>(ctx: &Ctx<P>, epoch: u64, d: &[ProposerDuty]) -> Result<(), DutyFault> {
    let mut seen = std::collections::HashSet::with_capacity(d.len());
    for x in d {
        if ctx.spec.epoch_of(x.slot) != epoch || !seen.insert(x.slot) {
            return Err(DutyFault::ProposerSlot { slot: x.slot, epoch });
        }
    }
    Ok(())
}

/// Fetches and prepares the duties of `epoch`: attester, proposer and sync
/// duties, selection proofs (attestation and sync) signed in one batch each,
/// committee and sync subscriptions.
pub(crate) async fn fetch_duties<P: Preset>(ctx: &Ctx<P>, epoch: u64) -> Result<EpochDuties, BeaconError> {
    let t = ctx.slot_timeout() * 4;
    let spec = &ctx.spec;
    let indices = ctx.store.indices();
    // The three duty kinds at once: a slow node costs one round trip, not three.
    let altair = spec.fork_name_at_epoch(epoch).altair_enabled();
    let n = indices.len();
    let sync_fetch = async {
        if altair {
            let check = |d: &[SyncDuty]| sync_answer_fault(ctx, epoch, n, d).map_err(AnswerError::from);
            ctx.beacon.sync_duties_checked(epoch, &indices, t, &check).await
        } else {
            Ok(Vec::new())
        }
    };
    // A faulty answer is a node's malformed answer (the reason is logged).
    let attester_check = |d: &[AttesterDuty]| attester_answer_fault(ctx, epoch, n, d).map_err(AnswerError::from);
    let proposer_check = |d: &[ProposerDuty]| proposer_answer_fault(ctx, epoch, d).map_err(AnswerError::from);
    let (att, prop, sync_all) = tokio::try_join!(
        ctx.beacon.attester_duties_checked(epoch, &indices, t, &attester_check),
        ctx.beacon.proposer_duties_checked(epoch, t, &proposer_check),
        sync_fetch
    )?;
    let sync = own_sync_duties(ctx, epoch, sync_all);
    let mut mine = own_attester_duties(ctx, epoch, att.data);
    // Only the slots from the clock's to `PROOF_LOOKAHEAD` ahead get their
    // proofs now (past slots none); the selection-proof service signs the
    // rest, slot by slot, ahead of them.
    mine.sort_by_key(|d| d.slot);
    let now = ctx.current_slot();
    let near = now..=now + PROOF_LOOKAHEAD;
    let (from, to) =
        (mine.partition_point(|d| d.slot < *near.start()), mine.partition_point(|d| d.slot <= *near.end()));
    let jobs: Vec<SelectionJob> = mine[from..to].iter().map(|d| (d.validator_index, d.pubkey, d.slot)).collect();
    let near_proofs = attestation_proofs(ctx, &jobs, t).await;
    let mut proofs: Vec<Option<SignatureBytes>> = vec![None; from];
    proofs.extend(near_proofs);
    proofs.resize(mine.len(), None);
    let (sync_jobs, sync_proofs) = sync_proofs(ctx, epoch, &sync, t).await;

    let mut duties = EpochDuties {
        dependent_root: att.dependent_root,
        proposer_dependent_root: prop.dependent_root,
        proposers_final: spec.epoch_of(ctx.current_slot()) >= epoch,
        proven: (spec.start_slot(epoch)..spec.start_slot(epoch + 1)).filter(|s| s <= near.end()).collect(),
        ..Default::default()
    };
    let mut subs = Vec::new();
    let mut by_slot: std::collections::HashMap<u64, Vec<Attester>> = std::collections::HashMap::new();
    for (d, proof) in mine.into_iter().zip(proofs) {
        let (sub, attester) = with_proof(ctx, d, proof);
        subs.push(sub);
        by_slot.entry(attester.duty.slot).or_default().push(attester);
    }
    duties.attesters = by_slot.into_iter().map(|(s, a)| (s, Arc::new(a))).collect();
    for ((validator_index, _, sel), proof) in sync_jobs.into_iter().zip(sync_proofs) {
        let Some(proof) = proof else { continue };
        if is_sync_aggregator(
            spec.sync_committee_size,
            spec.sync_committee_subnet_count,
            spec.target_aggregators_per_sync_subcommittee,
            &proof,
        ) {
            duties.sync_aggregators.entry(sel.slot).or_default().push(SyncAggregator {
                validator_index,
                subcommittee_index: sel.subcommittee_index,
                selection_proof: proof,
            });
        }
    }
    subscribe(ctx, epoch, &subs, &sync, t).await;
    for p in prop.data {
        if spec.epoch_of(p.slot) == epoch && own_duty(ctx, MessageKind::Block, p.slot, p.validator_index, &p.pubkey) {
            duties.proposers.insert(p.slot, p);
        }
    }
    duties.sync = sync;
    Ok(duties)
}

/// Our sync duties of the answer: each for a key of ours, once, with its
/// committee positions below `SYNC_COMMITTEE_SIZE`, each once, whatever the
/// node sent.
fn own_sync_duties<P: Preset>(ctx: &Ctx<P>, epoch: u64, all: Vec<SyncDuty>) -> Vec<SyncDuty> {
    let first = ctx.spec.start_slot(epoch);
    let max_index = ctx.spec.sync_committee_size;
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .filter(|s| {
            own_duty(ctx, MessageKind::SyncMessage, first, s.validator_index, &s.pubkey)
                && seen.insert(s.validator_index)
        })
        .map(|mut s| {
            s.validator_sync_committee_indices.retain(|i| *i < max_index);
            s.validator_sync_committee_indices.sort_unstable();
            s.validator_sync_committee_indices.dedup();
            s
        })
        .collect()
}

/// Our attester duties of the answer: one per validator, inside the epoch
/// and the spec's bounds, each for the key poolvc holds for its index.
fn own_attester_duties<P: Preset>(ctx: &Ctx<P>, epoch: u64, all: Vec<AttesterDuty>) -> Vec<AttesterDuty> {
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .filter(|d| {
            attester_duty_in_bounds::<P>(&ctx.spec, epoch, d)
                && own_duty(ctx, MessageKind::Attestation, d.slot, d.validator_index, &d.pubkey)
                && seen.insert(d.validator_index)
        })
        .collect()
}

/// An attester's selection job: its index, key, and slot.
type SelectionJob = (u64, PublicKeyBytes, u64);

/// The duty as kept (its proof only if it aggregates) and its subnet
/// subscription.
fn with_proof<P: Preset>(
    ctx: &Ctx<P>,
    d: AttesterDuty,
    proof: Option<SignatureBytes>,
) -> (CommitteeSubscription, Attester) {
    let agg = proof.is_some_and(|p| is_aggregator(d.committee_length, ctx.spec.target_aggregators_per_committee, &p));
    let sub = CommitteeSubscription {
        validator_index: d.validator_index,
        committee_index: d.committee_index,
        committees_at_slot: d.committees_at_slot,
        slot: d.slot,
        is_aggregator: agg,
    };
    (sub, Attester { duty: d, selection_proof: proof.filter(|_| agg).map(Box::new) })
}

/// The selection proof of each job (sorted by slot), signed in one batch
/// per slot; `None` for a key doppelganger protection or a lease still
/// holds (its duties are fetched again when it is released) or a proof not
/// signed. With `--distributed`, the middleware's combined proofs.
async fn attestation_proofs<P: Preset>(
    ctx: &Ctx<P>,
    jobs: &[SelectionJob],
    t: Duration,
) -> Vec<Option<SignatureBytes>> {
    let held: Vec<bool> = jobs.iter().map(|j| !ctx.store.released(j.0)).collect();
    let free: Vec<SelectionJob> = jobs.iter().zip(&held).filter(|(_, held)| !**held).map(|(j, _)| *j).collect();
    let mut signed = Vec::with_capacity(free.len());
    for chunk in free.chunk_by(|a, b| a.2 == b.2) {
        signed.extend(ctx.store.sign_selection_proofs(chunk).await);
    }
    let mut signed = signed.into_iter();
    let proofs: Vec<Option<SignatureBytes>> =
        held.iter().map(|h| if *h { None } else { signed.next().and_then(|o| o.signature()) }).collect();
    if !ctx.cfg.distributed {
        return proofs;
    }
    let keys: Vec<(u64, u64)> = jobs.iter().map(|j| (j.0, j.2)).collect();
    super::distributed::combine_attestation_proofs(ctx, &keys, proofs, t).await
}

/// Signs the selection proofs of `slot`'s attesters if the duties held for
/// its epoch have none yet, keeps them in the duty book, and subscribes the
/// slot's aggregators to their subnets. Nothing if the duties were
/// refetched while it signed (the refetch signed the near slots itself, and
/// the next slot's call signs the rest).
pub(crate) async fn prove_slot<P: Preset>(ctx: &Ctx<P>, slot: u64) {
    let epoch = ctx.spec.epoch_of(slot);
    let Some(duties) = ctx.duties.get(epoch) else { return };
    if duties.proven.contains(&slot) {
        return;
    }
    let attesters = duties.attesters.get(&slot).cloned().unwrap_or_default();
    let t = ctx.slot_timeout() * 2;
    let jobs: Vec<SelectionJob> =
        attesters.iter().map(|a| (a.duty.validator_index, a.duty.pubkey, a.duty.slot)).collect();
    let proofs = attestation_proofs(ctx, &jobs, t).await;
    let mut subs = Vec::new();
    let mut proven = Vec::with_capacity(attesters.len());
    for (a, proof) in attesters.iter().zip(proofs) {
        let (sub, attester) = with_proof(ctx, a.duty.clone(), proof);
        if sub.is_aggregator {
            subs.push(sub);
        }
        proven.push(attester);
    }
    if ctx.duties.set_proven(epoch, &duties, slot, proven) && !subs.is_empty() {
        if let Err(e) = ctx.beacon.subscribe_committees(&subs, t).await {
            warn!(slot, "aggregator subscriptions: {e}");
        }
    }
}

/// A sync member's selection job: its index, key, and what it signs.
type SyncJob = (u64, PublicKeyBytes, SyncAggregatorSelectionData);

/// Every sync selection proof of the epoch: one per (member, subcommittee,
/// slot), for released keys, signed in one batch per slot; with
/// `--distributed`, the middleware's combined proofs.
async fn sync_proofs<P: Preset>(
    ctx: &Ctx<P>,
    epoch: u64,
    sync: &[SyncDuty],
    t: Duration,
) -> (Vec<SyncJob>, Vec<Option<SignatureBytes>>) {
    let spec = &ctx.spec;
    let sub_size = (spec.sync_committee_size / spec.sync_committee_subnet_count.max(1)).max(1);
    let mut jobs: Vec<SyncJob> = Vec::new();
    for s in sync {
        let mut subs: Vec<u64> = s.validator_sync_committee_indices.iter().map(|i| i / sub_size).collect();
        subs.sort_unstable();
        subs.dedup();
        // This epoch's sync committee signs at the slots whose *next* slot is
        // in the epoch (the Altair validator guide: the committee of
        // `slot + 1`): the previous epoch's last slot to this epoch's
        // second-to-last. At a period boundary that is the only way the
        // last slot's contribution comes from the right committee.
        for slot in spec.start_slot(epoch).saturating_sub(1)..spec.start_slot(epoch + 1) - 1 {
            for sub in &subs {
                jobs.push((
                    s.validator_index,
                    s.pubkey,
                    SyncAggregatorSelectionData { slot, subcommittee_index: *sub },
                ));
            }
        }
    }
    jobs.retain(|j| ctx.store.released(j.0));
    jobs.sort_by_key(|j| j.2.slot);
    let mut proofs: Vec<Option<SignatureBytes>> = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunk_by(|a, b| a.2.slot == b.2.slot) {
        proofs.extend(ctx.store.sign_sync_selection_proofs(chunk).await.into_iter().map(|o| o.signature()));
    }
    if ctx.cfg.distributed {
        let keys: Vec<(u64, SyncAggregatorSelectionData)> = jobs.iter().map(|j| (j.0, j.2)).collect();
        proofs = super::distributed::combine_sync_proofs(ctx, &keys, proofs, t).await;
    }
    (jobs, proofs)
}

/// The epoch's committee and sync-committee subnet subscriptions (a
/// failure is logged: duties go on without them).
async fn subscribe<P: Preset>(
    ctx: &Ctx<P>,
    epoch: u64,
    subs: &[CommitteeSubscription],
    sync: &[SyncDuty],
    t: Duration,
) {
    if !subs.is_empty() {
        if let Err(e) = ctx.beacon.subscribe_committees(subs, t).await {
            warn!("committee subscriptions: {e}");
        }
    }
    if !sync.is_empty() {
        let period = ctx.spec.epochs_per_sync_committee_period.max(1);
        let until_epoch = (epoch / period + 1) * period;
        let subs: Vec<SyncCommitteeSubscription> = sync
            .iter()
            .map(|s| SyncCommitteeSubscription {
                validator_index: s.validator_index,
                sync_committee_indices: s.validator_sync_committee_indices.clone(),
                until_epoch,
            })
            .collect();
        if let Err(e) = ctx.beacon.subscribe_sync_committees(&subs, t).await {
            warn!("sync committee subscriptions: {e}");
        }
    }
}

/// The dependent roots of `epoch`'s attester and proposer duties, asked
/// cheaply: the attester route with one index, the proposer route as is.
pub(crate) async fn dependent_roots<P: Preset>(ctx: &Ctx<P>, epoch: u64) -> Result<(Hash256, Hash256), BeaconError> {
    let t = ctx.slot_timeout() * 2;
    let Some(one) = ctx.store.indices().first().copied() else { return Ok((Hash256::ZERO, Hash256::ZERO)) };
    let one = [one];
    let (att, prop) =
        tokio::try_join!(ctx.beacon.attester_duties(epoch, &one, t), ctx.beacon.proposer_duties(epoch, t))?;
    Ok((att.dependent_root, prop.dependent_root))
}

/// `known` with its proposers refetched (the attester duties unchanged).
pub(crate) async fn refetch_proposers<P: Preset>(
    ctx: &Ctx<P>,
    epoch: u64,
    known: &EpochDuties,
) -> Result<EpochDuties, BeaconError> {
    let prop = ctx.beacon.proposer_duties(epoch, ctx.slot_timeout() * 2).await?;
    let mut d = known.clone();
    d.proposer_dependent_root = prop.dependent_root;
    d.proposers_final = ctx.spec.epoch_of(ctx.current_slot()) >= epoch;
    d.proposers = prop
        .data
        .into_iter()
        .filter(|p| {
            ctx.spec.epoch_of(p.slot) == epoch
                && own_duty(ctx, MessageKind::Block, p.slot, p.validator_index, &p.pubkey)
        })
        .map(|p| (p.slot, p))
        .collect();
    Ok(d)
}
