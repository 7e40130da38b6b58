//! Child process for the slashing-protection crash and race tests.
//!
//! `slashing_child crash SQLITE_PATH SEED`: signs random, often conflicting,
//! attestation and block batches for 8 keys forever, printing each message
//! the database allowed (`A key source target root` / `B key slot root`)
//! after the batch's commit returned. The parent kills it with SIGKILL.
//!
//! `slashing_child race BACKEND LOCATION TAG ROUND`: tries, for 200 keys, the
//! attestation (ROUND-1 -> ROUND) and the block at slot ROUND with a root
//! unique to TAG, in shuffled small batches; prints what it was allowed.

use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, BlockRecord, SlashingDatabase};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use std::io::Write;

const GVR: [u8; 32] = [7u8; 32];

fn key(i: u64) -> PublicKeyBytes {
    let mut b = [0u8; 48];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[47] = 0x99;
    PublicKeyBytes::from(b)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fail(msg: String) -> ! {
    eprintln!("slashing_child: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("crash") => crash(&args[2], args[3].parse().unwrap_or(1)),
        Some("race") => race(&args[2], &args[3], &args[4], args[5].parse().unwrap_or(1)),
        _ => fail("usage: crash PATH SEED | race BACKEND LOCATION TAG ROUND".into()),
    }
}

fn crash(path: &str, seed: u64) {
    let db =
        SqliteSlashingDb::open(std::path::Path::new(path), Hash256::from(GVR)).unwrap_or_else(|e| fail(e.to_string()));
    let keys: Vec<PublicKeyBytes> = (0..8).map(key).collect();
    db.register_validators(&keys).unwrap_or_else(|e| fail(e.to_string()));
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = std::io::stdout().lock();
    // Epochs drift upward slowly so that many attempts conflict with history.
    let mut base = 0u64;
    loop {
        base += rng.below(2);
        let n = 1 + rng.below(40) as usize;
        let atts: Vec<AttestationRecord> = (0..n)
            .map(|_| {
                let target = base + rng.below(6);
                let source = target.saturating_sub(rng.below(4));
                AttestationRecord {
                    pubkey: keys[rng.below(8) as usize],
                    source_epoch: source,
                    target_epoch: target,
                    signing_root: Some(Hash256::left_padding_from(&rng.below(3).to_be_bytes())),
                }
            })
            .collect();
        let verdicts = db.check_and_insert_attestations(&atts).unwrap_or_else(|e| fail(e.to_string()));
        for (a, v) in atts.iter().zip(verdicts) {
            if v.is_ok() {
                let k = u64::from_le_bytes(a.pubkey[..8].try_into().unwrap_or_default());
                let r = a.signing_root.map_or(0, |r| r[31]);
                let _ = writeln!(out, "A {k} {} {} {r}", a.source_epoch, a.target_epoch);
            }
        }
        let blocks: Vec<BlockRecord> = (0..1 + rng.below(6))
            .map(|_| BlockRecord {
                pubkey: keys[rng.below(8) as usize],
                slot: base * 4 + rng.below(8),
                signing_root: Some(Hash256::left_padding_from(&rng.below(3).to_be_bytes())),
            })
            .collect();
        let verdicts = db.check_and_insert_blocks(&blocks).unwrap_or_else(|e| fail(e.to_string()));
        for (b, v) in blocks.iter().zip(verdicts) {
            if v.is_ok() {
                let k = u64::from_le_bytes(b.pubkey[..8].try_into().unwrap_or_default());
                let _ = writeln!(out, "B {k} {} {}", b.slot, b.signing_root.map_or(0, |r| r[31]));
            }
        }
        let _ = out.flush();
    }
}

fn race(backend: &str, location: &str, tag: &str, round: u64) {
    let gvr = Hash256::from(GVR);
    let db: Box<dyn SlashingDatabase> = match backend {
        "sqlite" => Box::new(
            SqliteSlashingDb::open(std::path::Path::new(location), gvr).unwrap_or_else(|e| fail(e.to_string())),
        ),
        _ => Box::new(PostgresSlashingDb::connect(location, gvr).unwrap_or_else(|e| fail(e.to_string()))),
    };
    let keys: Vec<PublicKeyBytes> = (0..200).map(key).collect();
    db.register_validators(&keys).unwrap_or_else(|e| fail(e.to_string()));
    let tag_hash = tag.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let mut rng = Rng(tag_hash.wrapping_mul(2654435761).wrapping_add(round) | 1);
    let mut order: Vec<usize> = (0..200).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let root = Hash256::left_padding_from(&tag_hash.to_be_bytes());
    let mut out = std::io::stdout().lock();
    for chunk in order.chunks(10) {
        let atts: Vec<AttestationRecord> = chunk
            .iter()
            .map(|&k| AttestationRecord {
                pubkey: keys[k],
                source_epoch: round - 1,
                target_epoch: round,
                signing_root: Some(root),
            })
            .collect();
        let v = db.check_and_insert_attestations(&atts).unwrap_or_else(|e| fail(e.to_string()));
        for (k, v) in chunk.iter().zip(v) {
            if v.is_ok() {
                let _ = writeln!(out, "A {k} {round} {tag}");
            }
        }
        let blocks: Vec<BlockRecord> =
            chunk.iter().map(|&k| BlockRecord { pubkey: keys[k], slot: round, signing_root: Some(root) }).collect();
        let v = db.check_and_insert_blocks(&blocks).unwrap_or_else(|e| fail(e.to_string()));
        for (k, v) in chunk.iter().zip(v) {
            if v.is_ok() {
                let _ = writeln!(out, "B {k} {round} {tag}");
            }
        }
    }
    let _ = out.flush();
}
