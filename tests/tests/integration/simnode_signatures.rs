//! The simulated node's signature batch: it keeps exactly the signatures
//! that verify, so batching its checks made it no less strict.

#![allow(clippy::unwrap_used)]

use poolvc_signer::keys::{interop::interop_secret_key, PublicKey};
use poolvc_signer::types::*;
use poolvc_tests::simnode::{aggregate_signatures, batch_valid, Claim};

fn claim(v: u64, root: Hash256) -> Claim {
    (vec![v], root, interop_secret_key(v).sign(root.as_slice()).to_bytes())
}

/// The batch keeps exactly the valid claims: one signature over another
/// root, one by another key, the point at infinity and an aggregate
/// missing a signer are each left out, beside valid singles and a
/// valid aggregate.
#[test]
fn a_batch_keeps_only_the_claims_that_verify() {
    let pubkeys: Vec<PublicKey> = (0..8).map(|i| interop_secret_key(i).public_key()).collect();
    let root = |b: u8| Hash256::repeat_byte(b);
    let good: Vec<Claim> = (0..4).map(|v| claim(v, root(v as u8 + 1))).collect();
    let agg_sig =
        aggregate_signatures([4u64, 5, 6].iter().map(|v| claim(*v, root(9)).2).collect::<Vec<_>>().iter()).unwrap();
    let aggregate: Claim = (vec![4, 5, 6], root(9), agg_sig);
    let other_root: Claim = (vec![1], root(7), claim(1, root(8)).2);
    let other_key: Claim = (vec![2], root(3), claim(3, root(3)).2);
    let mut inf = [0u8; 96];
    inf[0] = 0xc0;
    let infinity: Claim = (vec![0], root(1), SignatureBytes::from(inf));
    let short: Claim = (vec![4, 5], root(9), agg_sig);
    let mut all = good.clone();
    all.extend([aggregate.clone(), other_root, other_key, infinity, short]);
    let mut want = good;
    want.push(aggregate);
    assert_eq!(batch_valid(&pubkeys, all), want);
    // All valid: one multi-pairing keeps them all.
    let valid: Vec<Claim> = (0..8).map(|v| claim(v, root(42))).collect();
    assert_eq!(batch_valid(&pubkeys, valid.clone()), valid);
}
