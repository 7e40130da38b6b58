//! One read of every `pools.yaml` entry at one block, with what it means for
//! the local keys: what `poolvc pool show` prints and what the key-map
//! figures measure.

use super::config::PoolsConfig;
use super::exits::{self, ExitRequest};
use super::map::PoolMap;
use super::reader::{self, ChainTime};
use crate::el::proof::ExecAnchor;
use crate::el::proven::{ProvenReader, ProvenState, Reads};
use crate::el::rpc::{EthRpc, RpcError};
use crate::policy::pool_rules::{self, Why};
use crate::policy::PoolRecipient;
use poolvc_signer::types::{Address, PublicKeyBytes};
use std::collections::HashSet;

/// One key of an operator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyView {
    /// The key.
    pub pubkey: PublicKeyBytes,
    /// Whether poolvc has its keystore.
    pub local: bool,
}

/// Keys of an operator under a second rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecondRule {
    /// Who they pay, if known.
    pub recipient: Option<Address>,
    /// Why.
    pub why: String,
    /// The keys.
    pub keys: Vec<KeyView>,
}

/// One `pools.yaml` entry as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OperatorView {
    /// The pool.
    pub pool: String,
    /// The operator (as the pool names it), if the read worked.
    pub operator: Option<String>,
    /// The recipient its keys must pay, if known.
    pub recipient: Option<Address>,
    /// Why, or why not.
    pub why: String,
    /// A pending Stader change: the block after which the new state applies.
    pub change_applies_after_block: Option<u64>,
    /// The keys the pool holds for it.
    pub keys: Vec<KeyView>,
    /// Keys of the operator under a second rule (Rocket Pool megapool keys).
    pub second: Option<SecondRule>,
    /// The read's error, if it failed.
    pub error: Option<String>,
}

/// The whole picture.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    /// The execution chain and block read.
    pub chain_id: u64,
    /// The block every read was made at.
    pub block: u64,
    /// Whether the reads were proven against a beacon block's execution
    /// state root (otherwise they are the endpoint's word).
    pub proven: bool,
    /// Accounts and storage slots proven.
    pub proofs: (u64, u64),
    /// Storage slots taken from an earlier read (storage root unchanged).
    pub slots_reused: u64,
    /// Per entry, in file order.
    pub operators: Vec<OperatorView>,
    /// Local keys no pool holds (their configured recipient applies).
    pub local_keys_in_no_pool: Vec<PublicKeyBytes>,
    /// Exit requests for local keys in the last `exit_lookback_blocks` of `pools.yaml`.
    pub exit_requests: Vec<ExitRequest>,
    /// JSON-RPC requests and calls the snapshot took.
    pub rpc_requests: u64,
    /// JSON-RPC calls (a batch counts each call).
    pub rpc_calls: u64,
    /// Milliseconds the reads and the map took.
    pub elapsed_ms: u64,
}

/// Reads everything `cfg` names: at `anchor`'s block with proofs, or, with
/// no anchor, at the node's current block on its word.
pub async fn take(
    cfg: &PoolsConfig,
    rpc: &EthRpc,
    anchor: Option<ExecAnchor>,
    local: &HashSet<PublicKeyBytes>,
    time: &ChainTime,
) -> Result<Snapshot, RpcError> {
    Ok(take_with(cfg, rpc, anchor, None, local, time).await?.0)
}

