//! The sync-committee message step: every member signs the node's head
//! root in one batch; the node verifies each signature.

use super::*;
use crate::beacon::SyncDuty;
use crate::services::sync_committee::sync_messages;
use crate::services::testing::{self, MemNode, Published};

fn member(v: u64) -> SyncDuty {
    SyncDuty { pubkey: testing::pk(v), validator_index: v, validator_sync_committee_indices: vec![v] }
}

#[tokio::test]
async fn members_sign_the_head_in_one_post() {
    let spec = testing::spec_at(ForkName::Altair);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[1, 2], |_| {});
    let head = sync_messages(&ctx, 30, &[member(1), member(2)]).await.unwrap();
    let st = node.state();
    let [Published::SyncMessages(msgs)] = &st.published[..] else { panic!("{:?}", st.published) };
    assert!(msgs.iter().all(|m| m.beacon_block_root == head && m.slot == 30));
    assert_eq!(published(&rec.events(), MessageKind::SyncMessage).concat().len(), 2);
}

#[tokio::test]
async fn a_node_that_is_down_fails_the_step() {
    let spec = testing::spec_at(ForkName::Altair);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[1], |_| {});
    node.state().down = true;
    assert!(sync_messages(&ctx, 30, &[member(1)]).await.is_err());
    assert!(node.state().published.is_empty());
}
