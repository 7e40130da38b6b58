//! The validator store's Gloas rules, on a real SQLite protection database
//! with interop keys; every signature is verified with blst under the
//! signing root pyspec's rules give (the same `SigningContext` the pyspec
//! known answers check in `signing_roots`):
//! - a PTC member votes once per slot;
//! - proposer preferences are signed only by their own validator's key and
//!   only when they pay the key's recipient (none known: none signed);
//! - a Gloas block's bid must pay the key's recipient; a builder's bid only
//!   when asked for and allowed;
//! - an envelope only for the proposer's own payload, paying its recipient,
//!   for the block the same key signed at that slot;
//! - aggregates from Gloas on are signed under their progressive root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::events::EventBus;
use poolvc::outcome::{Outcome, Refusal};
use poolvc::policy::ProposalConfig;
use poolvc::store::{StoreTimings, ValidatorStore};
use poolvc_signer::clock::WallClock;
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::SecretKey;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::NotSafe;
use poolvc_signer::types::*;
use poolvc_tests::vectors;
use ssz::Decode;
use std::sync::Arc;

type Mi = Minimal;
const RULE: Address = Address::repeat_byte(0x5a);

struct Fixture {
    store: ValidatorStore<Mi>,
    ctx_spec: ChainSpec,
    gvr: Hash256,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn root(&self, m: &SignableMessage<'_, Mi>) -> Hash256 {
        SigningContext { spec: &self.ctx_spec, genesis_validators_root: self.gvr }.signing_root(m)
    }
}

fn config(fee: Option<Address>, builder: bool) -> ProposalConfig {
    ProposalConfig {
        fee_recipient: fee,
        own_fee_recipient: true,
        gas_limit: 60_000_000,
        graffiti: None,
        builder_proposals: builder,
        pool: None,
    }
}

/// Keys 1..=4 pay RULE (key 4 takes no builder bids); key 5 has no recipient.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let gvr = Hash256::repeat_byte(7);
    let db = SqliteSlashingDb::open(&dir.path().join("s.sqlite"), gvr).unwrap();
    let spec = poolvc_tests::gloas_spec();
    let store = ValidatorStore::<Mi>::new(
        spec.clone(),
        gvr,
        WallClock::new(0, &spec),
        Arc::new(db),
        Arc::new(EventBus::new()),
        StoreTimings::default(),
    );
    let mut sks: Vec<(SecretKey, ProposalConfig)> =
        (1..=3).map(|i| (interop_secret_key(i), config(Some(RULE), true))).collect();
    sks.push((interop_secret_key(4), config(Some(RULE), false)));
    sks.push((interop_secret_key(5), config(None, true)));
    store.add_local_keys(sks, true).unwrap();
    store.set_indices((1..=5).map(|i| (pk(i), i)));
    Fixture { store, ctx_spec: spec, gvr, _dir: dir }
}

fn pk(i: u64) -> PublicKeyBytes {
    interop_secret_key(i).public_key().to_bytes()
}

