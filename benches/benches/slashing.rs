//! One batched check-and-insert of 1,000 and 10,000 attestations against an
//! SQLite database holding 100 epochs of history for 10,000 validators
//! (1,000,000 rows), commit and fsync included.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, SlashingDatabase};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use std::time::{Duration, Instant};

fn records(keys: &[PublicKeyBytes], epoch: u64) -> Vec<AttestationRecord> {
    keys.iter()
        .map(|k| AttestationRecord {
            pubkey: *k,
            source_epoch: epoch - 1,
            target_epoch: epoch,
            signing_root: Some(Hash256::left_padding_from(&epoch.to_be_bytes())),
        })
        .collect()
}

fn bench_slashing(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteSlashingDb::open(&dir.path().join("bench.sqlite"), Hash256::repeat_byte(1)).expect("open");
    let keys: Vec<PublicKeyBytes> = (0..10_000u64)
        .map(|i| {
            let mut b = [0u8; 48];
            b[..8].copy_from_slice(&i.to_le_bytes());
            PublicKeyBytes::from(b)
        })
        .collect();
    db.register_validators(&keys).expect("register");
    let mut epoch = 1u64;
    for _ in 0..100 {
        db.check_and_insert_attestations(&records(&keys, epoch)).expect("history");
        epoch += 1;
    }
    let mut g = c.benchmark_group("slashing_sqlite_100_epochs_history");
    g.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(3));
    for n in [1_000usize, 10_000] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("check_and_insert_batch", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = records(&keys[..n], epoch);
                    epoch += 1;
                    let t = Instant::now();
                    let v = db.check_and_insert_attestations(&batch).expect("batch");
                    total += t.elapsed();
                    assert!(v.iter().all(|r| r.is_ok()));
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_slashing);
criterion_main!(benches);
