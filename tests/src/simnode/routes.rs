//! The simulated node's HTTP routes: one dispatcher over method and path,
//! so a route the node does not serve is answered 404 and recorded as a
//! failure (the client must not use pre-Electra routes on Electra slots).

use super::{aggregate_signatures, block_json, Sim, State};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use poolvc_signer::types::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tree_hash::TreeHash;

type Reply = Result<Value, (StatusCode, String)>;

fn bad(msg: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, msg.into())
}

/// Serves `sim` on `listener` as listener number `which` until the returned
/// sender fires.
pub(super) fn serve<P: Preset>(
    sim: Arc<Sim<P>>,
    which: usize,
    listener: tokio::net::TcpListener,
) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new()
        .fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let sim = Arc::clone(&sim);
            async move {
                if let Some(hostile) = sim.attack(which, &method, &uri, &headers, &body).await {
                    return hostile;
                }
                let delay = sim.delay_for(uri.path());
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                // Off the runtime's workers: a request's signature checks
                // must not stall the other listeners and the client's tasks
                // of the same process.
                tokio::task::spawn_blocking(move || sim.dispatch(which, method, uri, headers, body))
                    .await
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        })
        // Beacon nodes take large bodies on the validator routes (Lodestar: 20 MB and more).
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

fn query(uri: &Uri) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kv in uri.query().unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    out
}

fn q_u64(q: &BTreeMap<String, Vec<String>>, k: &str) -> Result<u64, (StatusCode, String)> {
    q.get(k)
        .and_then(|v| v.first())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad(format!("query parameter {k} missing or not a number")))
}

