//! A small execution JSON-RPC client for reading the pool contracts:
//! `eth_chainId`, `eth_blockNumber`, `eth_call` (one or a JSON-RPC batch, at
//! one block), `eth_getLogs`, and batches of any method (the proofs of
//! [`super::proven`]).
//!
//! Why not alloy's provider: poolvc needs the same guarantees here as on its
//! beacon client (one deadline per request, a cap on every answer, every
//! failure named by contract and function), and the `sol!` bindings from
//! `alloy-sol-types` are what carry the contracts' real signatures; the
//! transport is a few lines of reqwest.
//!
//! Invariants: every call of one read names the same block, so the facts
//! of one refresh are one state of the chain; a revert, a JSON-RPC error, an
//! answer that does not decode as the function's return type, and an answer
//! over [`MAX_BODY`] are errors, never default values.

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolCall;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The largest answer accepted (a batch of a few hundred calls is far less).
pub const MAX_BODY: usize = 32 << 20;
/// Calls per JSON-RPC batch.
pub const BATCH: usize = 250;
/// Blocks per `eth_getLogs` request: public endpoints refuse wider ranges
/// (10,000 is a common limit), and a 14-day lookback is 100,800 blocks.
pub const LOGS_SPAN: u64 = 10_000;
/// JSON-RPC batches of one [`EthRpc::batch`] sent at once: an endpoint
/// answers proofs on more than one core, and the answers keep their order.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// Errors talking to the execution node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No answer (refused, timed out, cut).
    #[error("execution RPC {url}: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What happened.
        reason: String,
    },
    /// An HTTP status that is not 200.
    #[error("execution RPC {url}: HTTP {status} to {method}")]
    Http {
        /// The endpoint.
        url: String,
        /// The method asked.
        method: String,
        /// The status.
        status: u16,
    },
    /// An answer that is not JSON-RPC of the expected shape.
    #[error("execution RPC {url}: malformed answer to {method}: {reason}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// The method asked.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON-RPC error that is not a revert.
    #[error("execution RPC {url}: {method} failed: {message} (code {code})")]
    Rpc {
        /// The endpoint.
        url: String,
        /// The method asked.
        method: String,
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The contract reverted.
    #[error("contract {contract}: {function} reverted ({reason})")]
    Revert {
        /// The contract called.
        contract: Address,
        /// The function.
        function: &'static str,
        /// The node's message and revert data.
        reason: String,
    },
    /// The return data does not decode as the function's outputs (not the
    /// contract `pools.yaml` says, or no contract at that address).
    #[error("contract {contract}: {function} returned data that is not its return type ({reason})")]
    BadReturn {
        /// The contract called.
        contract: Address,
        /// The function.
        function: &'static str,
        /// The decoder's account.
        reason: String,
    },
    /// The node is on another chain than `pools.yaml` names.
    #[error("execution RPC {url} is on chain {got}, pools.yaml names chain {expected}")]
    ChainId {
        /// The endpoint.
        url: String,
        /// What pools.yaml says.
        expected: u64,
        /// What the node says.
        got: u64,
    },
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The emitting contract.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<B256>,
    /// Its data.
    pub data: Bytes,
    /// The block it is in.
    pub block: u64,
    /// That block's hash.
    pub block_hash: B256,
}

/// The client. Cheap to share.
#[derive(Debug)]
pub struct EthRpc {
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    requests: AtomicU64,
    calls: AtomicU64,
    /// Blocks per `eth_getLogs` request ([`LOGS_SPAN`] unless set).
    logs_span: u64,
}

