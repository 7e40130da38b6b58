//! The per-validator Merkle tree of a frame report, as
//! `PoolPerformanceOracle.verifyValidator` checks it: leaves are
//! `keccak256(keccak256(abi.encode(leaf)))` in validator-index order; a
//! parent is `keccak256(abi.encode(lo, hi))` of its children in ascending
//! order; an odd node at the end of a level moves up unchanged (its proof
//! has no entry for that level).

use alloy_primitives::{keccak256, B256};

fn parent(a: &B256, b: &B256) -> B256 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// The root of `leaves` (zero for none).
pub fn root(leaves: &[B256]) -> B256 {
    let mut level = leaves.to_vec();
    if level.is_empty() {
        return B256::ZERO;
    }
    while level.len() > 1 {
        level = level.chunks(2).map(|p| if p.len() == 2 { parent(&p[0], &p[1]) } else { p[0] }).collect();
    }
    level[0]
}

/// The proof of leaf `i` (`None` if out of range).
pub fn proof(leaves: &[B256], mut i: usize) -> Option<Vec<B256>> {
    if i >= leaves.len() {
        return None;
    }
    let mut level = leaves.to_vec();
    let mut out = Vec::new();
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            out.push(level[sibling]);
        }
        level = level.chunks(2).map(|p| if p.len() == 2 { parent(&p[0], &p[1]) } else { p[0] }).collect();
        i /= 2;
    }
    Some(out)
}

/// Whether `proof` takes `leaf` to `root`.
pub fn verify(leaf: B256, proof: &[B256], root: B256) -> bool {
    proof.iter().fold(leaf, |h, p| parent(&h, p)) == root
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_leaf_proves_against_the_root_and_nothing_else_does() {
        for n in 1..12 {
            let leaves: Vec<B256> = (0..n).map(|i| keccak256([i as u8])).collect();
            let r = root(&leaves);
            for i in 0..n {
                assert!(verify(leaves[i], &proof(&leaves, i).unwrap(), r), "n={n} i={i}");
                assert!(!verify(keccak256([99u8]), &proof(&leaves, i).unwrap(), r) || n == 0);
            }
            assert!(proof(&leaves, n).is_none());
        }
        assert_eq!(root(&[]), B256::ZERO);
    }
}
