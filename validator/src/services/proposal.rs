//! The steps every proposal shares, whatever the fork: asking the node for
//! the block ([`produce`]), the checks of what it produced (slot,
//! proposer, a known parent at an earlier slot), and why a proposal did not
//! happen ([`ProposeError`]). `block` (to Fulu) and `block_gloas` (Gloas on)
//! both use them; `block` hands a Gloas proposal to `block_gloas`, which
//! imports nothing of `block`.

use super::context::Ctx;
use crate::beacon::{BeaconApi, BeaconError, BlockRequest, ProduceError, Produced};
use poolvc_signer::types::*;
use tracing::warn;

/// Why a proposal did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProposeError {
    /// The beacon nodes failed.
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// The node's block is not one poolvc may sign (told as a refusal).
    #[error("slot {slot}: {what}")]
    BadBlock {
        /// The slot.
        slot: u64,
        /// What is wrong.
        what: String,
    },
    /// The node's envelope for its self-built block does not fit the block
    /// (told as a refusal of the envelope; the block is not signed).
    #[error("slot {slot}: envelope {what}")]
    BadEnvelope {
        /// The slot.
        slot: u64,
        /// What is wrong.
        what: String,
    },
    /// The store did not sign (told by the store as a refusal or failure).
    #[error("slot {slot}: {what} not signed")]
    NotSigned {
        /// The slot.
        slot: u64,
        /// What.
        what: &'static str,
    },
}

/// Asks `bn` for the block of `slot` of the slot's fork, as `req` says.
pub(super) async fn produce<P: Preset>(
    ctx: &Ctx<P>,
    bn: &dyn BeaconApi<P>,
    slot: u64,
    req: BlockRequest,
) -> Result<Produced<P>, ProposeError> {
    let expected = ctx.spec.fork_name_at_slot(slot);
    bn.produce_block(slot, expected, req, ctx.slot_timeout() * 2).await.map_err(|e| match e {
        ProduceError::Beacon(e) => ProposeError::Beacon(e),
        ProduceError::Malformed { slot, what } => ProposeError::BadBlock { slot, what },
    })
}

/// Refuses a block whose parent the node does not know, or whose parent is
/// not at an earlier slot. Other errors asking are logged, not fatal.
async fn check_parent<P: Preset>(
    ctx: &Ctx<P>,
    bn: &dyn BeaconApi<P>,
    slot: u64,
    parent_root: Hash256,
) -> Result<(), ProposeError> {
    match bn.block_header(&parent_root.to_string(), ctx.slot_timeout()).await {
        Ok((_, h)) if h.slot < slot => Ok(()),
        Ok((_, h)) => Err(ProposeError::BadBlock { slot, what: format!("block built on a parent at slot {}", h.slot) }),
        Err(BeaconError::NotServed { .. }) => {
            Err(ProposeError::BadBlock { slot, what: format!("block built on unknown parent {parent_root}") })
        }
        Err(e) => {
            warn!(slot, "could not check the block's parent: {e}");
            Ok(())
        }
    }
}

/// Refuses a produced block for another slot or proposer, or on a parent
/// the node does not know at an earlier slot.
pub(super) async fn check_produced<P: Preset>(
    ctx: &Ctx<P>,
    bn: &dyn BeaconApi<P>,
    slot: u64,
    proposer: u64,
    produced: &Produced<P>,
) -> Result<(), ProposeError> {
    let header = produced.header();
    if header.slot != slot || header.proposer_index != proposer {
        return Err(ProposeError::BadBlock {
            slot,
            what: format!(
                "node produced a block for slot {} proposer {}, expected {slot} {proposer}",
                header.slot, header.proposer_index
            ),
        });
    }
    check_parent(ctx, bn, slot, header.parent_root).await
}
