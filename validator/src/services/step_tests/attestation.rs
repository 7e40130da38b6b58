//! The attestation step (Electra on: one data per slot, `SingleAttestation`s)
//! and the aggregation step.

use super::*;
use crate::services::attestation::{aggregate, attest};
use crate::services::testing::{self, MemNode, Published};
use std::collections::HashMap;

const SLOT: u64 = 41;

fn setup() -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[1, 2, 3], |_| {});
    (ctx, node, rec)
}

#[tokio::test]
async fn every_attester_of_the_slot_is_signed_in_one_post_the_node_verifies() {
    let (ctx, node, rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    node.state().attestation_data = Some(data(SLOT, spe, 0xa));
    let attesters = [attester(1, SLOT, 0, 0), attester(2, SLOT, 0, 1), attester(3, SLOT, 1, 0)];
    let used = attest(&ctx, SLOT, &attesters).await.unwrap();
    assert_eq!(used.len(), 2, "one data, for both committees");
    let st = node.state();
    // One data request for the slot (Electra), one POST.
    assert_eq!(st.asked.iter().filter(|r| **r == "attestation_data").count(), 1);
    let [Published::Attestations(atts)] = &st.published[..] else { panic!("{:?}", st.published) };
    let mut by_committee: Vec<(u64, u64)> = atts.iter().map(|a| (a.attester_index, a.committee_index)).collect();
    by_committee.sort_unstable();
    assert_eq!(by_committee, vec![(1, 0), (2, 0), (3, 1)]);
    assert_eq!(published(&rec.events(), MessageKind::Attestation).concat().len(), 3);
}

#[tokio::test]
async fn data_of_another_slot_or_target_is_refused_and_nothing_is_signed() {
    let (ctx, node, rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    for bad in [data(SLOT + 1, spe, 0xa), {
        let mut d = data(SLOT, spe, 0xa);
        d.target.epoch += 1;
        d
    }] {
        node.state().attestation_data = Some(bad);
        let used = attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap();
        assert!(used.is_empty());
    }
    assert!(node.state().published.is_empty());
    let refused = refusals(&rec.events(), MessageKind::Attestation);
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| matches!(r, Refusal::InconsistentNodeData { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_second_head_vote_for_the_same_target_is_never_signed() {
    let (ctx, node, _rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    node.state().attestation_data = Some(data(SLOT, spe, 0xa));
    attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap();
    // The node moves its head and asks again: a double vote.
    node.state().attestation_data = Some(data(SLOT, spe, 0xb));
    attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap();
    let st = node.state();
    assert_eq!(st.published.len(), 1, "the second vote was published: {:?}", st.published);
}

#[tokio::test]
async fn a_duty_and_data_an_epoch_10_6_ahead_get_nothing_signed_and_the_key_keeps_attesting() {
    let (ctx, node, rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    let far = SLOT + 1_000_000 * spe;
    node.state().attestation_data = Some(data(far, spe, 0xa));
    attest(&ctx, far, &[attester(1, far, 0, 0)]).await.unwrap();
    assert!(node.state().published.is_empty(), "{:?}", node.state().published);
    let refused = refusals(&rec.events(), MessageKind::Attestation);
    assert!(matches!(&refused[..], [Refusal::AheadOfClock { .. }]), "{refused:?}");
    // The real vote of now is signed: the far one left no watermark.
    node.state().attestation_data = Some(data(SLOT, spe, 0xa));
    attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap();
    assert_eq!(node.state().published.len(), 1);
}

#[tokio::test]
async fn a_node_that_is_down_fails_the_step_with_its_error() {
    let (ctx, node, _rec) = setup();
    node.state().down = true;
    let e = attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
}

/// An aggregate of committee `ci` with `data`.
fn aggregate_of(ci: u64, d: AttestationData) -> AttestationElectra<Minimal> {
    let mut committee_bits = ssz_types::BitVector::new();
    committee_bits.set(ci as usize, true).unwrap();
    let mut aggregation_bits = ssz_types::BitList::with_capacity(8).unwrap();
    aggregation_bits.set(0, true).unwrap();
    AttestationElectra { aggregation_bits, data: d, signature: SignatureBytes::default(), committee_bits }
}

#[tokio::test]
async fn aggregates_are_signed_for_our_aggregators_and_refused_when_the_node_changes_the_data() {
    let (ctx, node, rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    let d = data(SLOT, spe, 0xa);
    let proofs = ctx.store.sign_selection_proofs(&[(1, testing::pk(1), SLOT), (3, testing::pk(3), SLOT)]).await;
    let mut attesters = [attester(1, SLOT, 0, 0), attester(3, SLOT, 1, 0)];
    for (a, p) in attesters.iter_mut().zip(&proofs) {
        a.selection_proof = p.signature().map(Box::new);
    }
    let data_of = HashMap::from([(0, d), (1, d)]);
    {
        let mut st = node.state();
        st.aggregates.insert(0, aggregate_of(0, d));
        // Committee 1's aggregate votes for another head: refused.
        st.aggregates.insert(1, aggregate_of(1, data(SLOT, spe, 0xb)));
    }
    aggregate(&ctx, SLOT, &attesters, &data_of).await.unwrap();
    let st = node.state();
    let [Published::Aggregates(aggs)] = &st.published[..] else { panic!("{:?}", st.published) };
    assert_eq!(aggs.iter().map(|a| a.message.aggregator_index).collect::<Vec<_>>(), vec![1]);
    assert_eq!(st.asked.iter().filter(|r| **r == "aggregate_attestation_v2").count(), 2, "one GET per committee");
    assert_eq!(refusals(&rec.events(), MessageKind::Aggregate).len(), 1);
}

#[tokio::test]
async fn before_electra_each_committee_has_its_data_and_one_bit_attestations() {
    let spec = testing::spec_at(ForkName::Phase0);
    let spe = spec.slots_per_epoch;
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _rec) = testing::ctx(spec, node.clone(), &[1, 2], |_| {});
    {
        let mut st = node.state();
        st.attestation_data = Some(AttestationData { index: 1, ..data(SLOT, spe, 0xa) });
        st.committees =
            vec![crate::beacon::Committee { index: 1, slot: SLOT, validators: vec![7, 7, 7, 2, 7, 7, 7, 7] }];
    }
    // Validator 1's committee 0 gets data of committee 1: refused; validator
    // 2's committee 1 data fits.
    let used = attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0), attester(2, SLOT, 1, 3)]).await.unwrap();
    assert_eq!(used.keys().copied().collect::<Vec<_>>(), vec![1]);
    let st = node.state();
    assert_eq!(st.asked.iter().filter(|r| **r == "attestation_data").count(), 2, "one per committee");
    let [Published::AttestationsV1(atts)] = &st.published[..] else { panic!("{:?}", st.published) };
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].aggregation_bits.iter().position(|b| b), Some(3));
}

#[tokio::test]
async fn a_refused_publish_is_a_failure_with_the_nodes_status_as_its_cause() {
    use crate::outcome::{Failure, NodeFault};
    let (ctx, node, rec) = setup();
    let spe = ctx.spec.slots_per_epoch;
    {
        let mut st = node.state();
        st.attestation_data = Some(data(SLOT, spe, 0xa));
        st.publish_status = Some(503);
    }
    attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0), attester(2, SLOT, 0, 1)]).await.unwrap();
    let failed: Vec<(usize, Failure)> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Failed { kind: MessageKind::Attestation, count, reason, .. } => Some((count, reason)),
            _ => None,
        })
        .collect();
    let [(2, f @ Failure::Publish { faults, .. })] = &failed[..] else { panic!("{failed:?}") };
    assert_eq!(faults, &vec![NodeFault::Status(503)]);
    assert_eq!(f.cause(), "node_status_503");
    // The metrics count it by its cause.
    let stats = crate::metrics::Stats::new();
    crate::events::Subscriber::on_event(
        &stats,
        &Event::Failed { kind: MessageKind::Attestation, slot: SLOT, count: 2, reason: f.clone() },
    );
    assert!(
        stats.encode().contains(r#"poolvc_failures_total{kind="attestation",cause="node_status_503"} 2"#),
        "{}",
        stats.encode()
    );
}

