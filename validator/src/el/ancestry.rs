//! Execution blocks older than any payload the beacon node serves: before
//! the beacon chain's genesis (a devnet's pool contracts, a request made
//! before the chain began), or before a checkpoint-synced node's first
//! block. Such a block is proven by its descendants: from a payload the
//! beacon chain commits to, each header is re-encoded (RLP), hashed, and
//! must hash to its child's parent hash, down to the block asked for.
//!
//! Nothing here trusts the endpoint's hashes: a header is taken only when
//! its own fields hash to the hash already proven at its height.

use std::collections::BTreeMap;

use alloy_primitives::{keccak256, Address, Bloom, Bytes, B256, B64, U256, U64};
use alloy_rlp::Encodable;
use serde::Deserialize;

use super::proof::{ExecAnchor, ProofError};
use super::proven::ProvenError;
use super::rpc::{EthRpc, RpcError, BATCH};

/// An execution header as `eth_getBlockByNumber` gives it: the fields its
/// hash covers, in the order it covers them (London to Prague).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcHeader {
    hash: B256,
    parent_hash: B256,
    sha3_uncles: B256,
    miner: Address,
    state_root: B256,
    transactions_root: B256,
    receipts_root: B256,
    logs_bloom: Bloom,
    difficulty: U256,
    number: U64,
    gas_limit: U64,
    gas_used: U64,
    timestamp: U64,
    extra_data: Bytes,
    mix_hash: B256,
    nonce: B64,
    base_fee_per_gas: Option<U256>,
    withdrawals_root: Option<B256>,
    blob_gas_used: Option<U64>,
    excess_blob_gas: Option<U64>,
    parent_beacon_block_root: Option<B256>,
    requests_hash: Option<B256>,
}

impl RpcHeader {
    /// keccak256 of the header's RLP list: its hash, recomputed from its
    /// fields. The optional fields are those of later forks, present in
    /// order; a field this list does not know (a later fork's) makes the
    /// hash differ, and the header is refused.
    fn rehash(&self) -> B256 {
        let mut fields: Vec<&dyn Encodable> = vec![
            &self.parent_hash,
            &self.sha3_uncles,
            &self.miner,
            &self.state_root,
            &self.transactions_root,
            &self.receipts_root,
            &self.logs_bloom,
            &self.difficulty,
            &self.number,
            &self.gas_limit,
            &self.gas_used,
            &self.timestamp,
            &self.extra_data,
            &self.mix_hash,
            &self.nonce,
        ];
        let optional: [Option<&dyn Encodable>; 6] = [
            self.base_fee_per_gas.as_ref().map(|v| v as &dyn Encodable),
            self.withdrawals_root.as_ref().map(|v| v as &dyn Encodable),
            self.blob_gas_used.as_ref().map(|v| v as &dyn Encodable),
            self.excess_blob_gas.as_ref().map(|v| v as &dyn Encodable),
            self.parent_beacon_block_root.as_ref().map(|v| v as &dyn Encodable),
            self.requests_hash.as_ref().map(|v| v as &dyn Encodable),
        ];
        fields.extend(optional.into_iter().flatten());
        let payload_length: usize = fields.iter().map(|f| f.length()).sum();
        let mut out = Vec::with_capacity(payload_length + 4);
        alloy_rlp::Header { list: true, payload_length }.encode(&mut out);
        for f in fields {
            f.encode(&mut out);
        }
        keccak256(out)
    }
}

/// A header proven by its descendants: what a log's proof needs of it.
#[derive(Debug, Clone, Copy)]
struct ProvenHeader {
    hash: B256,
    parent: B256,
    state_root: B256,
    receipts_root: B256,
    timestamp: u64,
}

/// Headers proven by walking back from beacon-committed payloads, by
/// height. Kept for one pass over the logs (a second old log below the
/// same payload costs no request), then dropped.
#[derive(Debug, Default)]
pub struct Ancestry {
    /// Invariant: every entry hashes to its own `hash`, and was reached
    /// from a beacon-committed payload by parent hashes.
    proven: BTreeMap<u64, ProvenHeader>,
}

impl Ancestry {
    /// Block `number`'s header as a proof anchor, proven by walking back
    /// from `top` (a payload the beacon chain commits to) by parent hashes,
    /// at most `max_depth` blocks. The anchor keeps `top`'s slot: the beacon
    /// block that proves it. A block at or above `top` is `top` itself (a
    /// log of another block then fails its own check against it).
    pub async fn anchor_of(
        &mut self,
        rpc: &EthRpc,
        top: &ExecAnchor,
        number: u64,
        max_depth: u64,
    ) -> Result<ExecAnchor, ProvenError> {
        if number >= top.block_number {
            return Ok(*top);
        }
        if top.block_number - number > max_depth {
            return Err(ProofError::TooDeep { block: number, anchor_block: top.block_number, max: max_depth }.into());
        }
        let as_anchor = |n: u64, p: &ProvenHeader| ExecAnchor {
            slot: top.slot,
            block_number: n,
            block_hash: p.hash,
            state_root: p.state_root,
            receipts_root: p.receipts_root,
            timestamp: p.timestamp,
        };
        // The hash the header at height `n` must have.
        let mut expected = top.block_hash;
        let mut n = top.block_number;
        loop {
            if let Some(p) = self.proven.get(&n).filter(|p| p.hash == expected) {
                if n == number {
                    return Ok(as_anchor(n, p));
                }
                expected = p.parent;
                n -= 1;
                continue;
            }
            let lo = n.saturating_sub(BATCH as u64 - 1).max(number);
            let params = (lo..=n).rev().map(|k| serde_json::json!([format!("0x{k:x}"), false])).collect();
            let answers = rpc.batch("eth_getBlockByNumber", params, BATCH).await?;
            for (k, v) in (lo..=n).rev().zip(answers) {
                let h = parse(rpc, k, v)?;
                // `parse` checked that the header's fields hash to `h.hash`.
                let got = h.hash;
                if got != expected {
                    return Err(ProofError::HeaderHash { block: k, got, expected }.into());
                }
                let p = ProvenHeader {
                    hash: got,
                    parent: h.parent_hash,
                    state_root: h.state_root,
                    receipts_root: h.receipts_root,
                    timestamp: h.timestamp.to::<u64>(),
                };
                self.proven.insert(k, p);
                expected = h.parent_hash;
            }
            if lo == number {
                return Ok(as_anchor(number, &self.proven[&number]));
            }
            n = lo - 1;
        }
    }
}

