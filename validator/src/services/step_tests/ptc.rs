//! The PTC step (Gloas): one data per slot, every member signed in one
//! batch and one POST the node verifies; a node's data of another slot, or
//! a seat for a key poolvc does not hold, refused and counted; a second
//! vote for the slot never signed.

use super::*;
use crate::beacon::PtcDuty;
use crate::services::duty_book::EpochDuties;
use crate::services::ptc::{duties, stale, vote};
use crate::services::testing::{self, MemNode, Published};

const SLOT: u64 = 21;

fn setup() -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Gloas);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[1, 2, 3], |_| {});
    (ctx, node, rec)
}

fn seat(v: u64, slot: u64) -> PtcDuty {
    PtcDuty { pubkey: testing::pk(v), validator_index: v, slot }
}

fn data(slot: u64, present: bool) -> PayloadAttestationData {
    PayloadAttestationData {
        beacon_block_root: Hash256::repeat_byte(0xab),
        slot,
        payload_present: present,
        blob_data_available: present,
    }
}

#[tokio::test]
async fn every_member_of_the_slot_votes_in_one_post_the_node_verifies() {
    let (ctx, node, rec) = setup();
    node.state().payload_attestation_data = Some(data(SLOT, true));
    let n = vote(&ctx, SLOT, &[seat(1, SLOT), seat(3, SLOT)]).await.unwrap();
    assert_eq!(n, 2);
    let st = node.state();
    assert_eq!(st.asked.iter().filter(|r| **r == "payload_attestation_data").count(), 1);
    let [Published::PayloadAttestations(msgs)] = &st.published[..] else { panic!("{:?}", st.published) };
    assert_eq!(msgs.iter().map(|m| m.validator_index).collect::<Vec<_>>(), vec![1, 3]);
    assert!(msgs.iter().all(|m| m.data == data(SLOT, true)));
    assert_eq!(published(&rec.events(), MessageKind::PayloadAttestation), vec![vec![1, 3]]);
}

#[tokio::test]
async fn data_of_another_slot_is_refused_and_a_second_vote_is_never_signed() {
    let (ctx, node, rec) = setup();
    node.state().payload_attestation_data = Some(data(SLOT - 1, true));
    assert_eq!(vote(&ctx, SLOT, &[seat(1, SLOT)]).await.unwrap(), 0);
    assert!(node.state().published.is_empty());
    let refused = refusals(&rec.events(), MessageKind::PayloadAttestation);
    assert!(matches!(&refused[..], [Refusal::InconsistentNodeData { .. }]), "{refused:?}");
    // A vote, then the node changes its mind for the same slot: not signed again.
    node.state().payload_attestation_data = Some(data(SLOT, true));
    assert_eq!(vote(&ctx, SLOT, &[seat(1, SLOT)]).await.unwrap(), 1);
    node.state().payload_attestation_data = Some(data(SLOT, false));
    assert_eq!(vote(&ctx, SLOT, &[seat(1, SLOT)]).await.unwrap(), 0);
    let refused = refusals(&rec.events(), MessageKind::PayloadAttestation);
    assert!(
        matches!(
            refused.last(),
            Some(Refusal::Slashable {
                reason: poolvc_signer::slashing::NotSafe::DoublePayloadAttestation { slot: SLOT }
            })
        ),
        "{refused:?}"
    );
    assert_eq!(node.state().published.len(), 1);
}

#[tokio::test]
async fn seats_of_keys_poolvc_does_not_hold_or_of_another_epoch_are_dropped() {
    let (ctx, node, rec) = setup();
    let epoch = SLOT / ctx.spec.slots_per_epoch;
    let mut wrong_key = seat(2, SLOT);
    wrong_key.pubkey = testing::pk(9);
    node.state().ptc_duties = vec![seat(1, SLOT), wrong_key, seat(3, SLOT + ctx.spec.slots_per_epoch)];
    let kept = duties(&ctx, epoch).await.unwrap();
    assert_eq!(kept.duties.iter().map(|d| d.validator_index).collect::<Vec<_>>(), vec![1]);
    assert_eq!(refusals(&rec.events(), MessageKind::PayloadAttestation).len(), 2);
}

#[tokio::test]
async fn seats_are_asked_again_when_the_epochs_dependent_root_moves() {
    let (ctx, node, _rec) = setup();
    let epoch = SLOT / ctx.spec.slots_per_epoch;
    node.state().ptc_duties = vec![seat(1, SLOT)];
    let known = duties(&ctx, epoch).await.unwrap();
    assert_eq!(known.dependent_root, node.state().dependent_root);
    // No attester duties held for the epoch yet: nothing to compare with.
    assert!(!stale(&ctx, epoch, &known));
    // The duties service holds the epoch under the same root: still good.
    let same = EpochDuties { dependent_root: known.dependent_root, ..Default::default() };
    ctx.duties.insert(epoch, same);
    assert!(!stale(&ctx, epoch, &known));
    // A reorg moved the epoch's committees: the seats are asked again.
    let moved = EpochDuties { dependent_root: Hash256::repeat_byte(0x99), ..Default::default() };
    ctx.duties.insert(epoch, moved);
    assert!(stale(&ctx, epoch, &known));
}

#[tokio::test]
async fn no_block_of_the_slot_seen_means_no_vote_and_no_failure() {
    let (ctx, node, rec) = setup();
    node.state().no_block_seen = true;
    assert_eq!(vote(&ctx, SLOT, &[seat(1, SLOT), seat(3, SLOT)]).await.unwrap(), 0);
    assert!(node.state().published.is_empty());
    assert!(refusals(&rec.events(), MessageKind::PayloadAttestation).is_empty());
    // The slot's block arrives: the next ask votes.
    node.state().no_block_seen = false;
    node.state().payload_attestation_data = Some(data(SLOT, true));
    assert_eq!(vote(&ctx, SLOT, &[seat(1, SLOT)]).await.unwrap(), 1);
}