impl EthRpc {
    /// A client of `url`; every request ends within `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        Self {
            url: url.to_string(),
            http: reqwest::Client::new(),
            timeout,
            requests: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            logs_span: LOGS_SPAN,
        }
    }

    /// The same client asking `eth_getLogs` for at most `blocks` blocks at a
    /// time (an endpoint with a narrower limit than [`LOGS_SPAN`]).
    pub fn with_logs_span(mut self, blocks: u64) -> Self {
        self.logs_span = blocks.max(1);
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `(HTTP requests, JSON-RPC calls)` made so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.requests.load(Ordering::Relaxed), self.calls.load(Ordering::Relaxed))
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        let v = self.one("eth_chainId", serde_json::json!([])).await?;
        self.quantity("eth_chainId", &v)
    }

    /// Checks that the node is on `expected`.
    pub async fn check_chain(&self, expected: u64) -> Result<(), RpcError> {
        let got = self.chain_id().await?;
        if got != expected {
            return Err(RpcError::ChainId { url: self.url.clone(), expected, got });
        }
        Ok(())
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        let v = self.one("eth_blockNumber", serde_json::json!([])).await?;
        self.quantity("eth_blockNumber", &v)
    }

    /// One contract call at `block`.
    pub async fn call<C: SolCall>(&self, to: Address, call: C, block: u64) -> Result<C::Return, RpcError> {
        let mut v = self.call_many(vec![(to, call)], block).await?;
        v.pop().ok_or_else(|| self.malformed("eth_call", "an empty batch answer".into()))
    }

    /// Many calls of one function at `block`, in JSON-RPC batches of
    /// [`BATCH`]; all succeed or the first failure is the answer.
    pub async fn call_many<C: SolCall>(
        &self,
        calls: Vec<(Address, C)>,
        block: u64,
    ) -> Result<Vec<C::Return>, RpcError> {
        let tag = format!("0x{block:x}");
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(BATCH) {
            let batch: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(id, (to, c))| {
                    serde_json::json!({
                        "jsonrpc": "2.0", "id": id, "method": "eth_call",
                        "params": [{"to": to, "data": Bytes::from(c.abi_encode())}, tag],
                    })
                })
                .collect();
            let answers = self.post("eth_call", &serde_json::Value::Array(batch), chunk.len()).await?;
            for ((to, _), answer) in chunk.iter().zip(answers) {
                let data = match answer {
                    Ok(v) => v,
                    Err((code, message, data)) => {
                        return Err(if code == 3 || message.to_ascii_lowercase().contains("revert") {
                            let reason = match data {
                                Some(d) => format!("{message}; data {d}"),
                                None => message,
                            };
                            RpcError::Revert { contract: *to, function: C::SIGNATURE, reason }
                        } else {
                            RpcError::Rpc { url: self.url.clone(), method: "eth_call".into(), code, message }
                        })
                    }
                };
                let bytes: Bytes = serde_json::from_value(data)
                    .map_err(|e| self.malformed("eth_call", format!("result is not hex data: {e}")))?;
                let r = C::abi_decode_returns(&bytes).map_err(|e| RpcError::BadReturn {
                    contract: *to,
                    function: C::SIGNATURE,
                    reason: format!("{} bytes: {e}", bytes.len()),
                })?;
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `eth_getLogs` of any of `addresses` with `topics` (position by
    /// position; `None` matches anything) over `from..=to`, asked
    /// [`LOGS_SPAN`] blocks at a time (or the span set).
    pub async fn logs(
        &self,
        addresses: &[Address],
        topics: &[Option<B256>],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, RpcError> {
        let mut out = Vec::new();
        let mut lo = from;
        while lo <= to {
            let hi = to.min(lo.saturating_add(self.logs_span - 1));
            out.extend(self.logs_in(addresses, topics, lo, hi).await?);
            lo = hi + 1;
        }
        Ok(out)
    }

    /// One `eth_getLogs` request over `from..=to`.
    async fn logs_in(
        &self,
        addresses: &[Address],
        topics: &[Option<B256>],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, RpcError> {
        let filter = serde_json::json!({
            "address": addresses,
            "topics": topics,
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
        });
        let v = self.one("eth_getLogs", serde_json::json!([filter])).await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            address: Address,
            topics: Vec<B256>,
            data: Bytes,
            block_number: String,
            block_hash: B256,
        }
        let raw: Vec<Raw> = serde_json::from_value(v).map_err(|e| self.malformed("eth_getLogs", e.to_string()))?;
        raw.into_iter()
            .map(|r| {
                let block = parse_quantity(&r.block_number)
                    .ok_or_else(|| self.malformed("eth_getLogs", format!("blockNumber {:?}", r.block_number)))?;
                Ok(Log { address: r.address, topics: r.topics, data: r.data, block, block_hash: r.block_hash })
            })
            .collect()
    }

    /// Many requests of one `method`, one per entry of `params`, in JSON-RPC
    /// batches of at most `per_batch`; their results in order. Any error in
    /// an answer is the answer.
    pub async fn batch(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
        per_batch: usize,
    ) -> Result<Vec<serde_json::Value>, RpcError> {
        let bodies: Vec<(serde_json::Value, usize)> = params
            .chunks(per_batch.max(1))
            .map(|chunk| {
                let body: Vec<serde_json::Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(id, p)| serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": p}))
                    .collect();
                (serde_json::Value::Array(body), chunk.len())
            })
            .collect();
        // A few batches in flight at once, their answers kept in order.
        let mut answers = Vec::with_capacity(params.len());
        for group in bodies.chunks(BATCHES_IN_FLIGHT) {
            let posts: Vec<_> = group.iter().map(|(body, n)| self.post(method, body, *n)).collect();
            answers.extend(futures_util::future::try_join_all(posts).await?.into_iter().flatten());
        }
        let mut out = Vec::with_capacity(params.len());
        for a in answers {
            match a {
                Ok(v) => out.push(v),
                Err((code, message, data)) => {
                    let message = match data {
                        Some(d) => format!("{message}; data {d}"),
                        None => message,
                    };
                    return Err(RpcError::Rpc { url: self.url.clone(), method: method.into(), code, message });
                }
            }
        }
        Ok(out)
    }

    /// One JSON-RPC request; its result (an error's revert data, if any,
    /// is in its message).
    pub async fn request(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, RpcError> {
        self.one(method, params).await
    }

    async fn one(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, RpcError> {
        let body = serde_json::json!([{"jsonrpc": "2.0", "id": 0, "method": method, "params": params}]);
        let mut v = self.post(method, &body, 1).await?;
        match v.pop() {
            Some(Ok(v)) => Ok(v),
            Some(Err((code, message, data))) => {
                let message = match data {
                    Some(d) => format!("{message}; data {d}"),
                    None => message,
                };
                Err(RpcError::Rpc { url: self.url.clone(), method: method.into(), code, message })
            }
            None => Err(self.malformed(method, "no answer".into())),
        }
    }

    /// Posts a batch of `n` requests with ids `0..n`; the answers in id
    /// order, each a result or `(code, message, data)`.
    #[allow(clippy::type_complexity)]
    async fn post(
        &self,
        method: &str,
        body: &serde_json::Value,
        n: usize,
    ) -> Result<Vec<Result<serde_json::Value, (i64, String, Option<String>)>>, RpcError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.calls.fetch_add(n as u64, Ordering::Relaxed);
        let unreachable = |e: reqwest::Error| RpcError::Unreachable { url: self.url.clone(), reason: chain(&e) };
        let fut = async {
            let mut resp = self.http.post(&self.url).json(body).send().await.map_err(unreachable)?;
            if resp.status() != reqwest::StatusCode::OK {
                return Err(RpcError::Http {
                    url: self.url.clone(),
                    method: method.into(),
                    status: resp.status().as_u16(),
                });
            }
            let mut buf = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
                if buf.len() + chunk.len() > MAX_BODY {
                    return Err(self.malformed(method, format!("answer over {MAX_BODY} bytes")));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(buf)
        };
        let buf = tokio::time::timeout(self.timeout, fut).await.map_err(|_| RpcError::Unreachable {
            url: self.url.clone(),
            reason: format!("no answer to {method} within {:?}", self.timeout),
        })??;
        #[derive(serde::Deserialize)]
        struct Answer {
            id: serde_json::Value,
            result: Option<serde_json::Value>,
            error: Option<ErrorObj>,
        }
        #[derive(serde::Deserialize)]
        struct ErrorObj {
            code: i64,
            message: String,
            data: Option<serde_json::Value>,
        }
        let answers: Vec<Answer> = match serde_json::from_slice(&buf) {
            Ok(a) => a,
            Err(e) => {
                // A node may answer a whole batch with one error object.
                if let Ok(one) = serde_json::from_slice::<Answer>(&buf) {
                    if let Some(err) = one.error {
                        return Err(RpcError::Rpc {
                            url: self.url.clone(),
                            method: method.into(),
                            code: err.code,
                            message: err.message,
                        });
                    }
                }
                return Err(self.malformed(method, format!("not a JSON-RPC batch answer: {e}")));
            }
        };
        let mut slots: Vec<Option<Result<serde_json::Value, (i64, String, Option<String>)>>> = vec![None; n];
        for a in answers {
            let id =
                a.id.as_u64()
                    .filter(|i| (*i as usize) < n)
                    .ok_or_else(|| self.malformed(method, format!("an answer with id {} that was not asked", a.id)))?
                    as usize;
            let r = match (a.result, a.error) {
                (_, Some(e)) => Err((e.code, e.message, e.data.map(|d| d.to_string()))),
                (Some(v), None) => Ok(v),
                (None, None) => return Err(self.malformed(method, format!("answer {id} has no result"))),
            };
            if slots[id].replace(r).is_some() {
                return Err(self.malformed(method, format!("two answers with id {id}")));
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.ok_or_else(|| self.malformed(method, format!("no answer with id {i}"))))
            .collect()
    }

    fn quantity(&self, method: &str, v: &serde_json::Value) -> Result<u64, RpcError> {
        v.as_str().and_then(parse_quantity).ok_or_else(|| self.malformed(method, format!("{v} is not a quantity")))
    }

    fn malformed(&self, method: &str, reason: String) -> RpcError {
        RpcError::Malformed { url: self.url.clone(), method: method.into(), reason }
    }
}

/// An error and its causes, `a: b: c` (reqwest's own message alone does not
/// say whether the connection was refused, reset or timed out).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A JSON-RPC quantity (`0x`-prefixed hex, no leading zeros needed).
pub fn parse_quantity(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("0x0"), Some(0));
        assert_eq!(parse_quantity("0x7a69"), Some(31337));
        assert_eq!(parse_quantity("7a69"), None);
        assert_eq!(parse_quantity("0x"), None);
        assert_eq!(parse_quantity("0x10000000000000000"), None);
    }
}
