//! CSM's published strikes: the tree the performance oracle publishes each
//! report (`CSStrikes.treeRoot()` on chain, the tree itself under
//! `treeCid()`), read and checked against the root.
//!
//! The tree is OpenZeppelin's `StandardMerkleTree` as lido-oracle dumps it
//! (`src/modules/oracles/staking_modules/common/tree.py`, `StrikesTree`):
//! `{"format": "standard-v1", "leafEncoding": ["uint256", "bytes",
//! "uint256[]"], "tree": [hashes], "values": [{"value": [operator id,
//! pubkey, strikes per frame, newest first], "treeIndex": i}]}`. A leaf is
//! `keccak256(keccak256(abi.encode(value)))` (`CSStrikes.hashLeaf`); node
//! `i` is the keccak of its two children `2i+1`, `2i+2` in ascending order;
//! the root is node 0. A key's strikes are the sum of its list (what
//! `CSStrikes` sums against the threshold).
//!
//! Nothing in the file is trusted: every value's leaf must sit at its index,
//! every inner node must be its children's hash, and node 0 must be the
//! root the chain holds; otherwise nothing of the tree is used.

use alloy_primitives::{keccak256, Bytes, B256, U256};
use alloy_sol_types::SolValue;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Why a strikes tree was refused; each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrikesTreeError {
    /// Not the dump's JSON.
    #[error("the strikes tree {cid}: not a StandardMerkleTree dump: {reason}")]
    Malformed {
        /// Its CID.
        cid: String,
        /// The parser's account.
        reason: String,
    },
    /// A value, node or root that does not check.
    #[error("the strikes tree {cid}: {what}")]
    Mismatch {
        /// Its CID.
        cid: String,
        /// What does not check.
        what: String,
    },
}

/// One key's strikes as the tree has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStrikes {
    /// The operator's id in the module.
    pub operator_id: u64,
    /// Strikes per reported frame, newest first.
    pub strikes: Vec<u64>,
}

