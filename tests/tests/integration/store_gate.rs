//! The validator store, the one gate to a signature, on a real SQLite
//! slashing database with interop keys; every signature it returns is
//! verified with blst under the key it must belong to.
//!
//! - the slashing hole of a duty relabelled with another own key is closed:
//!   the key that is checked, recorded and signs is resolved from poolvc's
//!   own index <-> key map, and a duty that disagrees is refused;
//! - doppelganger protection holds signing until released;
//! - a full block must pay the key's fee recipient, a key without one signs
//!   no block and no registration;
//! - keys added and removed at runtime: a removed key signs nothing, and a
//!   key added later never gets an old key's engine handle;
//! - every refusal is told once as an event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::events::{Event, EventBus, Subscriber};
use poolvc::outcome::{Outcome, Refusal};
use poolvc::policy::ProposalConfig;
use poolvc::store::{AttestationToSign, StoreTimings, ValidatorStore};
use poolvc_signer::clock::WallClock;
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::SecretKey;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::NotSafe;
use poolvc_signer::types::*;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Subscriber for Recorder {
    fn on_event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn refusals(&self) -> Vec<Refusal> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

struct Fixture {
    store: ValidatorStore<Minimal>,
    spec: ChainSpec,
    gvr: Hash256,
    events: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

fn spec() -> ChainSpec {
    let text = include_str!("../../../testnets/configs/minimal.yaml");
    ChainSpec::from_config_yaml("minimal.yaml", text).unwrap()
}

fn config(fee: Option<Address>) -> ProposalConfig {
    ProposalConfig {
        fee_recipient: fee,
        own_fee_recipient: true,
        gas_limit: 30_000_000,
        graffiti: None,
        builder_proposals: true,
        pool: None,
    }
}

/// A store holding interop keys `keys`, each with index = interop index.
fn fixture(keys: &[u64], fee: Option<Address>, may_sign: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let gvr = Hash256::repeat_byte(7);
    let db = SqliteSlashingDb::open(&dir.path().join("s.sqlite"), gvr).unwrap();
    let bus = Arc::new(EventBus::new());
    let events = Arc::new(Recorder::default());
    bus.subscribe(events.clone());
    // The chain started at Unix time 0: the tests' slots are all past.
    let store = ValidatorStore::<Minimal>::new(
        spec(),
        gvr,
        WallClock::new(0, &spec()),
        Arc::new(db),
        bus,
        StoreTimings::default(),
    );
    let sks: Vec<(SecretKey, ProposalConfig)> = keys.iter().map(|i| (interop_secret_key(*i), config(fee))).collect();
    store.add_local_keys(sks, may_sign).unwrap();
    store.set_indices(keys.iter().map(|i| (pk(*i), *i)));
    Fixture { store, spec: spec(), gvr, events, _dir: dir }
}

fn pk(i: u64) -> PublicKeyBytes {
    interop_secret_key(i).public_key().to_bytes()
}

fn data(slot: u64, root: u8, spe: u64) -> AttestationData {
    let epoch = slot / spe;
    AttestationData {
        slot,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(root),
        source: Checkpoint { epoch: epoch - 1, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(2) },
    }
}

/// Whether `sig` is validator `v`'s signature over `root`.
fn verifies(v: u64, root: Hash256, sig: &SignatureBytes) -> bool {
    let pk = blst::min_pk::PublicKey::from_bytes(pk(v).as_slice()).unwrap();
    let sig = blst::min_pk::Signature::from_bytes(sig.as_slice()).unwrap();
    sig.verify(true, root.as_slice(), b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_", &[], &pk, true)
        == blst::BLST_ERROR::BLST_SUCCESS
}

#[tokio::test]
async fn a_duty_relabelled_with_another_own_key_cannot_make_a_double_vote() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture(&[10, 11], Some(Address::repeat_byte(1)), true);
    let spe = f.spec.slots_per_epoch;
    let ctx = SigningContext { spec: &f.spec, genesis_validators_root: f.gvr };
    let first = data(3 * spe, 0xa, spe);
    let out = f
        .store
        .sign_attestations(first.slot, &[AttestationToSign { validator_index: 10, pubkey: pk(10), data: first }])
        .await;
    let sig = out[0].signature().expect("the real duty is signed");
    assert!(verifies(10, ctx.signing_root::<Minimal>(&SignableMessage::Attestation(&first)), &sig));

    // The node serves validator 10 a second duty in the same epoch, labelled
    // with validator 11's key: refused, whatever the label.
    let second = data(3 * spe + 1, 0xb, spe);
    let out = f
        .store
        .sign_attestations(second.slot, &[AttestationToSign { validator_index: 10, pubkey: pk(11), data: second }])
        .await;
    assert_eq!(out[0], Outcome::Refused(Refusal::KeyMismatch { index: 10, claimed: pk(11), ours: pk(10) }));
    // Labelled with its own key, the same second vote is a double vote.
    let out = f
        .store
        .sign_attestations(second.slot, &[AttestationToSign { validator_index: 10, pubkey: pk(10), data: second }])
        .await;
    assert!(matches!(out[0], Outcome::Refused(Refusal::Slashable { reason: NotSafe::DoubleVote { .. } })), "{out:?}");
    // Validator 11 itself was never touched: its own vote is still new.
    let out = f
        .store
        .sign_attestations(second.slot, &[AttestationToSign { validator_index: 11, pubkey: pk(11), data: second }])
        .await;
    let sig = out[0].signature().expect("validator 11 signs its own duty");
    assert!(verifies(11, ctx.signing_root::<Minimal>(&SignableMessage::Attestation(&second)), &sig));
    // Unknown index, and one validator twice in one batch.
    let batch = [
        AttestationToSign { validator_index: 99, pubkey: pk(99), data: first },
        AttestationToSign { validator_index: 11, pubkey: pk(11), data: data(4 * spe, 1, spe) },
        AttestationToSign { validator_index: 11, pubkey: pk(11), data: data(4 * spe, 2, spe) },
    ];
    let out = f.store.sign_attestations(4 * spe, &batch).await;
    assert_eq!(out[0], Outcome::Refused(Refusal::UnknownValidator { index: 99 }));
    assert!(out[1].signature().is_some());
    assert_eq!(out[2], Outcome::Refused(Refusal::DuplicateInBatch { pubkey: pk(11) }));
    assert_eq!(f.events.refusals().len(), 4, "each refusal told once: {:?}", f.events.refusals());
}

#[tokio::test]
async fn doppelganger_holds_signing_until_released() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture(&[5], Some(Address::repeat_byte(1)), false);
    let spe = f.spec.slots_per_epoch;
    let d = data(2 * spe, 3, spe);
    let a = [AttestationToSign { validator_index: 5, pubkey: pk(5), data: d }];
    assert_eq!(
        f.store.sign_attestations(d.slot, &a).await[0],
        Outcome::Refused(Refusal::Doppelganger { pubkey: pk(5) })
    );
    assert!(matches!(f.store.sign_randao(d.slot, 5, pk(5)).await, Outcome::Refused(Refusal::Doppelganger { .. })));
    f.store.enable_signing(&[pk(5)]);
    assert!(f.store.sign_attestations(d.slot, &a).await[0].signature().is_some(), "released: signs");
}

fn block(slot: u64, proposer: u64, fee: Address) -> BeaconBlock<Minimal> {
    let j = poolvc_tests::simnode::block_json::block(
        slot,
        proposer,
        Hash256::ZERO,
        SignatureBytes::ZERO,
        &Hash256::ZERO.to_string(),
        fee,
        32,
        false,
    );
    BeaconBlock::<Minimal>::from_json(ForkName::Electra, j).unwrap()
}

#[tokio::test]
async fn blocks_must_pay_the_configured_fee_recipient() {
    let _machine = poolvc_tests::turns::shared();
    let ours = Address::repeat_byte(0xaa);
    let f = fixture(&[3], Some(ours), true);
    let out = f.store.sign_block(3, pk(3), &block(40, 3, Address::repeat_byte(0xfe))).await;
    assert_eq!(
        out,
        Outcome::Refused(Refusal::FeeRecipientMismatch {
            pubkey: pk(3),
            expected: ours,
            got: Address::repeat_byte(0xfe)
        })
    );
    // The refused block left no slashing record: a block for the same slot
    // that pays the right recipient is signed.
    let b = block(40, 3, ours);
    let sig = f.store.sign_block(3, pk(3), &b).await.signature().expect("pays ours: signed");
    let ctx = SigningContext { spec: &f.spec, genesis_validators_root: f.gvr };
    assert!(verifies(3, ctx.signing_root::<Minimal>(&SignableMessage::Block(&b)), &sig));

    // No fee recipient anywhere: no block, no registration.
    let g = fixture(&[4], None, true);
    let out = g.store.sign_block(4, pk(4), &block(40, 4, Address::ZERO)).await;
    assert_eq!(out, Outcome::Refused(Refusal::NoFeeRecipient { pubkey: pk(4) }));
    let reg = ValidatorRegistrationV1 { fee_recipient: Address::ZERO, gas_limit: 1, timestamp: 1, pubkey: pk(4) };
    assert_eq!(
        g.store.sign_registrations(40, &[reg]).await[0],
        Outcome::Refused(Refusal::NoFeeRecipient { pubkey: pk(4) })
    );
    // A registration for a key that is not ours.
    let reg = ValidatorRegistrationV1 { pubkey: pk(9), ..reg };
    assert_eq!(
        g.store.sign_registrations(40, &[reg]).await[0],
        Outcome::Refused(Refusal::UnknownKey { pubkey: pk(9) })
    );
}

#[tokio::test]
async fn keys_come_and_go_at_runtime_and_handles_are_never_reused() {
    let _machine = poolvc_tests::turns::shared();
    let f = fixture(&[1, 2], Some(Address::repeat_byte(1)), true);
    let spe = f.spec.slots_per_epoch;
    let ctx = SigningContext { spec: &f.spec, genesis_validators_root: f.gvr };
    assert_eq!(f.store.remove_keys(&[pk(1)]), 1);
    let d = data(2 * spe, 9, spe);
    let a = [AttestationToSign { validator_index: 1, pubkey: pk(1), data: d }];
    assert_eq!(
        f.store.sign_attestations(d.slot, &a).await[0],
        Outcome::Refused(Refusal::UnknownValidator { index: 1 })
    );
    // A key added after the removal signs with its own scalar.
    f.store.add_local_keys(vec![(interop_secret_key(7), config(None))], true).unwrap();
    f.store.set_indices([(pk(7), 7)]);
    let a = [
        AttestationToSign { validator_index: 7, pubkey: pk(7), data: d },
        AttestationToSign { validator_index: 2, pubkey: pk(2), data: d },
    ];
    let out = f.store.sign_attestations(d.slot, &a).await;
    let root = ctx.signing_root::<Minimal>(&SignableMessage::Attestation(&d));
    assert!(verifies(7, root, &out[0].signature().unwrap()), "the new key signs as itself");
    assert!(verifies(2, root, &out[1].signature().unwrap()), "the old key is unchanged");
    // An index never moves to another key.
    let conflicts = f.store.set_indices([(pk(7), 2)]);
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(f.store.pubkey_of(2), Some(pk(2)));
}
