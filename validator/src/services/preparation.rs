//! The preparation service, once per epoch (and at start): proposer
//! preparation (fee recipients) and builder registrations, signed once per
//! (fee recipient, gas limit) in one store batch, cached, and sent to the
//! node every epoch.
//!
//! A change of a key's recipient, from any cause (a pool rule, the
//! keymanager API, the definitions), bumps the store's change watch: both
//! are sent again at once, the registration re-signed. A cached
//! registration is sent only while it still names the key's recipient and
//! gas limit: once the recipient moves, the old one is never sent again
//! (not even when signing the new one fails).
//!
//! Fail closed: a key with no fee recipient gets no preparation entry and
//! no registration (the runtime says at start which keys lack one).

use super::context::Ctx;
use super::proposer_preparation::prepare_proposers;
use crate::events::{MessageKind, Service};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::warn;

/// How long a change waits for the rest of its burst before it is sent.
const CHANGE_SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs the service: at the first slot, at each epoch's first slot, and at
/// once (within [`CHANGE_SETTLE`]) when a key's settings change.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut cache: HashMap<PublicKeyBytes, SignedValidatorRegistrationV1> = HashMap::new();
    let mut slot = ctx.first_slot;
    let mut first = true;
    let mut changes = ctx.store.watch_changes();
    changes.borrow_and_update();
    // A change (a pool rule's switch, the keymanager API, the definitions)
    // is acted on at once, not at the next slot: a registration naming the
    // old recipient must not stay the relays' for up to a slot.
    let mut watching = true;
    loop {
        let (s, by_change) = tokio::select! {
            s = ctx.next_slot(Service::Preparation, slot) => match s {
                Some(s) => {
                    slot = s + 1;
                    (s, false)
                }
                None => break,
            },
            r = changes.changed(), if watching && !first => {
                if r.is_err() {
                    // The store is gone: only the slot clock is left.
                    watching = false;
                    continue;
                }
                if ctx.stopping() {
                    break;
                }
                // A burst of changes (a keymanager import) is sent once.
                tokio::time::sleep(CHANGE_SETTLE).await;
                (ctx.current_slot(), true)
            }
        };
        let keys_changed = by_change || changes.has_changed().unwrap_or(false);
        if !first && !keys_changed && s % ctx.spec.slots_per_epoch != 0 {
            continue;
        }
        changes.borrow_and_update();
        first = false;
        prepare_proposers(&ctx).await;
        register_validators(&ctx, s, &mut cache).await;
    }
}

/// Signs the registrations not yet cached (or whose fee recipient or gas
/// limit changed) in one batch, then sends all of them.
pub(super) async fn register_validators<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    cache: &mut HashMap<PublicKeyBytes, SignedValidatorRegistrationV1>,
) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let wanted: Vec<(u64, ValidatorRegistrationV1)> = ctx
        .store
        .indexed_configs()
        .into_iter()
        .filter(|(i, _, c)| c.builder() && ctx.store.released(*i))
        .filter_map(|(i, pubkey, c)| {
            Some((
                i,
                ValidatorRegistrationV1 {
                    fee_recipient: c.recipient()?,
                    gas_limit: c.gas_limit,
                    timestamp: ctx.cfg.registration_timestamp.unwrap_or(now),
                    pubkey,
                },
            ))
        })
        .collect();
    // Only registrations that name what the key pays now.
    let now_pays: HashMap<PublicKeyBytes, (Address, u64)> =
        wanted.iter().map(|(_, r)| (r.pubkey, (r.fee_recipient, r.gas_limit))).collect();
    cache.retain(|pk, c| now_pays.get(pk) == Some(&(c.message.fee_recipient, c.message.gas_limit)));
    if wanted.is_empty() {
        return;
    }
    let to_sign: Vec<ValidatorRegistrationV1> = wanted
        .iter()
        .filter(|(_, r)| {
            cache
                .get(&r.pubkey)
                .is_none_or(|c| c.message.fee_recipient != r.fee_recipient || c.message.gas_limit != r.gas_limit)
        })
        .map(|(_, r)| *r)
        .collect();
    if !to_sign.is_empty() {
        let outcomes = ctx.store.sign_registrations(slot, &to_sign).await;
        for (message, o) in to_sign.into_iter().zip(outcomes) {
            if let Some(signature) = o.signature() {
                cache.insert(message.pubkey, SignedValidatorRegistrationV1 { message, signature });
            }
        }
    }
    let (validators, all): (Vec<u64>, Vec<SignedValidatorRegistrationV1>) =
        wanted.iter().filter_map(|(i, r)| Some((*i, *cache.get(&r.pubkey)?))).unzip();
    if all.is_empty() {
        return;
    }
    let (batch, t) = (ctx.cfg.registration_batch_size, ctx.slot_timeout());
    let to_proposer_nodes = async {
        match &ctx.proposer_nodes {
            Some(pn) => pn.register_validators(&all, batch, t).await,
            None => Ok(()),
        }
    };
    let (r, p) = tokio::join!(ctx.beacon.register_validators(&all, batch, t), to_proposer_nodes);
    if let Err(e) = p {
        warn!("register_validator to the proposer nodes: {e}");
    }
    ctx.publish_outcome(MessageKind::Registration, slot, validators, r);
}
