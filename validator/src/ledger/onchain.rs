//! Frame reports on chain: the report a frame ends with goes to a
//! `PoolPerformanceOracle` (`contracts/src/poolvc/`) in an EIP-1559
//! transaction signed with the reporter's key; for a member of Stader's
//! oracle, the window's missed-attestation keys go to a StaderOracle-shaped
//! contract's `submitMissedAttestationPenalties`.
//!
//! Never twice: before anything is signed the contract is asked whether
//! this reporter already submitted the frame; the signed transaction is
//! recorded in the ledger *before* it is broadcast, and a recorded one is
//! only ever re-broadcast (same nonce, same hash) or, once mined, left
//! alone. An RPC failure leaves the record as it was, to be tried again at
//! the next slot; a reporter without the funds for the gas is told, with
//! its balance and what it needs, and nothing is signed.

use super::config::{FeeCap, PerfConfig, ReportConfig};
use super::db::{Ledger, Submission};
use super::frames::FrameReport;
use super::merkle;
use super::reporter_key::ReporterKey;
use crate::el::rpc::{parse_quantity, EthRpc, RpcError};
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolValue};

#[allow(missing_docs)]
pub mod sol {
    alloy_sol_types::sol! {
        struct OperatorCounters {
            bytes32 operatorId;
            uint64 keys;
            uint64 keysBelow;
            uint64 attAssigned;
            uint64 attIncluded;
            uint64 propAssigned;
            uint64 propMade;
            uint64 syncAssigned;
            uint64 syncIncluded;
            uint32 performanceBp;
        }
        struct FrameReport {
            uint256 frame;
            uint64 firstEpoch;
            uint64 lastEpoch;
            uint32 networkPerformanceBp;
            OperatorCounters[] operators;
            bytes32 validatorsRoot;
        }
        struct ValidatorLeaf {
            uint256 frame;
            uint64 validatorIndex;
            bytes32 pubkeyRoot;
            bytes32 operatorId;
            uint64 attAssigned;
            uint64 attIncluded;
            uint64 propAssigned;
            uint64 propMade;
            uint64 syncAssigned;
            uint64 syncIncluded;
            uint32 performanceBp;
            uint32 thresholdBp;
        }
        struct MissedAttestationPenaltyData {
            uint256 reportingBlockNumber;
            uint256 index;
            bytes[] sortedPubkeys;
        }
        function submitReport(FrameReport r) external;
        function submitted(uint256 frame, address reporter) external view returns (bytes32);
        function acceptedHash(uint256 frame) external view returns (bytes32);
        function validatorsRoot(uint256 frame) external view returns (bytes32);
        function votes(uint256 frame, bytes32 reportHash) external view returns (uint256);
        function quorum() external view returns (uint256);
        function reportHash(FrameReport r) external pure returns (bytes32);
        function verifyValidator(ValidatorLeaf leaf, bytes32[] proof) external view returns (bool);
        function submitMissedAttestationPenalties(MissedAttestationPenaltyData mapd) external;
        function lastReportedMAPDIndex() external view returns (uint256);
        function getMissedAttestationPenaltyReportableBlock() external view returns (uint256);
        error NotReporter(address who);
        error NotATrustedNode();
        error ReportingFutureBlockData();
        error InvalidReportingBlock();
        error InvalidMAPDIndex();
        error DuplicateSubmissionFromNode();
        error AlreadySubmitted(uint256 frame, address reporter);
        error BadEpochs(uint64 firstEpoch, uint64 lastEpoch);
    }
}

