//! Unit tests of each service's slot step through the seam
//! (`services::testing`): an in-memory node behind `BeaconApi`, a store of
//! interop keys over in-memory SQLite. Edge cases of what the node answers,
//! what the store refuses, and what is published.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attestation;
mod block;
mod block_gloas;
mod doppelganger;
mod duties;
mod pool;
mod preferences;
mod preparation;
mod ptc;
mod sync_committee;

use super::duty_book::Attester;
use crate::beacon::AttesterDuty;
use crate::events::{Event, MessageKind};
use crate::outcome::Refusal;
use poolvc_signer::types::*;

/// An attester duty of validator `v` at `slot` in committee `ci`, position `pos`.
pub(super) fn attester(v: u64, slot: u64, ci: u64, pos: u64) -> Attester {
    Attester {
        duty: AttesterDuty {
            pubkey: super::testing::pk(v),
            validator_index: v,
            committee_index: ci,
            committee_length: 8,
            committees_at_slot: 2,
            validator_committee_index: pos,
            slot,
        },
        selection_proof: None,
    }
}

/// A parent block's header at the slot before `slot` (by validator 9), and
/// its root: the block steps' known parent.
pub(super) fn parent_at(slot: u64) -> (Hash256, BeaconBlockHeader) {
    let h = BeaconBlockHeader {
        slot: slot - 1,
        proposer_index: 9,
        parent_root: Hash256::ZERO,
        state_root: Hash256::ZERO,
        body_root: Hash256::ZERO,
    };
    (tree_hash::TreeHash::tree_hash_root(&h), h)
}

/// Attestation data of `slot` voting for head `root`.
pub(super) fn data(slot: u64, spe: u64, root: u8) -> AttestationData {
    let epoch = slot / spe;
    AttestationData {
        slot,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(root),
        source: Checkpoint { epoch: epoch - 1, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(2) },
    }
}

/// The validators of `kind` published at `slot`, per `Published` event.
pub(super) fn published(events: &[Event], kind: MessageKind) -> Vec<Vec<u64>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Published { kind: k, validators, .. } if *k == kind => Some(validators.clone()),
            _ => None,
        })
        .collect()
}

/// The refusals of `kind` told.
pub(super) fn refusals(events: &[Event], kind: MessageKind) -> Vec<Refusal> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { kind: k, reason, .. } if *k == kind => Some(reason.clone()),
            _ => None,
        })
        .collect()
}
