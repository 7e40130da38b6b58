//! A Beacon API client over one or more beacon nodes, ranked by health: a
//! request goes to the best node first and, if it fails there (timeout, 5xx,
//! bad JSON, connection refused), to the next. Timeouts are set per request
//! by the caller (fractions of a slot).
//!
//! Ranking: synced nodes before syncing or unreachable ones, then fewer
//! consecutive failures, then smaller head distance, then the operator's
//! order. Health comes from `/eth/v1/node/syncing`, polled by
//! [`BeaconClient::check_health`] (each slot), and from every request's
//! outcome.

use poolvc_signer::types::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Errors talking to beacon nodes.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    /// Every node failed; each node's error is listed.
    #[error("all beacon nodes failed: {}", join(errors))]
    AllFailed {
        /// The route (path without query).
        route: String,
        /// Each node's error, in the order tried.
        errors: Vec<NodeError>,
    },
    /// Every node answered 404: the route is not served (or the object does
    /// not exist), e.g. the liveness route on older nodes.
    #[error("not served by any beacon node: {}", join(errors))]
    NotServed {
        /// The route (path without query).
        route: String,
        /// Each node's answer.
        errors: Vec<NodeError>,
    },
    /// A node answered with something that is not what the API specifies.
    #[error("{url}: {reason}")]
    Invalid {
        /// The request.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A request body could not be encoded (nothing was sent).
    #[error("{path}: encoding the request body: {reason}")]
    Encode {
        /// The route.
        path: String,
        /// Why.
        reason: String,
    },
}

fn join(errors: &[NodeError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Why one node's answer to one request was not used. Each names the node
/// and the route once, and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No whole answer within the request's time (including a body that
    /// trickles in).
    #[error("{node} did not answer {route} within {ms} ms")]
    Timeout {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The time allowed.
        ms: u64,
    },
    /// No connection could be made.
    #[error("cannot connect to {node} ({route}): {reason}")]
    Connect {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The system's reason (e.g. connection refused).
        reason: String,
    },
    /// A status other than success.
    #[error("{node} answered {route} with HTTP {status}: {message}")]
    Status {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The HTTP status.
        status: u16,
        /// The start of the node's message.
        message: String,
    },
    /// A body longer than the route's cap (`limits`).
    #[error("{node} answered {route} with more than {limit} bytes; the answer was dropped")]
    TooLarge {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The cap.
        limit: usize,
    },
    /// A body that is not what the API specifies.
    #[error("{node} answered {route} with a malformed body: {reason}")]
    Malformed {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// The connection failed after it was made.
    #[error("{node} ({route}): {reason}")]
    Transport {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The innermost cause.
        reason: String,
    },
}

impl NodeError {
    /// Whether the node answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, NodeError::Status { status: 404, .. })
    }

    fn from_reqwest(node: &str, route: &str, ms: u64, e: &reqwest::Error) -> Self {
        let (node, route) = (node.to_string(), route.to_string());
        if e.is_timeout() {
            return NodeError::Timeout { node, route, ms };
        }
        // The innermost cause names what happened ("Connection refused");
        // the outer layers only repeat the URL.
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let reason = cause.to_string();
        if e.is_connect() {
            NodeError::Connect { node, route, reason }
        } else {
            NodeError::Transport { node, route, reason }
        }
    }
}

/// `{"data": T}` envelope.
#[derive(Debug, Deserialize)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// `{"version": fork, "data": T}` envelope of the v2 routes.
#[derive(Debug, Deserialize)]
pub struct VersionedData<T> {
    /// Fork name of the payload.
    pub version: String,
    /// The payload.
    pub data: T,
}

/// `{"data": T, "dependent_root": ..}` envelope of duties.
#[derive(Debug, Deserialize)]
pub struct DutiesResponse<T> {
    /// The duties.
    pub data: Vec<T>,
    /// The block root the duties depend on (a reorg past it changes them).
    pub dependent_root: Hash256,
}

/// `GET /eth/v1/beacon/genesis`.
#[derive(Debug, Clone, Deserialize)]
pub struct Genesis {
    /// Unix time of slot 0.
    #[serde(with = "serde_utils::quoted_u64")]
    pub genesis_time: u64,
    /// The network's genesis validators root.
    pub genesis_validators_root: Hash256,
}

/// An entry of `GET /eth/v1/beacon/states/{state}/validators`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatorEntry {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
    /// Status (`active_ongoing`, ...).
    pub status: String,
    /// The validator.
    pub validator: ValidatorInfo,
}

