//! The batch signing engine gives exactly blst's `SecretKey::sign` bytes:
//! random keys and messages, group sizes from 1 to 5,000 (both sides of the
//! table threshold), scalars near 0 and near r, duplicate keys, mixed batches,
//! the BLS `sign` vectors; and clear errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::batch::{BatchError, KeyHandle, KeySet, SignRequest, SigningEngine, DEFAULT_TABLE_THRESHOLD};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::SecretKey;
use poolvc_signer::types::Hash256;
use poolvc_tests::{json_files, read_json, unhex, vectors};
use proptest::prelude::*;
use std::sync::Arc;

/// The group order r, big-endian.
const R: &str = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

fn be_minus(k: u64) -> [u8; 32] {
    let mut r: [u8; 32] = hex::decode(R).unwrap().try_into().unwrap();
    let mut borrow = k as u128;
    for b in r.iter_mut().rev() {
        let v = *b as i128 - (borrow & 0xff) as i128;
        borrow >>= 8;
        if v < 0 {
            *b = (v + 256) as u8;
            borrow += 1;
        } else {
            *b = v as u8;
        }
    }
    r
}

fn small(k: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&k.to_be_bytes());
    b
}

fn check(engine: &SigningEngine, sks: &[SecretKey], requests: &[SignRequest]) {
    let got = engine.sign(requests).unwrap();
    assert_eq!(got.len(), requests.len());
    for (i, (r, sig)) in requests.iter().zip(got.iter()).enumerate() {
        let want = sks[r.key.0 as usize].sign(r.signing_root.as_slice()).compress();
        assert_eq!(sig.as_slice(), want.as_slice(), "request {i} (key {})", r.key.0);
    }
}

fn engine_for(sks: &[SecretKey], threads: usize) -> (SigningEngine, Vec<KeyHandle>) {
    let mut set = KeySet::new();
    let handles = sks.iter().map(|k| set.insert(k)).collect();
    (SigningEngine::new(set, threads), handles)
}

fn root(i: u64) -> Hash256 {
    Hash256::from(sha2_digest(i))
}

fn sha2_digest(i: u64) -> [u8; 32] {
    // A cheap, fixed, well-spread root per index.
    let mut out = [0u8; 32];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    for b in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    out
}

#[test]
fn group_sizes_across_the_threshold() {
    let _machine = poolvc_tests::turns::shared();
    let sks: Vec<SecretKey> = (0..5_000).map(interop_secret_key).collect();
    let (engine, h) = engine_for(&sks, 0);
    for size in [
        1,
        2,
        DEFAULT_TABLE_THRESHOLD - 1,
        DEFAULT_TABLE_THRESHOLD,
        DEFAULT_TABLE_THRESHOLD + 1,
        63,
        64,
        65,
        129,
        777,
        5_000,
    ] {
        let reqs: Vec<SignRequest> =
            (0..size).map(|i| SignRequest { key: h[i], signing_root: root(size as u64) }).collect();
        check(&engine, &sks, &reqs);
    }
}

#[test]
fn scalars_near_zero_and_near_r() {
    let _machine = poolvc_tests::turns::shared();
    let mut sks: Vec<SecretKey> = (1..=40).map(|k| SecretKey::from_bytes(&small(k)).unwrap()).collect();
    sks.extend((1..=40).map(|k| SecretKey::from_bytes(&be_minus(k)).unwrap()));
    // Powers of two and all-ones patterns within range.
    for bit in [1u32, 7, 8, 63, 64, 127, 128, 200, 253] {
        let mut b = [0u8; 32];
        b[31 - (bit as usize / 8)] = 1 << (bit % 8);
        sks.push(SecretKey::from_bytes(&b).unwrap());
    }
    assert!(SecretKey::from_bytes(&be_minus(0)).is_err(), "r itself is not a key");
    let (engine, h) = engine_for(&sks, 2);
    // Same message: the table path.
    let reqs: Vec<SignRequest> = h.iter().map(|k| SignRequest { key: *k, signing_root: root(1) }).collect();
    check(&engine, &sks, &reqs);
    // Two per message: the blst path.
    let reqs: Vec<SignRequest> =
        h.iter().enumerate().map(|(i, k)| SignRequest { key: *k, signing_root: root(i as u64 / 2) }).collect();
    check(&engine, &sks, &reqs);
}

