//! Block proposal: RANDAO reveal, produce, check (slot, proposer, a known
//! parent at an earlier slot), slashing check, sign, publish. Before Electra
//! on produceBlockV2 and the v1 publish route (what old nodes such as
//! Lodestar v1.5.1 serve); from Electra on, produceBlockV3 with full or
//! blinded blocks and the v2 publish routes with the `Eth-Consensus-Version`
//! header, in SSZ when the node offers it (JSON otherwise, and as fallback).
//! From Gloas on, produceBlockV4 and the envelope of a self-built payload
//! (`block_gloas`).

use super::context::Ctx;
pub(crate) use super::proposal::ProposeError;
use super::proposal::{check_produced, produce};
use crate::beacon::{BeaconApi, BlockRequest, Produced};
use crate::events::{Event, MessageKind, Service};
use crate::outcome::{Outcome, Refusal};
use poolvc_signer::types::*;
use std::sync::Arc;
use tracing::{info, warn};

fn graffiti_bytes(graffiti: &str) -> [u8; 32] {
    let mut g = [0u8; 32];
    let gb = graffiti.as_bytes();
    g[..gb.len().min(32)].copy_from_slice(&gb[..gb.len().min(32)]);
    g
}

/// Runs the block service: at each slot start, a proposal of ours runs on
/// its own task, so a slow `produceBlockV3` delays nothing else.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut proposals = tokio::task::JoinSet::new();
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Block, slot).await {
        slot = s + 1;
        if s == 0 {
            // The genesis block is slot 0's: nobody proposes there.
            continue;
        }
        let epoch = ctx.spec.epoch_of(s);
        let Some(duties) = ctx.duties.get(epoch) else { continue };
        // Proposers fetched an epoch ahead may have moved with the previous
        // epoch's last block: ask again (on the proposal's own task).
        let recheck = !duties.proposers_final;
        if !recheck && !duties.proposers.contains_key(&s) {
            continue;
        }
        let ctx = Arc::clone(&ctx);
        proposals.spawn(async move {
            let duties = if recheck {
                match super::duty_fetch::refetch_proposers(&ctx, epoch, &duties).await {
                    Ok(d) => {
                        ctx.duties.insert(epoch, d.clone());
                        Arc::new(d)
                    }
                    Err(e) => {
                        tracing::warn!(slot = s, "proposer duties: {e}; using those fetched before the epoch");
                        duties
                    }
                }
            } else {
                duties
            };
            let Some(p) = duties.proposers.get(&s).cloned() else { return };
            if !ctx.store.released(p.validator_index) {
                return;
            }
            if let Err(e) = propose(&ctx, s, p.validator_index, p.pubkey).await {
                let refused = match &e {
                    ProposeError::BadBlock { what, .. } => Some((MessageKind::Block, what)),
                    ProposeError::BadEnvelope { what, .. } => Some((MessageKind::Envelope, what)),
                    _ => None,
                };
                if let Some((kind, what)) = refused {
                    ctx.events.emit(Event::Refused {
                        kind,
                        slot: s,
                        validator: Some(p.validator_index),
                        reason: Refusal::InconsistentNodeData { what: what.clone() },
                    });
                } else {
                    ctx.duty_failed(Service::Block, s, &e);
                }
            }
        });
        while proposals.try_join_next().is_some() {}
    }
    while proposals.join_next().await.is_some() {}
}

/// The store's answer for a produced block: a blinded one is signed only
/// under the builder rule (`policy::check_builder_block`), told with the
/// node that produced it when refused.
async fn sign_produced<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    proposer: u64,
    pubkey: PublicKeyBytes,
    produced: &Produced<P>,
    boost: u64,
) -> Outcome {
    match produced {
        Produced::Full { block, .. } => ctx.store.sign_block(proposer, pubkey, block).await,
        // Gloas blocks are signed by `block_gloas`, with their envelope.
        Produced::Gloas { block, .. } => ctx.store.sign_gloas_block(proposer, pubkey, block, boost > 0).await,
        Produced::Blinded { block, node, .. } => {
            let outcome = ctx.store.sign_blinded_block(proposer, pubkey, block, boost > 0).await;
            if let Outcome::Refused(why) = &outcome {
                warn!(slot, proposer, node = %node, builder_boost_factor = boost, "the node's blinded block was refused: {why}");
            }
            outcome
        }
    }
}