/// The `validator` object of [`ValidatorEntry`].
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatorInfo {
    /// Public key.
    pub pubkey: PublicKeyBytes,
}

/// An attester duty.
#[derive(Debug, Clone, Deserialize)]
pub struct AttesterDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_index: u64,
    /// Committee size.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_length: u64,
    /// Committees in the slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committees_at_slot: u64,
    /// Position in the committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_committee_index: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
}

/// A proposer duty.
#[derive(Debug, Clone, Deserialize)]
pub struct ProposerDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
}

/// A sync-committee duty.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncDuty {
    /// Key.
    pub pubkey: PublicKeyBytes,
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Positions in the sync committee.
    #[serde(with = "serde_utils::quoted_u64_vec")]
    pub validator_sync_committee_indices: Vec<u64>,
}

/// `POST /eth/v1/validator/prepare_beacon_proposer` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ProposerPreparation {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Fee recipient.
    pub fee_recipient: Address,
}

/// `POST /eth/v1/validator/beacon_committee_subscriptions` entry.
#[derive(Debug, Clone, Serialize)]
pub struct CommitteeSubscription {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Committee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committee_index: u64,
    /// Committees at the slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub committees_at_slot: u64,
    /// Slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// Whether this validator aggregates.
    pub is_aggregator: bool,
}

/// A `GET /eth/v2/validator/blocks` response.
#[derive(Debug, Clone, Deserialize)]
pub struct ProducedBlock {
    /// Fork name.
    pub version: String,
    /// The block JSON.
    pub data: serde_json::Value,
}

/// A `GET /eth/v3/validator/blocks` response.
#[derive(Debug, Clone, Deserialize)]
pub struct ProducedBlockV3 {
    /// Fork name.
    pub version: String,
    /// Whether `data` is a blinded block (builder payload header).
    pub execution_payload_blinded: bool,
    /// Block contents (`block`, `kzg_proofs`, `blobs`) from Deneb on, or a
    /// blinded block.
    pub data: serde_json::Value,
}

/// What the client knows of one node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeHealth {
    /// Reachable and not syncing at the last check (assumed until checked).
    pub synced: bool,
    /// `sync_distance` at the last check.
    pub head_distance: u64,
    /// Failed requests since the last success.
    pub consecutive_failures: u32,
}

impl Default for NodeHealth {
    fn default() -> Self {
        Self { synced: true, head_distance: 0, consecutive_failures: 0 }
    }
}

/// `GET /eth/v1/node/syncing`.
#[derive(Debug, Deserialize)]
struct SyncingStatus {
    #[serde(with = "serde_utils::quoted_u64")]
    sync_distance: u64,
    is_syncing: bool,
    #[serde(default)]
    el_offline: bool,
}

