//! A Gloas proposal after the node produced it (`produceBlockV4`): the
//! block commits to a bid; a self-built bid's payload is revealed by the
//! proposer in a signed envelope.
//!
//! Order, and why:
//! 1. a self-built block's envelope is at hand (inline, or fetched from the
//!    node that produced it) and fits the block before anything is signed:
//!    a block whose payload cannot be revealed loses the payload's fees;
//! 2. the block is signed (the store: the bid pays the key's recipient; a
//!    builder's bid only when asked for and allowed). A builder's bid the
//!    store refuses is asked again as a self-built block;
//! 3. the envelope is signed (the store: self-built, paying the key's
//!    recipient, for the block the key just signed);
//! 4. the block is published, then the envelope.

use super::context::Ctx;
use super::proposal::{check_produced, produce, ProposeError};
use crate::beacon::{BeaconApi, BlockRequest, GloasPayload, Produced};
use crate::events::MessageKind;
use crate::outcome::{Outcome, Refusal};
use poolvc_signer::types::*;
use tracing::{info, warn};
use tree_hash::TreeHash;

/// The node a proposal was produced by, and whether it is one of
/// `--proposer-nodes` (publishing falls back to the beacon nodes).
pub(super) struct Via<'a, P: Preset> {
    /// The producing node.
    pub(super) bn: &'a dyn BeaconApi<P>,
    /// Whether it is a proposer node.
    pub(super) proposer_nodes: bool,
}

/// Why an envelope does not fit the self-built block it reveals, if it
/// does not: the block's root, slot and parent; the bid's builder, block
/// hash, fee recipient and gas limit.
fn misfit<P: Preset>(slot: u64, block: &BeaconBlockGloas<P>, envelope: &ExecutionPayloadEnvelope<P>) -> Option<String> {
    let bid = &block.body.signed_execution_payload_bid.message;
    let root = block.tree_hash_root();
    let p = &envelope.payload;
    if envelope.beacon_block_root != root {
        return Some(format!("names block {}, the produced block is {root}", envelope.beacon_block_root));
    }
    if p.slot_number != slot {
        return Some(format!("is of slot {}, the block's is {slot}", p.slot_number));
    }
    if envelope.parent_beacon_block_root != block.parent_root {
        return Some(format!(
            "names parent {}, the block's is {}",
            envelope.parent_beacon_block_root, block.parent_root
        ));
    }
    if envelope.builder_index != BUILDER_INDEX_SELF_BUILD {
        return Some(format!("is builder {}'s, the bid is self-built", envelope.builder_index));
    }
    if p.block_hash != bid.block_hash {
        return Some(format!("carries payload {}, the bid commits to {}", p.block_hash, bid.block_hash));
    }
    if p.fee_recipient != bid.fee_recipient {
        return Some(format!("pays {}, the bid pays {}", p.fee_recipient, bid.fee_recipient));
    }
    if p.gas_limit != bid.gas_limit {
        return Some(format!("has gas limit {}, the bid {}", p.gas_limit, bid.gas_limit));
    }
    None
}

/// The self-built payload of `produced`, checked against its block;
/// `None` for a builder's bid (the builder reveals it).
async fn own_payload<P: Preset>(
    ctx: &Ctx<P>,
    bn: &dyn BeaconApi<P>,
    slot: u64,
    produced: &Produced<P>,
) -> Result<Option<GloasPayload<P>>, ProposeError> {
    let bad = |what: String| ProposeError::BadBlock { slot, what };
    let Produced::Gloas { block: BeaconBlock::Gloas(block), payload, .. } = produced else {
        return Err(bad("the node did not produce a Gloas block".into()));
    };
    if block.body.signed_execution_payload_bid.message.builder_index != BUILDER_INDEX_SELF_BUILD {
        return Ok(None);
    }
    let payload = match payload {
        Some(p) => GloasPayload::clone(p),
        None => {
            let envelope = bn.execution_payload_envelope(slot, block.tree_hash_root(), ctx.slot_timeout()).await?;
            GloasPayload { envelope, sidecars: None }
        }
    };
    if let Some(what) = misfit(slot, block, &payload.envelope) {
        return Err(ProposeError::BadEnvelope { slot, what });
    }
    Ok(Some(payload))
}