fn verifies(v: u64, root: Hash256, sig: &SignatureBytes) -> bool {
    let pk = blst::min_pk::PublicKey::from_bytes(pk(v).as_slice()).unwrap();
    let sig = blst::min_pk::Signature::from_bytes(sig.as_slice()).unwrap();
    sig.verify(true, root.as_slice(), b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_", &[], &pk, true)
        == blst::BLST_ERROR::BLST_SUCCESS
}

fn vector<T: Decode>(name: &str) -> T {
    let p = vectors()
        .join("ssz_static/gloas_pyspec_1.7.0b2/tests/minimal/gloas/ssz_static")
        .join(name)
        .join("ssz_random/case_0/serialized.ssz");
    T::from_ssz_bytes(&std::fs::read(p).unwrap()).unwrap()
}

fn refusal(o: &Outcome) -> Refusal {
    match o {
        Outcome::Refused(r) => r.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ptc_member_votes_once_per_slot() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture();
    let data = PayloadAttestationData {
        beacon_block_root: Hash256::repeat_byte(1),
        slot: 17,
        payload_present: true,
        blob_data_available: true,
    };
    let members = [(1, pk(1)), (2, pk(2)), (3, pk(3))];
    let out = f.store.sign_payload_attestations(&data, &members).await;
    let root = f.root(&SignableMessage::PayloadAttestation(&data));
    for ((v, _), o) in members.iter().zip(&out) {
        assert!(verifies(*v, root, &o.signature().expect("signed")), "member {v}");
    }
    // The same vote again (a restart) is harmless.
    assert!(f.store.sign_payload_attestations(&data, &members[..1]).await[0].signature().is_some());
    // Another vote for the same slot, and one for an earlier slot, are refused.
    let other = PayloadAttestationData { payload_present: false, ..data };
    let r = refusal(&f.store.sign_payload_attestations(&other, &members[..1]).await[0]);
    assert_eq!(r, Refusal::Slashable { reason: NotSafe::DoublePayloadAttestation { slot: 17 } });
    let earlier = PayloadAttestationData { slot: 16, ..data };
    let r = refusal(&f.store.sign_payload_attestations(&earlier, &members[..1]).await[0]);
    assert!(matches!(r, Refusal::Slashable { reason: NotSafe::BelowLowWatermark { .. } }), "{r:?}");
    // A duty naming another key for the index is refused.
    let r = refusal(&f.store.sign_payload_attestations(&data, &[(2, pk(3))]).await[0]);
    assert!(matches!(r, Refusal::KeyMismatch { .. }), "{r:?}");
}

#[tokio::test]
async fn preferences_pay_the_rule_or_are_not_signed() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture();
    let prefs = |v: u64, to: Address| ProposerPreferences {
        dependent_root: Hash256::repeat_byte(9),
        proposal_slot: 20,
        validator_index: v,
        fee_recipient: to,
        target_gas_limit: 60_000_000,
    };
    let ok = prefs(1, RULE);
    let out = f
        .store
        .sign_proposer_preferences(&[
            (ok, pk(1)),
            (prefs(2, Address::repeat_byte(0xde)), pk(2)),
            (prefs(5, RULE), pk(5)),
        ])
        .await;
    assert!(verifies(
        1,
        f.root(&SignableMessage::ProposerPreferences(&ok)),
        &out[0].signature().expect("pays the rule")
    ));
    assert!(matches!(refusal(&out[1]), Refusal::FeeRecipientMismatch { expected: RULE, .. }), "{:?}", out[1]);
    assert!(matches!(refusal(&out[2]), Refusal::NoFeeRecipient { .. }), "{:?}", out[2]);
    // Signed by the key of its own validator index only.
    let r = refusal(&f.store.sign_proposer_preferences(&[(prefs(1, RULE), pk(2))]).await[0]);
    assert!(matches!(r, Refusal::KeyMismatch { .. }), "{r:?}");
}

fn gloas_block(slot: u64, proposer: u64, to: Address, builder_index: u64) -> BeaconBlock<Mi> {
    let mut b: BeaconBlockGloas<Mi> = vector("BeaconBlock");
    b.slot = slot;
    b.proposer_index = proposer;
    let bid = &mut b.body.signed_execution_payload_bid.message;
    bid.fee_recipient = to;
    bid.builder_index = builder_index;
    bid.slot = slot;
    BeaconBlock::Gloas(b)
}

fn envelope(block: &BeaconBlock<Mi>, to: Address, builder_index: u64) -> ExecutionPayloadEnvelope<Mi> {
    let mut e: ExecutionPayloadEnvelope<Mi> = vector("ExecutionPayloadEnvelope");
    e.payload.slot_number = block.slot();
    e.payload.fee_recipient = to;
    e.builder_index = builder_index;
    e.beacon_block_root = block.tree_hash_root();
    e
}

#[tokio::test]
async fn a_self_built_proposal_pays_the_rule_in_block_and_envelope() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture();
    const SELF: u64 = BUILDER_INDEX_SELF_BUILD;
    // A bid paying another address: no block.
    let r =
        refusal(&f.store.sign_gloas_block(1, pk(1), &gloas_block(18, 1, Address::repeat_byte(1), SELF), false).await);
    assert!(matches!(r, Refusal::FeeRecipientMismatch { .. }), "{r:?}");
    let block = gloas_block(18, 1, RULE, SELF);
    let sig = f.store.sign_gloas_block(1, pk(1), &block, false).await.signature().expect("pays the rule");
    assert!(verifies(1, f.root(&SignableMessage::Block(&block)), &sig));
    // Its envelope: signed, and verifies under the builder domain.
    let e = envelope(&block, RULE, SELF);
    let sig = f.store.sign_envelope(1, pk(1), &e).await.signature().expect("its own payload");
    assert!(verifies(1, f.root(&SignableMessage::ExecutionPayloadEnvelope(&e)), &sig));
    // An envelope for another block, paying another address, of a builder,
    // or by another key: refused.
    let other_block = gloas_block(18, 1, RULE, 7);
    let r = refusal(&f.store.sign_envelope(1, pk(1), &envelope(&other_block, RULE, SELF)).await);
    assert!(matches!(r, Refusal::Slashable { reason: NotSafe::EnvelopeOfUnsignedBlock { slot: 18, .. } }), "{r:?}");
    let r = refusal(&f.store.sign_envelope(1, pk(1), &envelope(&block, Address::repeat_byte(3), SELF)).await);
    assert!(matches!(r, Refusal::FeeRecipientMismatch { .. }), "{r:?}");
    let r = refusal(&f.store.sign_envelope(1, pk(1), &envelope(&block, RULE, 7)).await);
    assert!(matches!(r, Refusal::EnvelopeNotSelfBuilt { builder_index: 7, .. }), "{r:?}");
    let r = refusal(&f.store.sign_envelope(2, pk(2), &envelope(&block, RULE, SELF)).await);
    assert!(matches!(r, Refusal::Slashable { reason: NotSafe::EnvelopeOfUnsignedBlock { .. } }), "{r:?}");
}