/// A request body, encoded once and sent to each node as is.
#[derive(Debug, Clone, Copy)]
enum Payload<'a> {
    Json(&'a [u8]),
    Ssz(&'a [u8]),
}

/// One node's part of a broadcast, running on its own.
type NodeTask<T> = tokio::task::JoinHandle<(usize, Result<Received<T>, NodeError>)>;

/// A request's own copy, for work that outlives its caller (the slower
/// nodes of a broadcast).
#[derive(Debug)]
struct OwnedReq {
    method: reqwest::Method,
    path: String,
    /// The body, and whether it is SSZ.
    payload: Option<(Vec<u8>, bool)>,
    consensus_version: Option<ForkName>,
    accept: Option<String>,
    keys: usize,
    timeout: Duration,
}

impl OwnedReq {
    fn of(r: &Req<'_>) -> Self {
        Self {
            method: r.method.clone(),
            path: r.path.to_string(),
            payload: r.payload.map(|p| match p {
                Payload::Json(b) => (b.to_vec(), false),
                Payload::Ssz(b) => (b.to_vec(), true),
            }),
            consensus_version: r.consensus_version,
            accept: r.accept.map(str::to_string),
            keys: r.keys,
            timeout: r.timeout,
        }
    }

    fn as_req(&self) -> Req<'_> {
        Req {
            method: self.method.clone(),
            path: &self.path,
            payload: self.payload.as_ref().map(|(b, ssz)| if *ssz { Payload::Ssz(b) } else { Payload::Json(b) }),
            consensus_version: self.consensus_version,
            accept: self.accept.as_deref(),
            keys: self.keys,
            timeout: self.timeout,
        }
    }
}

/// One request as the fallback sends it to each node.
#[derive(Debug, Clone)]
struct Req<'a> {
    method: reqwest::Method,
    path: &'a str,
    payload: Option<Payload<'a>>,
    consensus_version: Option<ForkName>,
    accept: Option<&'a str>,
    /// Keys the request names (sizes per-key answers: `limits`).
    keys: usize,
    timeout: Duration,
}

impl<'a> Req<'a> {
    fn new(method: reqwest::Method, path: &'a str, timeout: Duration) -> Self {
        Self { method, path, payload: None, consensus_version: None, accept: None, keys: 0, timeout }
    }

    fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }
}

impl BodyError {
    fn into_node_error(self, node: &str, route: &str, ms: u64, limit: usize) -> NodeError {
        match self {
            BodyError::TooLarge => NodeError::TooLarge { node: node.to_string(), route: route.to_string(), limit },
            BodyError::Transport(e) => NodeError::from_reqwest(node, route, ms, &e),
        }
    }
}

/// What one node's attempt brings back.
enum Received<T> {
    /// The body as it came.
    Raw(RawResponse),
    /// A JSON body decoded as it arrived, or why it did not decode.
    Decoded(Result<T, String>),
}

/// How a request's answers become a `T`.
enum Decoding<T, P> {
    /// Read whole, then `P`.
    Raw(P),
    /// JSON, decoded as it arrives (`body::read_json`).
    Json(JsonDecode<T>),
}

impl<T, P: Fn(RawResponse) -> Result<T, String>> Decoding<T, P> {
    fn json(&self) -> Option<JsonDecode<T>> {
        match self {
            Decoding::Json(d) => Some(*d),
            Decoding::Raw(_) => None,
        }
    }

    /// A body handed back whole (only `Raw` requests get one).
    fn parse(&self, raw: RawResponse) -> Result<T, String> {
        match self {
            Decoding::Raw(p) => p(raw),
            Decoding::Json(d) => (d.slice)(if raw.body.is_empty() { b"null" } else { &raw.body }),
        }
    }
}

/// A successful answer as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// `Content-Type`.
    pub content_type: String,
    /// `Eth-Consensus-Version`, if sent.
    pub version: Option<String>,
    /// `Eth-Execution-Payload-Blinded`, if sent.
    pub blinded: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Whether the body is SSZ.
    pub fn is_ssz(&self) -> bool {
        self.content_type.starts_with("application/octet-stream")
    }
}

/// The client. Clones share the health table.
#[derive(Debug, Clone)]
pub struct BeaconClient {
    nodes: Vec<String>,
    http: reqwest::Client,
    /// Published messages of these topics go to every node at once.
    broadcast: Vec<options::Topic>,
    /// A node within this many slots of the head counts as synced.
    sync_tolerance: u64,
    /// Invariant: one entry per node, same order as `nodes`.
    health: std::sync::Arc<std::sync::Mutex<Vec<NodeHealth>>>,
}

