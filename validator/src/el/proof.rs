//! Execution-state proofs, checked against roots the beacon chain commits
//! to: an account (and its storage slots) against a block's `state_root`
//! (`eth_getProof`, EIP-1186), contract code against the account's code
//! hash, and a block's receipts against its `receipts_root`.
//!
//! Nothing here trusts the execution endpoint: every value it hands over is
//! checked against a root from an [`ExecAnchor`] (the beacon node's block,
//! the trust root the duties already have). A proof that does not lead to
//! the root is an error naming the account or slot, never a default value.

use alloy_primitives::{keccak256, Address, Bloom, Bytes, B256, U256};
use alloy_rlp::Encodable;
use alloy_trie::{proof::verify_proof, Nibbles, TrieAccount, EMPTY_ROOT_HASH, KECCAK_EMPTY};
use serde::Deserialize;

/// The execution block a beacon block commits to: the root of every proof
/// (the beacon node's `PayloadCommitment`, the same type).
pub type ExecAnchor = poolvc_signer::types::ExecutionCommitment;

/// A value that did not prove.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The account proof does not lead from the state root to the account
    /// the endpoint described.
    #[error("account {address}: proof does not match state root {root} of block {block} ({reason})")]
    Account {
        /// The account.
        address: Address,
        /// The state root.
        root: B256,
        /// The block.
        block: u64,
        /// The verifier's account.
        reason: String,
    },
    /// A storage proof does not lead from the account's storage root to
    /// the value the endpoint gave.
    #[error("account {address} slot {slot}: storage proof does not match its storage root {root} ({reason})")]
    Storage {
        /// The account.
        address: Address,
        /// The slot.
        slot: U256,
        /// The account's proven storage root.
        root: B256,
        /// The verifier's account.
        reason: String,
    },
    /// The code does not hash to the proven code hash.
    #[error("account {address}: code of {len} bytes hashes to {got}, the state proves {expected}")]
    Code {
        /// The account.
        address: Address,
        /// The code's length.
        len: usize,
        /// What the state proves.
        expected: B256,
        /// What the code hashes to.
        got: B256,
    },
    /// The answer asked about another account or slot than was asked.
    #[error("eth_getProof answered for {what}, not what was asked")]
    WrongSubject {
        /// What it answered for.
        what: String,
    },
    /// A log names another block than the beacon chain has at its slot.
    #[error(
        "a log of block {block} ({hash}), but the beacon chain's payload at that time is block {anchor_block} ({anchor_hash})"
    )]
    LogBlock {
        /// The block the log names.
        block: u64,
        /// Its hash as the log names it.
        hash: B256,
        /// The beacon chain's block.
        anchor_block: u64,
        /// Its hash.
        anchor_hash: B256,
    },
    /// No receipt of the (proven) block carries the log.
    #[error("block {block}: no receipt carries the log of {emitter} the endpoint gave")]
    LogNotInBlock {
        /// The block.
        block: u64,
        /// The log's emitter.
        emitter: Address,
    },
    /// A header below a beacon-committed payload does not hash to the
    /// parent hash its child (proven) names: the endpoint's chain is not
    /// the one the beacon chain commits to.
    #[error("block {block}: its header hashes to {got}, but its proven child names {expected} as parent")]
    HeaderHash {
        /// The block.
        block: u64,
        /// What its header hashes to.
        got: B256,
        /// The proven hash at its height.
        expected: B256,
    },
    /// A block too far below the beacon-committed payload to walk back to.
    #[error("block {block} is more than {max} blocks below the proven block {anchor_block}: not walked back to")]
    TooDeep {
        /// The block.
        block: u64,
        /// The proven block.
        anchor_block: u64,
        /// The most blocks walked.
        max: u64,
    },
    /// The block's receipts do not hash to its receipts root.
    #[error("block {block}: {count} receipts hash to {got}, the beacon block commits to {expected}")]
    Receipts {
        /// The block.
        block: u64,
        /// Receipts given.
        count: usize,
        /// What the beacon block commits to.
        expected: B256,
        /// What they hash to.
        got: B256,
    },
}

/// `eth_getProof`'s answer (EIP-1186).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Its balance.
    pub balance: U256,
    /// Its code hash.
    pub code_hash: B256,
    /// Its nonce.
    #[serde(deserialize_with = "quantity_u64")]
    pub nonce: u64,
    /// Its storage root.
    pub storage_hash: B256,
    /// Trie nodes from the state root to the account.
    pub account_proof: Vec<Bytes>,
    /// One entry per slot asked.
    pub storage_proof: Vec<StorageProof>,
}

