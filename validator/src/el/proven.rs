//! Contract calls executed locally over proven state, as light clients do
//! (Helios): the pool contracts' view functions run in `revm` over
//! accounts, code and storage slots each checked against the state root of
//! an [`ExecAnchor`] (the beacon node's block). The endpoint supplies
//! proofs and hints, never answers: a lie fails a proof, and an account or
//! slot the call touches that was not proven stops the call (it is then
//! fetched with its proof and the call run again).
//!
//! `eth_createAccessList` gives the first guess of what a call touches (one
//! round trip for a batch); what it leaves out costs one more round. A call
//! that still touches something unproven after [`MAX_ROUNDS`] is an error.
//!
//! Invariant: every value `revm` sees came out of [`super::proof`]'s
//! checks against `anchor.state_root`; [`ProvenState`] holds nothing else.

use super::proof::{verify_account, verify_code, AccountProof, ExecAnchor, ProofError, ProvenAccount};
use super::proof::{verify_receipts, Receipt};
use super::rpc::{EthRpc, Log, RpcError};
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_sol_types::SolCall;
use revm::bytecode::Bytecode;
use revm::context::result::{EVMError, ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database_interface::{DBErrorMarker, Database};
use revm::state::AccountInfo;
use revm::{ExecuteEvm, MainBuilder, MainContext};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Rounds of "prove what the call touched, run it again" before giving up.
pub const MAX_ROUNDS: usize = 8;
/// Gas a view call may use.
const CALL_GAS: u64 = 1_000_000_000;
/// Slots per `eth_getProof` request.
const SLOTS_PER_PROOF: usize = 256;
/// `eth_getProof` requests per JSON-RPC batch (each answer is a few MB at most).
const PROOFS_PER_BATCH: usize = 4;
/// Calls per `eth_createAccessList` batch.
const HINTS_PER_BATCH: usize = 100;

/// Errors of a proven read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenError {
    /// The endpoint failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A value it gave did not prove.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The call reverted, over proven state.
    #[error("contract {contract}: {function} reverted over the proven state of block {block}")]
    Revert {
        /// The contract called.
        contract: Address,
        /// The function.
        function: &'static str,
        /// The block.
        block: u64,
    },
    /// The call's output is not the function's return type.
    #[error("contract {contract}: {function} returned data that is not its return type ({reason})")]
    BadReturn {
        /// The contract called.
        contract: Address,
        /// The function.
        function: &'static str,
        /// The decoder's account.
        reason: String,
    },
    /// The call still touched unproven state after [`MAX_ROUNDS`], or
    /// needed what no proof gives (a block hash), or the EVM failed.
    #[error("contract {contract}: {function} cannot be proven at block {block}: {what}")]
    Unprovable {
        /// The contract called.
        contract: Address,
        /// The function.
        function: &'static str,
        /// The block.
        block: u64,
        /// What was missing or failed.
        what: String,
    },
    /// A read at another block than the anchor's.
    #[error("a proven read at block {asked}, but the beacon block commits to block {anchor}")]
    NotAnchorBlock {
        /// The block asked.
        asked: u64,
        /// The anchor's block.
        anchor: u64,
    },
}

/// What a call touched that is not proven yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unproven {
    #[error("account {0}")]
    Account(Address),
    #[error("account {0} slot {1}")]
    Slot(Address, U256),
    #[error("code {0}")]
    Code(B256),
    #[error("the hash of block {0}")]
    BlockHash(u64),
}

impl DBErrorMarker for Unproven {}

/// Accounts, code and slots proven against one state root.
///
/// Kept from one read to the next ([`ProvenReader::with_previous`]): code is
/// content-addressed (its hash), and an account whose storage root has not
/// changed has the same slots, so a refresh where nothing changed proves
/// only the accounts again.
#[derive(Debug, Default)]
pub struct ProvenState {
    accounts: HashMap<Address, ProvenAccount>,
    code: HashMap<B256, Bytecode>,
    storage: HashMap<Address, HashMap<U256, U256>>,
}

/// `revm`'s view of a [`ProvenState`]: anything else is [`Unproven`].
struct Db<'a>(&'a ProvenState);

