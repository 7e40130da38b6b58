//! The gate's own unit tests: what each step refuses or fails, on a real
//! SQLite database and real keys (interop), one message kind at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::outcome::{DatabaseFault, SignerFault};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use std::time::Duration;

const GVR: Hash256 = Hash256::repeat_byte(7);

fn spec() -> ChainSpec {
    let text = include_str!("../../../testnets/configs/minimal.yaml");
    ChainSpec::from_config_yaml("minimal.yaml", text).unwrap()
}

/// The chain started an hour ago (slot 600 of the minimal preset now).
fn clock() -> WallClock {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    WallClock::new(now - 3600, &spec())
}

fn config() -> ProposalConfig {
    ProposalConfig {
        fee_recipient: Some(Address::repeat_byte(1)),
        own_fee_recipient: true,
        gas_limit: 30_000_000,
        graffiti: None,
        builder_proposals: false,
        pool: None,
    }
}

fn pk(i: u64) -> PublicKeyBytes {
    interop_secret_key(i).public_key().to_bytes()
}

/// A store over `db` holding interop keys `keys` (index = interop index).
fn store(db: Arc<dyn SlashingDatabase>, keys: &[u64]) -> ValidatorStore<Minimal> {
    let s =
        ValidatorStore::<Minimal>::new(spec(), GVR, clock(), db, Arc::new(EventBus::new()), StoreTimings::default());
    s.add_local_keys(keys.iter().map(|i| (interop_secret_key(*i), config())).collect(), true).unwrap();
    s.set_indices(keys.iter().map(|i| (pk(*i), *i)));
    s
}

fn vote(v: u64, slot: u64, head: u8) -> AttestationToSign {
    AttestationToSign {
        validator_index: v,
        pubkey: pk(v),
        data: AttestationData {
            slot,
            index: 0,
            beacon_block_root: Hash256::repeat_byte(head),
            source: Checkpoint { epoch: 1, root: Hash256::repeat_byte(1) },
            target: Checkpoint { epoch: slot / 8, root: Hash256::repeat_byte(2) },
        },
    }
}

#[tokio::test]
async fn a_batch_is_judged_message_by_message() {
    let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
    let s = store(db, &[1, 2]);
    let mut relabelled = vote(2, 40, 0xa);
    relabelled.pubkey = pk(1);
    let out = s.sign_attestations(40, &[vote(1, 40, 0xa), relabelled, vote(9, 40, 0xa)]).await;
    assert!(matches!(out[0], Outcome::Signed(_)), "{out:?}");
    assert!(matches!(out[1], Outcome::Refused(Refusal::KeyMismatch { index: 2, .. })), "{out:?}");
    assert!(matches!(out[2], Outcome::Refused(Refusal::UnknownValidator { index: 9 })), "{out:?}");
    // The same target again, another head: a double vote, refused.
    let again = s.sign_attestations(40, &[vote(1, 40, 0xb)]).await;
    assert!(matches!(again[0], Outcome::Refused(Refusal::Slashable { .. })), "{again:?}");
}

#[tokio::test]
async fn a_database_that_fails_signs_nothing_slashable_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let db = Arc::new(SqliteSlashingDb::open(&path, GVR).unwrap());
    let s = store(db, &[1]);
    // Another process breaks the database under the store.
    rusqlite::Connection::open(&path).unwrap().execute_batch("DROP TABLE signed_attestations").unwrap();
    let out = s.sign_attestations(40, &[vote(1, 40, 0xa)]).await;
    let [Outcome::Failed(Failure::SlashingDatabase { fault, reason })] = &out[..] else { panic!("{out:?}") };
    assert_eq!(*fault, DatabaseFault::Query, "{reason}");
    // Not slashable: signed whatever the database says.
    let proofs = s.sign_selection_proofs(&[(1, pk(1), 40)]).await;
    assert!(matches!(proofs[0], Outcome::Signed(_)), "{proofs:?}");
}

#[tokio::test]
async fn a_remote_signer_that_cannot_be_reached_is_an_unreachable_failure() {
    let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
    let s = store(db, &[]);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = RemoteTarget {
        urls: vec![format!("http://127.0.0.1:{port}")],
        root_certificate_path: None,
        request_timeout: Duration::from_secs(2),
        client_identity: None,
    };
    s.add_remote_keys(vec![(pk(3), config(), target)], true).unwrap();
    s.set_indices([(pk(3), 3)]);
    let out = s.sign_selection_proofs(&[(3, pk(3), 40)]).await;
    let [Outcome::Failed(f @ Failure::Signer { fault, .. })] = &out[..] else { panic!("{out:?}") };
    assert_eq!(*fault, SignerFault::Unreachable);
    assert_eq!(f.cause(), "signer_unreachable");
}

#[tokio::test]
async fn a_held_key_signs_nothing_until_released() {
    let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
    let s =
        ValidatorStore::<Minimal>::new(spec(), GVR, clock(), db, Arc::new(EventBus::new()), StoreTimings::default());
    s.add_local_keys(vec![(interop_secret_key(4), config())], false).unwrap();
    s.set_indices([(pk(4), 4)]);
    let out = s.sign_attestations(40, &[vote(4, 40, 0xa)]).await;
    assert!(matches!(out[0], Outcome::Refused(Refusal::Doppelganger { .. })), "{out:?}");
    s.enable_signing(&[pk(4)]);
    let out = s.sign_attestations(40, &[vote(4, 40, 0xa)]).await;
    assert!(matches!(out[0], Outcome::Signed(_)), "{out:?}");
}

#[tokio::test]
async fn far_future_votes_and_blocks_are_refused_and_leave_no_mark() {
    let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
    let s = store(db, &[1]);
    // Target epoch 10^12 (slot in range), and a block header at slot 10^15.
    let mut far = vote(1, 40, 0xa);
    far.data.target.epoch = 1_000_000_000_000;
    let out = s.sign_attestations(40, &[far]).await;
    assert!(
        matches!(&out[0], Outcome::Refused(Refusal::AheadOfClock { reason }) if reason.what == "attestation target epoch"),
        "{out:?}"
    );
    let out = s.sign_attestations(10_000_000, &[vote(1, 10_000_000, 0xa)]).await;
    assert!(matches!(&out[0], Outcome::Refused(Refusal::AheadOfClock { .. })), "{out:?}");
    let exit = VoluntaryExit { epoch: 1_000_000, validator_index: 1 };
    let out = s.sign_voluntary_exits(&[exit]).await;
    assert!(matches!(&out[0], Outcome::Refused(Refusal::AheadOfClock { .. })), "{out:?}");
    // Nothing was recorded: the real vote of now signs.
    let out = s.sign_attestations(40, &[vote(1, 40, 0xa)]).await;
    assert!(matches!(out[0], Outcome::Signed(_)), "{out:?}");
}