/// One slot of an [`AccountProof`].
#[derive(Debug, Clone, Deserialize)]
pub struct StorageProof {
    /// The slot (endpoints give it as asked: 32 bytes or a shorter quantity).
    #[serde(deserialize_with = "hex_u256")]
    pub key: U256,
    /// Its value.
    #[serde(deserialize_with = "hex_u256")]
    pub value: U256,
    /// Trie nodes from the storage root to the slot.
    pub proof: Vec<Bytes>,
}

/// An account as the state root proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenAccount {
    /// Its nonce.
    pub nonce: u64,
    /// Its balance.
    pub balance: U256,
    /// Its storage root.
    pub storage_root: B256,
    /// Its code hash.
    pub code_hash: B256,
}

impl ProvenAccount {
    /// An account that is not in the state.
    pub const ABSENT: ProvenAccount =
        ProvenAccount { nonce: 0, balance: U256::ZERO, storage_root: EMPTY_ROOT_HASH, code_hash: KECCAK_EMPTY };
}

/// Checks `p` against `state_root` (of `block`): the account as proven, and
/// its slots (slot, value) as proven against its storage root. An account
/// the trie does not hold proves as [`ProvenAccount::ABSENT`] only if the
/// answer describes it as empty.
pub fn verify_account(
    state_root: B256,
    block: u64,
    asked: Address,
    p: &AccountProof,
) -> Result<(ProvenAccount, Vec<(U256, U256)>), ProofError> {
    if p.address != asked {
        return Err(ProofError::WrongSubject { what: format!("account {}", p.address) });
    }
    let acct =
        ProvenAccount { nonce: p.nonce, balance: p.balance, storage_root: p.storage_hash, code_hash: p.code_hash };
    let expected = if acct == ProvenAccount::ABSENT {
        None
    } else {
        let t = TrieAccount::new(acct.nonce, acct.balance, acct.storage_root, acct.code_hash);
        Some(alloy_rlp::encode(t))
    };
    verify_proof(state_root, Nibbles::unpack(keccak256(asked)), expected, &p.account_proof)
        .map_err(|e| ProofError::Account { address: asked, root: state_root, block, reason: e.to_string() })?;
    let mut slots = Vec::with_capacity(p.storage_proof.len());
    for s in &p.storage_proof {
        let key = Nibbles::unpack(keccak256(s.key.to_be_bytes::<32>()));
        let expected = (!s.value.is_zero()).then(|| alloy_rlp::encode(s.value));
        let mut checked = verify_proof(acct.storage_root, key, expected, &s.proof);
        if checked.is_err() && s.value.is_zero() {
            // Zero is an absent slot on mainnet, but some nodes (anvil) keep
            // a slot written back to zero as a leaf holding RLP(0): also 0.
            checked = verify_proof(acct.storage_root, key, Some(alloy_rlp::encode(U256::ZERO)), &s.proof);
        }
        checked.map_err(|e| ProofError::Storage {
            address: asked,
            slot: s.key,
            root: acct.storage_root,
            reason: e.to_string(),
        })?;
        slots.push((s.key, s.value));
    }
    Ok((acct, slots))
}

/// Checks `code` against the code hash proven for `address`.
pub fn verify_code(address: Address, acct: &ProvenAccount, code: &[u8]) -> Result<(), ProofError> {
    let got = keccak256(code);
    if got != acct.code_hash {
        return Err(ProofError::Code { address, len: code.len(), expected: acct.code_hash, got });
    }
    Ok(())
}

/// One log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceiptLog {
    /// The emitting contract.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<B256>,
    /// Its data.
    pub data: Bytes,
}

/// A transaction receipt as `eth_getBlockReceipts` gives it (the parts the
/// receipts trie commits to).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction type (0 legacy, 1, 2, 3, 4).
    #[serde(rename = "type", deserialize_with = "quantity_u64")]
    pub tx_type: u64,
    /// 1 success, 0 failure.
    #[serde(deserialize_with = "quantity_u64")]
    pub status: u64,
    /// Gas used by this and the earlier transactions of the block.
    #[serde(deserialize_with = "quantity_u64")]
    pub cumulative_gas_used: u64,
    /// The logs' bloom filter.
    pub logs_bloom: Bloom,
    /// The logs.
    pub logs: Vec<ReceiptLog>,
    /// The transaction's index in the block.
    #[serde(deserialize_with = "quantity_u64")]
    pub transaction_index: u64,
}

impl Receipt {
    /// The receipt's consensus encoding (EIP-2718: the type byte, then
    /// `rlp([status, cumulative_gas_used, logs_bloom, logs])`).
    fn encode_2718(&self, out: &mut dyn alloy_rlp::BufMut) {
        let mut body = Vec::new();
        (self.status != 0).encode(&mut body);
        self.cumulative_gas_used.encode(&mut body);
        self.logs_bloom.encode(&mut body);
        let mut logs = Vec::new();
        for l in &self.logs {
            let mut one = Vec::new();
            l.address.encode(&mut one);
            l.topics.encode(&mut one);
            l.data.encode(&mut one);
            alloy_rlp::Header { list: true, payload_length: one.len() }.encode(&mut logs);
            logs.extend_from_slice(&one);
        }
        alloy_rlp::Header { list: true, payload_length: logs.len() }.encode(&mut body);
        body.extend_from_slice(&logs);
        if self.tx_type != 0 {
            out.put_u8(self.tx_type as u8);
        }
        alloy_rlp::Header { list: true, payload_length: body.len() }.encode(out);
        out.put_slice(&body);
    }
}

