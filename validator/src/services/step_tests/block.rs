//! The block step: a produced block is checked (slot, proposer, a known
//! parent at an earlier slot) before the store signs it; the node verifies
//! the published signature.

use super::*;
use crate::beacon::Produced;
use crate::services::block::{propose, ProposeError};
use crate::services::testing::{self, MemNode, Published};

const SLOT: u64 = 20;

/// A phase0 block of `slot` by `proposer` on `parent`.
fn block(slot: u64, proposer: u64, parent: Hash256) -> BeaconBlock<Minimal> {
    let z32 = format!("0x{}", "00".repeat(32));
    let json = serde_json::json!({
        "slot": slot.to_string(), "proposer_index": proposer.to_string(),
        "parent_root": parent, "state_root": z32,
        "body": {
            "randao_reveal": format!("0x{}", "00".repeat(96)),
            "eth1_data": {"deposit_root": z32, "deposit_count": "0", "block_hash": z32},
            "graffiti": z32, "proposer_slashings": [], "attester_slashings": [], "attestations": [],
            "deposits": [], "voluntary_exits": []
        }
    });
    BeaconBlock::from_json(ForkName::Phase0, json).unwrap()
}

fn parent() -> (Hash256, BeaconBlockHeader) {
    let h = BeaconBlockHeader {
        slot: SLOT - 1,
        proposer_index: 9,
        parent_root: Hash256::ZERO,
        state_root: Hash256::ZERO,
        body_root: Hash256::ZERO,
    };
    (tree_hash::TreeHash::tree_hash_root(&h), h)
}

fn setup() -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Phase0);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[5], |_| {});
    let (root, h) = parent();
    node.state().headers.insert(root.to_string(), h);
    (ctx, node, rec)
}

#[tokio::test]
async fn a_good_block_is_signed_and_the_node_verifies_it() {
    let (ctx, node, rec) = setup();
    let (root, _) = parent();
    node.state().produced = Some(Produced::Full { block: block(SLOT, 5, root), sidecars: None });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let st = node.state();
    let [Published::Block { header, blinded: false }] = &st.published[..] else { panic!("{:?}", st.published) };
    assert_eq!((header.slot, header.proposer_index), (SLOT, 5));
    assert_eq!(published(&rec.events(), MessageKind::Block), vec![vec![5]]);
}

#[tokio::test]
async fn a_block_for_another_slot_proposer_or_parent_is_refused_unsigned() {
    let (ctx, node, _rec) = setup();
    let (root, _) = parent();
    for (b, what) in [
        (block(SLOT + 1, 5, root), "for slot"),
        (block(SLOT, 6, root), "proposer 6"),
        (block(SLOT, 5, Hash256::repeat_byte(0x77)), "unknown parent"),
    ] {
        node.state().produced = Some(Produced::Full { block: b, sidecars: None });
        let e = propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap_err();
        assert!(matches!(&e, ProposeError::BadBlock { .. }) && e.to_string().contains(what), "{e}");
    }
    assert!(node.state().published.is_empty());
}

#[tokio::test]
async fn a_key_without_a_fee_recipient_never_asks_for_a_block() {
    let spec = testing::spec_at(ForkName::Phase0);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[5], |c| c.fee_recipient = None);
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(!node.state().asked.contains(&"produce_block"), "{:?}", node.state().asked);
    assert_eq!(refusals(&rec.events(), MessageKind::Block).len(), 1);
}

#[tokio::test]
async fn a_second_block_at_the_same_slot_is_never_signed() {
    let (ctx, node, _rec) = setup();
    let (root, _) = parent();
    node.state().produced = Some(Produced::Full { block: block(SLOT, 5, root), sidecars: None });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    // Another block for the same slot (other graffiti, same parent).
    let mut other = block(SLOT, 5, root);
    if let BeaconBlock::Phase0(b) = &mut other {
        b.state_root = Hash256::repeat_byte(1);
    }
    node.state().produced = Some(Produced::Full { block: other, sidecars: None });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert_eq!(node.state().published.len(), 1);
}