/// [`take`], starting from an earlier read's proven state; also gives this
/// read's proven state (for the next).
pub async fn take_with(
    cfg: &PoolsConfig,
    rpc: &EthRpc,
    anchor: Option<ExecAnchor>,
    previous: Option<ProvenState>,
    local: &HashSet<PublicKeyBytes>,
    time: &ChainTime,
) -> Result<(Snapshot, Option<ProvenState>), RpcError> {
    let started = std::time::Instant::now();
    let chain_id = rpc.chain_id().await?;
    if let Some(expected) = cfg.chain_id {
        if expected != chain_id {
            return Err(RpcError::ChainId { url: rpc.url().to_string(), expected, got: chain_id });
        }
    }
    let prover = anchor.map(|a| {
        let p = ProvenReader::new(rpc, a, chain_id);
        match previous {
            Some(prev) => p.with_previous(prev),
            None => p,
        }
    });
    let reads = match &prover {
        Some(p) => Reads::Proven(p),
        None => Reads::Unproven(rpc),
    };
    let block = match anchor {
        Some(a) => a.block_number,
        None => rpc.block_number().await?,
    };
    let mut map =
        PoolMap::new(cfg.pools.iter().map(|p| p.kind().to_string()).collect()).with_relays(cfg.relays.clone());
    map.set_head(block, 0);
    // Unproven, the entries are read side by side: each is a chain of
    // dependent calls, and the endpoint answers them on all its cores.
    // Proven, one after another: each entry's proofs serve the next ones
    // (the locator, shared registries), and read side by side they would be
    // asked twice.
    let results = match &reads {
        Reads::Unproven(_) => {
            futures_util::future::join_all(
                cfg.pools.iter().map(|spec| reader::read_operator(&reads, spec, block, time)),
            )
            .await
        }
        Reads::Proven(_) => {
            let mut all = Vec::with_capacity(cfg.pools.len());
            for spec in &cfg.pools {
                all.push(reader::read_operator(&reads, spec, block, time).await);
            }
            all
        }
    };
    for (i, r) in results.into_iter().enumerate() {
        map.record(i, r, 0, block);
    }
    let rules = map.rules(0, u64::MAX);
    let mut operators = Vec::with_capacity(cfg.pools.len());
    for (i, e) in map.entries.iter().enumerate() {
        let spec = &cfg.pools[i];
        let mut v = OperatorView {
            pool: spec.kind().into(),
            operator: None,
            recipient: None,
            why: String::new(),
            change_applies_after_block: None,
            keys: Vec::new(),
            second: None,
            error: e.error.as_ref().map(|(m, _)| m.clone()),
        };
        if let Some(g) = &e.good {
            v.pool = g.read.pool.clone();
            v.operator = Some(g.read.operator.clone());
            v.keys = g.read.keys.iter().map(|k| KeyView { pubkey: *k, local: local.contains(k) }).collect();
            match pool_rules::decide(&g.read.facts) {
                Ok(d) => {
                    v.recipient = Some(d.recipient);
                    if let Why::StaderChangePending { applies_after_block, .. } = d.why {
                        v.change_applies_after_block = Some(applies_after_block);
                    }
                    v.why = d.why.to_string();
                }
                Err(err) => v.why = format!("no recipient: {err}"),
            }
            if let Some((facts, keys)) = &g.read.second {
                let (recipient, why) = match pool_rules::decide(facts) {
                    Ok(d) => (Some(d.recipient), d.why.to_string()),
                    Err(err) => (None, format!("no recipient: {err}")),
                };
                let keys = keys.iter().map(|k| KeyView { pubkey: *k, local: local.contains(k) }).collect();
                v.second = Some(SecondRule { recipient, why, keys });
            }
            // A key another entry also claims gets no recipient.
            if let Some(k) =
                g.read.keys.iter().find(|k| matches!(rules.rule_of(k), Some(PoolRecipient::Unknown { .. })))
            {
                v.why = format!("{}; key {k} is claimed by another entry too: it does not propose", v.why);
            }
        } else {
            v.why = "not read".into();
        }
        operators.push(v);
    }
    let claimed = map.claimed();
    let mut local_keys_in_no_pool: Vec<PublicKeyBytes> = local.difference(&claimed).copied().collect();
    local_keys_in_no_pool.sort();
    let from = block.saturating_sub(cfg.exit_lookback_blocks);
    let mut exit_requests = Vec::new();
    let mut penalty_logs = std::collections::HashMap::new();
    for (i, spec) in cfg.pools.iter().enumerate() {
        let read = map.entries[i].good.as_ref().map(|g| &g.read);
        let found = match exits::fetch(rpc, spec, read, from, block, &mut penalty_logs).await {
            Err(exits::ExitFetchError::Rpc(e)) => return Err(e),
            other => other,
        };
        match found {
            Ok(v) => exit_requests.extend(v.into_iter().filter(|r| local.contains(&r.pubkey))),
            Err(e) => {
                let msg = format!("exit requests: {e}");
                match &mut operators[i].error {
                    Some(x) => *x = format!("{x}; {msg}"),
                    None => operators[i].error = Some(msg),
                }
            }
        }
    }
    let (rpc_requests, rpc_calls) = rpc.counts();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let snap = Snapshot {
        chain_id,
        block,
        proven: prover.is_some(),
        proofs: prover.as_ref().map_or((0, 0), |p| p.proven()),
        slots_reused: prover.as_ref().map_or(0, |p| p.reused()),
        operators,
        local_keys_in_no_pool,
        exit_requests,
        rpc_requests,
        rpc_calls,
        elapsed_ms,
    };
    Ok((snap, prover.map(ProvenReader::into_state)))
}