impl KeyStrikes {
    /// The strikes that count against the threshold: their sum.
    pub fn count(&self) -> u64 {
        self.strikes.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dump {
    format: String,
    leaf_encoding: Vec<String>,
    tree: Vec<B256>,
    values: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    value: (Number, Bytes, Vec<Number>),
    tree_index: usize,
}

/// A uint256 as a JSON number or a decimal string (both occur in dumps).
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    N(u64),
    S(String),
}

impl Number {
    fn get(&self) -> Option<U256> {
        match self {
            Number::N(n) => Some(U256::from(*n)),
            Number::S(s) => s.parse().ok(),
        }
    }
}

/// The leaf of `(operator_id, pubkey, strikes)`, as `CSStrikes.hashLeaf`.
pub fn leaf_hash(operator_id: U256, pubkey: &[u8], strikes: &[U256]) -> B256 {
    let encoded = (operator_id, Bytes::copy_from_slice(pubkey), strikes.to_vec()).abi_encode_params();
    keccak256(keccak256(encoded))
}

fn hash_pair(a: &B256, b: &B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// Parses the dump `json` published under `cid` and checks it against the
/// chain's `root`: each key's strikes, by public key (`0x` + lowercase hex).
/// An empty root with an empty CID is no tree yet (no strikes).
pub fn parse(json: &[u8], cid: &str, root: B256) -> Result<BTreeMap<String, KeyStrikes>, StrikesTreeError> {
    let bad = |what: String| StrikesTreeError::Mismatch { cid: cid.to_string(), what };
    let d: Dump = serde_json::from_slice(json)
        .map_err(|e| StrikesTreeError::Malformed { cid: cid.to_string(), reason: e.to_string() })?;
    if d.format != "standard-v1" || d.leaf_encoding != ["uint256", "bytes", "uint256[]"] {
        return Err(bad(format!("format {:?} with leaves {:?}", d.format, d.leaf_encoding)));
    }
    let n = d.values.len();
    if n == 0 || d.tree.len() != 2 * n - 1 {
        return Err(bad(format!("{} nodes for {n} values", d.tree.len())));
    }
    let first_leaf = d.tree.len() - n;
    let mut seen = HashSet::new();
    let mut out = BTreeMap::new();
    for (k, e) in d.values.iter().enumerate() {
        let (id, pubkey, strikes) = &e.value;
        let id = id.get().ok_or_else(|| bad(format!("value {k}: operator id")))?;
        let strikes: Vec<U256> =
            strikes.iter().map(|s| s.get()).collect::<Option<_>>().ok_or_else(|| bad(format!("value {k}: strikes")))?;
        if e.tree_index < first_leaf || e.tree_index >= d.tree.len() || !seen.insert(e.tree_index) {
            return Err(bad(format!("value {k}: tree index {} is not a free leaf", e.tree_index)));
        }
        if d.tree[e.tree_index] != leaf_hash(id, pubkey, &strikes) {
            return Err(bad(format!("value {k}: its leaf is not node {}", e.tree_index)));
        }
        if pubkey.len() != 48 {
            return Err(bad(format!("value {k}: a {}-byte public key", pubkey.len())));
        }
        let small = |v: &U256| u64::try_from(*v).map_err(|_| bad(format!("value {k}: {v} out of range")));
        let key =
            KeyStrikes { operator_id: small(&id)?, strikes: strikes.iter().map(small).collect::<Result<_, _>>()? };
        out.insert(format!("0x{}", alloy_primitives::hex::encode(pubkey)), key);
    }
    for i in (0..first_leaf).rev() {
        if d.tree[i] != hash_pair(&d.tree[2 * i + 1], &d.tree[2 * i + 2]) {
            return Err(bad(format!("node {i} is not its children's hash")));
        }
    }
    if d.tree[0] != root {
        return Err(bad(format!("its root {} is not the chain's {root}", d.tree[0])));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// A dump built the way OpenZeppelin's `StandardMerkleTree` builds one:
    /// leaves sorted ascending, placed from the end of the array.
    fn dump(values: &[(u64, [u8; 48], Vec<u64>)]) -> (serde_json::Value, B256) {
        let mut leaves: Vec<(B256, usize)> = values
            .iter()
            .enumerate()
            .map(|(k, (id, pk, s))| {
                let s: Vec<U256> = s.iter().map(|x| U256::from(*x)).collect();
                (leaf_hash(U256::from(*id), pk, &s), k)
            })
            .collect();
        leaves.sort();
        let len = 2 * leaves.len() - 1;
        let mut tree = vec![B256::ZERO; len];
        let mut index = vec![0; values.len()];
        for (i, (h, k)) in leaves.iter().enumerate() {
            tree[len - 1 - i] = *h;
            index[*k] = len - 1 - i;
        }
        for i in (0..len - leaves.len()).rev() {
            tree[i] = hash_pair(&tree[2 * i + 1], &tree[2 * i + 2]);
        }
        let vals: Vec<_> = values
            .iter()
            .zip(&index)
            .map(|((id, pk, s), i)| json!({"value": [id, format!("0x{}", hex::encode(pk)), s], "treeIndex": i}))
            .collect();
        let d = json!({"format": "standard-v1", "leafEncoding": ["uint256", "bytes", "uint256[]"],
            "tree": tree, "values": vals});
        (d, tree[0])
    }

    #[test]
    fn a_tree_is_read_only_when_every_node_checks_against_the_chain_s_root() {
        let values = [
            (0, [1u8; 48], vec![1, 0, 1, 0, 0, 0]),
            (0, [2u8; 48], vec![1, 0, 0, 0, 0, 0]),
            (7, [3u8; 48], vec![0, 1]),
        ];
        let (d, root) = dump(&values);
        let text = serde_json::to_vec(&d).unwrap();
        let got = parse(&text, "cid", root).unwrap();
        let k1 = &got[&format!("0x{}", hex::encode([1u8; 48]))];
        assert_eq!((k1.operator_id, k1.count()), (0, 2));
        assert_eq!(got.len(), 3);
        // Another root: refused, naming both.
        let e = parse(&text, "cid", B256::repeat_byte(9)).unwrap_err().to_string();
        assert!(e.contains("is not the chain's"), "{e}");
        // A strike count changed in the file: its leaf no longer checks.
        let mut forged = d.clone();
        forged["values"][0]["value"][2] = json!([0, 0, 0, 0, 0, 0]);
        let e = parse(&serde_json::to_vec(&forged).unwrap(), "cid", root).unwrap_err().to_string();
        assert!(e.contains("value 0: its leaf is not node"), "{e}");
        // A leaf swapped for a node of the file's own making: the inner nodes fail.
        let mut forged = d.clone();
        forged["tree"][0] = json!(B256::repeat_byte(7));
        assert!(parse(&serde_json::to_vec(&forged).unwrap(), "cid", B256::repeat_byte(7)).is_err());
        // Not a dump at all.
        assert!(matches!(parse(b"{}", "cid", root), Err(StrikesTreeError::Malformed { .. })));
    }

    /// `CSStrikes.hashLeaf`: keccak256(bytes.concat(keccak256(abi.encode(
    /// nodeOperatorId, pubkey, data)))) (community-staking-module
    /// `src/CSStrikes.sol`); the encoding is the head-and-tail one.
    #[test]
    fn the_leaf_is_the_double_keccak_of_the_abi_encoding() {
        let pk = [0xabu8; 48];
        let enc =
            (U256::from(5u64), Bytes::copy_from_slice(&pk), vec![U256::from(1u64), U256::ZERO]).abi_encode_params();
        // 3 heads, then the bytes (length + 2 words), then the array (length + 2 words).
        assert_eq!(enc.len(), 32 * (3 + 3 + 3));
        assert_eq!(leaf_hash(U256::from(5u64), &pk, &[U256::from(1u64), U256::ZERO]), keccak256(keccak256(&enc)));
    }
}
