//! The proposer-preferences service (Gloas): where a proposal's fee
//! recipient now lives. At every slot, for each proposal of poolvc's keys in
//! this epoch and the next (the duty book's proposer duties, so from one
//! epoch before the fork) whose slot is still ahead and in Gloas, the
//! preferences a builder must honour are made from the same policy as every
//! other money path: the key's recipient (a pool rule first) and gas limit,
//! and the proposal's shuffling dependent root. New or changed preferences (a rule
//! switched, the keymanager API, the definitions) are signed in one store
//! batch and published in one POST; unchanged ones are not sent again.
//!
//! Fail closed: a key whose recipient is not known gets no preferences (the
//! store refuses them, told once per proposal), and so no builder bid.

use super::context::{keep_signed, Ctx};
use crate::events::{MessageKind, Service};
use poolvc_signer::types::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What was signed (and what was refused) per `(proposal slot, validator)`.
#[derive(Debug, Default)]
pub(crate) struct Signed {
    sent: BTreeMap<(u64, u64), ProposerPreferences>,
    refused: BTreeSet<(u64, u64)>,
}

/// Runs the service until the run ends: at every slot's start, and again
/// at once when the pool service says recipients moved mid-slot (a rule
/// that became known during the slot before a proposal still reaches the
/// builders before it).
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut signed = Signed::default();
    let mut slot = ctx.first_slot;
    loop {
        let s = tokio::select! {
            s = ctx.next_slot(Service::Preferences, slot) => match s {
                Some(s) => {
                    slot = s + 1;
                    s
                }
                None => return,
            },
            () = ctx.recipients_moved.notified() => ctx.current_slot(),
        };
        let wanted = wanted(&ctx, s);
        step(&ctx, s, wanted, &mut signed).await;
    }
}

/// The preferences poolvc's keys want for the proposals after `slot` in its
/// epoch and the next, in Gloas, from the keys' settings now.
pub(crate) fn wanted<P: Preset>(ctx: &Ctx<P>, slot: u64) -> Vec<(ProposerPreferences, PublicKeyBytes)> {
    let epoch = ctx.spec.epoch_of(slot);
    let mut out = Vec::new();
    for e in [epoch, epoch + 1] {
        if !ctx.spec.fork_name_at_epoch(e).gloas_enabled() {
            continue;
        }
        let Some(d) = ctx.duties.get(e) else { continue };
        let mut proposals: Vec<_> = d.proposers.values().filter(|p| p.slot > slot).collect();
        proposals.sort_unstable_by_key(|p| p.slot);
        for p in proposals {
            let Some((pubkey, config)) = ctx.store.proposal_config(p.validator_index) else { continue };
            let prefs = ProposerPreferences {
                // The proposal epoch's shuffling dependent root: the block
                // at the start of the epoch before, less one slot (Gloas
                // `get_shuffling_dependent_root`, as the proposer lookahead
                // of Fulu fixes the proposers an epoch early). That is the
                // attester duties' dependent root, not the v1 proposer
                // duties' (the last block before the proposal epoch), which
                // gossip rejects as after the dependent slot.
                dependent_root: d.dependent_root,
                proposal_slot: p.slot,
                validator_index: p.validator_index,
                // No recipient known: the zero address, which the store
                // refuses for this key (and says why).
                fee_recipient: config.recipient().unwrap_or(Address::ZERO),
                target_gas_limit: config.gas_limit,
            };
            out.push((prefs, pubkey));
        }
    }
    out
}

/// Signs and publishes what is new in `wanted`; returns how many were
/// published.
pub(crate) async fn step<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    wanted: Vec<(ProposerPreferences, PublicKeyBytes)>,
    signed: &mut Signed,
) -> usize {
    signed.sent.retain(|(s, _), _| *s > slot);
    signed.refused.retain(|(s, _)| *s > slot);
    let new: Vec<(ProposerPreferences, PublicKeyBytes)> = wanted
        .into_iter()
        .filter(|(p, _)| {
            let at = (p.proposal_slot, p.validator_index);
            signed.sent.get(&at) != Some(p) && !(signed.refused.contains(&at) && p.fee_recipient == Address::ZERO)
        })
        .collect();
    if new.is_empty() {
        return 0;
    }
    let outcomes = ctx.store.sign_proposer_preferences(&new).await;
    for ((p, _), o) in new.iter().zip(&outcomes) {
        let at = (p.proposal_slot, p.validator_index);
        if o.signature().is_some() {
            signed.sent.insert(at, *p);
            signed.refused.remove(&at);
        } else {
            signed.refused.insert(at);
        }
    }
    let msgs = keep_signed(new, outcomes, |(message, _), signature| SignedProposerPreferences { message, signature });
    if msgs.is_empty() {
        return 0;
    }
    let validators = msgs.iter().map(|m| m.message.validator_index).collect();
    let n = msgs.len();
    let fork = ctx.spec.fork_name_at_slot(msgs[0].message.proposal_slot);
    let r = ctx.beacon.publish_proposer_preferences(&msgs, fork, ctx.slot_timeout()).await;
    if r.is_err() {
        // Not delivered: sent again at the next slot.
        for m in &msgs {
            signed.sent.remove(&(m.message.proposal_slot, m.message.validator_index));
        }
    }
    ctx.publish_outcome(MessageKind::ProposerPreferences, slot, validators, r);
    n
}