impl Database for Db<'_> {
    type Error = Unproven;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Unproven> {
        let a = self.0.accounts.get(&address).ok_or(Unproven::Account(address))?;
        if *a == ProvenAccount::ABSENT {
            return Ok(None);
        }
        let code = if a.code_hash == alloy_trie::KECCAK_EMPTY {
            Bytecode::default()
        } else {
            self.0.code.get(&a.code_hash).cloned().ok_or(Unproven::Code(a.code_hash))?
        };
        Ok(Some(AccountInfo::new(a.balance, a.nonce, a.code_hash, code)))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Unproven> {
        if code_hash == alloy_trie::KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        self.0.code.get(&code_hash).cloned().ok_or(Unproven::Code(code_hash))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Unproven> {
        let a = self.0.accounts.get(&address).ok_or(Unproven::Account(address))?;
        if a.storage_root == alloy_trie::EMPTY_ROOT_HASH {
            return Ok(U256::ZERO);
        }
        self.0.storage.get(&address).and_then(|m| m.get(&index)).copied().ok_or(Unproven::Slot(address, index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Unproven> {
        Err(Unproven::BlockHash(number))
    }
}

/// How one local run of a call ended.
enum Run {
    Done(Bytes),
    Reverted,
    Needs(Unproven),
    Failed(String),
}

/// Reads contracts at one anchor with proofs. Proven state is kept across
/// calls (one refresh reads many calls of the same contracts).
#[derive(Debug)]
pub struct ProvenReader<'a> {
    rpc: &'a EthRpc,
    anchor: ExecAnchor,
    chain_id: u64,
    state: Mutex<ProvenState>,
    /// The last read's proven state (another root): slots of accounts whose
    /// storage root is unchanged are taken from it once the account proves.
    previous: Option<ProvenState>,
    accounts_proven: AtomicU64,
    slots_proven: AtomicU64,
    slots_reused: AtomicU64,
}

impl<'a> ProvenReader<'a> {
    /// A reader of `rpc`'s state at `anchor`, on chain `chain_id`.
    pub fn new(rpc: &'a EthRpc, anchor: ExecAnchor, chain_id: u64) -> Self {
        ProvenReader {
            rpc,
            anchor,
            chain_id,
            state: Mutex::new(ProvenState::default()),
            previous: None,
            accounts_proven: AtomicU64::new(0),
            slots_proven: AtomicU64::new(0),
            slots_reused: AtomicU64::new(0),
        }
    }

    /// Starts from the last read's proven state: its code, and the slots of
    /// every account whose storage root proves unchanged.
    pub fn with_previous(mut self, previous: ProvenState) -> Self {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        st.code = previous.code.clone();
        self.previous = Some(previous);
        self
    }

    /// What this reader proved, for the next read.
    pub fn into_state(self) -> ProvenState {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Storage slots taken from the previous read (unchanged storage roots).
    pub fn reused(&self) -> u64 {
        self.slots_reused.load(Ordering::Relaxed)
    }

    /// The anchor every read is proven against.
    pub fn anchor(&self) -> &ExecAnchor {
        &self.anchor
    }

    /// Accounts and slots proven so far.
    pub fn proven(&self) -> (u64, u64) {
        (self.accounts_proven.load(Ordering::Relaxed), self.slots_proven.load(Ordering::Relaxed))
    }

    fn tag(&self) -> String {
        format!("0x{:x}", self.anchor.block_number)
    }

    /// Many calls of one function at the anchor's block, each executed
    /// locally over proven state.
    pub async fn call_many<C: SolCall>(
        &self,
        calls: Vec<(Address, C)>,
        block: u64,
    ) -> Result<Vec<C::Return>, ProvenError> {
        if block != self.anchor.block_number {
            return Err(ProvenError::NotAnchorBlock { asked: block, anchor: self.anchor.block_number });
        }
        let datas: Vec<(Address, Bytes)> = calls.iter().map(|(to, c)| (*to, Bytes::from(c.abi_encode()))).collect();
        let mut out: Vec<Option<C::Return>> = (0..datas.len()).map(|_| None).collect();
        // What earlier calls of this read proved may already cover these
        // calls: each runs first over the state proven so far, and only those
        // that touch something unproven cost the endpoint a round trip.
        let (mut pending, mut need) = self.round::<C>(&datas, (0..datas.len()).collect(), &mut out)?;
        if pending.is_empty() {
            return Ok(out.into_iter().flatten().collect());
        }
        // First guess of what the rest touch; a failed guess only costs rounds.
        need.entry(Address::ZERO).or_default();
        for i in &pending {
            need.entry(datas[*i].0).or_default();
        }
        let params = pending
            .iter()
            .map(|i| {
                let (to, data) = &datas[*i];
                serde_json::json!([{"from": Address::ZERO, "to": to, "data": data, "gas": format!("0x{CALL_GAS:x}")}, self.tag()])
            })
            .collect();
        if let Ok(hints) = self.rpc.batch("eth_createAccessList", params, HINTS_PER_BATCH).await {
            for h in hints {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Item {
                    address: Address,
                    storage_keys: Vec<B256>,
                }
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Hint {
                    access_list: Vec<Item>,
                }
                if let Ok(h) = serde_json::from_value::<Hint>(h) {
                    for i in h.access_list {
                        need.entry(i.address)
                            .or_default()
                            .extend(i.storage_keys.into_iter().map(|k| U256::from_be_bytes(k.0)));
                    }
                }
            }
        }
        for _round in 0..MAX_ROUNDS {
            self.prove(need).await?;
            (pending, need) = self.round::<C>(&datas, pending, &mut out)?;
            if pending.is_empty() {
                return Ok(out.into_iter().flatten().collect());
            }
        }
        let (to, _) = &datas[pending[0]];
        Err(ProvenError::Unprovable {
            contract: *to,
            function: C::SIGNATURE,
            block: self.anchor.block_number,
            what: format!("still touching unproven state after {MAX_ROUNDS} rounds of proofs"),
        })
    }

    /// Runs calls `pending` of `datas` over the state proven so far, each
    /// result into `out`; returns those that touched something unproven,
    /// with what to prove for them. A revert or an unprovable touch is the
    /// read's error.
    #[allow(clippy::type_complexity)]
    fn round<C: SolCall>(
        &self,
        datas: &[(Address, Bytes)],
        pending: Vec<usize>,
        out: &mut [Option<C::Return>],
    ) -> Result<(Vec<usize>, BTreeMap<Address, BTreeSet<U256>>), ProvenError> {
        let mut need: BTreeMap<Address, BTreeSet<U256>> = BTreeMap::new();
        let mut still = Vec::new();
        for i in pending {
            let (to, data) = &datas[i];
            let run = {
                let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                self.run(&st, *to, data.clone())
            };
            match run {
                Run::Done(bytes) => {
                    let r = C::abi_decode_returns(&bytes).map_err(|e| ProvenError::BadReturn {
                        contract: *to,
                        function: C::SIGNATURE,
                        reason: format!("{} bytes: {e}", bytes.len()),
                    })?;
                    out[i] = Some(r);
                }
                Run::Reverted => {
                    return Err(ProvenError::Revert {
                        contract: *to,
                        function: C::SIGNATURE,
                        block: self.anchor.block_number,
                    })
                }
                Run::Failed(what) => {
                    return Err(ProvenError::Unprovable {
                        contract: *to,
                        function: C::SIGNATURE,
                        block: self.anchor.block_number,
                        what,
                    })
                }
                Run::Needs(u @ (Unproven::BlockHash(_) | Unproven::Code(_))) => {
                    return Err(ProvenError::Unprovable {
                        contract: *to,
                        function: C::SIGNATURE,
                        block: self.anchor.block_number,
                        what: u.to_string(),
                    })
                }
                Run::Needs(Unproven::Account(a)) => {
                    need.entry(a).or_default();
                    still.push(i);
                }
                Run::Needs(Unproven::Slot(a, s)) => {
                    need.entry(a).or_default().insert(s);
                    still.push(i);
                }
            }
        }
        Ok((still, need))
    }

    /// One call at the anchor's block.
    pub async fn call<C: SolCall>(&self, to: Address, call: C, block: u64) -> Result<C::Return, ProvenError> {
        let mut v = self.call_many(vec![(to, call)], block).await?;
        v.pop().ok_or(ProvenError::Unprovable { contract: to, function: C::SIGNATURE, block, what: "no result".into() })
    }

    /// Runs one call over `st`.
    fn run(&self, st: &ProvenState, to: Address, data: Bytes) -> Run {
        let anchor = self.anchor;
        let chain_id = self.chain_id;
        // Gas is free (price and base fee 0), so the zero-address caller
        // needs no balance: no check has to be turned off but the nonce's.
        let mut evm = Context::mainnet()
            .with_db(Db(st))
            .modify_cfg_chained(|c| {
                c.chain_id = chain_id;
                c.disable_nonce_check = true;
                c.tx_gas_limit_cap = Some(CALL_GAS);
            })
            .modify_block_chained(|b| {
                b.number = U256::from(anchor.block_number);
                b.timestamp = U256::from(anchor.timestamp);
                b.gas_limit = CALL_GAS;
                b.basefee = 0;
            })
            .build_mainnet();
        let tx = TxEnv {
            caller: Address::ZERO,
            kind: TxKind::Call(to),
            data,
            gas_limit: CALL_GAS,
            gas_price: 0,
            chain_id: Some(chain_id),
            ..Default::default()
        };
        match evm.transact_one(tx) {
            Ok(ExecutionResult::Success { output: Output::Call(b), .. }) => Run::Done(b),
            Ok(ExecutionResult::Success { .. }) => Run::Failed("a call that created a contract".into()),
            Ok(ExecutionResult::Revert { .. }) => Run::Reverted,
            Ok(ExecutionResult::Halt { reason, .. }) => Run::Failed(format!("halted: {reason:?}")),
            Err(EVMError::Database(u)) => Run::Needs(u),
            Err(e) => Run::Failed(e.to_string()),
        }
    }

    /// Fetches and checks the proofs of `need` that are not proven yet,
    /// and the code of every newly proven contract.
    async fn prove(&self, need: BTreeMap<Address, BTreeSet<U256>>) -> Result<(), ProvenError> {
        // Accounts the last read proved: the account alone first; if its
        // storage root is unchanged, its slots are taken from that read.
        if let Some(prev) = &self.previous {
            let fresh: BTreeMap<Address, BTreeSet<U256>> = {
                let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                need.keys()
                    .filter(|a| !st.accounts.contains_key(*a) && prev.accounts.contains_key(*a))
                    .map(|a| (*a, BTreeSet::new()))
                    .collect()
            };
            if !fresh.is_empty() {
                self.fetch(fresh.clone()).await?;
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                for a in fresh.keys() {
                    let (Some(old), Some(slots)) = (prev.accounts.get(a), prev.storage.get(a)) else { continue };
                    if st.accounts.get(a).is_some_and(|now| now.storage_root == old.storage_root) {
                        self.slots_reused.fetch_add(slots.len() as u64, Ordering::Relaxed);
                        st.storage.entry(*a).or_default().extend(slots.iter().map(|(k, v)| (*k, *v)));
                    }
                }
            }
        }
        self.fetch(need).await
    }

    /// Fetches and checks the proofs of `need` not proven yet.
    async fn fetch(&self, need: BTreeMap<Address, BTreeSet<U256>>) -> Result<(), ProvenError> {
        // (address, slots) per request, only what is not yet proven.
        let mut asks: Vec<(Address, Vec<U256>)> = Vec::new();
        {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for (a, slots) in need {
                let known = st.accounts.get(&a);
                let empty_storage = known.is_some_and(|k| k.storage_root == alloy_trie::EMPTY_ROOT_HASH);
                let have = st.storage.get(&a);
                let missing: Vec<U256> = if empty_storage {
                    Vec::new()
                } else {
                    slots.into_iter().filter(|s| !have.is_some_and(|m| m.contains_key(s))).collect()
                };
                if known.is_some() && missing.is_empty() {
                    continue;
                }
                if missing.is_empty() {
                    asks.push((a, Vec::new()));
                }
                for chunk in missing.chunks(SLOTS_PER_PROOF) {
                    asks.push((a, chunk.to_vec()));
                }
            }
        }
        if asks.is_empty() {
            return Ok(());
        }
        let tag = self.tag();
        let params = asks
            .iter()
            .map(|(a, slots)| {
                let keys: Vec<B256> = slots.iter().map(|s| B256::from(*s)).collect();
                serde_json::json!([a, keys, tag])
            })
            .collect();
        let answers = self.rpc.batch("eth_getProof", params, PROOFS_PER_BATCH).await?;
        let mut new_code: Vec<(Address, ProvenAccount)> = Vec::new();
        let mut verified = Vec::with_capacity(answers.len());
        for ((a, slots), v) in asks.iter().zip(answers) {
            let p: AccountProof = decode(self.rpc, "eth_getProof", format_args!("account {a}"), v)?;
            let (acct, got) = verify_account(self.anchor.state_root, self.anchor.block_number, *a, &p)?;
            // Every slot asked must be answered, and only those.
            let answered: BTreeSet<U256> = got.iter().map(|(k, _)| *k).collect();
            let asked: BTreeSet<U256> = slots.iter().copied().collect();
            if answered != asked {
                return Err(ProofError::WrongSubject { what: format!("other slots of {a} than were asked") }.into());
            }
            verified.push((*a, acct, got));
        }
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for (a, acct, got) in verified {
                if st.accounts.insert(a, acct).is_none() {
                    self.accounts_proven.fetch_add(1, Ordering::Relaxed);
                    if acct.code_hash != alloy_trie::KECCAK_EMPTY && !st.code.contains_key(&acct.code_hash) {
                        new_code.push((a, acct));
                    }
                }
                self.slots_proven.fetch_add(got.len() as u64, Ordering::Relaxed);
                if !got.is_empty() {
                    st.storage.entry(a).or_default().extend(got);
                }
            }
        }
        new_code.sort_by_key(|(a, _)| *a);
        new_code.dedup_by_key(|(_, acct)| acct.code_hash);
        if new_code.is_empty() {
            return Ok(());
        }
        let params = new_code.iter().map(|(a, _)| serde_json::json!([a, self.tag()])).collect();
        let codes = self.rpc.batch("eth_getCode", params, HINTS_PER_BATCH).await?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for ((a, acct), v) in new_code.iter().zip(codes) {
            let code: Bytes = decode(self.rpc, "eth_getCode", format_args!("account {a}"), v)?;
            verify_code(*a, acct, &code)?;
            st.code.insert(acct.code_hash, Bytecode::new_raw(code));
        }
        Ok(())
    }
}

/// How pool contracts are read: with proofs against a beacon block's
/// execution state (what the client does), or plain `eth_call` answers
/// taken on the endpoint's word (only where nothing moves money: `poolvc
/// pool show` without a beacon node, and tests of the contracts).
#[derive(Debug, Clone, Copy)]
pub enum Reads<'a> {
    /// The endpoint's answers as given.
    Unproven(&'a EthRpc),
    /// Executed locally over proven state.
    Proven(&'a ProvenReader<'a>),
}

impl Reads<'_> {
    /// One call at `block`.
    pub async fn call<C: SolCall>(&self, to: Address, call: C, block: u64) -> Result<C::Return, ProvenError> {
        match self {
            Reads::Unproven(rpc) => Ok(rpc.call(to, call, block).await?),
            Reads::Proven(p) => p.call(to, call, block).await,
        }
    }

    /// Many calls of one function at `block`.
    pub async fn call_many<C: SolCall>(
        &self,
        calls: Vec<(Address, C)>,
        block: u64,
    ) -> Result<Vec<C::Return>, ProvenError> {
        match self {
            Reads::Unproven(rpc) => Ok(rpc.call_many(calls, block).await?),
            Reads::Proven(p) => p.call_many(calls, block).await,
        }
    }
}

/// `v`, an answer to `method` about `what`, as a `T`; a malformed answer
/// names both.
fn decode<T: serde::de::DeserializeOwned>(
    rpc: &EthRpc,
    method: &str,
    what: std::fmt::Arguments<'_>,
    v: serde_json::Value,
) -> Result<T, RpcError> {
    serde_json::from_value(v).map_err(|e| RpcError::Malformed {
        url: rpc.url().to_string(),
        method: method.into(),
        reason: format!("{what}: {e}"),
    })
}

/// The timestamp the endpoint gives for block `hash`: only a hint of which
/// beacon slot carries it (the slot's own payload is then checked).
pub async fn block_timestamp(rpc: &EthRpc, hash: B256) -> Result<u64, RpcError> {
    let v = rpc.request("eth_getBlockByHash", serde_json::json!([hash, false])).await?;
    let bad = |reason: String| RpcError::Malformed {
        url: rpc.url().to_string(),
        method: "eth_getBlockByHash".into(),
        reason,
    };
    let ts = v.get("timestamp").and_then(|t| t.as_str()).ok_or_else(|| bad(format!("block {hash}: no timestamp")))?;
    super::rpc::parse_quantity(ts).ok_or_else(|| bad(format!("block {hash}: timestamp {ts:?}")))
}

/// Checks that `log` is in the block `anchor` commits to: the block is the
/// one the log names, the block's receipts hash to the anchor's receipts
/// root, and one of them carries the log (emitter, topics and data).
pub async fn prove_log(rpc: &EthRpc, anchor: &ExecAnchor, log: &Log) -> Result<(), ProvenError> {
    if anchor.block_hash != log.block_hash || anchor.block_number != log.block {
        return Err(ProofError::LogBlock {
            block: log.block,
            hash: log.block_hash,
            anchor_block: anchor.block_number,
            anchor_hash: anchor.block_hash,
        }
        .into());
    }
    let v = rpc.request("eth_getBlockReceipts", serde_json::json!([log.block_hash])).await?;
    let mut receipts: Vec<Receipt> = decode(rpc, "eth_getBlockReceipts", format_args!("block {}", log.block), v)?;
    verify_receipts(log.block, anchor.receipts_root, &mut receipts)?;
    let found = receipts
        .iter()
        .flat_map(|r| r.logs.iter())
        .any(|l| l.address == log.address && l.topics == log.topics && l.data == log.data);
    if !found {
        return Err(ProofError::LogNotInBlock { block: log.block, emitter: log.address }.into());
    }
    Ok(())
}
