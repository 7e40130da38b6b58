//! The fallback under every route: one request to the nodes best first,
//! each attempt sharing the request's deadline; publishing routes of a
//! `--broadcast` topic go to every node at once. Bodies are capped per route
//! (`limits`) and JSON answers decoded as they arrive (`body`). Only the
//! typed routes of this module call it.

use super::body::{self, BodyError, JsonDecode};
use super::client::BeaconClient;
use super::error::{join, AnswerError, BeaconError, NodeError};
use super::limits;
use super::options::Topic;
use poolvc_signer::types::ForkName;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

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
    blob_data_included: Option<bool>,
    accept: Option<String>,
    topic: Option<Topic>,
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
            blob_data_included: r.blob_data_included,
            accept: r.accept.map(str::to_string),
            topic: r.topic,
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
            blob_data_included: self.blob_data_included,
            accept: self.accept.as_deref(),
            topic: self.topic,
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
    /// `Eth-Blob-Data-Included` (the envelope publish route, Gloas).
    blob_data_included: Option<bool>,
    accept: Option<&'a str>,
    /// The topic of what a publishing route sends (`--broadcast`).
    topic: Option<Topic>,
    /// Keys the request names (sizes per-key answers: `limits`).
    keys: usize,
    timeout: Duration,
}

impl<'a> Req<'a> {
    fn new(method: reqwest::Method, path: &'a str, timeout: Duration) -> Self {
        Self {
            method,
            path,
            payload: None,
            consensus_version: None,
            blob_data_included: None,
            accept: None,
            topic: None,
            keys: 0,
            timeout,
        }
    }

    fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    fn topic(mut self, topic: Topic) -> Self {
        self.topic = Some(topic);
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
    Decoded(Result<T, AnswerError>),
}

/// How a request's answers become a `T`.
enum Decoding<T, P> {
    /// Read whole, then `P`.
    Raw(P),
    /// JSON, decoded as it arrives (`body::read_json`).
    Json(JsonDecode<T>),
}

impl<T, P: Fn(RawResponse) -> Result<T, AnswerError>> Decoding<T, P> {
    fn json(&self) -> Option<JsonDecode<T>> {
        match self {
            Decoding::Json(d) => Some(*d),
            Decoding::Raw(_) => None,
        }
    }

    /// A body handed back whole (only `Raw` requests get one).
    fn parse(&self, raw: RawResponse) -> Result<T, AnswerError> {
        match self {
            Decoding::Raw(p) => p(raw),
            Decoding::Json(d) => (d.slice)(if raw.body.is_empty() { b"null" } else { &raw.body }),
        }
    }
}

/// A successful answer as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The node that answered.
    pub node: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `Eth-Consensus-Version`, if sent.
    pub version: Option<String>,
    /// `Eth-Execution-Payload-Blinded`, if sent.
    pub blinded: Option<String>,
    /// `Eth-Execution-Payload-Included` (produceBlockV4), if sent.
    pub payload_included: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Whether the body is SSZ.
    pub fn is_ssz(&self) -> bool {
        self.content_type.starts_with("application/octet-stream")
    }
}

/// A request body as JSON, once for every node it goes to.
fn encode_json<B: Serialize + ?Sized>(path: &str, body: &B) -> Result<Vec<u8>, BeaconError> {
    serde_json::to_vec(body).map_err(|e| BeaconError::Encode { path: path.to_string(), reason: e.to_string() })
}