/// Checks that `receipts` (in any order) are exactly the receipts of the
/// block whose receipts root is `expected`.
pub fn verify_receipts(block: u64, expected: B256, receipts: &mut [Receipt]) -> Result<(), ProofError> {
    receipts.sort_by_key(|r| r.transaction_index);
    let got = alloy_trie::root::ordered_trie_root_with_encoder(receipts, |r, buf| r.encode_2718(buf));
    if got != expected {
        return Err(ProofError::Receipts { block, count: receipts.len(), expected, got });
    }
    Ok(())
}

fn quantity_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    crate::el::rpc::parse_quantity(&s).ok_or_else(|| serde::de::Error::custom(format!("not a quantity: {s:?}")))
}

fn hex_u256<'de, D: serde::Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
    let s = String::deserialize(d)?;
    let h = s.strip_prefix("0x").ok_or_else(|| serde::de::Error::custom(format!("not 0x-hex: {s:?}")))?;
    if h.is_empty() || h.len() > 64 {
        return Err(serde::de::Error::custom(format!("not a 256-bit hex value: {s:?}")));
    }
    U256::from_str_radix(h, 16).map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_proof_for_another_value_or_root_fails_and_names_the_account() {
        // A one-account state: the trie holds only the leaf for `a`.
        let a = Address::repeat_byte(7);
        let acct = TrieAccount::new(1, U256::from(5u64), EMPTY_ROOT_HASH, KECCAK_EMPTY);
        let mut hb = alloy_trie::HashBuilder::default()
            .with_proof_retainer(alloy_trie::proof::ProofRetainer::new(vec![Nibbles::unpack(keccak256(a))]));
        hb.add_leaf(Nibbles::unpack(keccak256(a)), &alloy_rlp::encode(acct));
        let root = hb.root();
        let nodes: Vec<Bytes> = hb.take_proof_nodes().into_nodes_sorted().into_iter().map(|(_, b)| b).collect();
        let p = AccountProof {
            address: a,
            balance: U256::from(5u64),
            code_hash: KECCAK_EMPTY,
            nonce: 1,
            storage_hash: EMPTY_ROOT_HASH,
            account_proof: nodes,
            storage_proof: Vec::new(),
        };
        let (got, _) = verify_account(root, 9, a, &p).unwrap();
        assert_eq!(got.balance, U256::from(5u64));
        // A lying balance, another root, another account: each fails.
        let lie = AccountProof { balance: U256::from(6u64), ..p.clone() };
        let e = verify_account(root, 9, a, &lie).unwrap_err().to_string();
        assert!(e.contains(&a.to_string()) && e.contains("block 9"), "{e}");
        assert!(verify_account(B256::repeat_byte(1), 9, a, &p).is_err());
        assert!(matches!(verify_account(root, 9, Address::repeat_byte(8), &p), Err(ProofError::WrongSubject { .. })));
        // Code must hash to the proven code hash.
        assert!(verify_code(a, &got, b"").is_ok());
        assert!(verify_code(a, &got, b"\x60\x00").is_err());
    }

    #[test]
    fn receipts_hash_to_the_root_only_as_given() {
        let r = |i: u64, gas: u64| Receipt {
            tx_type: 2,
            status: 1,
            cumulative_gas_used: gas,
            logs_bloom: Bloom::ZERO,
            logs: vec![ReceiptLog { address: Address::repeat_byte(1), topics: vec![B256::ZERO], data: Bytes::new() }],
            transaction_index: i,
        };
        let mut rs = vec![r(0, 21_000), r(1, 42_000)];
        let root = alloy_trie::root::ordered_trie_root_with_encoder(&rs, |r, buf| r.encode_2718(buf));
        verify_receipts(3, root, &mut rs).unwrap();
        // Order given does not matter; content does.
        let mut swapped = vec![r(1, 42_000), r(0, 21_000)];
        verify_receipts(3, root, &mut swapped).unwrap();
        let mut forged = vec![r(0, 21_000), r(1, 42_000)];
        forged[1].logs[0].data = Bytes::from_static(b"x");
        assert!(verify_receipts(3, root, &mut forged).is_err());
        let mut dropped = vec![r(0, 21_000)];
        assert!(verify_receipts(3, root, &mut dropped).is_err());
    }
}
