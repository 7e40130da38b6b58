//! Gloas protection in both databases (SQLite and PostgreSQL): a payload
//! attestation (PTC vote) is signed at most once per slot per key, never
//! for a slot below the key's newest (pruning keeps that watermark), and an
//! envelope only for the block the same key signed at its slot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::protect::{protect, Protection, ToProtect};
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{NotSafe, Safe, SlashingDatabase};
use poolvc_signer::types::*;

fn pk(b: u8) -> PublicKeyBytes {
    PublicKeyBytes::from([b; 48])
}

fn ptc(p: u8, slot: u64, root: u8) -> ToProtect {
    ToProtect {
        pubkey: pk(p),
        slashable: Slashable::PayloadAttestation { slot },
        signing_root: Hash256::repeat_byte(root),
    }
}

fn check_all(db: &dyn SlashingDatabase) {
    db.register_validators(&[pk(1), pk(2), pk(3)]).unwrap();
    // A vote per key and slot; another key's vote at the same slot is its own.
    let v = protect(db, &[ptc(1, 20, 1), ptc(2, 20, 2)]).unwrap();
    assert_eq!(v, vec![Protection::Safe(Safe::Valid), Protection::Safe(Safe::Valid)]);
    // The same vote again is harmless; a different one at the same slot is refused.
    let v = protect(db, &[ptc(1, 20, 1), ptc(2, 20, 9)]).unwrap();
    assert_eq!(v[0], Protection::Safe(Safe::SameData));
    assert_eq!(v[1], Protection::Refused(NotSafe::DoublePayloadAttestation { slot: 20 }));
    // A later slot is new; an earlier one is below the key's newest.
    let v = protect(db, &[ptc(1, 28, 3), ptc(1, 19, 4)]).unwrap();
    assert_eq!(v[0], Protection::Safe(Safe::Valid));
    assert!(matches!(v[1], Protection::Refused(NotSafe::BelowLowWatermark { value: 19, watermark: 28, .. })), "{v:?}");
    // Unknown and disabled keys sign nothing.
    db.set_enabled(&pk(3), false).unwrap();
    let v = protect(db, &[ptc(3, 30, 1), ptc(7, 30, 1)]).unwrap();
    assert_eq!(v[0], Protection::Refused(NotSafe::DisabledValidator));
    assert_eq!(v[1], Protection::Refused(NotSafe::UnregisteredValidator));
    // Pruning past every vote keeps each key's newest: slot 20 stays refused for key 1
    // (its newest is 28), and key 2's other root at 20 too.
    db.prune(100, 8).unwrap();
    let v = protect(db, &[ptc(1, 20, 5), ptc(1, 28, 6), ptc(2, 20, 9), ptc(1, 28, 3)]).unwrap();
    assert!(matches!(v[0], Protection::Refused(NotSafe::BelowLowWatermark { .. })), "{v:?}");
    assert_eq!(v[1], Protection::Refused(NotSafe::DoublePayloadAttestation { slot: 28 }));
    assert_eq!(v[2], Protection::Refused(NotSafe::DoublePayloadAttestation { slot: 20 }));
    assert_eq!(v[3], Protection::Safe(Safe::SameData));

    // Envelopes: only for the block this key signed at that slot.
    let block_signing_root = Hash256::repeat_byte(0xb1);
    let block = ToProtect { pubkey: pk(1), slashable: Slashable::Block { slot: 40 }, signing_root: block_signing_root };
    assert_eq!(protect(db, &[block]).unwrap(), vec![Protection::Safe(Safe::Valid)]);
    let envelope = |p: u8, slot: u64, signing: Hash256| ToProtect {
        pubkey: pk(p),
        slashable: Slashable::Envelope { slot, block_root: Hash256::repeat_byte(0xee), block_signing_root: signing },
        signing_root: Hash256::repeat_byte(0xe0),
    };
    let v = protect(
        db,
        &[
            envelope(1, 40, block_signing_root),
            envelope(1, 40, Hash256::repeat_byte(0xb2)),
            envelope(1, 41, block_signing_root),
            envelope(2, 40, block_signing_root),
        ],
    )
    .unwrap();
    assert_eq!(v[0], Protection::Safe(Safe::SameData));
    for refused in &v[1..] {
        assert!(matches!(refused, Protection::Refused(NotSafe::EnvelopeOfUnsignedBlock { .. })), "{v:?}");
    }
    assert_eq!(db.signed_block_root(&pk(1), 40).unwrap(), Some(block_signing_root));
    assert_eq!(db.signed_block_root(&pk(1), 39).unwrap(), None);
}

#[test]
fn sqlite_gloas_protection() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    check_all(&SqliteSlashingDb::open(&dir.path().join("sp.sqlite"), Hash256::repeat_byte(1)).unwrap());
}

#[test]
fn postgres_gloas_protection() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("gloas_protection") else { return };
    check_all(&PostgresSlashingDb::connect(&url, Hash256::repeat_byte(1)).unwrap());
}
