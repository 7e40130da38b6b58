//! Stock per-signature blst signing vs the batch engine: same message for
//! every key, 32 distinct messages, all distinct; 1, 64, 1,000 and 10,000 keys.
//! One thread each side, so the ratio measures the algorithm, not the cores.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use poolvc_signer::batch::{KeySet, SignRequest, SigningEngine};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::SecretKey;
use poolvc_signer::types::Hash256;
use std::hint::black_box;
use std::time::Duration;

fn roots(m: usize) -> Vec<Hash256> {
    (0..m as u64).map(|j| Hash256::left_padding_from(&(j + 1).to_be_bytes())).collect()
}

fn bench_signing(c: &mut Criterion) {
    let max = 10_000;
    let sks: Vec<SecretKey> = (0..max as u64).map(interop_secret_key).collect();
    let mut set = KeySet::new();
    let handles: Vec<_> = sks.iter().map(|k| set.insert(k)).collect();
    let engine = SigningEngine::new(set, 1);

    for (name, messages) in [("same_message", Some(1usize)), ("32_messages", Some(32)), ("all_distinct", None)] {
        let mut g = c.benchmark_group(format!("signing/{name}"));
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        for n in [1usize, 64, 1_000, 10_000] {
            let m = messages.unwrap_or(n).min(n);
            let rs = roots(m);
            let reqs: Vec<SignRequest> =
                (0..n).map(|i| SignRequest { key: handles[i], signing_root: rs[i % m] }).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("blst_sign", n), &reqs, |b, reqs| {
                b.iter(|| {
                    for (i, r) in reqs.iter().enumerate() {
                        black_box(sks[i].sign(r.signing_root.as_slice()).compress());
                    }
                })
            });
            g.bench_with_input(BenchmarkId::new("engine", n), &reqs, |b, reqs| {
                b.iter(|| black_box(engine.sign(reqs).expect("known handles")))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_signing);
criterion_main!(benches);