#[tokio::test]
async fn a_builder_bid_only_when_asked_allowed_and_paying_the_rule() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture();
    let r = refusal(&f.store.sign_gloas_block(2, pk(2), &gloas_block(19, 2, RULE, 7), false).await);
    assert!(matches!(r, Refusal::BuilderBidNotAllowed { builder_index: 7, .. }), "not asked: {r:?}");
    let r = refusal(&f.store.sign_gloas_block(4, pk(4), &gloas_block(19, 4, RULE, 7), true).await);
    assert!(matches!(r, Refusal::BuilderBidNotAllowed { .. }), "key takes no builders: {r:?}");
    let r =
        refusal(&f.store.sign_gloas_block(2, pk(2), &gloas_block(19, 2, Address::repeat_byte(0xbb), 7), true).await);
    assert!(matches!(r, Refusal::FeeRecipientMismatch { .. }), "pays the builder's choice: {r:?}");
    let b = gloas_block(19, 3, RULE, 7);
    let sig = f.store.sign_gloas_block(3, pk(3), &b, true).await.signature().expect("asked, allowed, pays the rule");
    assert!(verifies(3, f.root(&SignableMessage::Block(&b)), &sig));
    // sign_block never takes a builder's bid.
    let r = refusal(&f.store.sign_block(2, pk(2), &gloas_block(20, 2, RULE, 7)).await);
    assert!(matches!(r, Refusal::BuilderBidNotAllowed { .. }), "{r:?}");
}

#[tokio::test]
async fn aggregates_from_gloas_on_are_signed_under_the_progressive_root() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture();
    let mut agg: AggregateAndProofGloas<Mi> = vector("AggregateAndProof");
    agg.aggregator_index = 1;
    agg.aggregate.data.slot = 17;
    // The Electra-shaped message the aggregation service builds.
    let electra = AggregateAndProofElectra::<Mi> {
        aggregator_index: 1,
        aggregate: AttestationElectra {
            aggregation_bits: agg.aggregate.aggregation_bits.0.clone(),
            data: agg.aggregate.data,
            signature: agg.aggregate.signature,
            committee_bits: agg.aggregate.committee_bits.clone(),
        },
        selection_proof: agg.selection_proof,
    };
    let sig = f.store.sign_aggregates_electra(17, std::slice::from_ref(&electra)).await[0].signature().expect("signed");
    assert!(verifies(1, f.root(&SignableMessage::AggregateAndProofGloas(&agg)), &sig));
    assert!(!verifies(1, f.root(&SignableMessage::AggregateAndProofElectra(&electra)), &sig));
}
