//! Bad interchange input on both backends: a clear error naming the problem,
//! and the database exactly as it was (export before == export after).
//! Also: unknown and disabled keys, values too large, pruning that keeps
//! protection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{
    AttestationRecord, BlockRecord, Interchange, NotSafe, Safe, SlashingDatabase, SlashingError,
};
use poolvc_signer::types::{Hash256, PublicKeyBytes};

const GVR: &str = "0x0404040404040404040404040404040404040404040404040404040404040404";
const PK: &str = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

fn good() -> serde_json::Value {
    serde_json::json!({
        "metadata": {"interchange_format_version": "5", "genesis_validators_root": GVR},
        "data": [{
            "pubkey": PK,
            "signed_blocks": [{"slot": "81952", "signing_root": format!("0x{}", "11".repeat(32))}],
            "signed_attestations": [{"source_epoch": "2290", "target_epoch": "3007", "signing_root": format!("0x{}", "22".repeat(32))}]
        }]
    })
}

fn import(db: &dyn SlashingDatabase, v: &serde_json::Value) -> Result<(), SlashingError> {
    let i = Interchange::from_json_str("bad.json", &v.to_string())?;
    db.import_interchange(&i).map(|_| ())
}

fn check_all(db: &dyn SlashingDatabase) {
    let gvr = Hash256::from_slice(&hex::decode(&GVR[2..]).unwrap());
    assert_eq!(db.genesis_validators_root().unwrap(), gvr);
    import(db, &good()).unwrap();
    let before = db.export_interchange(None).unwrap();

    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "wrong version",
            {
                let mut v = good();
                v["metadata"]["interchange_format_version"] = "4".into();
                v
            },
            "unsupported interchange_format_version \"4\"",
        ),
        (
            "wrong genesis root",
            {
                let mut v = good();
                v["metadata"]["genesis_validators_root"] = format!("0x{}", "05".repeat(32)).into();
                v
            },
            "does not match this database's",
        ),
        (
            "bad hex pubkey",
            {
                let mut v = good();
                v["data"][0]["pubkey"] = "0xzz".into();
                v
            },
            "malformed interchange",
        ),
        (
            "bad hex root",
            {
                let mut v = good();
                v["data"][0]["signed_blocks"][0]["signing_root"] = "0x1234".into();
                v
            },
            "malformed interchange",
        ),
        (
            "source > target",
            {
                let mut v = good();
                v["data"][0]["signed_attestations"][0]["source_epoch"] = "4000".into();
                v
            },
            "source epoch 4000 after target epoch 3007",
        ),
        (
            "slot too large",
            {
                let mut v = good();
                v["data"][0]["signed_blocks"][0]["slot"] = u64::MAX.to_string().into();
                v
            },
            "too large to store",
        ),
        (
            "negative slot",
            {
                let mut v = good();
                v["data"][0]["signed_blocks"][0]["slot"] = "-5".into();
                v
            },
            "malformed interchange",
        ),
        ("missing metadata", serde_json::json!({"data": []}), "malformed interchange"),
        // EIP-3076's schema is strict, as Lighthouse is: numbers are strings,
        // byte strings are 0x-prefixed hex.
        (
            "slot as a JSON number",
            {
                let mut v = good();
                v["data"][0]["signed_blocks"][0]["slot"] = 81952.into();
                v
            },
            "expected a decimal number in a string",
        ),
        (
            "epoch as a JSON number",
            {
                let mut v = good();
                v["data"][0]["signed_attestations"][0]["target_epoch"] = 3007.into();
                v
            },
            "expected a decimal number in a string",
        ),
        (
            "public key without 0x",
            {
                let mut v = good();
                v["data"][0]["pubkey"] = PK[2..].into();
                v
            },
            "lacks the 0x prefix",
        ),
        (
            "root without 0x",
            {
                let mut v = good();
                v["metadata"]["genesis_validators_root"] = GVR[2..].into();
                v
            },
            "lacks the 0x prefix",
        ),
        (
            "draft v4 file",
            {
                let mut v = good();
                v["metadata"]["interchange_format_version"] = "4".into();
                v["metadata"]["interchange_format"] = "complete".into();
                v
            },
            "import it with --allow-v4",
        ),
    ];
    for (what, v, want) in cases {
        let err = import(db, &v).expect_err(what).to_string();
        assert!(err.contains(want), "{what}: {err}");
        assert_eq!(db.export_interchange(None).unwrap(), before, "{what}: database changed");
    }
    // A byte-order mark before the JSON is not an error.
    let with_bom = format!("\u{feff}{}", good());
    Interchange::from_json_str("bom.json", &with_bom).expect("a leading byte-order mark is skipped");
    // Malformed JSON text.
    let err = Interchange::from_json_str("bad.json", "{\"metadata\": ").unwrap_err().to_string();
    assert!(err.starts_with("bad.json: malformed interchange"), "{err}");

    // A second import with the same key twice, one entry slashable against
    // the other: merged; both watermarks rise; the database stays safe.
    let mut dup = good();
    let second = serde_json::json!({"pubkey": PK, "signed_blocks": [{"slot": "81952"}], "signed_attestations": [{"source_epoch": "2289", "target_epoch": "3008"}]});
    dup["data"].as_array_mut().unwrap().push(second);
    import(db, &dup).unwrap();
    let pk = PublicKeyBytes::from_slice(&hex::decode(&PK[2..]).unwrap());
    let v = db
        .check_and_insert_attestations(&[AttestationRecord {
            pubkey: pk,
            source_epoch: 2290,
            target_epoch: 3008,
            signing_root: None,
        }])
        .unwrap();
    assert!(matches!(v[0], Err(NotSafe::DoubleVote { .. }) | Err(NotSafe::BelowLowWatermark { .. })), "{v:?}");
    let v = db
        .check_and_insert_attestations(&[AttestationRecord {
            pubkey: pk,
            source_epoch: 2290,
            target_epoch: 3009,
            signing_root: None,
        }])
        .unwrap();
    assert_eq!(v[0], Ok(Safe::Valid));

    // Unknown and disabled keys.
    let stranger = PublicKeyBytes::repeat_byte(3);
    let v = db.check_and_insert_blocks(&[BlockRecord { pubkey: stranger, slot: 90_000, signing_root: None }]).unwrap();
    assert_eq!(v[0], Err(NotSafe::UnregisteredValidator));
    db.set_enabled(&pk, false).unwrap();
    let v = db.check_and_insert_blocks(&[BlockRecord { pubkey: pk, slot: 90_000, signing_root: None }]).unwrap();
    assert_eq!(v[0], Err(NotSafe::DisabledValidator));
    db.set_enabled(&pk, true).unwrap();
    let v = db.check_and_insert_blocks(&[BlockRecord { pubkey: pk, slot: 90_000, signing_root: None }]).unwrap();
    assert_eq!(v[0], Ok(Safe::Valid));

    // Too large for the database: an error, not a verdict, nothing recorded.
    let err = db
        .check_and_insert_attestations(&[AttestationRecord {
            pubkey: pk,
            source_epoch: 1,
            target_epoch: u64::MAX,
            signing_root: None,
        }])
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");

    // Pruning deletes old rows but never lets an old message through.
    db.prune(3_009, 32).unwrap();
    let after = db.export_interchange(Some(&[pk])).unwrap();
    assert!(after.data[0].signed_attestations.iter().all(|a| a.target_epoch >= 3_009));
    let v = db
        .check_and_insert_attestations(&[AttestationRecord {
            pubkey: pk,
            source_epoch: 2290,
            target_epoch: 3_008,
            signing_root: None,
        }])
        .unwrap();
    assert!(v[0].is_err(), "pruned history must still protect: {v:?}");
    let v = db.check_and_insert_blocks(&[BlockRecord { pubkey: pk, slot: 81_953, signing_root: None }]).unwrap();
    assert!(v[0].is_err(), "pruned blocks must still protect: {v:?}");
}

#[test]
fn sqlite_bad_input() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    let gvr = Hash256::from_slice(&hex::decode(&GVR[2..]).unwrap());
    let path = dir.path().join("sp.sqlite");
    check_all(&SqliteSlashingDb::open(&path, gvr).unwrap());
    // Reopening for another network is refused.
    let err = SqliteSlashingDb::open(&path, Hash256::repeat_byte(9)).unwrap_err().to_string();
    assert!(err.contains("is for the network with genesis_validators_root"), "{err}");
}

#[test]
fn postgres_bad_input() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("bad_input") else { return };
    let gvr = Hash256::from_slice(&hex::decode(&GVR[2..]).unwrap());
    check_all(&PostgresSlashingDb::connect(&url, gvr).unwrap());
    let err = PostgresSlashingDb::connect(&url, Hash256::repeat_byte(9)).unwrap_err().to_string();
    assert!(err.contains("is for the network with genesis_validators_root"), "{err}");
}