/// Submission errors.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The execution node failed.
    #[error("{0}")]
    Rpc(#[from] RpcError),
    /// The reporter cannot pay the gas.
    #[error("reporter {reporter} has {balance} wei; the transaction needs up to {needed} wei (gas {gas} at {max_fee} wei): fund it to submit frame {frame}")]
    NoFunds {
        /// The reporter.
        reporter: Address,
        /// Its balance.
        balance: U256,
        /// What the transaction may cost.
        needed: U256,
        /// Gas limit.
        gas: u64,
        /// Max fee per gas.
        max_fee: u128,
        /// The frame.
        frame: u64,
    },
    /// A fee quote, or the frame's spend, is above the cap in `pools.yaml`:
    /// nothing is signed.
    #[error("frame {frame}: {what} {quoted} wei is above the cap of {cap} wei (performance.report.fee_cap in pools.yaml); nothing signed")]
    AboveFeeCap {
        /// The frame.
        frame: u64,
        /// What is above its cap.
        what: &'static str,
        /// The quote (or the spend it makes).
        quoted: U256,
        /// The cap.
        cap: U256,
    },
    /// The contract refuses (not a reporter, a bad report).
    #[error("contract {contract} refuses frame {frame}: {reason}")]
    Refused {
        /// The contract.
        contract: Address,
        /// The frame.
        frame: u64,
        /// Its error.
        reason: String,
    },
    /// The ledger failed.
    #[error("{0}")]
    Ledger(String),
    /// The answer could not be understood.
    #[error("{0}")]
    Malformed(String),
}

fn bp(x: Option<f64>) -> u32 {
    (x.unwrap_or(0.0).clamp(0.0, 1.0) * 10_000.0).round() as u32
}

/// keccak256 of `pool/operator`.
pub fn operator_id(pool: &str, operator: &str) -> B256 {
    keccak256(format!("{pool}/{operator}"))
}

/// The frame report as the contract takes it, and its leaves in
/// validator-index order with their pubkeys.
pub fn contract_report(r: &FrameReport) -> (sol::FrameReport, Vec<(u64, String, sol::ValidatorLeaf)>) {
    let mut leaves = Vec::new();
    let mut operators = Vec::new();
    for o in r.operators.values() {
        let id = operator_id(&o.pool, &o.operator);
        operators.push(sol::OperatorCounters {
            operatorId: id,
            keys: o.validators.len() as u64,
            keysBelow: o.keys_below,
            attAssigned: o.counts.att_assigned,
            attIncluded: o.counts.att_included,
            propAssigned: o.counts.prop_assigned,
            propMade: o.counts.prop_made,
            syncAssigned: o.counts.sync_assigned,
            syncIncluded: o.counts.sync_included,
            performanceBp: bp(o.performance),
        });
        for (index, k) in &o.validators {
            let pubkey = hex::decode(k.pubkey.trim_start_matches("0x")).unwrap_or_default();
            leaves.push((
                *index,
                k.pubkey.clone(),
                sol::ValidatorLeaf {
                    frame: U256::from(r.frame),
                    validatorIndex: *index,
                    pubkeyRoot: keccak256(&pubkey),
                    operatorId: id,
                    attAssigned: k.attestation_duty.assigned,
                    attIncluded: k.attestation_duty.included,
                    propAssigned: k.proposal_duty.assigned,
                    propMade: k.proposal_duty.included,
                    syncAssigned: k.sync_duty.assigned,
                    syncIncluded: k.sync_duty.included,
                    performanceBp: bp(k.performance),
                    thresholdBp: bp(k.threshold),
                },
            ));
        }
    }
    leaves.sort_by_key(|l| l.0);
    let hashes: Vec<B256> = leaves.iter().map(|l| leaf_hash(&l.2)).collect();
    let report = sol::FrameReport {
        frame: U256::from(r.frame),
        firstEpoch: r.epochs[0],
        lastEpoch: r.epochs[1],
        networkPerformanceBp: bp(r.network_performance),
        operators,
        validatorsRoot: merkle::root(&hashes),
    };
    (report, leaves)
}

/// `keccak256(bytes.concat(keccak256(abi.encode(leaf))))`.
pub fn leaf_hash(l: &sol::ValidatorLeaf) -> B256 {
    keccak256(keccak256(l.abi_encode()))
}

/// The leaf of `pubkey` in `r` and its proof.
pub fn leaf_and_proof(r: &FrameReport, pubkey: &str) -> Option<(sol::ValidatorLeaf, Vec<B256>, B256)> {
    let (report, leaves) = contract_report(r);
    let i = leaves.iter().position(|l| l.1.eq_ignore_ascii_case(pubkey))?;
    let hashes: Vec<B256> = leaves.iter().map(|l| leaf_hash(&l.2)).collect();
    let proof = merkle::proof(&hashes, i)?;
    Some((leaves[i].2.clone(), proof, report.validatorsRoot))
}