/// Signs and publishes the Gloas block `produced` and, when self-built,
/// its envelope (see the module's docs), produced as `ask` says
/// (`boost > 0`: poolvc asked for builders' bids).
pub(super) async fn propose<P: Preset>(
    ctx: &Ctx<P>,
    via: Via<'_, P>,
    slot: u64,
    proposer: u64,
    pubkey: PublicKeyBytes,
    produced: Produced<P>,
    ask: BlockRequest,
) -> Result<(), ProposeError> {
    let mut produced = produced;
    let mut payload = own_payload(ctx, via.bn, slot, &produced).await?;
    let Produced::Gloas { block, .. } = &produced else {
        return Err(ProposeError::BadBlock { slot, what: "the node did not produce a Gloas block".into() });
    };
    let mut outcome = ctx.store.sign_gloas_block(proposer, pubkey, block, ask.boost > 0).await;
    // A builder's bid the rule refuses (another recipient, or builders not
    // allowed): the store told the refusal; a self-built block still pays.
    let builder_refused = matches!(
        &outcome,
        Outcome::Refused(Refusal::FeeRecipientMismatch { .. } | Refusal::BuilderBidNotAllowed { .. })
    ) && payload.is_none()
        && ask.boost > 0;
    if builder_refused {
        warn!(slot, proposer, "the node's block on a builder's bid was refused: asking for a self-built block");
        produced = produce(ctx, via.bn, slot, BlockRequest { boost: 0, ..ask }).await?;
        check_produced(ctx, via.bn, slot, proposer, &produced).await?;
        payload = own_payload(ctx, via.bn, slot, &produced).await?;
        if let Produced::Gloas { block, .. } = &produced {
            outcome = ctx.store.sign_gloas_block(proposer, pubkey, block, false).await;
        }
    }
    let Outcome::Signed(sig) = outcome else {
        // The store told the refusal or failure.
        return Ok(());
    };
    let signed_envelope = match &payload {
        Some(p) => match ctx.store.sign_envelope(proposer, pubkey, &p.envelope).await {
            Outcome::Signed(signature) => {
                Some(SignedExecutionPayloadEnvelope { message: p.envelope.clone(), signature })
            }
            // Told by the store; the block is still worth publishing.
            _ => None,
        },
        None => None,
    };
    let fork = ctx.spec.fork_name_at_slot(slot);
    let t = ctx.slot_timeout() * 2;
    let mut r = via.bn.publish_block(fork, &produced, sig, t).await;
    if let (Err(e), true) = (&r, via.proposer_nodes) {
        warn!(slot, "proposer nodes failed to publish the block ({e}); publishing through the beacon nodes");
        r = ctx.beacon.publish_block(fork, &produced, sig, t).await;
    }
    let block_ok = r.is_ok();
    ctx.publish_outcome(MessageKind::Block, slot, vec![proposer], r);
    if !block_ok {
        return Ok(());
    }
    let self_built = signed_envelope.is_some();
    info!(slot, proposer, self_built, "block proposed");
    let (Some(signed), Some(p)) = (signed_envelope, payload) else { return Ok(()) };
    let mut r = via.bn.publish_envelope(&signed, p.sidecars.as_ref(), t).await;
    if let (Err(e), true) = (&r, via.proposer_nodes) {
        warn!(slot, "proposer nodes failed to publish the envelope ({e}); publishing through the beacon nodes");
        r = ctx.beacon.publish_envelope(&signed, p.sidecars.as_ref(), t).await;
    }
    ctx.publish_outcome(MessageKind::Envelope, slot, vec![proposer], r);
    Ok(())
}