/// Proposes the block of `slot` for our validator `proposer` (key `pubkey`
/// as the duty named it; the store checks it against its own map).
pub(super) async fn propose<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    proposer: u64,
    pubkey: PublicKeyBytes,
) -> Result<(), ProposeError> {
    // Fail closed: a key with no fee recipient does not even ask for a block.
    let Some((_, config)) = ctx.store.proposal_config(proposer) else {
        return Err(ProposeError::NotSigned { slot, what: "block of an unknown validator" });
    };
    if let Some(reason) = config.no_recipient(&pubkey) {
        ctx.events.emit(Event::Refused { kind: MessageKind::Block, slot, validator: Some(proposer), reason });
        return Ok(());
    }
    let Some(fee_recipient) = config.recipient() else {
        return Err(ProposeError::NotSigned { slot, what: "block of a key with no fee recipient" });
    };
    let fork = ctx.spec.fork_name_at_slot(slot);
    let Outcome::Signed(randao) = ctx.store.sign_randao(slot, proposer, pubkey).await else {
        return Err(ProposeError::NotSigned { slot, what: "RANDAO reveal" });
    };
    // The graffiti file (read again now) wins over the definitions' and --graffiti.
    let from_file = ctx.cfg.graffiti_file.as_ref().and_then(|f| {
        let (g, err) = f.graffiti_for(&pubkey);
        if let Some(e) = err {
            warn!(slot, "{e}; using the file's last good reading");
        }
        g
    });
    let graffiti = from_file.or_else(|| config.graffiti.clone()).unwrap_or_else(|| "poolvc".into());
    let mut boost = match (config.builder(), ctx.cfg.builder_boost_factor) {
        (false, _) => 0,
        (true, Some(factor)) => factor,
        (true, None) => 100,
    };
    // Before Gloas a relay pays the recipient of the key's registration: with
    // none current (none signed yet since start, or the recipient moved since)
    // a builder block would be refused, so a local one is asked for at once.
    if boost > 0 && !fork.gloas_enabled() && !ctx.store.builder_registration_current(proposer) {
        warn!(slot, proposer, "the key's builder registration is not current: asking the node for a local block");
        boost = 0;
    }
    // `--proposer-nodes` first; the beacon nodes if they fail (as Lighthouse).
    let mut bn: &dyn BeaconApi<P> = ctx.proposer_nodes.as_deref().unwrap_or(&*ctx.beacon);
    let mut via_proposer_nodes = ctx.proposer_nodes.is_some();
    let ask = BlockRequest { randao, graffiti: graffiti_bytes(&graffiti), boost, fee_recipient };
    let produced = match produce(ctx, bn, slot, ask).await {
        Err(ProposeError::Beacon(e)) if ctx.proposer_nodes.is_some() => {
            warn!(slot, "proposer nodes failed to produce the block ({e}); asking the beacon nodes");
            bn = &*ctx.beacon;
            via_proposer_nodes = false;
            produce(ctx, bn, slot, ask).await?
        }
        r => r?,
    };
    check_produced(ctx, bn, slot, proposer, &produced).await?;
    if fork.gloas_enabled() {
        let via = super::block_gloas::Via { bn, proposer_nodes: via_proposer_nodes };
        return super::block_gloas::propose(ctx, via, slot, proposer, pubkey, produced, ask).await;
    }
    let mut produced = produced;
    let mut outcome = sign_produced(ctx, slot, proposer, pubkey, &produced, boost).await;
    // The recipient moved while the builder block was produced: its relay
    // would pay a registration that is not the key's recipient now, so a
    // local block pays the recipient just prepared.
    if boost > 0 && matches!(&outcome, Outcome::Refused(Refusal::RegistrationNotCurrent { .. })) {
        warn!(
            slot,
            proposer,
            "the key's builder registration changed while the block was produced: asking the node for a local block"
        );
        produced = produce(ctx, bn, slot, BlockRequest { boost: 0, ..ask }).await?;
        check_produced(ctx, bn, slot, proposer, &produced).await?;
        outcome = sign_produced(ctx, slot, proposer, pubkey, &produced, 0).await;
    }
    let Outcome::Signed(sig) = outcome else {
        // The store told the refusal or failure.
        return Ok(());
    };
    let blinded = matches!(produced, Produced::Blinded { .. });
    let t = ctx.slot_timeout() * 2;
    let mut r = bn.publish_block(fork, &produced, sig, t).await;
    if let (Err(e), true) = (&r, via_proposer_nodes) {
        warn!(slot, "proposer nodes failed to publish the block ({e}); publishing through the beacon nodes");
        r = ctx.beacon.publish_block(fork, &produced, sig, t).await;
    }
    let ok = r.is_ok();
    ctx.publish_outcome(MessageKind::Block, slot, vec![proposer], r);
    if ok {
        info!(slot, proposer, blinded, "block proposed");
    }
    Ok(())
}
