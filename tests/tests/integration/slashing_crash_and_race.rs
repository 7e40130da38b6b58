//! Crash safety and concurrency of the slashing-protection database.
//!
//! - A child process signing random conflicting batches is killed with
//!   SIGKILL at 50 random points and restarted each time; everything it ever
//!   reported as allowed must be pairwise non-slashable, and must be in the
//!   database afterwards (a reported verdict was durable).
//! - Threads (SQLite, PostgreSQL) and two processes (PostgreSQL, SQLite)
//!   race to sign conflicting attestations and blocks for the same keys:
//!   exactly one of each conflicting set is allowed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::rules::{slashable_pair, AttRow};
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, BlockRecord, SlashingDatabase};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD: &str = env!("CARGO_BIN_EXE_slashing_child");

fn key(i: u64) -> PublicKeyBytes {
    let mut b = [0u8; 48];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[47] = 0x99;
    PublicKeyBytes::from(b)
}

#[test]
fn sigkill_fifty_times_never_signs_slashable() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("sp.sqlite");
    let mut atts: HashMap<u64, Vec<AttRow>> = HashMap::new();
    let mut blocks: HashMap<u64, HashMap<u64, u8>> = HashMap::new();
    let mut reported = 0usize;
    let mut rng = 0x1234_5678_9abc_def1u64;
    for run in 0..50u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(CHILD)
            .args(["crash", db_path.to_str().unwrap(), &(run + 1).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(10 + rng % 90));
        child.kill().unwrap(); // SIGKILL
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "run {run}: child exited by itself: {status:?}");
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(err.is_empty(), "run {run}: child error: {err}");
        for line in out.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            // A line cut by the kill is ignored: it was not a complete report.
            match (f.first(), f.len()) {
                (Some(&"A"), 5) => {
                    let (k, s, t, r): (u64, u64, u64, u8) =
                        (f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap());
                    atts.entry(k).or_default().push(AttRow {
                        source: s,
                        target: t,
                        root: Some(Hash256::left_padding_from(&[r])),
                        imported: false,
                    });
                    reported += 1;
                }
                (Some(&"B"), 4) => {
                    let (k, slot, r): (u64, u64, u8) =
                        (f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap());
                    if let Some(prev) = blocks.entry(k).or_default().insert(slot, r) {
                        assert_eq!(prev, r, "validator {k}: two different blocks at slot {slot}");
                    }
                    reported += 1;
                }
                _ => {}
            }
        }
    }
    assert!(reported > 200, "the child reported only {reported} messages");
    for (k, list) in &atts {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                assert!(!slashable_pair(a, b), "validator {k}: {a:?} and {b:?} are slashable together");
            }
        }
    }
    // Every reported attestation is in the database (it was durable before it was reported).
    let db = SqliteSlashingDb::open(&db_path, Hash256::from([7u8; 32])).unwrap();
    let exported = db.export_interchange(None).unwrap();
    let stored: HashSet<(u64, u64, u64)> = exported
        .data
        .iter()
        .flat_map(|d| {
            let k = u64::from_le_bytes(d.pubkey[..8].try_into().unwrap());
            d.signed_attestations.iter().map(move |a| (k, a.source_epoch, a.target_epoch))
        })
        .collect();
    for (k, list) in &atts {
        for a in list {
            assert!(stored.contains(&(*k, a.source, a.target)), "reported {k} {a:?} missing from the database");
        }
    }
    eprintln!("crash test: 50 SIGKILLs, {reported} allowed messages, none slashable, all durable");
}

/// Threads, each with its own connection, race round by round.
fn thread_race(open: impl Fn() -> Box<dyn SlashingDatabase> + Sync) {
    let threads = 6;
    let keys: Vec<PublicKeyBytes> = (0..40).map(key).collect();
    open().register_validators(&keys).unwrap();
    let barrier = std::sync::Barrier::new(threads);
    let wins: Vec<Vec<(char, u64, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, keys, open) = (&barrier, &keys, &open);
                s.spawn(move || {
                    let db = open();
                    let root = Hash256::left_padding_from(&[t as u8 + 1]);
                    let mut won = Vec::new();
                    for round in 1..=5u64 {
                        barrier.wait();
                        let atts: Vec<AttestationRecord> = keys
                            .iter()
                            .map(|k| AttestationRecord {
                                pubkey: *k,
                                source_epoch: round - 1,
                                target_epoch: round,
                                signing_root: Some(root),
                            })
                            .collect();
                        for (i, v) in db.check_and_insert_attestations(&atts).unwrap().into_iter().enumerate() {
                            if v.is_ok() {
                                won.push(('A', i as u64, round));
                            }
                        }
                        let blocks: Vec<BlockRecord> = keys
                            .iter()
                            .map(|k| BlockRecord { pubkey: *k, slot: round, signing_root: Some(root) })
                            .collect();
                        for (i, v) in db.check_and_insert_blocks(&blocks).unwrap().into_iter().enumerate() {
                            if v.is_ok() {
                                won.push(('B', i as u64, round));
                            }
                        }
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut count: HashMap<(char, u64, u64), usize> = HashMap::new();
    for w in wins.iter().flatten() {
        *count.entry(*w).or_default() += 1;
    }
    for kind in ['A', 'B'] {
        for k in 0..40 {
            for round in 1..=5 {
                assert_eq!(count.get(&(kind, k, round)).copied().unwrap_or(0), 1, "{kind} key {k} round {round}");
            }
        }
    }
}

#[test]
fn sqlite_threads_race() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sp.sqlite");
    thread_race(|| Box::new(SqliteSlashingDb::open(&path, Hash256::from([7u8; 32])).unwrap()));
}

#[test]
fn postgres_threads_race() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("threads_race") else { return };
    thread_race(|| Box::new(PostgresSlashingDb::connect(&url, Hash256::from([7u8; 32])).unwrap()));
}

/// Two processes, same keys, same rounds: exactly one winner per message.
fn process_race(backend: &str, location: &str) {
    let mut winners: HashMap<(String, u64, u64), Vec<String>> = HashMap::new();
    for round in 1..=3u64 {
        let children: Vec<_> = ["p1", "p2"]
            .iter()
            .map(|tag| {
                Command::new(CHILD)
                    .args(["race", backend, location, tag, &round.to_string()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let f: Vec<&str> = line.split(' ').collect();
                winners
                    .entry((f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap()))
                    .or_default()
                    .push(f[3].to_string());
            }
        }
    }
    for kind in ["A", "B"] {
        for k in 0..200u64 {
            for round in 1..=3u64 {
                let w = winners.get(&(kind.to_string(), k, round)).cloned().unwrap_or_default();
                assert_eq!(w.len(), 1, "{backend}: {kind} key {k} round {round}: winners {w:?}");
            }
        }
    }
}

#[test]
fn postgres_two_processes_race() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("process_race") else { return };
    process_race("postgres", &url);
}

#[test]
fn sqlite_two_processes_race() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    process_race("sqlite", dir.path().join("sp.sqlite").to_str().unwrap());
}
