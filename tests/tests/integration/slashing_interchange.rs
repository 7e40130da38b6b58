//! All 38 EIP-3076 interchange tests (v5.3.0), on SQLite and on PostgreSQL,
//! with the `should_succeed` (minimal strategy) expectations: poolvc keeps
//! the complete imported history *and* low watermarks at the imported
//! maximums, so it refuses everything the minimal strategy refuses.
//! Attempts run once one by one and once as whole-step batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, BlockRecord, Interchange, SlashingDatabase};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use poolvc_tests::{json_files, read_json, unhex, vectors};
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

fn pk(v: &Value) -> PublicKeyBytes {
    PublicKeyBytes::from_slice(&unhex(v.as_str().unwrap()))
}

fn root(v: &Value) -> Option<Hash256> {
    v.as_str().map(|s| Hash256::from_slice(&unhex(s)))
}

/// Runs one test file against a fresh database; returns the number of checks.
fn run_case(file: &std::path::Path, db: &dyn SlashingDatabase, batched: bool) -> usize {
    let t = read_json(file);
    let name = t["name"].as_str().unwrap();
    let mut checks = 0;
    for (si, step) in t["steps"].as_array().unwrap().iter().enumerate() {
        let ctx = format!("{name} step {si}");
        let before = db.export_interchange(None).unwrap();
        let result = Interchange::from_json_str(name, &step["interchange"].to_string())
            .map_err(poolvc_signer::slashing::SlashingError::from)
            .and_then(|i| db.import_interchange(&i));
        let should_succeed = step["should_succeed"].as_bool().unwrap();
        let slashable = step["contains_slashable_data"].as_bool().unwrap();
        match (&result, should_succeed) {
            (Ok(_), true) => {}
            (Err(_), true) if slashable => {
                // Allowed: refuse an interchange with slashable data; the rest is ignored.
                assert_eq!(db.export_interchange(None).unwrap(), before, "{ctx}: refused import changed the db");
                return checks + 1;
            }
            (Err(e), true) => panic!("{ctx}: import should succeed: {e}"),
            (Ok(_), false) => panic!("{ctx}: import should fail"),
            (Err(_), false) => {
                assert_eq!(db.export_interchange(None).unwrap(), before, "{ctx}: failed import changed the db");
            }
        }
        checks += 1;

        let blocks: Vec<(BlockRecord, bool)> = step["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    BlockRecord {
                        pubkey: pk(&b["pubkey"]),
                        slot: u(&b["slot"]),
                        signing_root: root(&b["signing_root"]),
                    },
                    b["should_succeed"].as_bool().unwrap(),
                )
            })
            .collect();
        let atts: Vec<(AttestationRecord, bool)> = step["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    AttestationRecord {
                        pubkey: pk(&a["pubkey"]),
                        source_epoch: u(&a["source_epoch"]),
                        target_epoch: u(&a["target_epoch"]),
                        signing_root: root(&a["signing_root"]),
                    },
                    a["should_succeed"].as_bool().unwrap(),
                )
            })
            .collect();
        let keys: Vec<PublicKeyBytes> =
            blocks.iter().map(|(b, _)| b.pubkey).chain(atts.iter().map(|(a, _)| a.pubkey)).collect();
        db.register_validators(&keys).unwrap();

        let block_verdicts = if batched {
            db.check_and_insert_blocks(&blocks.iter().map(|(b, _)| *b).collect::<Vec<_>>()).unwrap()
        } else {
            blocks.iter().map(|(b, _)| db.check_and_insert_blocks(&[*b]).unwrap()[0]).collect()
        };
        for ((b, want), got) in blocks.iter().zip(block_verdicts) {
            assert_eq!(got.is_ok(), *want, "{ctx}: block slot {} -> {got:?}", b.slot);
            checks += 1;
        }
        let att_verdicts = if batched {
            db.check_and_insert_attestations(&atts.iter().map(|(a, _)| *a).collect::<Vec<_>>()).unwrap()
        } else {
            atts.iter().map(|(a, _)| db.check_and_insert_attestations(&[*a]).unwrap()[0]).collect()
        };
        for ((a, want), got) in atts.iter().zip(att_verdicts) {
            assert_eq!(got.is_ok(), *want, "{ctx}: attestation {}->{} -> {got:?}", a.source_epoch, a.target_epoch);
            checks += 1;
        }
    }
    checks
}

fn gvr(file: &std::path::Path) -> Hash256 {
    Hash256::from_slice(&unhex(read_json(file)["genesis_validators_root"].as_str().unwrap()))
}

fn files() -> Vec<std::path::PathBuf> {
    let f: Vec<_> = json_files(&vectors().join("slashing_interchange"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "schema.json"))
        .collect();
    assert_eq!(f.len(), 38);
    f
}

#[test]
fn sqlite_all_interchange_tests() {
    let _machine = poolvc_tests::turns::shared();
    let mut checks = 0;
    for batched in [false, true] {
        for f in files() {
            let dir = tempfile::tempdir().unwrap();
            let db = SqliteSlashingDb::open(&dir.path().join("sp.sqlite"), gvr(&f)).unwrap();
            checks += run_case(&f, &db, batched);
        }
    }
    eprintln!("sqlite: 38 interchange tests x 2 modes, {checks} checks");
}

#[test]
fn postgres_all_interchange_tests() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("interchange") else { return };
    let mut checks = 0;
    for f in files() {
        PostgresSlashingDb::reset_for_tests(&url).unwrap();
        let db = PostgresSlashingDb::connect(&url, gvr(&f)).unwrap();
        checks += run_case(&f, &db, true);
    }
    eprintln!("postgres: 38 interchange tests, {checks} checks");
}
