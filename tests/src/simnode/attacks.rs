//! Hostile listeners: one listener of the simulated node answers some routes
//! in ways an honest node never would (issue 10), while the others stay
//! honest over the same chain. Each attack is what a broken or compromised
//! node can do within the HTTP protocol: bodies without end, bodies that
//! trickle in, duties far past the spec's bounds, no answer at all.

use super::{Preset, Sim};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::convert::Infallible;
use std::time::Duration;

/// What a hostile listener does (any combination; unlisted routes honest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attacks {
    /// `attestation_data`: 200 with a body that never ends (chunked).
    pub endless_attestation_data: bool,
    /// Aggregates and block production: 200 announcing a 1 GiB body.
    pub announced_huge_bodies: bool,
    /// Attester duties: the honest answer with its first duty repeated a
    /// million times (about 260 MB).
    pub duplicated_duties: bool,
    /// Sync duties: each member with a million committee positions.
    pub sync_position_flood: bool,
    /// Attester and sync duties small enough to pass the size caps but out
    /// of the spec's bounds: committee index 1000 and slots of the next
    /// epoch; sync positions past `SYNC_COMMITTEE_SIZE`.
    pub out_of_bound_duties: bool,
    /// Attester and sync duties labelled with the client's other keys (each
    /// duty's public key moved to the next duty): honest in every other way.
    pub relabelled_duties: bool,
    /// Every route but the health and event routes: headers at once, then
    /// one byte every 100 ms, never done.
    pub trickle: bool,
    /// Every route, health included: the connection is taken and never
    /// answered.
    pub hang: bool,
}

/// A body made of `chunk` repeated `times` times (`None`: forever), produced
/// as it is sent.
fn repeated(chunk: Bytes, times: Option<usize>) -> Body {
    let s = stream::repeat(chunk).map(Ok::<_, Infallible>);
    match times {
        Some(n) => Body::from_stream(s.take(n)),
        None => Body::from_stream(s),
    }
}

fn ok(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

/// `prefix`, then `item` `n` times separated by commas, then `suffix`,
/// streamed in pieces of a thousand items.
fn json_array_stream(prefix: String, item: &str, n: usize, suffix: &'static str) -> Body {
    let piece = Bytes::from(format!("{item},").repeat(1000));
    let head = stream::once(async move { Ok::<_, Infallible>(Bytes::from(prefix)) });
    let body = stream::repeat(piece).take(n / 1000).map(Ok::<_, Infallible>);
    let last = Bytes::from(format!("{item}{suffix}"));
    let tail = stream::once(async move { Ok::<_, Infallible>(last) });
    Body::from_stream(head.chain(body).chain(tail))
}

async fn body_json(r: Response) -> Option<Value> {
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl<P: Preset> Sim<P> {
    /// The hostile answer of listener `which` to this request, if it attacks
    /// this route; `None` answers honestly.
    pub(super) async fn attack(
        &self,
        which: usize,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<Response> {
        let a = self.attacks_of(which);
        if a == Attacks::default() {
            return None;
        }
        let path = uri.path();
        let counted = || {
            if let Some(c) = self.lock().report.requests.get_mut(which) {
                *c += 1;
            }
        };
        if a.hang {
            counted();
            std::future::pending::<()>().await;
        }
        let health = path == "/eth/v1/node/syncing" || path.starts_with("/eth/v1/events");
        if a.trickle && !health {
            counted();
            let drip = stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
            });
            return Some(ok(Body::from_stream(drip)));
        }
        if a.endless_attestation_data && path == "/eth/v1/validator/attestation_data" {
            counted();
            let start = stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"{\"data\":")) });
            let rest = stream::repeat(Bytes::from(vec![b' '; 64 * 1024])).map(Ok::<_, Infallible>);
            return Some(ok(Body::from_stream(start.chain(rest))));
        }
        if a.announced_huge_bodies
            && (path.contains("/aggregate_attestation") || path.starts_with("/eth/v3/validator/blocks/"))
        {
            counted();
            let mut r = ok(repeated(Bytes::from(vec![b' '; 64 * 1024]), None));
            r.headers_mut().insert(header::CONTENT_LENGTH, header::HeaderValue::from(1u64 << 30));
            return Some(r);
        }
        let attester = path.starts_with("/eth/v1/validator/duties/attester/");
        let sync = path.starts_with("/eth/v1/validator/duties/sync/");
        if !(attester || sync)
            || !(a.duplicated_duties || a.sync_position_flood || a.out_of_bound_duties || a.relabelled_duties)
        {
            return None;
        }
        let honest = self.dispatch(which, method.clone(), uri.clone(), headers.clone(), body.clone());
        if honest.status() != StatusCode::OK {
            return Some(honest);
        }
        let mut v = body_json(honest).await?;
        let epoch: u64 = path.rsplit('/').next()?.parse().ok()?;
        let spe = self.spec().slots_per_epoch;
        let duties = v["data"].as_array_mut()?;
        if attester && a.duplicated_duties {
            let first = duties.first()?.to_string();
            let prefix =
                format!("{{\"dependent_root\":{},\"execution_optimistic\":false,\"data\":[", v["dependent_root"]);
            return Some(ok(json_array_stream(prefix, &first, 1_000_000, "]}")));
        }
        if sync && a.sync_position_flood {
            let positions = (0..1_000_000).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(",");
            let members: Vec<String> = duties
                .iter()
                .map(|d| {
                    format!(
                        "{{\"pubkey\":{},\"validator_index\":{},\"validator_sync_committee_indices\":[{positions}]}}",
                        d["pubkey"], d["validator_index"]
                    )
                })
                .collect();
            return Some(ok(Body::from(format!(
                "{{\"execution_optimistic\":false,\"data\":[{}]}}",
                members.join(",")
            ))));
        }
        if a.relabelled_duties && duties.len() > 1 {
            let keys: Vec<Value> = duties.iter().map(|d| d["pubkey"].clone()).collect();
            for (i, d) in duties.iter_mut().enumerate() {
                d["pubkey"] = keys[(i + 1) % keys.len()].clone();
            }
            return Some(ok(Body::from(v.to_string())));
        }
        if a.out_of_bound_duties {
            for (i, d) in duties.iter_mut().enumerate() {
                if attester {
                    if i % 2 == 0 {
                        d["committee_index"] = Value::from("1000");
                    } else {
                        d["slot"] = Value::from(((epoch + 1) * spe).to_string());
                    }
                } else {
                    d["validator_sync_committee_indices"] = Value::from(vec!["4096", "4096"]);
                }
            }
            return Some(ok(Body::from(v.to_string())));
        }
        Some(ok(Body::from(v.to_string())))
    }
}
