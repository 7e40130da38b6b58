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

fn setup() -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Phase0);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[5], |_| {});
    let (root, h) = parent_at(SLOT);
    node.state().headers.insert(root.to_string(), h);
    (ctx, node, rec)
}

#[tokio::test]
async fn a_good_block_is_signed_and_the_node_verifies_it() {
    let (ctx, node, rec) = setup();
    let (root, _) = parent_at(SLOT);
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
    let (root, _) = parent_at(SLOT);
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
    let (root, _) = parent_at(SLOT);
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

/// A Bellatrix blinded block of `slot` by `proposer` on `parent`, whose
/// payload header names `fee_recipient`.
fn blinded(slot: u64, proposer: u64, parent: Hash256, fee_recipient: Address) -> BlindedBeaconBlock<Minimal> {
    let z32 = format!("0x{}", "00".repeat(32));
    let json = serde_json::json!({
        "slot": slot.to_string(), "proposer_index": proposer.to_string(),
        "parent_root": parent, "state_root": z32,
        "body": {
            "randao_reveal": format!("0x{}", "00".repeat(96)),
            "eth1_data": {"deposit_root": z32, "deposit_count": "0", "block_hash": z32},
            "graffiti": z32, "proposer_slashings": [], "attester_slashings": [], "attestations": [],
            "deposits": [], "voluntary_exits": [],
            "sync_aggregate": {
                "sync_committee_bits": "0x00000000",
                "sync_committee_signature": format!("0xc0{}", "00".repeat(95)),
            },
            "execution_payload_header": {
                "parent_hash": z32, "fee_recipient": fee_recipient, "state_root": z32, "receipts_root": z32,
                "logs_bloom": format!("0x{}", "00".repeat(256)), "prev_randao": z32, "block_number": "1",
                "gas_limit": "30000000", "gas_used": "0", "timestamp": "0", "extra_data": "0x",
                "base_fee_per_gas": "7", "block_hash": z32, "transactions_root": z32
            }
        }
    });
    BlindedBeaconBlock::from_json(ForkName::Bellatrix, json).unwrap()
}

/// A Bellatrix node serving a blinded block for key 5 (as a node does that
/// answers a local request with a builder block), with the key's settings
/// as `tweak` makes them.
fn blinded_setup(
    tweak: impl FnOnce(&mut crate::config::VcConfig),
) -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Bellatrix);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[5], tweak);
    let (root, h) = parent_at(SLOT);
    node.state().headers.insert(root.to_string(), h);
    // The builder pays by a transaction: its own address in the header.
    let b = blinded(SLOT, 5, root, Address::repeat_byte(0xbb));
    node.state().produced = Some(Produced::Blinded { block: b, ssz: false, node: "http://mem".into() });
    (ctx, node, rec)
}

#[tokio::test]
async fn a_blinded_block_answered_to_a_local_request_is_refused() {
    // Builder blocks off for the key: poolvc asks with builder_boost_factor=0.
    let (ctx, node, rec) = blinded_setup(|c| c.builder_proposals = false);
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(node.state().published.is_empty(), "{:?}", node.state().published);
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::BlindedBlockNotAllowed { .. }]), "{refused:?}");
    // --builder-boost-factor 0: a local block asked for, whatever the key says.
    let (ctx, node, rec) = blinded_setup(|c| {
        c.builder_proposals = true;
        c.builder_boost_factor = Some(0);
    });
    crate::services::preparation::register_validators(&ctx, SLOT - 2, &mut Default::default()).await;
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(!node.state().published.iter().any(|p| matches!(p, Published::Block { .. })));
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(
        matches!(&refused[..], [Refusal::BlindedBlockNotAllowed { why, .. }] if why.contains("local block")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_lido_key_with_unverified_relays_signs_no_blinded_block() {
    let (ctx, node, rec) = blinded_setup(|c| c.builder_proposals = true);
    ctx.store.set_pool_recipients(|_| {
        Some(crate::policy::PoolRecipient::Rule {
            pool: "lido-csm".into(),
            operator: "3".into(),
            decision: crate::policy::pool_rules::Decision {
                recipient: Address::repeat_byte(0x11),
                why: crate::policy::pool_rules::Why::LidoVault,
            },
            no_builder: Some("relay https://r.example is not on Lido's allow-list".into()),
        })
    });
    crate::services::preparation::register_validators(&ctx, SLOT - 2, &mut Default::default()).await;
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(!node.state().published.iter().any(|p| matches!(p, Published::Block { .. })));
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(
        matches!(&refused[..], [Refusal::BlindedBlockNotAllowed { why, .. }] if why.contains("allow-list")),
        "{refused:?}"
    );
}

/// A Bellatrix full block of `slot` by `proposer` on `parent` paying `fee_recipient`.
fn full(slot: u64, proposer: u64, parent: Hash256, fee_recipient: Address) -> BeaconBlock<Minimal> {
    let mut json = blinded(slot, proposer, parent, fee_recipient).to_json();
    let body = json["body"].as_object_mut().unwrap();
    let mut payload = body.remove("execution_payload_header").unwrap();
    let p = payload.as_object_mut().unwrap();
    p.remove("transactions_root");
    p.insert("transactions".into(), serde_json::json!([]));
    body.insert("execution_payload".into(), payload);
    BeaconBlock::from_json(ForkName::Bellatrix, json).unwrap()
}

#[tokio::test]
async fn a_builder_block_is_asked_for_and_signed_only_under_a_current_registration() {
    let (ctx, node, rec) = blinded_setup(|c| c.builder_proposals = true);
    // No registration signed yet: a relay could pay whatever it last held.
    // poolvc asks for a local block at once; this node answers blinded anyway.
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::BlindedBlockNotAllowed { .. }]), "{refused:?}");
    assert_eq!(node.state().produce_boosts, [0], "one request, for a local block");
    // Registered with 0x11, then the recipient moves to 0x22: a local block
    // is asked for until the registration is re-signed.
    let mut cache = Default::default();
    crate::services::preparation::register_validators(&ctx, SLOT - 2, &mut cache).await;
    ctx.store.update_config(&testing::pk(5), |c| crate::policy::ProposalConfig {
        fee_recipient: Some(Address::repeat_byte(0x22)),
        ..c.clone()
    });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert_eq!(node.state().produce_boosts, [0, 0]);
    assert!(!node.state().published.iter().any(|p| matches!(p, Published::Block { .. })));
    crate::services::preparation::register_validators(&ctx, SLOT - 1, &mut cache).await;
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let st = node.state();
    assert_eq!(st.produce_boosts, [0, 0, 100], "registered: a builder block asked for");
    assert!(
        st.published.iter().any(|p| matches!(p, Published::Block { blinded: true, .. })),
        "asked for, allowed, registered: signed and verified by the node: {:?}",
        st.published
    );
}

