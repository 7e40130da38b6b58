//! Proposer preparation: every indexed key's fee recipient to the beacon
//! nodes (and the proposer nodes). A step, not a task: the preparation
//! service sends it each epoch, the pool service at once when a pool rule
//! moves a recipient, and start-up before the first duty.

use super::context::Ctx;
use crate::beacon::ProposerPreparation;
use poolvc_signer::types::Preset;
use tracing::warn;

/// `POST /eth/v1/validator/prepare_beacon_proposer` for every indexed key
/// with a fee recipient.
pub(crate) async fn prepare_proposers<P: Preset>(ctx: &Ctx<P>) {
    let preps: Vec<ProposerPreparation> = ctx
        .store
        .indexed_configs()
        .into_iter()
        .filter_map(|(validator_index, _, c)| {
            Some(ProposerPreparation { validator_index, fee_recipient: c.recipient()? })
        })
        .collect();
    if preps.is_empty() {
        return;
    }
    // The proposer nodes build the blocks: they must know the fee
    // recipients as well as the beacon nodes do.
    let t = ctx.slot_timeout();
    let to_proposer_nodes = async {
        match &ctx.proposer_nodes {
            Some(pn) => pn.prepare_beacon_proposer(&preps, t).await,
            None => Ok(()),
        }
    };
    let (r, p) = tokio::join!(ctx.beacon.prepare_beacon_proposer(&preps, t), to_proposer_nodes);
    if let Err(e) = r {
        warn!("prepare_beacon_proposer: {e}");
    }
    if let Err(e) = p {
        warn!("prepare_beacon_proposer to the proposer nodes: {e}");
    }
}