/// One `eth_getBlockByNumber` answer: the header of block `k`, its
/// number and its own hash checked. Invariant of the result: its fields
/// hash to its `hash` (a header that re-encodes to another hash than the
/// endpoint names has a field poolvc does not know, and is refused).
fn parse(rpc: &EthRpc, k: u64, v: serde_json::Value) -> Result<RpcHeader, RpcError> {
    let bad = |reason: String| RpcError::Malformed {
        url: rpc.url().to_string(),
        method: "eth_getBlockByNumber".into(),
        reason: format!("block {k}: {reason}"),
    };
    if v.is_null() {
        return Err(bad("the endpoint has no such block".into()));
    }
    let h: RpcHeader = serde_json::from_value(v).map_err(|e| bad(format!("header: {e}")))?;
    if h.number.to::<u64>() != k {
        return Err(bad(format!("the answer is block {}", h.number)));
    }
    let got = h.rehash();
    if got != h.hash {
        return Err(bad(format!(
            "the header's fields hash to {got}, the endpoint names {} (a header field poolvc does not know?)",
            h.hash
        )));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// anvil's (foundry 1.x, Prague) block 1 of a chain started with
    /// `--timestamp 1795803064`, one transfer in it, as
    /// `eth_getBlockByNumber` gave it.
    fn block1() -> serde_json::Value {
        serde_json::json!({
            "hash": "0xf3ed3e3493f72dc4a5c228ea0551cd5276ee6db4a155ebda1c09a207241b64b2",
            "parentHash": "0x1cd5c41e359f4447bbb63349f52a2c079eb26467f2ef5cca7599296e2b32c9d9",
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "miner": "0x0000000000000000000000000000000000000000",
            "stateRoot": "0x8c7b7216163fcb431960cf08d04f3ecd6f444ab352aab3f3a93249f21cef3ca3",
            "transactionsRoot": "0x0798da6d1d45a47eff007d9058367666a9a0a227fe87b376409b02270f350ac2",
            "receiptsRoot": "0x005fb2a0d0c8a6f3490f9594e6458703eea515262f1b69a1103492b61e8d0ee2",
            "logsBloom": format!("0x{}", "00".repeat(256)),
            "difficulty": "0x0", "number": "0x1", "gasLimit": "0x1c9c380", "gasUsed": "0x5208",
            "timestamp": "0x6b09c7ba", "extraData": "0x",
            "mixHash": "0x49a0ea18f04df8ae53b97e3b10e04064a900d81ab427796ffc60e534b0f6e960",
            "nonce": "0x0000000000000000", "baseFeePerGas": "0x3b9aca00",
            "withdrawalsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            "blobGasUsed": "0x0", "excessBlobGas": "0x0",
            "parentBeaconBlockRoot": "0x0000000000000000000000000000000000000000000000000000000000000000",
            "requestsHash": "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "totalDifficulty": "0x0", "size": "0x2d7", "uncles": [],
            "transactions": ["0x77fecb2862cbefa58146a3f60abdc8e4690de6d5316e78bf81236602203d71fc"],
            "withdrawals": []
        })
    }

    #[test]
    fn a_prague_header_rehashes_to_its_hash_and_a_changed_field_does_not() {
        let h: RpcHeader = serde_json::from_value(block1()).unwrap();
        assert_eq!(h.rehash(), h.hash);
        // Its child (block 2 of the same chain) names it as parent.
        assert_eq!(
            h.hash,
            "0xf3ed3e3493f72dc4a5c228ea0551cd5276ee6db4a155ebda1c09a207241b64b2".parse::<B256>().unwrap()
        );
        let mut v = block1();
        v["receiptsRoot"] = serde_json::json!(format!("0x{}", "11".repeat(32)));
        let forged: RpcHeader = serde_json::from_value(v).unwrap();
        assert_ne!(forged.rehash(), forged.hash);
        // A field of a later fork poolvc does not encode: the header's
        // own hash no longer matches, refused rather than guessed.
        let mut v = block1();
        v.as_object_mut().unwrap().remove("requestsHash");
        let short: RpcHeader = serde_json::from_value(v).unwrap();
        assert_ne!(short.rehash(), short.hash);
    }

    #[test]
    fn a_null_or_misnumbered_answer_is_malformed() {
        let rpc = EthRpc::new("http://127.0.0.1:1", std::time::Duration::from_secs(1));
        let e = parse(&rpc, 1, serde_json::Value::Null).unwrap_err();
        assert!(e.to_string().contains("block 1: the endpoint has no such block"), "{e}");
        let e = parse(&rpc, 2, block1()).unwrap_err();
        assert!(e.to_string().contains("block 2: the answer is block 1"), "{e}");
        assert!(parse(&rpc, 1, block1()).is_ok());
    }
}