impl Snapshot {
    /// The text `poolvc pool show` prints.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "chain {} at block {}", self.chain_id, self.block);
        if self.proven {
            let _ = writeln!(
                s,
                "read with proofs against the beacon block's execution state ({} accounts, {} slots proven, {} slots unchanged since the last read)",
                self.proofs.0, self.proofs.1, self.slots_reused
            );
        } else {
            let _ = writeln!(s, "UNPROVEN: the endpoint's answers as given (no beacon block to prove them against)");
        }
        for (i, o) in self.operators.iter().enumerate() {
            let local = o.keys.iter().filter(|k| k.local).count();
            let _ = writeln!(
                s,
                "pools[{i}] {} operator {}: {} keys ({} local)",
                o.pool,
                o.operator.as_deref().unwrap_or("?"),
                o.keys.len(),
                local
            );
            match o.recipient {
                Some(r) => {
                    let _ = writeln!(s, "  pays {r}: {}", o.why);
                }
                None => {
                    let _ = writeln!(s, "  pays no one (does not propose): {}", o.why);
                }
            }
            if let Some(second) = &o.second {
                let local = second.keys.iter().filter(|k| k.local).count();
                match second.recipient {
                    Some(r) => {
                        let _ =
                            writeln!(s, "  {} more keys ({local} local) pay {r}: {}", second.keys.len(), second.why);
                    }
                    None => {
                        let _ =
                            writeln!(s, "  {} more keys ({local} local) pay no one: {}", second.keys.len(), second.why);
                    }
                }
            }
            if let Some(b) = o.change_applies_after_block {
                let _ = writeln!(s, "  pending opt-in change: the new recipient applies after block {b}");
            }
            if let Some(e) = &o.error {
                let _ = writeln!(s, "  error: {}", e.trim_end());
            }
            for k in o.keys.iter().filter(|k| !k.local) {
                let _ = writeln!(s, "  no local keystore: {}", k.pubkey);
            }
        }
        for k in &self.local_keys_in_no_pool {
            let _ = writeln!(s, "local key in no pool (its configured recipient applies): {k}");
        }
        for r in &self.exit_requests {
            // The key's activation is not read here: counted from the delivery.
            let due = r.deadline(None).map_or("as soon as possible".to_string(), |d| format!("by unix time {d}"));
            let _ = writeln!(s, "exit requested by {} at block {} for {}: due {due}", r.pool, r.block, r.pubkey);
        }
        let _ =
            writeln!(s, "({} JSON-RPC requests, {} calls, {} ms)", self.rpc_requests, self.rpc_calls, self.elapsed_ms);
        s
    }
}
