//! The Gloas block step: `produceBlockV4` names the key's recipient; a
//! self-built block and its envelope are signed (the node verifies both
//! under their domains) and published in that order; an envelope that does
//! not fit its block leaves both unsigned; a builder's bid paying another
//! address is refused and a self-built block asked for instead.
//!
//! The blocks and envelopes are pyspec's random `ssz_static` cases (the
//! vectors the `ssz_static` test checks), made to fit the proposal.

use super::*;
use crate::beacon::{GloasPayload, Produced, Sidecars};
use crate::services::block::{propose, ProposeError};
use crate::services::testing::{self, MemNode, Published};
use ssz::Decode;
use std::sync::Arc;
use tree_hash::TreeHash;

const SLOT: u64 = 20;
const RECIPIENT: Address = Address::repeat_byte(0x11);
const BLOCK_HASH: Hash256 = Hash256::repeat_byte(0xb1);

const BLOCK_SSZ: &[u8] = include_bytes!(
    "../../../../tests/vectors/ssz_static/gloas_pyspec_1.7.0b2/tests/minimal/gloas/ssz_static/BeaconBlock/ssz_random/case_0/serialized.ssz"
);
const ENVELOPE_SSZ: &[u8] = include_bytes!(
    "../../../../tests/vectors/ssz_static/gloas_pyspec_1.7.0b2/tests/minimal/gloas/ssz_static/ExecutionPayloadEnvelope/ssz_random/case_0/serialized.ssz"
);

/// A Gloas block of key 5 at `SLOT` whose bid is `builder`'s, paying `to`.
fn block(builder: u64, to: Address) -> BeaconBlockGloas<Minimal> {
    let mut b = BeaconBlockGloas::<Minimal>::from_ssz_bytes(BLOCK_SSZ).unwrap();
    b.slot = SLOT;
    b.proposer_index = 5;
    b.parent_root = parent_at(SLOT).0;
    let bid = &mut b.body.signed_execution_payload_bid.message;
    bid.builder_index = builder;
    bid.fee_recipient = to;
    bid.block_hash = BLOCK_HASH;
    bid.gas_limit = 60_000_000;
    bid.slot = SLOT;
    b
}

/// The envelope revealing `block`'s self-built payload.
fn envelope(block: &BeaconBlockGloas<Minimal>) -> ExecutionPayloadEnvelope<Minimal> {
    let mut e = ExecutionPayloadEnvelope::<Minimal>::from_ssz_bytes(ENVELOPE_SSZ).unwrap();
    let bid = &block.body.signed_execution_payload_bid.message;
    e.beacon_block_root = block.tree_hash_root();
    e.parent_beacon_block_root = block.parent_root;
    e.builder_index = BUILDER_INDEX_SELF_BUILD;
    e.payload.slot_number = SLOT;
    e.payload.block_hash = bid.block_hash;
    e.payload.fee_recipient = bid.fee_recipient;
    e.payload.gas_limit = bid.gas_limit;
    e
}

fn produced(b: BeaconBlockGloas<Minimal>, e: Option<ExecutionPayloadEnvelope<Minimal>>) -> Produced<Minimal> {
    let sidecars = Some(Sidecars::Json(serde_json::json!([]), serde_json::json!([])));
    Produced::Gloas {
        block: BeaconBlock::Gloas(b),
        payload: e.map(|envelope| Box::new(GloasPayload { envelope, sidecars })),
        node: "http://mem".into(),
    }
}

type Setup = (Arc<crate::services::context::Ctx<Minimal>>, Arc<MemNode<Minimal>>, Arc<testing::Recorder>);

fn setup(builder_proposals: bool) -> Setup {
    let spec = testing::spec_at(ForkName::Gloas);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[5], |c| c.builder_proposals = builder_proposals);
    let (root, h) = parent_at(SLOT);
    node.state().headers.insert(root.to_string(), h);
    (ctx, node, rec)
}

#[tokio::test]
async fn a_self_built_block_and_its_envelope_are_signed_and_published_in_order() {
    let (ctx, node, rec) = setup(false);
    let b = block(BUILDER_INDEX_SELF_BUILD, RECIPIENT);
    let e = envelope(&b);
    node.state().produced = Some(produced(b.clone(), Some(e.clone())));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let st = node.state();
    // produceBlockV4 was told the key's recipient.
    assert_eq!(st.produce_fee_recipients, vec![RECIPIENT]);
    // The node verified both signatures (the block's under the proposer
    // domain, the envelope's under the builder domain) before accepting.
    let [Published::Block { header, blinded: false }, Published::Envelope(signed, true)] = &st.published[..] else {
        panic!("{:?}", st.published)
    };
    assert_eq!(header.tree_hash_root(), b.tree_hash_root());
    assert_eq!(signed.message, e);
    assert_eq!(published(&rec.events(), MessageKind::Block), vec![vec![5]]);
    assert_eq!(published(&rec.events(), MessageKind::Envelope), vec![vec![5]]);
}