fn q_hex<T: serde::de::DeserializeOwned>(
    q: &BTreeMap<String, Vec<String>>,
    k: &str,
) -> Result<T, (StatusCode, String)> {
    let v = q.get(k).and_then(|v| v.first()).ok_or_else(|| bad(format!("query parameter {k} missing")))?;
    serde_json::from_value(Value::String(v.clone())).map_err(|e| bad(format!("query parameter {k}: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(body).map_err(|e| bad(format!("body: {e}")))
}

fn is_ssz(headers: &HeaderMap) -> bool {
    headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/octet-stream"))
}

/// A produceBlockV3 answer in SSZ: the headers carry what the JSON envelope would.
fn ssz_response(v: &Value, ssz: Vec<u8>) -> Response {
    let version = v["version"].as_str().unwrap_or("").to_string();
    let blinded = v["execution_payload_blinded"].as_bool().unwrap_or(false).to_string();
    Response::builder()
        .header("content-type", "application/octet-stream")
        .header("Eth-Consensus-Version", version)
        .header("Eth-Execution-Payload-Blinded", blinded)
        .header("Eth-Execution-Payload-Value", "1")
        .header("Eth-Consensus-Block-Value", "1")
        .body(axum::body::Body::from(ssz))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn offset(b: &[u8], at: usize) -> Result<usize, (StatusCode, String)> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(|a: [u8; 4]| u32::from_le_bytes(a) as usize)
        .ok_or_else(|| bad(format!("SSZ too short for an offset at {at}")))
}

/// (message bytes, signature) of an SSZ `SignedBeaconBlock`.
fn split_signed(b: &[u8]) -> Result<(&[u8], SignatureBytes), (StatusCode, String)> {
    if offset(b, 0)? != 100 || b.len() < 100 {
        return Err(bad("SignedBeaconBlock: message offset is not 100"));
    }
    Ok((&b[100..], SignatureBytes::from_slice(&b[4..100])))
}

/// The members of `members` whose aggregation bit is set (a bit past the
/// list's end counts as unset).
fn set_bits<E>(members: &[u64], bit: impl Fn(usize) -> Result<bool, E>) -> Vec<u64> {
    members.iter().enumerate().filter(|(i, _)| bit(*i).unwrap_or(false)).map(|(_, v)| *v).collect()
}

fn indices(body: &[u8]) -> Result<Vec<u64>, (StatusCode, String)> {
    let v: Vec<String> = parse(body)?;
    v.iter().map(|s| s.parse().map_err(|_| bad(format!("index {s:?}")))).collect()
}

impl<P: Preset> Sim<P> {
    pub(super) fn dispatch(&self, which: usize, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        {
            let mut st = self.lock();
            if let Some(c) = st.report.requests.get_mut(which) {
                *c += 1;
            }
            *st.report.routes.entry((which, format!("{method} {}", uri.path()))).or_default() += 1;
        }
        let syncing = self.syncing.lock().unwrap_or_else(|p| p.into_inner()).get(which).copied().unwrap_or(false);
        let path = uri.path().to_string();
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let q = query(&uri);
        let version = headers.get("Eth-Consensus-Version").and_then(|v| v.to_str().ok()).map(str::to_string);
        if method == Method::GET && segs.as_slice() == ["eth", "v1", "events"] {
            return self.events(&q);
        }
        let r: Reply = match (method.clone(), segs.as_slice()) {
            (Method::GET, ["eth", "v1", "config", "spec"]) => Ok(self.spec_json.clone()),
            (Method::GET, ["eth", "v1", "beacon", "genesis"]) => Ok(json!({"data": {
                "genesis_time": self.cfg.genesis_time.to_string(),
                "genesis_validators_root": self.gvr,
                "genesis_fork_version": self.spec.genesis_fork_version,
            }})),
            (Method::GET, ["eth", "v1", "node", "version"]) => Ok(json!({"data": {"version": "poolvc-simnode"}})),
            (Method::GET, ["eth", "v1", "node", "syncing"]) => Ok(json!({"data": {
                "head_slot": self.current_slot().saturating_sub(if syncing { 64 } else { 0 }).to_string(),
                "sync_distance": if syncing { "64" } else { "0" },
                "is_syncing": syncing, "is_optimistic": false, "el_offline": false}})),
            (Method::GET, ["eth", "v1", "beacon", "states", "head", "validators"]) => self.validators(&q),
            (Method::POST, ["eth", "v1", "beacon", "states", "head", "validators"]) => {
                #[derive(serde::Deserialize)]
                struct Ids {
                    ids: Vec<String>,
                }
                parse::<Ids>(&body)
                    .and_then(|ids| self.validators(&[("id".to_string(), ids.ids)].into_iter().collect()))
            }
            (Method::GET, ["eth", "v1", "beacon", "headers", root]) => self.header(root),
            (Method::GET, ["eth", "v1", "beacon", "blocks", "head", "root"]) => {
                Ok(json!({"data": {"root": self.lock().head}}))
            }
            (Method::POST, ["eth", "v1", "validator", "duties", "attester", e]) => self.attester_duties(e, &body),
            (Method::GET, ["eth", "v1", "validator", "duties", "proposer", e]) => self.proposer_duties(e),
            (Method::POST, ["eth", "v1", "validator", "duties", "sync", e]) => self.sync_duties(e, &body),
            (Method::POST, ["eth", "v1", "validator", "beacon_committee_subscriptions"])
            | (Method::POST, ["eth", "v1", "validator", "sync_committee_subscriptions"]) => {
                parse::<Vec<Value>>(&body).map(|_| Value::Null)
            }
            (Method::POST, ["eth", "v1", "validator", "beacon_committee_selections"]) if self.cfg.distributed => {
                self.selections(&body, false)
            }
            (Method::POST, ["eth", "v1", "validator", "sync_committee_selections"]) if self.cfg.distributed => {
                self.selections(&body, true)
            }
            (Method::POST, ["eth", "v1", "validator", "beacon_committee_selections" | "sync_committee_selections"]) => {
                Err((StatusCode::NOT_IMPLEMENTED, "no distributed-validator middleware here".into()))
            }
            (Method::POST, ["eth", "v1", "validator", "prepare_beacon_proposer"]) => self.prepare_proposers(&body),
            (Method::POST, ["eth", "v1", "validator", "register_validator"]) => self.register(&body),
            (Method::POST, ["eth", "v1", "validator", "liveness", _]) if self.cfg.liveness => {
                let live = self.lock().doppelgangers.clone();
                indices(&body).map(|v| {
                    json!({"data": v.iter().map(|i| json!({"index": i.to_string(), "is_live": live.contains(i)})).collect::<Vec<_>>()})
                })
            }
            (Method::POST, ["eth", "v1", "validator", "liveness", _]) => {
                Err((StatusCode::NOT_FOUND, "liveness route not served by this node".into()))
            }
            (Method::GET, ["eth", "v2", "beacon", "blocks", s]) => self.block(s),
            (Method::GET, ["eth", "v1", "beacon", "states", _, "committees"]) => self.committees(&q),
            (Method::GET, ["eth", "v1", "validator", "attestation_data"]) => self.attestation_data(&q),
            (Method::POST, ["eth", "v2", "beacon", "pool", "attestations"]) => self.pool_attestations(version, &body),
            (Method::GET, ["eth", "v2", "validator", "aggregate_attestation"]) => self.aggregate_attestation(&q),
            (Method::POST, ["eth", "v2", "validator", "aggregate_and_proofs"]) => {
                self.aggregate_and_proofs(version, &body)
            }
            (Method::GET, ["eth", "v3", "validator", "blocks", s]) => {
                let wants_ssz = headers
                    .get("accept")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.starts_with("application/octet-stream"));
                match self.produce(s, &q) {
                    Ok((v, ssz)) if wants_ssz && self.cfg.ssz => return ssz_response(&v, ssz),
                    other => other.map(|(v, _)| v),
                }
            }
            (Method::POST, ["eth", "v2", "beacon", "blocks"]) => {
                let ssz = is_ssz(&headers);
                self.publish(version, &body, false, ssz)
            }
            (Method::POST, ["eth", "v2", "beacon", "blinded_blocks"]) => {
                let ssz = is_ssz(&headers);
                self.publish(version, &body, true, ssz)
            }
            (Method::POST, ["eth", "v1", "beacon", "pool", "sync_committees"]) => self.sync_committee_messages(&body),
            (Method::GET, ["eth", "v1", "validator", "sync_committee_contribution"]) => self.contribution(&q),
            (Method::POST, ["eth", "v1", "validator", "contribution_and_proofs"]) => {
                self.contribution_and_proofs(&body)
            }
            _ => {
                let msg = format!("route not served: {method} {path}");
                self.lock().report.failures.push(msg.clone());
                Err((StatusCode::NOT_FOUND, msg))
            }
        };
        match r {
            Ok(Value::Null) => StatusCode::OK.into_response(),
            Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
            Err((code, msg)) => {
                // 404 is an answer (no such object, or a route this node
                // lacks on purpose); unknown routes were recorded above.
                if code != StatusCode::NOT_FOUND {
                    self.lock().report.failures.push(format!("{method} {path}: {code}: {msg}"));
                }
                (code, axum::Json(json!({"code": code.as_u16(), "message": msg}))).into_response()
            }
        }
    }

    /// `GET /eth/v1/events?topics=head`: a Server-Sent Events stream of the
    /// head events of published blocks.
    fn events(&self, q: &BTreeMap<String, Vec<String>>) -> Response {
        let topics: Vec<&str> = q.get("topics").into_iter().flatten().flat_map(|t| t.split(',')).collect();
        if topics != ["head"] {
            return (StatusCode::BAD_REQUEST, format!("unsupported topics {topics:?}")).into_response();
        }
        let rx = self.heads.subscribe();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok((slot, root)) => {
                        let data = json!({"slot": slot.to_string(), "block": root, "state": root,
                            "epoch_transition": false, "previous_duty_dependent_root": root,
                            "current_duty_dependent_root": root, "execution_optimistic": false});
                        let chunk = Bytes::from(format!("event: head\ndata: {data}\n\n"));
                        return Some((Ok::<Bytes, std::convert::Infallible>(chunk), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                }
            }
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }

    /// `GET /eth/v2/beacon/blocks/{slot}`: the block the client published,
    /// or, when doppelgangers are set, a block by another proposer carrying
    /// their attestations of the previous slot; else 404 (empty slot).
    fn block(&self, s: &str) -> Reply {
        let slot: u64 = s.parse().map_err(|_| bad(format!("block id {s:?}")))?;
        let st = self.lock();
        let fork = self.spec.fork_name_at_slot(slot).as_str();
        if let Some(b) = st.published.get(&slot) {
            return Ok(json!({"version": fork, "execution_optimistic": false, "finalized": false, "data": b}));
        }
        if st.doppelgangers.is_empty() || slot > self.current_slot() || slot == 0 {
            return Err((StatusCode::NOT_FOUND, format!("no block at slot {slot}")));
        }
        let att_slot = slot - 1;
        let cps = st.chain.committees_per_slot();
        let mut committee_bits = ssz_types::BitVector::<P::MaxCommitteesPerSlot>::new();
        let mut positions = Vec::new();
        let mut offset = 0usize;
        for ci in 0..cps {
            let members = st.chain.committee(att_slot, ci);
            let ours: Vec<usize> =
                members.iter().enumerate().filter(|(_, v)| st.doppelgangers.contains(v)).map(|(i, _)| i).collect();
            if !ours.is_empty() {
                committee_bits.set(ci as usize, true).map_err(|e| bad(format!("{e:?}")))?;
                positions.extend(ours.iter().map(|p| offset + p));
                offset += members.len();
            }
        }
        let mut attestations = Vec::new();
        if offset > 0 {
            let mut bits = ssz_types::BitList::<P::MaxValidatorsPerSlot>::with_capacity(offset)
                .map_err(|e| bad(format!("{e:?}")))?;
            for p in positions {
                bits.set(p, true).map_err(|e| bad(format!("{e:?}")))?;
            }
            let epoch = self.spec.epoch_of(att_slot);
            let data = AttestationData {
                slot: att_slot,
                index: 0,
                beacon_block_root: st.head,
                source: st.chain.checkpoint(epoch.saturating_sub(1)),
                target: st.chain.checkpoint(epoch),
            };
            attestations.push(AttestationElectra::<P> {
                aggregation_bits: bits,
                data,
                signature: SignatureBytes::default(),
                committee_bits,
            });
        }
        let mut message = block_json::block(
            slot,
            self.cfg.validators + 1000,
            st.head,
            SignatureBytes::default(),
            &format!("{}", Hash256::ZERO),
            Address::ZERO,
            self.spec.sync_committee_size,
            false,
        );
        message["body"]["attestations"] = json!(attestations);
        Ok(json!({"version": fork, "execution_optimistic": false, "finalized": false,
            "data": {"message": message, "signature": SignatureBytes::default()}}))
    }

    fn header(&self, root: &str) -> Reply {
        let root: Hash256 =
            serde_json::from_value(Value::String(root.to_string())).map_err(|e| bad(format!("root: {e}")))?;
        let st = self.lock();
        let Some(slot) = st.roots.get(&root).copied() else {
            return Err((StatusCode::NOT_FOUND, format!("no block {root}")));
        };
        Ok(json!({"execution_optimistic": false, "finalized": false, "data": {"root": root, "canonical": true,
            "header": {"message": {"slot": slot.to_string(), "proposer_index": "0", "parent_root": Hash256::ZERO,
            "state_root": Hash256::ZERO, "body_root": Hash256::ZERO}, "signature": SignatureBytes::default()}}}))
    }

    fn committees(&self, q: &BTreeMap<String, Vec<String>>) -> Reply {
        let slot = q_u64(q, "slot")?;
        let chain = self.lock().chain.clone();
        let data: Vec<Value> = (0..chain.committees_per_slot())
            .map(|ci| {
                let members: Vec<String> = chain.committee(slot, ci).iter().map(|v| v.to_string()).collect();
                json!({"index": ci.to_string(), "slot": slot.to_string(), "validators": members})
            })
            .collect();
        Ok(json!({"data": data, "execution_optimistic": false, "finalized": false}))
    }

    fn validators(&self, q: &BTreeMap<String, Vec<String>>) -> Reply {
        let mut out = Vec::new();
        for id in q.get("id").into_iter().flatten().flat_map(|s| s.split(',')) {
            let idx = if let Ok(i) = id.parse::<u64>() {
                Some(i).filter(|i| *i < self.cfg.validators)
            } else {
                let pk: PublicKeyBytes =
                    serde_json::from_value(Value::String(id.to_string())).map_err(|e| bad(format!("id {id}: {e}")))?;
                self.index_of.get(&pk).copied()
            };
            if let Some(i) = idx {
                out.push(json!({"index": i.to_string(), "balance": "32000000000", "status": "active_ongoing",
                    "validator": {"pubkey": self.pubkey_bytes[i as usize], "effective_balance": "32000000000", "slashed": false}}));
            }
        }
        Ok(json!({"data": out, "execution_optimistic": false, "finalized": false}))
    }

    fn epoch_param(e: &str) -> Result<u64, (StatusCode, String)> {
        e.parse().map_err(|_| bad(format!("epoch {e:?}")))
    }

    /// The key served as validator `v`'s: its own, or (misbehaving) another
    /// validator's.
    fn other_key(&self, v: u64) -> PublicKeyBytes {
        self.pubkey_bytes[((v + 1) % self.cfg.validators) as usize]
    }

    fn attester_duties(&self, e: &str, body: &[u8]) -> Reply {
        let epoch = Self::epoch_param(e)?;
        let want = indices(body)?;
        let st = self.lock();
        let m = st.misbehaviour;
        let duties = st.chain.attester_duties(epoch);
        let spe = self.spec.slots_per_epoch;
        let duty_json = |v: u64, pubkey: PublicKeyBytes, d: &super::chain::Duty, slot: u64| {
            json!({"pubkey": pubkey, "validator_index": v.to_string(),
            "committee_index": d.committee_index.to_string(), "committee_length": d.committee_length.to_string(),
            "committees_at_slot": d.committees_at_slot.to_string(),
            "validator_committee_index": d.position.to_string(), "slot": slot.to_string()})
        };
        let mut data: Vec<Value> = Vec::new();
        for (v, d) in want.iter().filter_map(|v| duties.get(v).map(|d| (*v, d))) {
            data.push(duty_json(v, self.pubkey_bytes[v as usize], d, d.slot));
            // Another slot of the same epoch.
            let other_slot = self.spec.start_slot(epoch) + (d.slot + 1) % spe;
            if m.relabelled_duplicates {
                data.push(duty_json(v, self.other_key(v), d, other_slot));
            }
            if m.duplicate_duties {
                data.push(duty_json(v, self.pubkey_bytes[v as usize], d, d.slot));
                data.push(duty_json(v, self.pubkey_bytes[v as usize], d, other_slot));
            }
        }
        Ok(
            json!({"dependent_root": st.chain.attester_dependent_root(epoch), "execution_optimistic": false, "data": data}),
        )
    }

    fn proposer_duties(&self, e: &str) -> Reply {
        let epoch = Self::epoch_param(e)?;
        let st = self.lock();
        let mut data: Vec<Value> = Vec::new();
        for slot in self.spec.start_slot(epoch)..self.spec.start_slot(epoch + 1) {
            let v = st.chain.proposer(slot);
            data.push(json!({"pubkey": self.pubkey_bytes[v as usize], "validator_index": v.to_string(), "slot": slot.to_string()}));
            if st.misbehaviour.relabelled_duplicates {
                data.push(
                    json!({"pubkey": self.other_key(v), "validator_index": v.to_string(), "slot": slot.to_string()}),
                );
            }
        }
        Ok(
            json!({"dependent_root": st.chain.proposer_dependent_root(epoch), "execution_optimistic": false, "data": data}),
        )
    }

    fn sync_duties(&self, e: &str, body: &[u8]) -> Reply {
        let epoch = Self::epoch_param(e)?;
        let want = indices(body)?;
        let st = self.lock();
        let relabel = st.misbehaviour.relabelled_duplicates;
        let committee = st.chain.sync_committee(epoch);
        let mut data: Vec<Value> = Vec::new();
        for v in &want {
            let pos: Vec<String> =
                committee.iter().enumerate().filter(|(_, m)| *m == v).map(|(j, _)| j.to_string()).collect();
            if pos.is_empty() {
                continue;
            }
            data.push(json!({"pubkey": self.pubkey_bytes[*v as usize], "validator_index": v.to_string(),
                "validator_sync_committee_indices": pos}));
            if relabel {
                data.push(json!({"pubkey": self.other_key(*v), "validator_index": v.to_string(),
                    "validator_sync_committee_indices": pos}));
            }
        }
        Ok(json!({"execution_optimistic": false, "data": data}))
    }

    fn prepare_proposers(&self, body: &[u8]) -> Reply {
        #[derive(serde::Deserialize)]
        struct Prep {
            validator_index: String,
            fee_recipient: Address,
        }
        let preps: Vec<Prep> = parse(body)?;
        let mut st = self.lock();
        for p in preps {
            let v: u64 =
                p.validator_index.parse().map_err(|_| bad(format!("validator_index {:?}", p.validator_index)))?;
            st.fee_recipients.insert(v, p.fee_recipient);
        }
        Ok(Value::Null)
    }

    /// The middleware's selections routes: each entry's partial proof
    /// verified (the validator's key, the real domain), the combined proof
    /// returned (a cluster of one share: the same signature), except for
    /// the validators it withholds.
    fn selections(&self, body: &[u8], sync: bool) -> Reply {
        let entries: Vec<Value> = parse(body)?;
        let field = |e: &Value, k: &str| -> Result<u64, (StatusCode, String)> {
            e.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("selection entry: {k} must be a quoted decimal: {e}")))
        };
        let ctx = self.ctx();
        let root_of = |slot: u64, sub: u64| {
            if sync {
                let sel = SyncAggregatorSelectionData { slot, subcommittee_index: sub };
                ctx.signing_root::<P>(&SignableMessage::SyncSelectionProof(&sel))
            } else {
                ctx.signing_root::<P>(&SignableMessage::SelectionProof(slot))
            }
        };
        self.preverify(
            entries
                .iter()
                .filter_map(|e| {
                    let v = field(e, "validator_index").ok()?;
                    let slot = field(e, "slot").ok()?;
                    let sub = if sync { field(e, "subcommittee_index").ok()? } else { u64::MAX };
                    let proof: SignatureBytes = serde_json::from_value(e.get("selection_proof")?.clone()).ok()?;
                    Some((vec![v], root_of(slot, sub), proof))
                })
                .collect(),
        );
        let mut st = self.lock();
        let mut out = Vec::new();
        for e in &entries {
            let v = field(e, "validator_index")?;
            let slot = field(e, "slot")?;
            let sub = if sync { field(e, "subcommittee_index")? } else { u64::MAX };
            let proof: SignatureBytes = serde_json::from_value(e.get("selection_proof").cloned().unwrap_or_default())
                .map_err(|x| bad(format!("selection entry: selection_proof: {x}")))?;
            let root = root_of(slot, sub);
            if !self.verify(&mut st, v, root, &proof) {
                return Err(bad(format!("validator {v}: partial selection proof invalid at slot {slot}")));
            }
            if super::middleware_withholds(v) {
                continue;
            }
            st.selections.insert((v, slot, sub), proof);
            if sync {
                st.report.selections.1 += 1;
            } else {
                st.report.selections.0 += 1;
            }
            out.push(e.clone());
        }
        Ok(json!({ "data": out }))
    }

    fn register(&self, body: &[u8]) -> Reply {
        let regs: Vec<SignedValidatorRegistrationV1> = parse(body)?;
        let root_of = |r: &SignedValidatorRegistrationV1| {
            self.ctx().signing_root::<P>(&SignableMessage::ValidatorRegistration(&r.message))
        };
        self.preverify(
            regs.iter()
                .filter_map(|r| Some((vec![*self.index_of.get(&r.message.pubkey)?], root_of(r), r.signature)))
                .collect(),
        );
        let mut st = self.lock();
        for r in regs {
            let Some(v) = self.index_of.get(&r.message.pubkey).copied() else {
                return Err(bad(format!("registration for unknown key {}", r.message.pubkey)));
            };
            if !self.verify(&mut st, v, root_of(&r), &r.signature) {
                return Err(bad(format!("validator {v}: registration signature invalid")));
            }
            st.report.registrations.insert(v);
        }
        Ok(Value::Null)
    }

    fn attestation_data(&self, q: &BTreeMap<String, Vec<String>>) -> Reply {
        let slot = q_u64(q, "slot")?;
        let ci = q_u64(q, "committee_index")?;
        let epoch = self.spec.epoch_of(slot);
        let mut st = self.lock();
        if ci >= st.chain.committees_per_slot() {
            return Err(bad(format!("committee_index {ci} out of range")));
        }
        let head = st.head;
        let chain = st.chain.clone();
        let d = *st.att_data.entry(slot).or_insert_with(|| AttestationData {
            slot,
            index: 0,
            beacon_block_root: head,
            source: chain.checkpoint(epoch.saturating_sub(1)),
            target: chain.checkpoint(epoch),
        });
        if st.misbehaviour.wrong_attestation_data && slot % 2 == 1 {
            let wrong = AttestationData { slot: slot + 1, target: chain.checkpoint(epoch + 1), ..d };
            return Ok(json!({"data": wrong}));
        }
        Ok(json!({"data": d}))
    }

    fn check_version(&self, version: Option<String>, slot: u64) -> Result<ForkName, (StatusCode, String)> {
        let fork = self.spec.fork_name_at_slot(slot);
        match version {
            Some(v) if v == fork.as_str() => Ok(fork),
            Some(v) => Err(bad(format!("Eth-Consensus-Version {v} for a {fork} slot {slot}"))),
            None => Err(bad("Eth-Consensus-Version header missing")),
        }
    }

    /// Every seed version (newest first) under which `v` has the duty at
    /// (`slot`, `ci`): the current assignments or, for messages signed
    /// before a reorg, an older version of the epoch's.
    fn find_duties(st: &State, epoch: u64, v: u64, slot: u64, ci: u64) -> Vec<(u64, super::chain::Duty)> {
        (0..=st.chain.seed(epoch))
            .rev()
            .filter_map(|s| {
                let d = st.chain.with_seed(epoch, s).attester_duties(epoch).get(&v).copied()?;
                (d.slot == slot && d.committee_index == ci).then_some((s, d))
            })
            .collect()
    }

    /// Records an attestation for slashability; a conflict is a failure.
    fn record_vote(st: &mut State, v: u64, source: u64, target: u64, root: Hash256) -> Result<(), String> {
        let votes = st.votes.entry(v).or_default();
        for (s, t, r) in votes.iter() {
            if *t == target && *r != root {
                return Err(format!("validator {v}: SLASHABLE double vote for target {target}"));
            }
            if (*s < source && target < *t) || (source < *s && *t < target) {
                return Err(format!("validator {v}: SLASHABLE surround vote ({s},{t}) vs ({source},{target})"));
            }
        }
        votes.push((source, target, root));
        Ok(())
    }

    fn pool_attestations(&self, version: Option<String>, body: &[u8]) -> Reply {
        // Arrival, as the client's timing: the node's own verification of
        // the earlier entries (and its lock) are not the client's delay.
        let arrived_ms = self.ms_since_genesis();
        let atts: Vec<SingleAttestation> = parse(body)?;
        let root_of = |a: &SingleAttestation| self.ctx().signing_root::<P>(&SignableMessage::Attestation(&a.data));
        self.preverify(atts.iter().map(|a| (vec![a.attester_index], root_of(a), a.signature)).collect());
        let mut st = self.lock();
        let mut last_slot = None;
        for a in atts {
            let slot = a.data.slot;
            self.check_version(version.clone(), slot)?;
            let epoch = self.spec.epoch_of(slot);
            let v = a.attester_index;
            let branches = Self::find_duties(&st, epoch, v, slot, a.committee_index);
            if branches.is_empty() {
                return Err(bad(format!("validator {v}: no duty at slot {slot} committee {}", a.committee_index)));
            }
            if st.att_data.get(&slot) != Some(&a.data) {
                return Err(bad(format!("validator {v}: attestation data at slot {slot} is not what was served")));
            }
            let root = root_of(&a);
            if !self.verify(&mut st, v, root, &a.signature) {
                return Err(bad(format!("validator {v}: attestation signature invalid at slot {slot}")));
            }
            Self::record_vote(&mut st, v, a.data.source.epoch, a.data.target.epoch, root).map_err(bad)?;
            // Pooled on every branch where this is the validator's duty.
            for (seed, duty) in branches {
                st.pool.entry((slot, a.committee_index, seed)).or_default().insert(duty.position, a.signature);
            }
            if !st.report.attested.insert((slot, v)) {
                st.report.attested_twice.push((slot, v));
            }
            st.report.attested_at_ms.entry((slot, v)).or_insert(arrived_ms);
            let offset = arrived_ms.saturating_sub(slot * self.cfg.slot_ms);
            st.report.attestation_offsets_ms.push((slot, offset));
            last_slot = Some(slot);
        }
        if let Some(slot) = last_slot {
            let at = self.ms_since_genesis();
            st.report.attestation_posts_ms.push((slot, at));
            st.report.attestation_posts.push((slot, arrived_ms, at));
        }
        Ok(Value::Null)
    }

    fn aggregate_attestation(&self, q: &BTreeMap<String, Vec<String>>) -> Reply {
        let slot = q_u64(q, "slot")?;
        let ci = q_u64(q, "committee_index")?;
        let root: Hash256 = q_hex(q, "attestation_data_root")?;
        let st = self.lock();
        let data = st.att_data.get(&slot).copied().filter(|d| d.tree_hash_root() == root);
        let epoch = self.spec.epoch_of(slot);
        // The newest branch's pool that has votes.
        let found = (0..=st.chain.seed(epoch)).rev().find_map(|s| st.pool.get(&(slot, ci, s)).map(|p| (s, p)));
        let (Some(data), Some((seed, sigs))) = (data, found) else {
            return Err((StatusCode::NOT_FOUND, format!("no aggregate for slot {slot} committee {ci}")));
        };
        let len = st.chain.with_seed(epoch, seed).committee(slot, ci).len();
        let mut bits =
            ssz_types::BitList::<P::MaxValidatorsPerSlot>::with_capacity(len).map_err(|e| bad(format!("{e:?}")))?;
        for pos in sigs.keys() {
            bits.set(*pos as usize, true).map_err(|e| bad(format!("{e:?}")))?;
        }
        let mut committee_bits = ssz_types::BitVector::<P::MaxCommitteesPerSlot>::new();
        committee_bits.set(ci as usize, true).map_err(|e| bad(format!("{e:?}")))?;
        let signature = aggregate_signatures(sigs.values()).ok_or_else(|| bad("aggregation failed"))?;
        let att = AttestationElectra::<P> { aggregation_bits: bits, data, signature, committee_bits };
        Ok(json!({"version": self.spec.fork_name_at_slot(slot).as_str(), "data": att}))
    }

    fn aggregate_and_proofs(&self, version: Option<String>, body: &[u8]) -> Reply {
        let aggs: Vec<SignedAggregateAndProofElectra<P>> = parse(body)?;
        let ctx = self.ctx();
        // The committees as they stand now (the handler also tries the
        // epoch's older branches, alone).
        let chain = self.lock().chain.clone();
        self.preverify(
            aggs.iter()
                .flat_map(|s| {
                    let m = &s.message;
                    let slot = m.aggregate.data.slot;
                    let ci = m.aggregate.committee_bits.iter().position(|b| b).unwrap_or(usize::MAX) as u64;
                    let signers = set_bits(&chain.committee(slot, ci), |i| m.aggregate.aggregation_bits.get(i));
                    let v = m.aggregator_index;
                    [
                        (vec![v], ctx.signing_root::<P>(&SignableMessage::SelectionProof(slot)), m.selection_proof),
                        (
                            signers,
                            ctx.signing_root::<P>(&SignableMessage::Attestation(&m.aggregate.data)),
                            m.aggregate.signature,
                        ),
                        (vec![v], ctx.signing_root::<P>(&SignableMessage::AggregateAndProofElectra(m)), s.signature),
                    ]
                })
                .collect(),
        );
        let mut st = self.lock();
        for s in aggs {
            let m = &s.message;
            let slot = m.aggregate.data.slot;
            self.check_version(version.clone(), slot)?;
            let v = m.aggregator_index;
            let ci = m.aggregate.committee_bits.iter().position(|b| b).unwrap_or(usize::MAX) as u64;
            if m.aggregate.committee_bits.num_set_bits() != 1 {
                return Err(bad(format!("aggregator {v}: aggregate must cover exactly one committee")));
            }
            let epoch = self.spec.epoch_of(slot);
            let candidates = Self::find_duties(&st, epoch, v, slot, ci);
            let Some((_, duty)) = candidates.first().copied() else {
                return Err(bad(format!("aggregator {v}: not in committee {ci} at slot {slot}")));
            };
            if self.cfg.distributed && st.selections.get(&(v, slot, u64::MAX)) != Some(&m.selection_proof) {
                return Err(bad(format!(
                    "aggregator {v}: selection proof at slot {slot} is not one the middleware combined"
                )));
            }
            let sel_root = ctx.signing_root::<P>(&SignableMessage::SelectionProof(slot));
            if !self.verify(&mut st, v, sel_root, &m.selection_proof) {
                return Err(bad(format!("aggregator {v}: selection proof invalid at slot {slot}")));
            }
            let modulo = (duty.committee_length / self.spec.target_aggregators_per_committee).max(1);
            if !poolvc::services::duty_book::is_aggregator(
                duty.committee_length,
                self.spec.target_aggregators_per_committee,
                &m.selection_proof,
            ) {
                return Err(bad(format!("aggregator {v}: selection proof does not select it (modulo {modulo})")));
            }
            // The aggregate is the node's own, built on one of the epoch's
            // branches: its signature must verify under that branch's committee.
            let data_root = ctx.signing_root::<P>(&SignableMessage::Attestation(&m.aggregate.data));
            let valid = (0..=st.chain.seed(epoch)).any(|seed| {
                let committee = st.chain.with_seed(epoch, seed).committee(slot, ci);
                let signers = set_bits(&committee, |i| m.aggregate.aggregation_bits.get(i));
                self.verify_aggregate(&mut st, &signers, data_root, &m.aggregate.signature)
            });
            if !valid {
                return Err(bad(format!("aggregator {v}: aggregate signature invalid at slot {slot}")));
            }
            let root = ctx.signing_root::<P>(&SignableMessage::AggregateAndProofElectra(m));
            if !self.verify(&mut st, v, root, &s.signature) {
                return Err(bad(format!("aggregator {v}: aggregate-and-proof signature invalid at slot {slot}")));
            }
            st.report.aggregated.insert((slot, v));
        }
        Ok(Value::Null)
    }

    fn produce(&self, s: &str, q: &BTreeMap<String, Vec<String>>) -> Result<(Value, Vec<u8>), (StatusCode, String)> {
        let slot: u64 = s.parse().map_err(|_| bad(format!("slot {s:?}")))?;
        let randao: SignatureBytes = q_hex(q, "randao_reveal")?;
        let graffiti: Hash256 = q_hex::<Hash256>(q, "graffiti").unwrap_or_default();
        let boost = q.get("builder_boost_factor").and_then(|v| v.first()).map(|v| v.as_str()) != Some("0");
        let fork = self.spec.fork_name_at_slot(slot);
        let mut st = self.lock();
        let proposer = st.chain.proposer(slot);
        let ctx = self.ctx();
        let rroot = ctx.signing_root::<P>(&SignableMessage::RandaoReveal(self.spec.epoch_of(slot)));
        if !self.verify(&mut st, proposer, rroot, &randao) {
            return Err(bad(format!("slot {slot}: randao reveal is not proposer {proposer}'s")));
        }
        let blinded = self.cfg.builder && (boost || st.misbehaviour.blinded_to_local_requests) && slot % 2 == 1;
        // The execution layer pays the prepared fee recipient (the node's own
        // address when none was prepared, or when it misbehaves); a builder
        // pays its own.
        let own = Address::repeat_byte(0xfe);
        let fee = match st.fee_recipients.get(&proposer) {
            Some(a) if !blinded && !st.misbehaviour.ignore_fee_recipients => *a,
            _ => own,
        };
        let j = block_json::block(
            slot,
            proposer,
            st.head,
            randao,
            &format!("{graffiti}"),
            fee,
            self.spec.sync_committee_size,
            blinded,
        );
        let template = |e| (StatusCode::INTERNAL_SERVER_ERROR, format!("simnode block template: {e}"));
        let (root, ssz) = if blinded {
            let b = BlindedBeaconBlock::<P>::from_json(fork, j.clone()).map_err(template)?;
            (b.tree_hash_root(), b.as_ssz_bytes())
        } else {
            let b = BeaconBlock::<P>::from_json(fork, j.clone()).map_err(template)?;
            // BlockContents with no proofs and no blobs: three offsets, the block.
            let block = b.as_ssz_bytes();
            let end = (12 + block.len()) as u32;
            let mut c = Vec::new();
            for o in [12u32, end, end] {
                c.extend_from_slice(&o.to_le_bytes());
            }
            c.extend_from_slice(&block);
            (b.tree_hash_root(), c)
        };
        st.produced.entry(slot).or_default().push((root, blinded));
        let data = if blinded { j } else { json!({"block": j, "kzg_proofs": [], "blobs": []}) };
        let v = json!({"version": fork.as_str(), "execution_payload_blinded": blinded,
            "execution_payload_value": "1", "consensus_block_value": "1", "data": data});
        Ok((v, ssz))
    }

    fn publish(&self, version: Option<String>, body: &[u8], blinded: bool, ssz: bool) -> Reply {
        let (header, root, message_json, signature, fork) = if ssz {
            let fork: ForkName = version
                .as_deref()
                .ok_or_else(|| bad("Eth-Consensus-Version header missing"))?
                .parse()
                .map_err(|e| bad(format!("{e}")))?;
            let signed = if blinded {
                body
            } else {
                let (o0, o1, o2) = (offset(body, 0)?, offset(body, 4)?, offset(body, 8)?);
                if o0 != 12 || o0 > o1 || o1 > o2 || o2 > body.len() {
                    return Err(bad(format!("SignedBlockContents offsets {o0} {o1} {o2}")));
                }
                if !(o2 - o1).is_multiple_of(48) || !(body.len() - o2).is_multiple_of(131_072) {
                    return Err(bad("SignedBlockContents: proofs or blobs of the wrong size"));
                }
                &body[o0..o1]
            };
            let (message, signature) = split_signed(signed)?;
            let (header, root, json) = if blinded {
                let b = BlindedBeaconBlock::<P>::from_ssz_bytes(fork, message)
                    .map_err(|e| bad(format!("blinded block: {e}")))?;
                (b.header(), b.tree_hash_root(), b.to_json())
            } else {
                let b = BeaconBlock::<P>::from_ssz_bytes(fork, message).map_err(|e| bad(format!("block: {e}")))?;
                (b.header(), b.tree_hash_root(), b.to_json())
            };
            self.check_version(Some(fork.as_str().to_string()), header.slot)?;
            (header, root, json, signature, fork)
        } else {
            let v: Value = parse(body)?;
            let (message, signature) = if blinded {
                (v.get("message").cloned(), v.get("signature").cloned())
            } else {
                let sb = v.get("signed_block");
                for k in ["kzg_proofs", "blobs"] {
                    if !v.get(k).is_some_and(Value::is_array) {
                        return Err(bad(format!("block contents lack {k}")));
                    }
                }
                (sb.and_then(|s| s.get("message")).cloned(), sb.and_then(|s| s.get("signature")).cloned())
            };
            let (Some(message), Some(signature)) = (message, signature) else {
                return Err(bad("signed block lacks message or signature"));
            };
            let slot: u64 = message
                .get("slot")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("block slot"))?;
            let fork = self.check_version(version, slot)?;
            let signature: SignatureBytes =
                serde_json::from_value(signature).map_err(|e| bad(format!("signature: {e}")))?;
            let message_json = message.clone();
            let (header, root) = if blinded {
                let b = BlindedBeaconBlock::<P>::from_json(fork, message)
                    .map_err(|e| bad(format!("blinded block: {e}")))?;
                (b.header(), b.tree_hash_root())
            } else {
                let b = BeaconBlock::<P>::from_json(fork, message).map_err(|e| bad(format!("block: {e}")))?;
                (b.header(), b.tree_hash_root())
            };
            (header, root, message_json, signature, fork)
        };
        let slot = header.slot;
        let mut st = self.lock();
        if !st.produced.get(&slot).is_some_and(|p| p.contains(&(root, blinded))) {
            return Err(bad(format!("slot {slot}: published block is not the block produced (root {root})")));
        }
        let proposer = header.proposer_index;
        let sroot = self.ctx().signing_root::<P>(&SignableMessage::BlockHeader(&header));
        if !self.verify(&mut st, proposer, sroot, &signature) {
            return Err(bad(format!("slot {slot}: block signature invalid")));
        }
        if let Some(prev) = st.block_votes.insert((proposer, slot), sroot) {
            if prev != sroot {
                return Err(bad(format!("validator {proposer}: SLASHABLE two blocks at slot {slot}")));
            }
        }
        st.head = root;
        st.roots.insert(root, slot);
        if ssz {
            st.report.ssz_blocks += 1;
        }
        let graffiti =
            message_json["body"]["graffiti"].as_str().and_then(|g| hex::decode(g.trim_start_matches("0x")).ok());
        if let Some(g) = graffiti {
            let text = String::from_utf8_lossy(&g).trim_end_matches('\0').to_string();
            st.report.graffiti.insert(slot, text);
        }
        st.published.insert(slot, json!({"message": message_json, "signature": signature}));
        st.report.blocks.insert(slot, (proposer, blinded, fork));
        let at = self.ms_since_genesis();
        st.report.head_ms.entry(slot).or_insert(at);
        let _ = self.heads.send((slot, root));
        Ok(Value::Null)
    }

    fn sync_committee_messages(&self, body: &[u8]) -> Reply {
        let msgs: Vec<SyncCommitteeMessage> = parse(body)?;
        let sub_size = self.spec.sync_committee_size / self.spec.sync_committee_subnet_count;
        let root_of = |m: &SyncCommitteeMessage| {
            self.ctx().signing_root::<P>(&SignableMessage::SyncCommitteeMessage {
                slot: m.slot,
                beacon_block_root: m.beacon_block_root,
            })
        };
        self.preverify(msgs.iter().map(|m| (vec![m.validator_index], root_of(m), m.signature)).collect());
        let mut st = self.lock();
        for m in msgs {
            let v = m.validator_index;
            let committee = st.chain.sync_committee(self.spec.epoch_of(m.slot + 1));
            let positions: Vec<u64> =
                committee.iter().enumerate().filter(|(_, x)| **x == v).map(|(j, _)| j as u64).collect();
            if positions.is_empty() {
                return Err(bad(format!("validator {v}: not in the sync committee at slot {}", m.slot)));
            }
            if !self.verify(&mut st, v, root_of(&m), &m.signature) {
                return Err(bad(format!("validator {v}: sync message signature invalid at slot {}", m.slot)));
            }
            for p in positions {
                st.sync_pool
                    .entry((m.slot, m.beacon_block_root, p / sub_size))
                    .or_default()
                    .insert(p % sub_size, m.signature);
            }
            if !st.report.sync_messages.insert((m.slot, v)) {
                st.report.sync_twice.push((m.slot, v));
            }
        }
        Ok(Value::Null)
    }

    fn contribution(&self, q: &BTreeMap<String, Vec<String>>) -> Reply {
        let slot = q_u64(q, "slot")?;
        let sub = q_u64(q, "subcommittee_index")?;
        let root: Hash256 = q_hex(q, "beacon_block_root")?;
        let st = self.lock();
        let Some(sigs) = st.sync_pool.get(&(slot, root, sub)) else {
            return Err((StatusCode::NOT_FOUND, format!("no contribution for slot {slot} subcommittee {sub}")));
        };
        let mut bits = ssz_types::BitVector::<P::SyncSubcommitteeSize>::new();
        for p in sigs.keys() {
            bits.set(*p as usize, true).map_err(|e| bad(format!("{e:?}")))?;
        }
        let signature = aggregate_signatures(sigs.values()).ok_or_else(|| bad("aggregation failed"))?;
        let c = SyncCommitteeContribution::<P> {
            slot,
            beacon_block_root: root,
            subcommittee_index: sub,
            aggregation_bits: bits,
            signature,
        };
        Ok(json!({"data": c}))
    }

    fn contribution_and_proofs(&self, body: &[u8]) -> Reply {
        let cs: Vec<SignedContributionAndProof<P>> = parse(body)?;
        let sub_size = self.spec.sync_committee_size / self.spec.sync_committee_subnet_count;
        let ctx = self.ctx();
        let sel_root_of = |c: &SyncCommitteeContribution<P>| {
            let sel = SyncAggregatorSelectionData { slot: c.slot, subcommittee_index: c.subcommittee_index };
            ctx.signing_root::<P>(&SignableMessage::SyncSelectionProof(&sel))
        };
        let mroot_of = |c: &SyncCommitteeContribution<P>| {
            ctx.signing_root::<P>(&SignableMessage::SyncCommitteeMessage {
                slot: c.slot,
                beacon_block_root: c.beacon_block_root,
            })
        };
        // The sync committee of the first contribution's period (a request
        // spanning two periods checks the others alone).
        let committee = match cs.first() {
            Some(s) => self.lock().chain.sync_committee(self.spec.epoch_of(s.message.contribution.slot + 1)),
            None => Vec::new(),
        };
        self.preverify(
            cs.iter()
                .flat_map(|s| {
                    let m = &s.message;
                    let c = &m.contribution;
                    let sub = c.subcommittee_index as usize * sub_size as usize;
                    let members = committee.get(sub..sub + sub_size as usize).unwrap_or(&[]);
                    let signers = set_bits(members, |i| c.aggregation_bits.get(i));
                    let v = m.aggregator_index;
                    [
                        (vec![v], sel_root_of(c), m.selection_proof),
                        (signers, mroot_of(c), c.signature),
                        (vec![v], ctx.signing_root::<P>(&SignableMessage::ContributionAndProof(m)), s.signature),
                    ]
                })
                .collect(),
        );
        let mut st = self.lock();
        for s in cs {
            let m = &s.message;
            let c = &m.contribution;
            let v = m.aggregator_index;
            let committee = st.chain.sync_committee(self.spec.epoch_of(c.slot + 1));
            let sub_members: Vec<u64> = committee
                [(c.subcommittee_index * sub_size) as usize..((c.subcommittee_index + 1) * sub_size) as usize]
                .to_vec();
            if !sub_members.contains(&v) {
                return Err(bad(format!("aggregator {v}: not in sync subcommittee {}", c.subcommittee_index)));
            }
            if self.cfg.distributed && st.selections.get(&(v, c.slot, c.subcommittee_index)) != Some(&m.selection_proof)
            {
                return Err(bad(format!(
                    "aggregator {v}: sync selection proof at slot {} is not one the middleware combined",
                    c.slot
                )));
            }
            let sel_root = sel_root_of(c);
            if !self.verify(&mut st, v, sel_root, &m.selection_proof) {
                return Err(bad(format!("aggregator {v}: sync selection proof invalid at slot {}", c.slot)));
            }
            if !poolvc::services::duty_book::is_sync_aggregator(
                self.spec.sync_committee_size,
                self.spec.sync_committee_subnet_count,
                self.spec.target_aggregators_per_sync_subcommittee,
                &m.selection_proof,
            ) {
                return Err(bad(format!("aggregator {v}: sync selection proof does not select it")));
            }
            let signers = set_bits(&sub_members, |i| c.aggregation_bits.get(i));
            if !self.verify_aggregate(&mut st, &signers, mroot_of(c), &c.signature) {
                return Err(bad(format!("aggregator {v}: contribution signature invalid at slot {}", c.slot)));
            }
            let root = ctx.signing_root::<P>(&SignableMessage::ContributionAndProof(m));
            if !self.verify(&mut st, v, root, &s.signature) {
                return Err(bad(format!("aggregator {v}: contribution-and-proof signature invalid")));
            }
            st.report.contributions.insert((c.slot, v, c.subcommittee_index));
        }
        Ok(Value::Null)
    }
}
