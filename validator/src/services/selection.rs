//! The selection-proof service: each slot, once the slot's attestations
//! are out (half-way through it), the attestation selection proofs of the
//! next [`PROOF_LOOKAHEAD`] slots that have none yet, and the subnet
//! subscriptions of those that aggregate. One slot's proofs are one
//! signing batch of one message; they never share the signer with the
//! slot's attestations, and start-up signs three slots of them, not two
//! epochs.

use super::context::Ctx;
use super::duty_fetch::{prove_slot, PROOF_LOOKAHEAD};
use crate::events::Service;
use poolvc_signer::types::Preset;
use std::sync::Arc;

/// Where in a slot the next slots' proofs are signed: after the
/// attestations (the head event, a third at the latest, and their batch),
/// before the aggregates at two thirds.
const PROVE_AT: f64 = 0.5;

/// Runs the service until the run ends.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::SelectionProofs, slot).await {
        slot = s + 1;
        if !ctx.sleep_until(ctx.slot_at(s, PROVE_AT)).await {
            break;
        }
        for ahead in s + 1..=s + PROOF_LOOKAHEAD {
            prove_slot(&ctx, ahead).await;
        }
    }
}
