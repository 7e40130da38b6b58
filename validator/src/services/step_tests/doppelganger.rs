//! Doppelganger protection's two ways of looking: the liveness route, and
//! (when no node serves it) the chain's blocks, read strictly.

use super::*;
use crate::beacon::{BlockParticipation, Committee, IncludedBits};
use crate::services::doppelganger::{liveness, watch_block};
use crate::services::testing::{self, MemNode};
use std::collections::HashMap;

fn setup(fork: ForkName) -> (std::sync::Arc<crate::services::context::Ctx<Minimal>>, std::sync::Arc<MemNode<Minimal>>) {
    let spec = testing::spec_at(fork);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[1, 2, 3], |c| c.doppelganger_epochs = 2);
    (ctx, node)
}

#[tokio::test]
async fn liveness_reports_only_our_live_keys() {
    let (ctx, node) = setup(ForkName::Electra);
    node.state().live = [2, 40].into();
    let seen = liveness(&ctx, 3, 4).await.unwrap();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2]);
    node.state().liveness_served = false;
    let e = liveness(&ctx, 3, 4).await.unwrap_err();
    assert!(e.to_string().contains("not served"), "{e}");
}

#[tokio::test]
async fn an_electra_block_shows_our_attester_and_proposer() {
    let (ctx, node) = setup(ForkName::Electra);
    let att = IncludedBits {
        slot: 16,
        // Committees 0 and 2: bits 0..2 are committee 0, 2..4 committee 2.
        committees: vec![0, 2],
        bits: vec![false, false, false, true],
        head: Hash256::ZERO,
        target: Hash256::ZERO,
    };
    {
        let mut st = node.state();
        st.committees = vec![
            Committee { index: 0, slot: 16, validators: vec![10, 11] },
            Committee { index: 1, slot: 16, validators: vec![1, 12] },
            Committee { index: 2, slot: 16, validators: vec![13, 3] },
        ];
        st.blocks.insert(
            "17".into(),
            BlockParticipation {
                slot: 17,
                proposer: 2,
                parent: Hash256::ZERO,
                attestations: vec![att],
                sync_bits: vec![],
                withdrawal_requests: vec![],
            },
        );
    }
    let mut duties = HashMap::new();
    let seen = watch_block(&ctx, 17, 2, &mut duties).await.unwrap();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![2, 3],
        "proposer 2, attester 3 (not 1: committee 1 is not set)"
    );
    // An empty slot shows nobody.
    assert!(watch_block(&ctx, 18, 2, &mut duties).await.unwrap().is_empty());
}

#[tokio::test]
async fn attestations_before_the_window_do_not_count() {
    let (ctx, node) = setup(ForkName::Electra);
    let att =
        IncludedBits { slot: 7, committees: vec![0], bits: vec![true], head: Hash256::ZERO, target: Hash256::ZERO };
    {
        let mut st = node.state();
        st.committees = vec![Committee { index: 0, slot: 7, validators: vec![1] }];
        st.blocks.insert(
            "17".into(),
            BlockParticipation {
                slot: 17,
                proposer: 9,
                parent: Hash256::ZERO,
                attestations: vec![att],
                sync_bits: vec![],
                withdrawal_requests: vec![],
            },
        );
    }
    assert!(watch_block(&ctx, 17, 2, &mut HashMap::new()).await.unwrap().is_empty());
}