/// A transaction's cost bounds.
struct Fees {
    gas: u64,
    max_fee: u128,
    priority: u128,
}

/// What submits for one reporter.
pub struct Reporter {
    /// The key.
    pub key: ReporterKey,
    /// The execution node.
    pub rpc: EthRpc,
    /// Its chain id.
    pub chain_id: u64,
    /// What its transactions may cost.
    pub fee_cap: FeeCap,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").field("address", &self.key.address()).field("rpc", &self.rpc.url()).finish()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn q(v: &serde_json::Value, what: &str) -> Result<u128, SubmitError> {
    v.as_str()
        .and_then(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| SubmitError::Malformed(format!("{what}: not a quantity: {v}")))
}

/// Where a submission stands after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent now (or re-broadcast); the hash.
    Sent(String),
    /// Mined earlier or now.
    Mined,
    /// Already submitted (the contract says so).
    AlreadyDone,
    /// Waiting for the transaction to be mined.
    Pending(String),
}

/// Why the reporter's key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The password file could not be read.
    #[error("{path}: {source}")]
    Password {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keystore could not be opened with it.
    #[error(transparent)]
    Key(#[from] super::reporter_key::ReporterKeyError),
}

impl Reporter {
    /// Loads the key named by `cfg`.
    pub fn load(cfg: &ReportConfig, rpc: EthRpc, chain_id: u64) -> Result<Self, LoadError> {
        let password = std::fs::read_to_string(&cfg.password_file)
            .map_err(|source| LoadError::Password { path: cfg.password_file.clone(), source })?;
        let password = zeroize::Zeroizing::new(password.trim_end_matches(['\n', '\r']).to_string());
        let key = ReporterKey::load(&cfg.keystore, password.as_bytes())?;
        Ok(Self { key, rpc, chain_id, fee_cap: cfg.fee_cap })
    }

    async fn latest(&self) -> Result<u64, SubmitError> {
        Ok(self.rpc.block_number().await?)
    }

    /// Whether this reporter's report of `frame` is on chain.
    pub async fn submitted(&self, contract: Address, frame: u64) -> Result<bool, SubmitError> {
        let block = self.latest().await?;
        let h = self
            .rpc
            .call(contract, sol::submittedCall { frame: U256::from(frame), reporter: self.key.address() }, block)
            .await?;
        Ok(h != B256::ZERO)
    }

    async fn fees(&self, to: Address, data: &Bytes, frame: u64) -> Result<Fees, SubmitError> {
        let from = self.key.address();
        let est = self
            .rpc
            .request("eth_estimateGas", serde_json::json!([{"from": from, "to": to, "data": data}]))
            .await
            .map_err(|e| match &e {
                RpcError::Rpc { message, .. } => {
                    SubmitError::Refused { contract: to, frame, reason: decode_revert(message) }
                }
                _ => SubmitError::Rpc(e),
            })?;
        let gas = q(&est, "eth_estimateGas")? as u64;
        let gas = gas.saturating_add(gas / 5).max(21_000);
        let block = self.rpc.request("eth_getBlockByNumber", serde_json::json!(["latest", false])).await?;
        let base = block.get("baseFeePerGas").map(|b| q(b, "baseFeePerGas")).transpose()?.unwrap_or(0);
        let priority = match self.rpc.request("eth_maxPriorityFeePerGas", serde_json::json!([])).await {
            Ok(v) => q(&v, "eth_maxPriorityFeePerGas")?,
            Err(_) => 1_000_000_000,
        };
        self.within_cap(frame, Fees { gas, max_fee: base.saturating_mul(2).saturating_add(priority), priority }, base)
    }

    /// Checks a quote against the caps: the tip and the base fee plus tip
    /// must be under them (else the transaction could not be mined within
    /// them); the max fee is lowered to the cap when the quote's headroom
    /// goes past it.
    fn within_cap(&self, frame: u64, quote: Fees, base: u128) -> Result<Fees, SubmitError> {
        const GWEI: u128 = 1_000_000_000;
        let max_priority = u128::from(self.fee_cap.max_priority_fee_per_gas_gwei) * GWEI;
        let max_fee = u128::from(self.fee_cap.max_fee_per_gas_gwei) * GWEI;
        let above = |what, quoted: u128, cap: u128| SubmitError::AboveFeeCap {
            frame,
            what,
            quoted: U256::from(quoted),
            cap: U256::from(cap),
        };
        if quote.priority > max_priority {
            return Err(above("priority fee per gas", quote.priority, max_priority));
        }
        let least = base.saturating_add(quote.priority);
        if least > max_fee {
            return Err(above("base fee plus priority fee per gas", least, max_fee));
        }
        Ok(Fees { max_fee: quote.max_fee.min(max_fee), ..quote })
    }

    /// What `frame`'s transactions to targets other than `target` may cost
    /// at most (gas limit times max fee, read from the signed transactions).
    fn frame_spend(&self, ledger: &Ledger, frame: u64, target: &str) -> Result<U256, SubmitError> {
        let subs = ledger.submissions().map_err(|e| SubmitError::Ledger(e.to_string()))?;
        Ok(subs
            .iter()
            .filter(|s| s.frame == frame && s.target != target && s.state != "reverted")
            .filter_map(|s| s.raw.as_deref().and_then(max_cost_of_raw))
            .fold(U256::ZERO, |a, c| a.saturating_add(c)))
    }

    fn sign(&self, nonce: u64, to: Address, data: &Bytes, f: &Fees) -> Result<(String, String), SubmitError> {
        use alloy_rlp::{Encodable, Header};
        let fields = |out: &mut Vec<u8>, sig: Option<(bool, B256, B256)>| {
            let mut payload = Vec::new();
            self.chain_id.encode(&mut payload);
            nonce.encode(&mut payload);
            f.priority.encode(&mut payload);
            f.max_fee.encode(&mut payload);
            f.gas.encode(&mut payload);
            to.encode(&mut payload);
            0u8.encode(&mut payload);
            data.as_ref().encode(&mut payload);
            Header { list: true, payload_length: 0 }.encode(&mut payload);
            if let Some((y, r, s)) = sig {
                u8::from(y).encode(&mut payload);
                U256::from_be_bytes(r.0).encode(&mut payload);
                U256::from_be_bytes(s.0).encode(&mut payload);
            }
            out.push(0x02);
            Header { list: true, payload_length: payload.len() }.encode(out);
            out.extend_from_slice(&payload);
        };
        let mut unsigned = Vec::new();
        fields(&mut unsigned, None);
        let sig = self.key.sign_hash(&keccak256(&unsigned)).map_err(|e| SubmitError::Malformed(e.to_string()))?;
        let mut raw = Vec::new();
        fields(&mut raw, Some(sig));
        Ok((format!("0x{}", hex::encode(&raw)), format!("{}", keccak256(&raw))))
    }

    /// One step of submitting `data` to `to` for `frame`, recorded in
    /// `ledger` under `target`; `done` asks the contract whether it is in.
    pub async fn step(
        &self,
        ledger: &Ledger,
        frame: u64,
        target: &str,
        to: Address,
        data: Bytes,
        done: bool,
    ) -> Result<Outcome, SubmitError> {
        let lerr = |e: super::db::LedgerError| SubmitError::Ledger(e.to_string());
        let rec = ledger.submission(frame, target).map_err(lerr)?;
        if let Some(r) = &rec {
            if r.state == "mined" {
                return Ok(Outcome::Mined);
            }
            if let (Some(hash), Some(raw)) = (&r.tx_hash, &r.raw) {
                let receipt = self.rpc.request("eth_getTransactionReceipt", serde_json::json!([hash])).await?;
                if !receipt.is_null() {
                    let ok = receipt.get("status").and_then(|s| s.as_str()) == Some("0x1");
                    let block = receipt.get("blockNumber").and_then(|b| b.as_str()).and_then(parse_quantity);
                    let mut r = r.clone();
                    r.state = if ok { "mined" } else { "reverted" }.into();
                    r.at = now();
                    r.detail = format!("{} in block {}", r.state, block.map_or("?".into(), |b| b.to_string()));
                    ledger.set_submission(&r).map_err(lerr)?;
                    return if ok {
                        Ok(Outcome::Mined)
                    } else {
                        Err(SubmitError::Refused {
                            contract: to,
                            frame,
                            reason: format!("transaction {hash} reverted"),
                        })
                    };
                }
                if done {
                    // In by another transaction (an earlier run's, replaced).
                    let mut r = r.clone();
                    (r.state, r.at, r.detail) = ("mined".into(), now(), "found on chain".into());
                    ledger.set_submission(&r).map_err(lerr)?;
                    return Ok(Outcome::AlreadyDone);
                }
                // Not mined: broadcast the same signed transaction again.
                match self.rpc.request("eth_sendRawTransaction", serde_json::json!([raw])).await {
                    Ok(_) => return Ok(Outcome::Sent(hash.clone())),
                    Err(RpcError::Rpc { message, .. })
                        if message.contains("already known") || message.contains("nonce too low") =>
                    {
                        return Ok(Outcome::Pending(hash.clone()));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if done {
            ledger
                .set_submission(&Submission {
                    frame,
                    target: target.into(),
                    state: "mined".into(),
                    tx_hash: None,
                    raw: None,
                    nonce: None,
                    at: now(),
                    detail: "found on chain".into(),
                })
                .map_err(lerr)?;
            return Ok(Outcome::AlreadyDone);
        }
        let fees = self.fees(to, &data, frame).await?;
        let cost = U256::from(fees.gas) * U256::from(fees.max_fee);
        let spend = self.frame_spend(ledger, frame, target)?.saturating_add(cost);
        let cap = U256::from(self.fee_cap.max_spend_per_frame_gwei) * U256::from(1_000_000_000u64);
        if spend > cap {
            return Err(SubmitError::AboveFeeCap { frame, what: "the frame's spend", quoted: spend, cap });
        }
        let from = self.key.address();
        let balance = self.rpc.request("eth_getBalance", serde_json::json!([from, "latest"])).await?;
        let balance = U256::from(q(&balance, "eth_getBalance")?);
        let needed = U256::from(fees.gas) * U256::from(fees.max_fee);
        if balance < needed {
            return Err(SubmitError::NoFunds {
                reporter: from,
                balance,
                needed,
                gas: fees.gas,
                max_fee: fees.max_fee,
                frame,
            });
        }
        let nonce = self.rpc.request("eth_getTransactionCount", serde_json::json!([from, "pending"])).await?;
        let nonce = q(&nonce, "eth_getTransactionCount")? as u64;
        let (raw, hash) = self.sign(nonce, to, &data, &fees)?;
        // Recorded before it leaves: a crash after sending finds it.
        ledger
            .set_submission(&Submission {
                frame,
                target: target.into(),
                state: "sent".into(),
                tx_hash: Some(hash.clone()),
                raw: Some(raw.clone()),
                nonce: Some(nonce),
                at: now(),
                detail: format!("nonce {nonce}, gas {}, max fee {}", fees.gas, fees.max_fee),
            })
            .map_err(lerr)?;
        self.rpc.request("eth_sendRawTransaction", serde_json::json!([raw])).await?;
        Ok(Outcome::Sent(hash))
    }
}

/// Gas limit times max fee of a signed EIP-1559 transaction (`0x02 ||
/// rlp([chain_id, nonce, priority, max_fee, gas, ...])`).
fn max_cost_of_raw(raw: &str) -> Option<U256> {
    use alloy_rlp::Decodable;
    let bytes = hex::decode(raw.strip_prefix("0x").unwrap_or(raw)).ok()?;
    let (&kind, mut body) = bytes.split_first()?;
    if kind != 0x02 {
        return None;
    }
    let header = alloy_rlp::Header::decode(&mut body).ok()?;
    if !header.list {
        return None;
    }
    let _chain_id = u64::decode(&mut body).ok()?;
    let _nonce = u64::decode(&mut body).ok()?;
    let _priority = u128::decode(&mut body).ok()?;
    let max_fee = u128::decode(&mut body).ok()?;
    let gas = u64::decode(&mut body).ok()?;
    Some(U256::from(gas) * U256::from(max_fee))
}

/// Names a known custom error in a revert message.
fn decode_revert(message: &str) -> String {
    use alloy_sol_types::SolError;
    let known = [
        (sol::NotReporter::SELECTOR, "not a registered reporter"),
        (sol::AlreadySubmitted::SELECTOR, "this reporter already submitted the frame"),
        (sol::BadEpochs::SELECTOR, "the frame's epochs are out of order"),
        (sol::NotATrustedNode::SELECTOR, "not one of the StaderOracle's trusted nodes"),
        (sol::ReportingFutureBlockData::SELECTOR, "the reporting block is not in the past"),
        (sol::InvalidReportingBlock::SELECTOR, "the reporting block is not the oracle's reportable block"),
        (sol::InvalidMAPDIndex::SELECTOR, "not the next penalty index"),
        (sol::DuplicateSubmissionFromNode::SELECTOR, "this node already sent that index and those keys"),
    ];
    for (sel, name) in known {
        if message.contains(&hex::encode(sel)) {
            return format!("{name} ({message})");
        }
    }
    message.to_string()
}

/// The calldata of `submitReport` for `r`.
pub fn report_calldata(r: &FrameReport) -> Bytes {
    Bytes::from(sol::submitReportCall { r: contract_report(r).0 }.abi_encode())
}

/// The Stader missed-attestation keys of a window: keys of Stader pools
/// that missed more than `cfg.stader_max_missed` attestations, sorted.
pub fn stader_penalty_keys(cfg: &PerfConfig, r: &FrameReport) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = r
        .operators
        .values()
        .filter(|o| o.pool.starts_with("stader"))
        .flat_map(|o| o.validators.values())
        .filter(|k| k.missed_attestations > cfg.stader_max_missed)
        .filter_map(|k| hex::decode(k.pubkey.trim_start_matches("0x")).ok())
        .collect();
    keys.sort();
    keys
}

/// The calldata of `submitMissedAttestationPenalties` for the oracle's
/// reportable block `reportable` (`getMissedAttestationPenaltyReportableBlock()`:
/// the real StaderOracle reverts for any other, the current block included).
pub fn stader_calldata(reportable: u64, index: u64, keys: Vec<Vec<u8>>) -> Bytes {
    let mapd = sol::MissedAttestationPenaltyData {
        reportingBlockNumber: U256::from(reportable),
        index: U256::from(index),
        sortedPubkeys: keys.into_iter().map(Bytes::from).collect(),
    };
    Bytes::from(sol::submitMissedAttestationPenaltiesCall { mapd }.abi_encode())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signed_transaction_recovers_to_the_reporter() {
        let key = ReporterKey::from_secret(&[7u8; 32]).unwrap();
        let rep = Reporter {
            key,
            rpc: EthRpc::new("http://127.0.0.1:1", std::time::Duration::from_secs(1)),
            chain_id: 31337,
            fee_cap: FeeCap::default(),
        };
        let fees = Fees { gas: 100_000, max_fee: 3_000_000_000, priority: 1_000_000_000 };
        let (raw, hash) = rep.sign(5, Address::repeat_byte(0x11), &Bytes::from(vec![1, 2, 3]), &fees).unwrap();
        assert_eq!(max_cost_of_raw(&raw), Some(U256::from(300_000_000_000_000u64)), "read back from what was signed");
        let raw = hex::decode(&raw[2..]).unwrap();
        assert_eq!(raw[0], 0x02);
        assert_eq!(format!("{}", keccak256(&raw)), hash);
        // The signature recovers to the key's address.
        let body = &raw[1..];
        let header = alloy_rlp::Header::decode(&mut &body[..]).unwrap();
        assert!(header.list);
        let sig_hash = {
            let mut unsigned = Vec::new();
            let fields = |out: &mut Vec<u8>| {
                use alloy_rlp::Encodable;
                let mut p = Vec::new();
                31337u64.encode(&mut p);
                5u64.encode(&mut p);
                1_000_000_000u128.encode(&mut p);
                3_000_000_000u128.encode(&mut p);
                100_000u64.encode(&mut p);
                Address::repeat_byte(0x11).encode(&mut p);
                0u8.encode(&mut p);
                [1u8, 2, 3].as_slice().encode(&mut p);
                alloy_rlp::Header { list: true, payload_length: 0 }.encode(&mut p);
                out.push(2);
                alloy_rlp::Header { list: true, payload_length: p.len() }.encode(out);
                out.extend_from_slice(&p);
            };
            fields(&mut unsigned);
            keccak256(&unsigned)
        };
        let (y, r, s) = rep.key.sign_hash(&sig_hash).unwrap();
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(r.as_slice());
        rs[32..].copy_from_slice(s.as_slice());
        let sig = k256::ecdsa::Signature::from_slice(&rs).unwrap();
        let id = k256::ecdsa::RecoveryId::new(y, false);
        let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(sig_hash.as_slice(), &sig, id).unwrap();
        let point = vk.to_encoded_point(false);
        assert_eq!(Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]), rep.key.address());
    }

    /// A JSON-RPC endpoint that quotes `tip` wei per gas as the priority
    /// fee and counts the transactions sent to it.
    async fn quoting(tip: u128) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let sent = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |axum::Json(req): axum::Json<serde_json::Value>| {
                let counter = counter.clone();
                async move {
                    let answer = |req: &serde_json::Value| {
                        let result = match req["method"].as_str().unwrap_or("") {
                            "eth_estimateGas" => serde_json::json!("0x186a0"),
                            "eth_getBlockByNumber" => serde_json::json!({"baseFeePerGas": "0x3b9aca00"}),
                            "eth_maxPriorityFeePerGas" => serde_json::json!(format!("0x{tip:x}")),
                            "eth_getBalance" => serde_json::json!("0xffffffffffffffffffff"),
                            "eth_getTransactionCount" => serde_json::json!("0x0"),
                            "eth_sendRawTransaction" => {
                                counter.fetch_add(1, Ordering::SeqCst);
                                serde_json::json!(format!("0x{}", "11".repeat(32)))
                            }
                            _ => serde_json::Value::Null,
                        };
                        serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": result})
                    };
                    // A batch gets a batch.
                    match &req {
                        serde_json::Value::Array(all) => {
                            axum::Json(serde_json::Value::Array(all.iter().map(answer).collect()))
                        }
                        one => axum::Json(answer(one)),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, sent)
    }

    #[tokio::test]
    async fn a_fee_quote_above_the_cap_signs_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open_file(&dir.path().join("ledger.sqlite")).unwrap();
        let oracle = Address::repeat_byte(0x22);
        // A 500 gwei tip, against the default cap of 2 gwei.
        let (url, sent) = quoting(500_000_000_000).await;
        let rep = Reporter {
            key: ReporterKey::from_secret(&[7u8; 32]).unwrap(),
            rpc: EthRpc::new(&url, std::time::Duration::from_secs(5)),
            chain_id: 31337,
            fee_cap: FeeCap::default(),
        };
        let e = rep.step(&ledger, 3, "report:x", oracle, Bytes::from(vec![1]), false).await.unwrap_err();
        assert!(matches!(e, SubmitError::AboveFeeCap { what: "priority fee per gas", .. }), "{e}");
        assert!(e.to_string().contains("fee_cap"), "{e}");
        assert_eq!(ledger.submission(3, "report:x").unwrap(), None, "nothing signed or recorded");
        // A fair quote is sent, and the frame's spend cap counts it: a second
        // target of the same frame past the cap is refused.
        let (url, sent_fair) = quoting(1_000_000_000).await;
        let cap = FeeCap { max_spend_per_frame_gwei: 500_000, ..FeeCap::default() };
        let rep = Reporter { rpc: EthRpc::new(&url, std::time::Duration::from_secs(5)), fee_cap: cap, ..rep };
        assert!(matches!(
            rep.step(&ledger, 3, "report:x", oracle, Bytes::from(vec![1]), false).await,
            Ok(Outcome::Sent(_))
        ));
        let e = rep.step(&ledger, 3, "stader:x", oracle, Bytes::from(vec![1]), false).await.unwrap_err();
        assert!(matches!(e, SubmitError::AboveFeeCap { what: "the frame's spend", .. }), "{e}");
        assert_eq!(
            (sent.load(std::sync::atomic::Ordering::SeqCst), sent_fair.load(std::sync::atomic::Ordering::SeqCst)),
            (0, 1)
        );
    }

    #[test]
    fn known_contract_errors_are_named() {
        let sel = hex::encode(<sol::AlreadySubmitted as alloy_sol_types::SolError>::SELECTOR);
        assert!(decode_revert(&format!("execution reverted; data 0x{sel}00")).starts_with("this reporter already"));
    }
}
