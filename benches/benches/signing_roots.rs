//! Signing-root and block-root hashing costs (the per-message overhead around signing).

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use poolvc_signer::types::*;
use std::hint::black_box;

fn bench_roots(c: &mut Criterion) {
    let spec = ChainSpec::from_config_yaml("mainnet", include_str!("../../testnets/configs/mainnet.yaml"))
        .expect("bundled mainnet config parses");
    let ctx = SigningContext { spec: &spec, genesis_validators_root: Hash256::repeat_byte(7) };
    let data = AttestationData {
        slot: 1_000_000,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(1),
        source: Checkpoint { epoch: 31_249, root: Hash256::repeat_byte(2) },
        target: Checkpoint { epoch: 31_250, root: Hash256::repeat_byte(3) },
    };
    c.bench_function("attestation_signing_root", |b| {
        b.iter(|| ctx.signing_root::<Mainnet>(&SignableMessage::Attestation(black_box(&data))))
    });
    c.bench_function("compute_domain", |b| b.iter(|| ctx.domain_for(DomainKind::BeaconAttester, black_box(31_250))));
}

criterion_group!(benches, bench_roots);
criterion_main!(benches);