#[tokio::test]
async fn an_envelope_the_node_kept_is_fetched_and_published_without_blobs() {
    let (ctx, node, _rec) = setup(false);
    let b = block(BUILDER_INDEX_SELF_BUILD, RECIPIENT);
    node.state().envelope = Some(envelope(&b));
    node.state().produced = Some(produced(b, None));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let st = node.state();
    assert!(st.asked.contains(&"execution_payload_envelope"), "{:?}", st.asked);
    assert!(
        matches!(&st.published[..], [Published::Block { .. }, Published::Envelope(_, false)]),
        "{:?}",
        st.published
    );
}

#[tokio::test]
async fn an_envelope_that_does_not_fit_its_block_leaves_both_unsigned() {
    let b = block(BUILDER_INDEX_SELF_BUILD, RECIPIENT);
    type Bend = fn(&mut ExecutionPayloadEnvelope<Minimal>);
    let bends: [(Bend, &str); 5] = [
        (|e| e.beacon_block_root = Hash256::repeat_byte(0x66), "names block"),
        (|e| e.payload.slot_number = SLOT + 1, "of slot 21"),
        (|e| e.payload.block_hash = Hash256::repeat_byte(0x67), "carries payload"),
        (|e| e.payload.fee_recipient = Address::repeat_byte(0xee), "pays"),
        (|e| e.builder_index = 3, "builder 3"),
    ];
    for (bend, what) in bends {
        let (ctx, node, rec) = setup(false);
        let mut e = envelope(&b);
        bend(&mut e);
        node.state().produced = Some(produced(b.clone(), Some(e)));
        let err = propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap_err();
        assert!(matches!(&err, ProposeError::BadEnvelope { .. }) && err.to_string().contains(what), "{err}");
        assert!(node.state().published.is_empty());
        assert!(refusals(&rec.events(), MessageKind::Block).is_empty(), "{what}");
        // No block of the slot was signed: another block of the slot, with
        // an envelope that fits, is signed and published.
        let mut other = b.clone();
        other.state_root = Hash256::repeat_byte(0x42);
        node.state().produced = Some(produced(other.clone(), Some(envelope(&other))));
        propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
        assert!(matches!(&node.state().published[..], [Published::Block { .. }, Published::Envelope(..)]), "{what}");
    }
}

#[tokio::test]
async fn a_builder_bid_paying_another_address_is_refused_and_a_self_built_block_proposed() {
    let (ctx, node, rec) = setup(true);
    node.state().produced = Some(produced(block(7, Address::repeat_byte(0xbb)), None));
    let own = block(BUILDER_INDEX_SELF_BUILD, RECIPIENT);
    node.state().produced_local = Some(produced(own.clone(), Some(envelope(&own))));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::FeeRecipientMismatch { .. }]), "{refused:?}");
    let st = node.state();
    let [Published::Block { header, .. }, Published::Envelope(..)] = &st.published[..] else {
        panic!("{:?}", st.published)
    };
    assert_eq!(header.tree_hash_root(), own.tree_hash_root());
}

#[tokio::test]
async fn a_builder_bid_paying_the_rule_is_proposed_without_an_envelope() {
    let (ctx, node, _rec) = setup(true);
    node.state().produced = Some(produced(block(7, RECIPIENT), None));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    let st = node.state();
    assert!(matches!(&st.published[..], [Published::Block { .. }]), "{:?}", st.published);
    assert!(!st.asked.contains(&"execution_payload_envelope"));
}

#[tokio::test]
async fn a_builder_bid_is_not_signed_when_builders_are_off_for_the_key() {
    let (ctx, node, rec) = setup(false);
    node.state().produced = Some(produced(block(7, RECIPIENT), None));
    propose(&ctx, SLOT, 5, testing::pk(5)).await.unwrap();
    assert!(node.state().published.is_empty(), "{:?}", node.state().published);
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::BuilderBidNotAllowed { .. }, ..]), "{refused:?}");
}
