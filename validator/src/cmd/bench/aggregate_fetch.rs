//! `poolvc bench aggregate-fetch`: the 2/3-slot aggregate fetch against a
//! node that answers each `GET /eth/v2/validator/aggregate_attestation` after
//! a fixed delay, through the client's own typed route: one GET per
//! committee awaited in turn (how the attestation service fetched before)
//! vs at most [`FETCHES_IN_FLIGHT`] at once (how it fetches now), in the
//! same run. The node is a local HTTP server that counts the requests it
//! holds at once.

use crate::beacon::{BeaconClient, FETCHES_IN_FLIGHT};
use futures_util::stream::{self, StreamExt};
use poolvc_signer::types::{AttestationData, AttestationElectra, Hash256, Mainnet, SignatureBytes};
use serde::Serialize;
use ssz_types::{BitList, BitVector};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Errors of the bench.
#[derive(Debug, thiserror::Error)]
pub enum AggregateFetchError {
    /// The local node could not start.
    #[error("the local node: {reason}")]
    Node {
        /// Why.
        reason: String,
    },
    /// A fetch failed.
    #[error("committee {committee}: {reason}")]
    Fetch {
        /// The committee.
        committee: u64,
        /// Why.
        reason: String,
    },
}

/// The two runs' figures.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateFetchReport {
    /// Committees fetched per run.
    pub committees: u64,
    /// The node's delay per answer, ms.
    pub delay_ms: u64,
    /// One GET at a time: wall time, ms.
    pub sequential_ms: f64,
    /// At most `FETCHES_IN_FLIGHT` at once: wall time, ms.
    pub concurrent_ms: f64,
    /// `sequential_ms / concurrent_ms`.
    pub speedup: f64,
    /// The most requests the node held at once in the concurrent run.
    pub max_in_flight: usize,
    /// The bound.
    pub bound: usize,
}

/// Requests the node holds now, and the most it held at once.
#[derive(Default)]
struct Held {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// The aggregate the local node answers for `committee` at `slot`.
fn aggregate(committee: u64, slot: u64) -> Result<AttestationElectra<Mainnet>, String> {
    let mut committee_bits = BitVector::new();
    committee_bits.set(committee as usize, true).map_err(|e| format!("committee {committee}: {e:?}"))?;
    Ok(AttestationElectra {
        aggregation_bits: BitList::with_capacity(8).map_err(|e| format!("aggregation bits: {e:?}"))?,
        data: AttestationData { slot, ..Default::default() },
        signature: SignatureBytes::ZERO,
        committee_bits,
    })
}

/// Starts the local node: every aggregate answered after `delay`.
async fn node(delay: Duration, held: Arc<Held>) -> Result<String, AggregateFetchError> {
    let route = move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
        let held = Arc::clone(&held);
        async move {
            let n = held.now.fetch_add(1, Ordering::SeqCst) + 1;
            held.max.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            held.now.fetch_sub(1, Ordering::SeqCst);
            let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            match aggregate(num("committee_index"), num("slot")) {
                Ok(data) => Ok(axum::Json(serde_json::json!({ "version": "electra", "data": data }))),
                Err(e) => Err((axum::http::StatusCode::BAD_REQUEST, e)),
            }
        }
    };
    let app = axum::Router::new().route("/eth/v2/validator/aggregate_attestation", axum::routing::get(route));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| AggregateFetchError::Node { reason: e.to_string() })?;
    let addr = listener.local_addr().map_err(|e| AggregateFetchError::Node { reason: e.to_string() })?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

/// Runs both fetches of `committees` committees (at most 64, the mainnet
/// MAX_COMMITTEES_PER_SLOT) against a node answering after `delay_ms`.
pub fn run(committees: u64, delay_ms: u64) -> Result<AggregateFetchReport, AggregateFetchError> {
    let committees = committees.clamp(1, 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AggregateFetchError::Node { reason: e.to_string() })?;
    rt.block_on(async move {
        let held = Arc::new(Held::default());
        let url = node(Duration::from_millis(delay_ms), Arc::clone(&held)).await?;
        let client = BeaconClient::new(vec![url]);
        let t = Duration::from_secs(30);
        let (slot, root) = (1, Hash256::ZERO);
        let fetch = |ci: u64| {
            let client = &client;
            async move {
                let agg = client
                    .aggregate_attestation_v2::<Mainnet>(slot, root, ci, t)
                    .await
                    .map_err(|e| AggregateFetchError::Fetch { committee: ci, reason: e.to_string() })?;
                if !agg.committee_bits.get(ci as usize).unwrap_or(false) {
                    return Err(AggregateFetchError::Fetch { committee: ci, reason: "another committee's".into() });
                }
                Ok(())
            }
        };
        // Warm the connection pool, then measure.
        fetch(0).await?;
        let started = Instant::now();
        for ci in 0..committees {
            fetch(ci).await?;
        }
        let sequential_ms = started.elapsed().as_secs_f64() * 1000.0;
        held.max.store(0, Ordering::SeqCst);
        let started = Instant::now();
        let answers: Vec<Result<(), AggregateFetchError>> =
            stream::iter((0..committees).map(fetch)).buffer_unordered(FETCHES_IN_FLIGHT).collect().await;
        let concurrent_ms = started.elapsed().as_secs_f64() * 1000.0;
        answers.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(AggregateFetchReport {
            committees,
            delay_ms,
            sequential_ms,
            concurrent_ms,
            speedup: sequential_ms / concurrent_ms.max(f64::MIN_POSITIVE),
            max_in_flight: held.max.load(Ordering::SeqCst),
            bound: FETCHES_IN_FLIGHT,
        })
    })
}