impl BeaconClient {
    async fn request<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        req: Req<'_>,
        body: Option<&B>,
    ) -> Result<T, BeaconError> {
        self.request_checked(req, body, |_: &T| Ok(())).await
    }

    /// [`Self::request`], with `check` run on each decoded answer (see
    /// [`Self::request_with_checked`]).
    async fn request_checked<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        mut req: Req<'_>,
        body: Option<&B>,
        check: impl Fn(&T) -> Result<(), AnswerError>,
    ) -> Result<T, BeaconError> {
        let encoded = body.map(|b| encode_json(req.path, b)).transpose()?;
        req.payload = encoded.as_deref().map(Payload::Json);
        self.request_with_checked(
            req,
            Decoding::<T, fn(RawResponse) -> Result<T, AnswerError>>::Json(JsonDecode::serde()),
            check,
        )
        .await
    }

    async fn request_with<T: Send + 'static>(
        &self,
        req: Req<'_>,
        parse: impl Fn(RawResponse) -> Result<T, AnswerError>,
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
    async fn request_with_checked<T: Send + 'static, P: Fn(RawResponse) -> Result<T, AnswerError>>(
        &self,
        req: Req<'_>,
        decoding: Decoding<T, P>,
        check: impl Fn(&T) -> Result<(), AnswerError>,
    ) -> Result<T, BeaconError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let route = limits::route(req.path).to_string();
        let deadline = tokio::time::Instant::now() + req.timeout;
        if req.method == reqwest::Method::POST
            && self.nodes.len() > 1
            && req.topic.is_some_and(|t| self.broadcast.contains(&t))
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
                        NodeError::Malformed {
                            node: self.nodes[i].clone(),
                            route: route.clone(),
                            reason: reason.to_string(),
                        }
                    }
                    Err(reason) => NodeError::Malformed {
                        node: self.nodes[i].clone(),
                        route: route.clone(),
                        reason: reason.to_string(),
                    },
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
    async fn broadcast_request<T: Send + 'static, P: Fn(RawResponse) -> Result<T, AnswerError>>(
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
                    reason: reason.to_string(),
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
                Ok(Received::Decoded(Err(reason))) => Err(NodeError::Malformed {
                    node: self.nodes[i].clone(),
                    route: route.to_string(),
                    reason: reason.to_string(),
                }),
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
        if let Some(b) = req.blob_data_included {
            r = r.header("Eth-Blob-Data-Included", if b { "true" } else { "false" });
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
            let payload_included = header("eth-execution-payload-included");
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
                    Ok(Received::Raw(RawResponse {
                        node: node.clone(),
                        content_type,
                        version,
                        blinded,
                        payload_included,
                        body,
                    }))
                }
            }
        };
        let answer = tokio::time::timeout_at(deadline, exchange)
            .await
            .unwrap_or_else(|_| Err(NodeError::Timeout { node: node.clone(), route: route.to_string(), ms }));
        (i, answer)
    }

    /// GET with `Accept` preferring SSZ; the answer as the node chose to give it.
    pub(super) async fn get_ssz_or_json(&self, path: &str, timeout: Duration) -> Result<RawResponse, BeaconError> {
        let accept = "application/octet-stream;q=1.0,application/json;q=0.9";
        let req = Req::new(reqwest::Method::GET, path, timeout).accept(accept);
        self.request_with(req, Ok).await
    }

    /// GET returning JSON.
    pub(super) async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.request::<T, ()>(Req::new(reqwest::Method::GET, path, timeout), None).await
    }

    /// GET, moving on to the next node when `check` refuses an answer.
    pub(super) async fn get_checked<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        timeout: Duration,
        check: impl Fn(&T) -> Result<(), AnswerError>,
    ) -> Result<T, BeaconError> {
        self.request_checked::<T, ()>(Req::new(reqwest::Method::GET, path, timeout), None, check).await
    }

    /// GET naming `keys` keys in its query (see [`Self::post_for_keys`]).
    pub(super) async fn get_for_keys<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        keys: usize,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        let mut req = Req::new(reqwest::Method::GET, path, timeout);
        req.keys = keys;
        self.request::<T, ()>(req, None).await
    }

    /// POST JSON naming `keys` keys, to a route whose answer grows with them
    /// (duties, validators, liveness: `limits::Sizing::PerKey`). Not a
    /// publishing route: it goes to one node at a time.
    pub(super) async fn post_for_keys<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        keys: usize,
        timeout: Duration,
    ) -> Result<T, BeaconError> {
        self.post_for_keys_checked(path, body, keys, timeout, |_: &T| Ok(())).await
    }

    /// [`Self::post_for_keys`], moving on to the next node when `check`
    /// refuses an answer (see [`Self::request_with_checked`]).
    pub(super) async fn post_for_keys_checked<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        keys: usize,
        timeout: Duration,
        check: impl Fn(&T) -> Result<(), AnswerError>,
    ) -> Result<T, BeaconError> {
        let mut req = Req::new(reqwest::Method::POST, path, timeout);
        req.keys = keys;
        self.request_checked(req, Some(body), check).await
    }

    /// Publishes a JSON body of `topic`'s messages (to every node at once
    /// when the topic is broadcast; `None` for messages of no topic); the answer is ignored. `fork` sets the
    /// `Eth-Consensus-Version` header (the v2 publish routes).
    pub(super) async fn publish<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        topic: Option<Topic>,
        fork: Option<ForkName>,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        let mut req = Req::new(reqwest::Method::POST, path, timeout);
        req.topic = topic;
        req.consensus_version = fork;
        self.request::<serde::de::IgnoredAny, B>(req, Some(body)).await.map(|_| ())
    }

    /// A request with a JSON body (or none) whose JSON answer is handed
    /// back whole with its headers (`produceBlockV4`: POST with the builder
    /// config, or the older GET form). `fork`: the `Eth-Consensus-Version`
    /// header, which a body of a fork's type carries (Lodestar 1.48 refuses
    /// the POST without it).
    pub(super) async fn request_json_raw<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        fork: Option<ForkName>,
        timeout: Duration,
    ) -> Result<RawResponse, BeaconError> {
        let encoded = body.map(|b| encode_json(path, b)).transpose()?;
        let mut req = Req::new(method, path, timeout).accept("application/json");
        req.payload = encoded.as_deref().map(Payload::Json);
        req.consensus_version = fork;
        self.request_with(req, Ok).await
    }

    /// Publishes a JSON body of a Gloas envelope route with
    /// `Eth-Consensus-Version` and `Eth-Blob-Data-Included`.
    pub(super) async fn publish_envelope_json<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        fork: ForkName,
        blob_data_included: bool,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        let mut req = Req::new(reqwest::Method::POST, path, timeout).topic(Topic::Blocks);
        req.consensus_version = Some(fork);
        req.blob_data_included = Some(blob_data_included);
        self.request::<serde::de::IgnoredAny, B>(req, Some(body)).await.map(|_| ())
    }

    /// Publishes an SSZ body of `topic`'s messages with the
    /// `Eth-Consensus-Version` header.
    pub(super) async fn publish_ssz(
        &self,
        path: &str,
        ssz: &[u8],
        topic: Topic,
        fork: ForkName,
        timeout: Duration,
    ) -> Result<(), BeaconError> {
        let mut req = Req::new(reqwest::Method::POST, path, timeout).topic(topic);
        req.payload = Some(Payload::Ssz(ssz));
        req.consensus_version = Some(fork);
        self.request_with(req, |_| Ok(())).await
    }
}
