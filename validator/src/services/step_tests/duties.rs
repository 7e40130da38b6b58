//! The duties refresh: only our keys' duties, inside the epoch, one per
//! validator, whatever the node sends.

use super::*;
use crate::beacon::{ProposerDuty, SyncDuty};
use crate::services::duty_book::EpochDuties;
use crate::services::duty_fetch::fetch_duties;
use crate::services::testing::{self, MemNode};

#[tokio::test]
async fn duties_outside_the_epoch_or_for_other_keys_are_dropped() {
    let spec = testing::spec_at(ForkName::Altair);
    let spe = spec.slots_per_epoch;
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[1, 2], |_| {});
    let epoch = 3;
    let first = epoch * spe;
    {
        let mut st = node.state();
        st.attester_duties = vec![
            attester(1, first + 1, 0, 0).duty,
            // Outside the epoch.
            attester(2, first + spe, 0, 1).duty,
            // A second duty for validator 1 in the same epoch.
            attester(1, first + 2, 0, 2).duty,
        ];
        // Validator 2's key relabelled as validator 1's.
        let mut relabelled = attester(1, first + 3, 0, 3).duty;
        relabelled.pubkey = testing::pk(2);
        st.attester_duties.push(relabelled);
        st.proposer_duties = vec![
            ProposerDuty { pubkey: testing::pk(2), validator_index: 2, slot: first + 4 },
            ProposerDuty { pubkey: testing::pk(9), validator_index: 9, slot: first + 5 },
        ];
        st.sync_duties = vec![SyncDuty {
            pubkey: testing::pk(1),
            validator_index: 1,
            validator_sync_committee_indices: vec![3, 3, 9999],
        }];
    }
    let d = fetch_duties(&ctx, epoch).await.unwrap();
    let attesters: Vec<(u64, u64)> =
        d.attesters.values().flat_map(|v| v.iter()).map(|a| (a.duty.validator_index, a.duty.slot)).collect();
    assert_eq!(attesters, vec![(1, first + 1)]);
    assert_eq!(d.proposers.keys().copied().collect::<Vec<_>>(), vec![first + 4]);
    assert_eq!(d.sync.len(), 1);
    assert_eq!(d.sync[0].validator_sync_committee_indices, vec![3], "positions deduplicated and bounded");
}

#[tokio::test]
async fn each_fault_of_a_duties_answer_is_named() {
    use crate::services::duty_fetch::{attester_answer_fault, proposer_answer_fault, sync_answer_fault, DutyFault};
    let spec = testing::spec_at(ForkName::Altair);
    let spe = spec.slots_per_epoch;
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node, &[1, 2], |_| {});
    let first = 3 * spe;
    let ok = attester(1, first, 0, 0).duty;
    assert_eq!(attester_answer_fault(&ctx, 3, 2, std::slice::from_ref(&ok)), Ok(()));
    let fault = |d: Vec<crate::beacon::AttesterDuty>, asked| attester_answer_fault(&ctx, 3, asked, &d).unwrap_err();
    assert!(matches!(fault(vec![ok.clone(), ok.clone()], 1), DutyFault::TooMany { got: 2, asked: 1, .. }));
    assert!(matches!(fault(vec![attester(1, first + spe, 0, 0).duty], 2), DutyFault::OutOfBounds { validator: 1, .. }));
    let mut relabelled = ok.clone();
    relabelled.pubkey = testing::pk(2);
    assert!(matches!(fault(vec![relabelled], 2), DutyFault::Relabelled { validator: 1, .. }));
    assert!(matches!(
        fault(vec![ok.clone(), attester(1, first + 1, 0, 1).duty], 2),
        DutyFault::Twice { validator: 1, .. }
    ));
    let sync = |positions: Vec<u64>| SyncDuty {
        pubkey: testing::pk(1),
        validator_index: 1,
        validator_sync_committee_indices: positions,
    };
    assert_eq!(sync_answer_fault(&ctx, 3, 2, &[sync(vec![0, 5])]), Ok(()));
    assert!(matches!(
        sync_answer_fault(&ctx, 3, 2, &[sync(vec![5, 5])]),
        Err(DutyFault::SyncPositions { validator: 1, .. })
    ));
    let proposer = |slot| ProposerDuty { pubkey: testing::pk(1), validator_index: 1, slot };
    assert!(matches!(
        proposer_answer_fault(&ctx, 3, &[proposer(first), proposer(first)]),
        Err(DutyFault::ProposerSlot { epoch: 3, .. })
    ));
}

/// An attester duty at `slot` with a committee of one: every selection
/// proof aggregates.
fn lone_attester(v: u64, slot: u64) -> crate::beacon::AttesterDuty {
    let mut d = attester(v, slot, 0, 0).duty;
    d.committee_length = 1;
    d
}

#[tokio::test]
async fn selection_proofs_are_signed_for_the_near_slots_at_fetch_and_slot_by_slot_after() {
    use crate::services::duty_fetch::{prove_slot, PROOF_LOOKAHEAD};
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[1, 2, 3], |_| {});
    let now = ctx.current_slot();
    let (near, far) = (now + 1, now + PROOF_LOOKAHEAD + 1);
    node.state().attester_duties = vec![lone_attester(1, near), lone_attester(2, far), lone_attester(3, far)];
    let proof_of = |d: &EpochDuties, v: u64, slot: u64| {
        d.attesters
            .get(&slot)
            .and_then(|a| a.iter().find(|a| a.duty.validator_index == v))
            .map(|a| a.selection_proof.as_deref().copied())
    };
    for e in [ctx.spec.epoch_of(near), ctx.spec.epoch_of(far)] {
        let d = fetch_duties(&ctx, e).await.unwrap();
        ctx.duties.insert(e, d);
    }
    let near_duties = ctx.duties.get(ctx.spec.epoch_of(near)).unwrap();
    let proof = proof_of(&near_duties, 1, near).flatten().expect("the near slot's proof is signed at fetch");
    assert!(node.verifies(1, &SignableMessage::SelectionProof(near), &proof));
    assert!(near_duties.proven.contains(&near));
    let far_epoch = ctx.spec.epoch_of(far);
    let before = ctx.duties.get(far_epoch).unwrap();
    assert!(!before.proven.contains(&far));
    assert_eq!(proof_of(&before, 2, far), Some(None), "a slot past the lookahead has no proof yet");

    prove_slot(&ctx, far).await;
    let after = ctx.duties.get(far_epoch).unwrap();
    assert!(after.proven.contains(&far));
    for v in [2, 3] {
        let proof = proof_of(&after, v, far).flatten().expect("signed by the slot's step");
        assert!(node.verifies(v, &SignableMessage::SelectionProof(far), &proof), "validator {v}");
    }
    // Signed once: the next call finds the slot proven and keeps the entry.
    prove_slot(&ctx, far).await;
    assert!(std::sync::Arc::ptr_eq(&after, &ctx.duties.get(far_epoch).unwrap()));
    assert!(node.state().asked.contains(&"subscribe_committees"), "the aggregators are subscribed");

    // Duties refetched while a slot's proofs were being signed keep theirs.
    let stale = ctx.duties.get(far_epoch).unwrap();
    ctx.duties.insert(far_epoch, EpochDuties::clone(&stale));
    assert!(!ctx.duties.set_proven(far_epoch, &stale, far + 1, Vec::new()));
    assert!(!ctx.duties.get(far_epoch).unwrap().proven.contains(&(far + 1)));
}