#[tokio::test]
async fn from_gloas_on_the_payload_status_in_index_is_signed_and_nothing_past_it() {
    let spec = testing::spec_at(ForkName::Gloas);
    let spe = spec.slots_per_epoch;
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[1, 2], |_| {});
    // The head's payload is full: index 1.
    let mut full = data(SLOT, spe, 0xa);
    full.index = 1;
    node.state().attestation_data = Some(full);
    let used = attest(&ctx, SLOT, &[attester(1, SLOT, 0, 0)]).await.unwrap();
    assert_eq!(used.len(), 1);
    {
        let st = node.state();
        let [Published::Attestations(atts)] = &st.published[..] else { panic!("{:?}", st.published) };
        assert_eq!((atts[0].data.index, atts[0].committee_index), (1, 0));
    }
    // No payload status past 1.
    let mut bad = data(SLOT + 1, spe, 0xb);
    bad.index = 2;
    node.state().attestation_data = Some(bad);
    assert!(attest(&ctx, SLOT + 1, &[attester(2, SLOT + 1, 0, 0)]).await.unwrap().is_empty());
    let refused = refusals(&rec.events(), MessageKind::Attestation);
    assert!(
        matches!(&refused[..], [Refusal::InconsistentNodeData { what }] if what.contains("index 2")),
        "{refused:?}"
    );
}