impl BeaconClient {
    /// A client over `nodes` (base URLs), first preferred.
    pub fn new(nodes: Vec<String>) -> Self {
        let defaults = options::BeaconOptions::default();
        Self::build(nodes, &defaults, Vec::new())
    }

    /// A client over `nodes` with `--broadcast`, the trusted certificates
    /// and the sync tolerance of `opts`.
    /// Refuses an empty list and a node that is not an absolute http(s) URL
    /// with a host, before any request is made.
    pub fn with_options(nodes: Vec<String>, opts: &options::BeaconOptions) -> Result<Self, options::OptionsError> {
        options::check_node_urls(&nodes)?;
        let certs = options::load_certificates(&opts.tls_certs)?;
        Ok(Self::build(nodes, opts, certs))
    }

    fn build(nodes: Vec<String>, opts: &options::BeaconOptions, certs: Vec<reqwest::Certificate>) -> Self {
        // Idle connections are dropped before common servers' keep-alive
        // timeouts (Node.js: 5 s), so a request never lands on a connection
        // the node is closing.
        let mut builder =
            reqwest::Client::builder().pool_max_idle_per_host(4).pool_idle_timeout(Duration::from_secs(4));
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
        let http = builder.build().unwrap_or_default();
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.trim_end_matches('/').to_string()).collect();
        let health = std::sync::Arc::new(std::sync::Mutex::new(vec![NodeHealth::default(); nodes.len()]));
        Self { nodes, http, broadcast: opts.broadcast.clone(), sync_tolerance: opts.sync_tolerance, health }
    }

    /// The configured nodes.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    fn health_table(&self) -> std::sync::MutexGuard<'_, Vec<NodeHealth>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each node's health, in configured order.
    pub fn health(&self) -> Vec<NodeHealth> {
        self.health_table().clone()
    }

    /// Node indices, best first.
    pub fn ranked(&self) -> Vec<usize> {
        let h = self.health_table();
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|i| {
            let n = h[*i];
            (!n.synced, n.consecutive_failures.min(3), n.head_distance, *i)
        });
        order
    }

    fn record(&self, node: usize, ok: bool) {
        if let Some(n) = self.health_table().get_mut(node) {
            if ok {
                n.consecutive_failures = 0;
            } else {
                n.consecutive_failures = n.consecutive_failures.saturating_add(1);
            }
        }
    }

    /// Polls every node's `/eth/v1/node/syncing` at once and updates the
    /// ranking. A node that does not answer counts as not synced.
    pub async fn check_health(&self, timeout: Duration) {
        let polls = self.nodes.iter().map(|node| {
            let url = format!("{node}/eth/v1/node/syncing");
            let http = self.http.clone();
            async move {
                let resp = http.get(&url).timeout(timeout).send().await.ok()?;
                if !resp.status().is_success() {
                    return None;
                }
                resp.json::<Data<SyncingStatus>>().await.ok().map(|d| d.data)
            }
        });
        let results = futures_util::future::join_all(polls).await;
        let tolerance = self.sync_tolerance;
        let mut h = self.health_table();
        for (n, r) in h.iter_mut().zip(results) {
            match r {
                Some(s) => {
                    // Syncing within the tolerance counts as synced (Lighthouse's tiers).
                    n.synced = (!s.is_syncing || s.sync_distance <= tolerance) && !s.el_offline;
                    n.head_distance = s.sync_distance;
                    n.consecutive_failures = 0;
                }
                None => {
                    n.synced = false;
                    n.consecutive_failures = n.consecutive_failures.saturating_add(1);
                }
            }
        }
    }

    async fn request<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        consensus_version: Option<ForkName>,
        keys: usize,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request_checked(method, path, body, consensus_version, keys, timeout, |_: &T| Ok(())).await
    }

    /// [`Self::request`], with `check` run on each decoded answer (see
    /// [`Self::request_with_checked`]).
    #[allow(clippy::too_many_arguments)]
    async fn request_checked<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        consensus_version: Option<ForkName>,
        keys: usize,
        timeout: Duration,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, BeaconError> {
        let encoded = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| BeaconError::Encode { path: path.to_string(), reason: e.to_string() })?,
            ),
            None => None,
        };
        let req = Req {
            method,
            path,
            payload: encoded.as_deref().map(Payload::Json),
            consensus_version,
            accept: None,
            keys,
            timeout,
        };
        self.request_with_checked(
            req,
            Decoding::<T, fn(RawResponse) -> Result<T, String>>::Json(JsonDecode::serde()),
            check,
        )
        .await
    }

    async fn request_with<T: Send + 'static>(
        &self,
        req: Req<'_>,
        parse: impl Fn(RawResponse) -> Result<T, String>,
    ) -> Result<T, BeaconError> {
        self.request_with_checked(req, Decoding::Raw(parse), |_: &T| Ok(())).await
    }

    /// One request to the nodes, best first, until `parse` accepts an
    /// answer. The request ends by its timeout whatever the nodes do: every
    /// attempt shares that deadline, and while the best node has not answered
    /// the next one is asked as well after an equal share of the time (a node
    /// that hangs costs a share, not the whole budget; one that fails at once
    /// costs nothing). A 404 from every node is [`BeaconError::NotServed`].
    ///
    /// `check` judges a decoded answer's content (duties out of the spec's
    /// bounds, say): an answer it refuses sends the request on to the next
    /// node; if no node's answer passes, the first decoded one is returned
    /// (the caller filters it entry by entry) and the reasons are logged.
    async fn request_with_checked<T: Send + 'static, P: Fn(RawResponse) -> Result<T, String>>(
        &self,
        req: Req<'_>,
        decoding: Decoding<T, P>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, BeaconError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let route = limits::route(req.path).to_string();
        let deadline = tokio::time::Instant::now() + req.timeout;
        if req.method == reqwest::Method::POST
            && self.nodes.len() > 1
            && options::topic_of(req.path).is_some_and(|t| self.broadcast.contains(&t))
        {
            return self.broadcast_request(&req, &route, deadline, &decoding).await;
        }
        let order = self.ranked();
        let share = req.timeout / (order.len().max(1) as u32);
        let mut pending = order.iter().copied();
        let mut inflight = FuturesUnordered::new();
        let mut errors = Vec::new();
        let mut dirty: Option<T> = None;
        let mut next_start = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_start || inflight.is_empty() {
                match pending.next() {
                    Some(i) => {
                        inflight.push(self.attempt(i, &req, &route, deadline, decoding.json()));
                        next_start = tokio::time::Instant::now() + share;
                    }
                    None if inflight.is_empty() => break,
                    // Every node asked: wait for the answers (each ends by the deadline).
                    None => next_start = deadline + Duration::from_secs(3600),
                }
            }
            let (i, answer) = tokio::select! {
                Some(done) = inflight.next() => done,
                _ = tokio::time::sleep_until(next_start) => continue,
            };
            let decoded = answer.map(|received| match received {
                Received::Decoded(v) => v,
                Received::Raw(raw) => decoding.parse(raw),
            });
            let failure = match decoded {
                Ok(v) => match v.map(|v| (check(&v), v)) {
                    Ok((Ok(()), v)) => {
                        self.record(i, true);
                        return Ok(v);
                    }
                    Ok((Err(reason), v)) => {
                        dirty.get_or_insert(v);
                        NodeError::Malformed { node: self.nodes[i].clone(), route: route.clone(), reason }
                    }
                    Err(reason) => NodeError::Malformed { node: self.nodes[i].clone(), route: route.clone(), reason },
                },
                Err(e) => e,
            };
            // A 404 may be a route this node does not serve: not held
            // against its health; the caller decides.
            if !failure.is_not_found() {
                self.record(i, false);
            }
            errors.push(failure);
        }
        drop(inflight);
        if let Some(v) = dirty {
            tracing::warn!(
                "{route}: no node's answer passed the checks ({}); using the first, entry by entry",
                join(&errors)
            );
            return Ok(v);
        }
        if !errors.is_empty() && errors.iter().all(NodeError::is_not_found) {
            return Err(BeaconError::NotServed { route, errors });
        }
        Err(BeaconError::AllFailed { route, errors })
    }

    /// `--broadcast`: `req` to every node at once. The first node to accept
    /// it answers the caller; the others' requests go on in the background
    /// (each ends by the deadline), so a slow or hanging node delays nobody
    /// and still gets the message if it can take it. Refusals are logged
    /// and held against the nodes' health. An error only if no node accepted.
    async fn broadcast_request<T: Send + 'static, P: Fn(RawResponse) -> Result<T, String>>(
        &self,
        req: &Req<'_>,
        route: &str,
        deadline: tokio::time::Instant,
        decoding: &Decoding<T, P>,
    ) -> Result<T, BeaconError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let owned = std::sync::Arc::new(OwnedReq::of(req));
        let json = decoding.json();
        let mut tasks: FuturesUnordered<_> = (0..self.nodes.len())
            .map(|i| {
                let (client, owned, route) = (self.clone(), owned.clone(), route.to_string());
                tokio::spawn(async move { client.attempt(i, &owned.as_req(), &route, deadline, json).await })
            })
            .collect();
        let mut errors = Vec::new();
        while let Some(joined) = tasks.next().await {
            // A task that panicked has no answer to give; the others do.
            let Ok((i, answer)) = joined else { continue };
            let decoded = answer.and_then(|received| {
                match received {
                    Received::Decoded(v) => v,
                    Received::Raw(raw) => decoding.parse(raw),
                }
                .map_err(|reason| NodeError::Malformed {
                    node: self.nodes[i].clone(),
                    route: route.to_string(),
                    reason,
                })
            });
            self.record(i, decoded.is_ok());
            match decoded {
                Ok(v) => {
                    let (client, route) = (self.clone(), route.to_string());
                    tokio::spawn(async move { client.broadcast_rest(tasks, errors, &route).await });
                    return Ok(v);
                }
                Err(e) => errors.push(e),
            }
        }
        Err(BeaconError::AllFailed { route: route.to_string(), errors })
    }

    /// The rest of a broadcast whose answer is already given: each node's
    /// outcome recorded, the refusals (with those before the answer) logged.
    async fn broadcast_rest<T: Send + 'static>(
        &self,
        mut tasks: futures_util::stream::FuturesUnordered<NodeTask<T>>,
        mut errors: Vec<NodeError>,
        route: &str,
    ) {
        use futures_util::stream::StreamExt;
        while let Some(joined) = tasks.next().await {
            let Ok((i, answer)) = joined else { continue };
            let outcome = match answer {
                Ok(Received::Decoded(Err(reason))) => {
                    Err(NodeError::Malformed { node: self.nodes[i].clone(), route: route.to_string(), reason })
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            self.record(i, outcome.is_ok());
            if let Err(e) = outcome {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            tracing::warn!(
                "{route}: broadcast refused by {} of {} nodes: {}",
                errors.len(),
                self.nodes.len(),
                join(&errors)
            );
        }
    }

    /// One node's answer to `req`, whole, by `deadline`.
    ///
    /// With `json`, a successful body is decoded as it arrives
    /// (`body::read_json`); otherwise it is handed back as received.
    async fn attempt<T: Send + 'static>(
        &self,
        i: usize,
        req: &Req<'_>,
        route: &str,
        deadline: tokio::time::Instant,
        json: Option<JsonDecode<T>>,
    ) -> (usize, Result<Received<T>, NodeError>) {
        let node = &self.nodes[i];
        let ms = req.timeout.as_millis() as u64;
        let max = limits::max_body(req.path, req.keys);
        let url = format!("{node}{}", req.path);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut r = self.http.request(req.method.clone(), &url).timeout(left);
        match req.payload {
            Some(Payload::Json(b)) => r = r.header("Content-Type", "application/json").body(b.to_vec()),
            Some(Payload::Ssz(b)) => r = r.header("Content-Type", "application/octet-stream").body(b.to_vec()),
            None => {}
        }
        if let Some(f) = req.consensus_version {
            r = r.header("Eth-Consensus-Version", f.as_str());
        }
        if let Some(a) = req.accept {
            r = r.header("Accept", a);
        }
        // The whole exchange, body included, by the deadline: a body that
        // trickles in is a timeout, not a slow success.
        let exchange = async {
            let resp = r.send().await.map_err(|e| NodeError::from_reqwest(node, route, ms, &e))?;
            let status = resp.status();
            let header = |k: &str| resp.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
            let content_type = header("content-type").unwrap_or_default();
            let version = header("eth-consensus-version");
            let blinded = header("eth-execution-payload-blinded");
            let body_error = |e: BodyError| e.into_node_error(node, route, ms, max);
            if !status.is_success() {
                let body = body::read_capped(resp, max).await.map_err(body_error)?;
                let message = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(NodeError::Status {
                    node: node.clone(),
                    route: route.to_string(),
                    status: status.as_u16(),
                    message,
                });
            }
            match json {
                Some(decode) => body::read_json(resp, max, decode).await.map(Received::Decoded).map_err(body_error),
                None => {
                    let body = body::read_capped(resp, max).await.map_err(body_error)?;
                    Ok(Received::Raw(RawResponse { content_type, version, blinded, body }))
                }
            }
        };
        let answer = tokio::time::timeout_at(deadline, exchange)
            .await
            .unwrap_or_else(|_| Err(NodeError::Timeout { node: node.clone(), route: route.to_string(), ms }));
        (i, answer)
    }

    /// GET with `Accept` preferring SSZ; the answer as the node chose to give it.
    pub async fn get_ssz_or_json(&self, path: &str, timeout: Duration) -> Result<RawResponse, BeaconError> {
        let accept = "application/octet-stream;q=1.0,application/json;q=0.9";
        let req = Req::new(reqwest::Method::GET, path, timeout).accept(accept);
        self.request_with(req, Ok).await
    }

    /// POST an SSZ body with the `Eth-Consensus-Version` header.
    pub async fn post_ssz_versioned(
        &self,
        path: &str,
        ssz: &[u8],
        fork: ForkName,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        let mut req = Req::new(reqwest::Method::POST, path, timeout);
        req.payload = Some(Payload::Ssz(ssz));
        req.consensus_version = Some(fork);
        self.request_with(req, |_| Ok(())).await
    }

    /// GET returning JSON.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request::<T, ()>(reqwest::Method::GET, path, None, None, 0, timeout).await
    }

    /// POST JSON (any serializable body, encoded once), returning JSON (or
    /// `()` for empty bodies).
    pub async fn post<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request(reqwest::Method::POST, path, Some(body), None, 0, timeout).await
    }

    /// POST JSON naming `keys` keys, to a route whose answer grows with them
    /// (duties, validators, liveness: `limits::Sizing::PerKey`).
    pub async fn post_for_keys<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        keys: usize,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request(reqwest::Method::POST, path, Some(body), None, keys, timeout).await
    }

    /// [`Self::post_for_keys`], moving on to the next node when `check`
    /// refuses an answer (see [`Self::request_with_checked`]).
    pub async fn post_for_keys_checked<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        keys: usize,
        timeout: Duration,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, BeaconError> {
        self.request_checked(reqwest::Method::POST, path, Some(body), None, keys, timeout, check).await
    }

    /// GET, moving on to the next node when `check` refuses an answer.
    pub async fn get_checked<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        timeout: Duration,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, BeaconError> {
        self.request_checked::<T, ()>(reqwest::Method::GET, path, None, None, 0, timeout, check).await
    }

    /// GET naming `keys` keys in its query (see [`Self::post_for_keys`]).
    pub async fn get_for_keys<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        keys: usize,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request::<T, ()>(reqwest::Method::GET, path, None, None, keys, timeout).await
    }

    /// POST JSON whose answer is ignored.
    pub async fn post_ignore<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        self.post::<serde::de::IgnoredAny, B>(path, body, timeout).await.map(|_| ())
    }

    /// POST JSON with the `Eth-Consensus-Version` header (the v2 publish
    /// routes of Electra and later); the answer is ignored.
    pub async fn post_versioned<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        fork: ForkName,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        self.request::<serde::de::IgnoredAny, B>(reqwest::Method::POST, path, Some(body), Some(fork), 0, timeout)
            .await
            .map(|_| ())
    }

    /// Follows `head` events (Server-Sent Events) from the best-ranked node,
    /// reconnecting on error or when another node becomes the best. The receiver holds the
    /// newest (slot, block root); slot 0 and a zero root until the first event.
    pub fn head_events(&self) -> tokio::sync::watch::Receiver<(u64, Hash256)> {
        let (tx, rx) = tokio::sync::watch::channel((0u64, Hash256::ZERO));
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    return;
                }
                let Some(best) = this.ranked().first().copied() else { return };
                let url = format!("{}/eth/v1/events?topics=head", this.nodes[best]);
                if let Err(e) = this.follow_events(&url, best, &tx).await {
                    tracing::debug!("head events from {url}: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        rx
    }

    async fn follow_events(
        &self,
        url: &str,
        node: usize,
        tx: &tokio::sync::watch::Sender<(u64, Hash256)>,
    ) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(with = "serde_utils::quoted_u64")]
            slot: u64,
            block: Hash256,
        }
        let mut resp =
            self.http.get(url).header("Accept", "text/event-stream").send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let mut buf: Vec<u8> = Vec::new();
        // Bytes of `buf` already searched for an event's end (less the 3 a
        // split "\r\n\r\n" may span): a body that trickles in byte by byte
        // is scanned once, not once per byte.
        let mut scanned = 0usize;
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            buf.extend_from_slice(&chunk);
            // Events end with a blank line; lines may end in \n or \r\n.
            loop {
                let from = scanned.saturating_sub(3);
                let Some(end) = find_event_end(&buf[from..]).map(|(a, b)| (from + a, from + b)) else {
                    scanned = buf.len();
                    break;
                };
                scanned = 0;
                let event: Vec<u8> = buf.drain(..end.1).take(end.0).collect();
                let text = String::from_utf8_lossy(&event);
                let mut name = "message";
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = if v.trim() == "head" { "head" } else { "other" };
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name == "head" {
                    match serde_json::from_str::<Head>(&data) {
                        Ok(h) => {
                            let _ = tx.send((h.slot, h.block));
                        }
                        Err(e) => tracing::debug!("{url}: malformed head event: {e}"),
                    }
                }
            }
            if buf.len() > 1 << 20 {
                return Err("event larger than 1 MiB".into());
            }
            if self.ranked().first() != Some(&node) {
                return Err("another node is preferred now; following its events".into());
            }
        }
        Err("stream ended".into())
    }

    /// The node's chain spec.
    pub async fn spec(&self, timeout: Duration) -> Result<ChainSpec, BeaconError> {
        let v: serde_json::Value = self.get("/eth/v1/config/spec", timeout).await?;
        ChainSpec::from_beacon_json("/eth/v1/config/spec", &v.to_string())
            .map_err(|e| BeaconError::Invalid { url: "/eth/v1/config/spec".into(), reason: e.to_string() })
    }

    /// Genesis.
    pub async fn genesis(&self, timeout: Duration) -> Result<Genesis, BeaconError> {
        Ok(self.get::<Data<Genesis>>("/eth/v1/beacon/genesis", timeout).await?.data)
    }
}

/// The end of the first complete SSE event in `buf`: (length of the event
/// text, length including the blank line).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

mod body;
pub mod limits;
pub mod options;
mod routes;
pub mod ssz_envelope;

use body::{BodyError, JsonDecode};
pub use routes::{
    BeaconCommitteeSelection, Indices, SyncCommitteeSelection, SyncCommitteeSubscription, BULK_CHUNK, FETCHES_IN_FLIGHT,
};