#[test]
fn duplicate_keys_and_mixed_batches() {
    let _machine = poolvc_tests::turns::shared();
    let sks: Vec<SecretKey> = (0..300).map(interop_secret_key).collect();
    let (engine, h) = engine_for(&sks, 2);
    let mut reqs = Vec::new();
    for i in 0..600 {
        // Big group (root 0) with every key twice, interleaved with small groups.
        reqs.push(SignRequest { key: h[i % 300], signing_root: root(0) });
        if i % 5 == 0 {
            reqs.push(SignRequest { key: h[(i * 7) % 300], signing_root: root(1_000 + i as u64 / 3) });
        }
    }
    check(&engine, &sks, &reqs);
}

#[test]
fn bls_sign_vectors_through_the_engine() {
    let _machine = poolvc_tests::turns::shared();
    let dir = vectors().join("bls/bls12-381-tests_json/sign");
    let mut n = 0;
    for f in json_files(&dir) {
        let v = read_json(&f);
        let Some(expected) = v["output"].as_str() else { continue };
        let sk = SecretKey::from_bytes(&unhex(v["input"]["privkey"].as_str().unwrap())).unwrap();
        let msg = unhex(v["input"]["message"].as_str().unwrap());
        assert_eq!(msg.len(), 32);
        // Sign through both paths: a group of one, and a group above the threshold.
        let mut set = KeySet::new();
        let h = set.insert(&sk);
        let engine = SigningEngine::new(set, 1);
        for copies in [1, DEFAULT_TABLE_THRESHOLD * 2] {
            let reqs = vec![SignRequest { key: h, signing_root: Hash256::from_slice(&msg) }; copies];
            for sig in engine.sign(&reqs).unwrap() {
                assert_eq!(sig.as_slice(), unhex(expected).as_slice(), "{}", f.display());
            }
        }
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let _machine = poolvc_tests::turns::shared();
    let sks: Vec<SecretKey> = (0..3).map(interop_secret_key).collect();
    let (engine, h) = engine_for(&sks, 1);
    assert!(engine.sign(&[]).unwrap().is_empty());
    let reqs =
        [SignRequest { key: h[0], signing_root: root(1) }, SignRequest { key: KeyHandle(99), signing_root: root(1) }];
    assert_eq!(engine.sign(&reqs), Err(BatchError::UnknownKey { index: 1, handle: 99 }));
    let err = SignRequest::from_slice(4, h[0], &[0u8; 31]).unwrap_err();
    assert_eq!(err, BatchError::MalformedRoot { index: 4, len: 31 });
    assert_eq!(err.to_string(), "request 4: signing root is 31 bytes, expected 32");
}

#[test]
fn async_callers_do_not_block_the_runtime() {
    let _machine = poolvc_tests::turns::shared();
    let sks: Vec<SecretKey> = (0..200).map(interop_secret_key).collect();
    let (engine, h) = engine_for(&sks, 2);
    let engine = Arc::new(engine);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let reqs: Vec<SignRequest> = h.iter().map(|k| SignRequest { key: *k, signing_root: root(5) }).collect();
        // A ticker on the same single-threaded runtime keeps running while the engine works.
        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let t2 = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            for _ in 0..1_000 {
                t2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        });
        let sigs = engine.sign_async(reqs.clone()).await.unwrap();
        assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) > 1, "runtime was blocked");
        ticker.abort();
        check(&engine, &sks, &reqs);
        assert_eq!(sigs, engine.sign(&reqs).unwrap());
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random keys, random roots, random grouping.
    #[test]
    fn random_batches_equal_blst(
        seeds in proptest::collection::vec(any::<[u8; 32]>(), 1..120),
        roots in proptest::collection::vec(any::<[u8; 32]>(), 1..4),
        picks in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..400),
    ) {
        let _machine = poolvc_tests::turns::shared();
        let sks: Vec<SecretKey> = seeds.iter().map(|s| {
            SecretKey::from_bytes(s).unwrap_or_else(|_| {
                let mut t = *s;
                t[0] &= 0x3f; // below r
                if t == [0u8; 32] { t[31] = 1; }
                SecretKey::from_bytes(&t).unwrap()
            })
        }).collect();
        let (engine, h) = engine_for(&sks, 2);
        let reqs: Vec<SignRequest> = picks.iter().map(|(k, r)| SignRequest {
            key: h[*k as usize % h.len()],
            signing_root: Hash256::from(roots[*r as usize % roots.len()]),
        }).collect();
        check(&engine, &sks, &reqs);
    }
}