#[tokio::test]
async fn no_registration_yet_means_a_local_block_asked_for_and_no_refusal() {
    let (ctx, node, rec) = blinded_setup(|c| c.builder_proposals = true);
    let (root, _) = parent_at(SLOT);
    node.state().produced_local =
        Some(Produced::Full { block: full(SLOT, 5, root, Address::repeat_byte(0x11)), sidecars: None });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(refusals(&rec.events(), MessageKind::Block).is_empty());
    let st = node.state();
    assert_eq!(st.produce_boosts, [0]);
    assert!(
        st.published.iter().any(|p| matches!(p, Published::Block { blinded: false, .. })),
        "the local block was signed and verified: {:?}",
        st.published
    );
}

#[tokio::test]
async fn a_recipient_moved_while_the_builder_block_was_produced_falls_back_to_a_local_block() {
    let (ctx, node, rec) = blinded_setup(|c| c.builder_proposals = true);
    let (root, _) = parent_at(SLOT);
    node.state().produced_local =
        Some(Produced::Full { block: full(SLOT, 5, root, Address::repeat_byte(0x22)), sidecars: None });
    crate::services::preparation::register_validators(&ctx, SLOT - 1, &mut Default::default()).await;
    // The rule moves the key's recipient to 0x22 while the node builds.
    let store = ctx.store.clone();
    node.state().while_producing = Some(testing::Hook(Box::new(move || {
        store.update_config(&testing::pk(5), |c| crate::policy::ProposalConfig {
            fee_recipient: Some(Address::repeat_byte(0x22)),
            ..c.clone()
        });
    })));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::RegistrationNotCurrent { .. }]), "{refused:?}");
    let st = node.state();
    assert_eq!(st.produce_boosts, [100, 0]);
    assert!(
        st.published.iter().any(|p| matches!(p, Published::Block { blinded: false, .. })),
        "the local block paying the new recipient was signed and verified: {:?}",
        st.published
    );
}

#[tokio::test]
async fn a_block_dated_far_ahead_of_the_clock_gets_nothing_signed() {
    let (ctx, node, rec) = setup();
    let far = SLOT + 1_000_000 * ctx.spec.slots_per_epoch;
    let (root, _) = parent_at(SLOT);
    node.state().produced = Some(Produced::Full { block: block(far, 5, root), sidecars: None });
    let e = propose(&ctx, far, 5, testing::pk(5)).await.unwrap_err();
    assert!(matches!(e, ProposeError::NotSigned { .. }), "{e}");
    let refused = refusals(&rec.events(), MessageKind::Randao);
    assert!(matches!(&refused[..], [Refusal::AheadOfClock { .. }]), "{refused:?}");
    assert!(node.state().published.is_empty());
    // The key still proposes at the slot the clock allows.
    node.state().produced = Some(Produced::Full { block: block(SLOT, 5, root), sidecars: None });
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert_eq!(node.state().published.len(), 1);
}
