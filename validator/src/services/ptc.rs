//! The PTC service (Gloas): payload attestations. A key's PTC seats of an
//! epoch come from the node (`POST /eth/v1/validator/duties/ptc/{epoch}`,
//! fetched when the epoch begins and kept for it); at each slot's
//! payload-attestation due time (`PAYLOAD_ATTESTATION_DUE_BPS`, 3/4 of the
//! slot) the slot's members sign the node's `payload_attestation_data` for
//! that slot: one data, one store batch, one POST.
//!
//! The node is checked, not trusted: a seat for a key poolvc does not hold,
//! or for a slot outside the epoch, is dropped and counted; data for another
//! slot than asked is refused and counted, and nothing is signed. The
//! protection database keeps each key to one vote per slot, across restarts.

use super::context::{keep_signed, Ctx};
use crate::beacon::{BeaconError, PtcDuty};
use crate::events::{MessageKind, Service};
use crate::store::ValidatorStore;
use poolvc_signer::types::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::info;

/// An epoch's PTC seats of poolvc's keys, and the dependent root the node
/// gave them under (the attester duties' own: the PTC is drawn from the
/// epoch's committees).
#[derive(Debug, Clone, Default)]
pub(crate) struct Seats {
    /// `get_block_root_at_slot(state, start_slot(epoch - 1) - 1)`.
    pub(crate) dependent_root: Hash256,
    /// The seats.
    pub(crate) duties: Vec<PtcDuty>,
}

/// Whether `known` seats of `epoch` must be asked for again: the duties
/// service holds the epoch's attester duties under another dependent root
/// (a reorg moved the epoch's committees, and with them its PTC).
pub(crate) fn stale<P: Preset>(ctx: &Ctx<P>, epoch: u64, known: &Seats) -> bool {
    ctx.duties.get(epoch).is_some_and(|d| d.dependent_root != known.dependent_root)
}

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut seats: BTreeMap<u64, Seats> = BTreeMap::new();
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Ptc, slot).await {
        slot = s + 1;
        if !ctx.spec.fork_name_at_slot(s).gloas_enabled() {
            continue;
        }
        let epoch = ctx.spec.epoch_of(s);
        seats.retain(|e, _| *e >= epoch);
        if seats.get(&epoch).is_none_or(|known| stale(&ctx, epoch, known)) {
            match duties(&ctx, epoch).await {
                Ok(d) => {
                    seats.insert(epoch, d);
                }
                Err(e) => {
                    ctx.duty_failed(Service::Ptc, s, e);
                    if !seats.contains_key(&epoch) {
                        continue;
                    }
                }
            }
        }
        let Some(of_epoch) = seats.get(&epoch) else { continue };
        let members: Vec<PtcDuty> = of_epoch.duties.iter().filter(|m| m.slot == s).cloned().collect();
        let members = ctx.store.keep_released(members, |m| m.validator_index);
        if members.is_empty() {
            continue;
        }
        if !ctx.sleep_until(ctx.slot_at(s, ctx.due(s, Due::PayloadAttestation))).await {
            break;
        }
        if let Err(e) = vote(&ctx, s, &members).await {
            ctx.duty_failed(Service::Ptc, s, e);
        }
    }
}

/// The PTC seats of poolvc's keys in `epoch`: the node's answer, keeping
/// only seats of keys poolvc holds (by index and key) in that epoch.
pub(crate) async fn duties<P: Preset>(ctx: &Ctx<P>, epoch: u64) -> Result<Seats, BeaconError> {
    let indices = ctx.store.indices();
    if indices.is_empty() {
        return Ok(Seats::default());
    }
    let answer = ctx.beacon.ptc_duties(epoch, &indices, ctx.slot_timeout() * 4).await?;
    let mut kept = Vec::with_capacity(answer.data.len());
    for d in answer.data {
        let in_epoch = ctx.spec.epoch_of(d.slot) == epoch;
        let ours = ctx.store.index_of(&d.pubkey) == Some(d.validator_index);
        if in_epoch && ours {
            kept.push(d);
        } else {
            let what = format!(
                "a PTC seat of validator {} ({}) at slot {} in the duties of epoch {epoch}",
                d.validator_index, d.pubkey, d.slot
            );
            ctx.refuse_node_data(MessageKind::PayloadAttestation, d.slot, what);
        }
    }
    Ok(Seats { dependent_root: answer.dependent_root, duties: kept })
}

/// Signs and publishes the payload attestations of `slot`'s `members`;
/// returns how many were published.
/// The PTC's signing step for one slot: every member's vote on `data` in
/// one store batch (one signing root, one protection batch, one engine
/// batch); the messages of the votes signed, in the members' order.
pub async fn sign_votes<P: Preset>(
    store: &ValidatorStore<P>,
    data: &PayloadAttestationData,
    members: &[PtcDuty],
) -> Vec<PayloadAttestationMessage> {
    let batch: Vec<(u64, PublicKeyBytes)> = members.iter().map(|m| (m.validator_index, m.pubkey)).collect();
    let outcomes = store.sign_payload_attestations(data, &batch).await;
    keep_signed(members.to_vec(), outcomes, |m, signature| PayloadAttestationMessage {
        validator_index: m.validator_index,
        data: *data,
        signature,
    })
}

pub(crate) async fn vote<P: Preset>(ctx: &Ctx<P>, slot: u64, members: &[PtcDuty]) -> Result<usize, BeaconError> {
    let t = ctx.slot_timeout();
    let Some(data) = ctx.beacon.payload_attestation_data(slot, t).await? else {
        // 204: no block of the slot seen; the PTC has nothing to vote on.
        info!(slot, "the node has seen no block of the slot: no payload attestation");
        return Ok(0);
    };
    if data.slot != slot {
        let what = format!("payload attestation data of slot {} asked for slot {slot}", data.slot);
        ctx.refuse_node_data(MessageKind::PayloadAttestation, slot, what);
        return Ok(0);
    }
    let msgs = sign_votes(&ctx.store, &data, members).await;
    if msgs.is_empty() {
        return Ok(0);
    }
    let validators: Vec<u64> = msgs.iter().map(|m| m.validator_index).collect();
    let n = msgs.len();
    let r = ctx.beacon.publish_payload_attestations(&msgs, ctx.spec.fork_name_at_slot(slot), t).await;
    ctx.publish_outcome(MessageKind::PayloadAttestation, slot, validators, r);
    Ok(n)
}
