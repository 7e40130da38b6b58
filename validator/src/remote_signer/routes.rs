//! `poolvc signer`'s HTTP routes: Web3Signer's eth2 signing API and
//! poolvc's batch route.
//!
//! - `POST /api/v1/eth2/sign/{identifier}`: 200 with the signature as
//!   `{"signature"}` JSON, or as `text/plain` when the client prefers it
//!   (content negotiation as Web3Signer's: no `Accept`, `*/*` and
//!   `application/json` get JSON), 400 a malformed request, 404 an unknown
//!   key, 412 slashable or dated past the wall clock, 500 otherwise;
//! - `POST /api/v1/eth2/sign_batch`: `[{identifier, request}]` in, one
//!   [`BatchAnswer`] per entry out, in order (200 unless the body itself is
//!   malformed);
//! - `POST /api/v1/eth2/sign` (remote-signing-api PR #29, `SIGN_BATCH`):
//!   `{identifiers, signing_request}` in, one `{identifier, signature}` or
//!   `{identifier, error: {code, message}}` per key out, in order; 400 when
//!   the batch itself is malformed (no keys, a key twice, a type that names
//!   one validator). Each key passes the same gate as alone: its own
//!   protection record, clock and fee-recipient rules;
//! - `GET /api/v1/eth2/publicKeys`, `GET /upcheck`, `GET /healthcheck`.

use super::exposure::HostAllowlist;
use super::gate::SignerGate;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use poolvc_signer::types::{Preset, PublicKeyBytes};
use poolvc_signer::web3signer::{
    BatchAnswer, BatchItem, KeyResult, SameRequestBatch, SigningRequest, SigningResponse, BATCH_PATH, PUBLIC_KEYS_PATH,
    SIGN_PATH,
};
use std::sync::Arc;

/// Most entries one batch request may carry (poolvc's client sends 1,024).
pub const MAX_BATCH: usize = 4_096;
/// Largest body of one signing request. The largest message is a Gloas
/// `EXECUTION_PAYLOAD_ENVELOPE`, which carries the whole payload: at a 60M
/// gas limit its calldata is a few MB, twice that as JSON hex; 16 MiB
/// leaves room. (Before Gloas the largest is a phase0 or Altair block sent
/// whole, under 1 MiB.) A signer off localhost takes requests only from
/// authenticated clients.
pub const MAX_SIGN_BODY: usize = 16 * 1024 * 1024;
/// Largest body of a batch: [`MAX_BATCH`] attestation-sized requests (about
/// 800 bytes each) with room to spare; a batch of blocks is sent in smaller
/// batches.
pub const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;

/// The router over `gate`, answering only the `Host` names of `hosts`.
/// A body past its route's cap is refused (413) as soon as the cap is
/// read past, or at once when its `Content-Length` says so.
pub fn router<P: Preset>(gate: Arc<SignerGate<P>>, hosts: Arc<HostAllowlist>) -> Router {
    Router::new()
        .route("/upcheck", get(|| async { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK") }))
        .route("/healthcheck", get(healthcheck::<P>))
        .route(PUBLIC_KEYS_PATH, get(public_keys::<P>))
        .route(
            &format!("{SIGN_PATH}/{{identifier}}"),
            post(sign_one::<P>).layer(axum::extract::DefaultBodyLimit::max(MAX_SIGN_BODY)),
        )
        .route(BATCH_PATH, post(sign_batch::<P>).layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY)))
        .route(SIGN_PATH, post(sign_same::<P>).layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY)))
        .layer(axum::middleware::from_fn_with_state(hosts, super::exposure::check_host))
        .with_state(gate)
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Whether a client sending `accept` gets the signature as JSON: unless it
/// prefers `text/plain` (or `text/*`) by quality over JSON. No `Accept`,
/// `*/*`, `application/*` and `application/json` all get JSON, as from
/// Web3Signer (whose API lists JSON first).
fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return true };
    let (mut json, mut text) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|v| v.trim().parse::<f32>().ok()).unwrap_or(1.0);
        match media.as_str() {
            "*/*" => {
                json = json.max(q);
                text = text.max(q);
            }
            "application/json" | "application/*" => json = json.max(q),
            "text/plain" | "text/*" => text = text.max(q),
            _ => {}
        }
    }
    text <= json
}

fn parse_identifier(s: &str) -> Option<PublicKeyBytes> {
    let mut b = [0u8; 48];
    hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut b).ok()?;
    Some(PublicKeyBytes::from(b))
}

async fn healthcheck<P: Preset>(State(gate): State<Arc<SignerGate<P>>>) -> Response {
    let db = gate.database_ok().await;
    let keys = !gate.is_empty();
    let up = |ok: bool| if ok { "UP" } else { "DOWN" };
    let body = serde_json::json!({
        "status": up(db && keys),
        "checks": [
            {"id": "keys-check", "status": up(keys)},
            {"id": "slashing-protection-db-health-check", "status": up(db)},
        ],
        "outcome": up(db && keys),
    });
    let status = if db && keys { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn public_keys<P: Preset>(State(gate): State<Arc<SignerGate<P>>>) -> Json<Vec<PublicKeyBytes>> {
    let mut keys = gate.pubkeys();
    keys.sort_unstable();
    Json(keys)
}

async fn sign_one<P: Preset>(
    State(gate): State<Arc<SignerGate<P>>>,
    Path(identifier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(pubkey) = parse_identifier(&identifier) else {
        return text(StatusCode::BAD_REQUEST, format!("identifier {identifier:?} is not a 0x-hex BLS public key"));
    };
    let req: SigningRequest<P> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("malformed signing request: {e}")),
    };
    let answer = gate.sign(vec![(pubkey, req)]).await.pop();
    match answer {
        Some(BatchAnswer::Signed { signature }) => {
            if wants_json(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())) {
                Json(SigningResponse { signature }).into_response()
            } else {
                text(StatusCode::OK, signature.to_string())
            }
        }
        Some(BatchAnswer::Refused { status, message }) => {
            text(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), message)
        }
        None => text(StatusCode::INTERNAL_SERVER_ERROR, "no answer".into()),
    }
}

async fn sign_batch<P: Preset>(State(gate): State<Arc<SignerGate<P>>>, body: Bytes) -> Response {
    let items: Vec<BatchItem<P>> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("malformed batch: {e}")),
    };
    if items.len() > MAX_BATCH {
        return text(StatusCode::BAD_REQUEST, format!("{} entries in one batch; at most {MAX_BATCH}", items.len()));
    }
    let answers = gate.sign(items.into_iter().map(|i| (i.identifier, i.request)).collect()).await;
    Json(answers).into_response()
}

/// PR #29's same-request batch: one gate batch of the request under each key.
async fn sign_same<P: Preset>(State(gate): State<Arc<SignerGate<P>>>, body: Bytes) -> Response {
    let batch: SameRequestBatch<P> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("malformed batch signing request: {e}")),
    };
    if let Err(e) = batch.check_shape(MAX_BATCH) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let req = batch.signing_request;
    let answers = gate.sign(batch.identifiers.iter().map(|k| (*k, req.clone())).collect()).await;
    let results: Vec<KeyResult> = batch.identifiers.iter().zip(answers).map(|(k, a)| KeyResult::new(*k, a)).collect();
    Json(results).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::wants_json;
    use super::*;
    use crate::remote_signer::exposure::HostAllowlist;
    use crate::services::testing::{pk, spec_at, GVR};
    use poolvc_signer::clock::WallClock;
    use poolvc_signer::keys::interop::interop_secret_key;
    use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
    use poolvc_signer::types::*;
    use poolvc_signer::web3signer::{request_for, KeyError, KeyOutcome};
    use serde_json::json;

    /// `poolvc signer` of keys 1 and 2 on a loopback port: its URL.
    async fn signer(spec: &ChainSpec) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let clock = WallClock::new(now - 3600, spec);
        let keys = [1, 2].map(|i| (interop_secret_key(i), interop_secret_key(i).public_key())).to_vec();
        let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
        let gate = Arc::new(SignerGate::<Minimal>::new(spec.clone(), GVR, clock, keys, db, 1).unwrap());
        let app = router(gate, Arc::new(HostAllowlist::loopback()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn vote(slot: u64, head: u8) -> AttestationData {
        AttestationData {
            slot,
            index: 0,
            beacon_block_root: Hash256::repeat_byte(head),
            source: Checkpoint { epoch: 0, root: Hash256::ZERO },
            target: Checkpoint { epoch: slot / 8, root: Hash256::repeat_byte(head) },
        }
    }

    /// PR #29's same-request batch: each key signs the one request through
    /// its own protection record, in request order; a key the signer does
    /// not hold and a key whose record refuses the vote get their own
    /// error (the single route's status) without failing the others; a
    /// malformed batch (no keys, a key twice, a type naming one validator)
    /// is refused whole.
    #[tokio::test]
    async fn one_request_signed_by_many_keys_as_remote_signing_api_pr_29() {
        let spec = spec_at(ForkName::Electra);
        let url = signer(&spec).await;
        let http = reqwest::Client::new();
        let ctx = SigningContext { spec: &spec, genesis_validators_root: GVR };
        let body = |keys: &[PublicKeyBytes], m: &SignableMessage<'_, Minimal>| {
            let root = ctx.signing_root(m);
            json!({"identifiers": keys, "signing_request": request_for(&spec, GVR, m, root).unwrap()})
        };
        let post = |b: serde_json::Value| {
            let http = http.clone();
            let url = format!("{url}{SIGN_PATH}");
            async move {
                let r = http.post(url).json(&b).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        // Key 2 votes once alone (head 1), then the batch (head 2) would be a
        // double vote for it.
        let first = SignableMessage::<Minimal>::Attestation(&vote(80, 1));
        let (status, _) = post(body(&[pk(2)], &first)).await;
        assert_eq!(status, 200);
        let d = vote(80, 2);
        let m = SignableMessage::<Minimal>::Attestation(&d);
        let (status, text) = post(body(&[pk(1), pk(9), pk(2)], &m)).await;
        assert_eq!(status, 200, "{text}");
        let results: Vec<KeyResult> = serde_json::from_str(&text).unwrap();
        assert_eq!(results.iter().map(|r| r.identifier).collect::<Vec<_>>(), [pk(1), pk(9), pk(2)]);
        let root = ctx.signing_root(&m);
        assert_eq!(
            results[0].outcome,
            KeyOutcome::Signed { signature: interop_secret_key(1).sign(root.as_slice()).to_bytes() }
        );
        assert!(matches!(&results[1].outcome, KeyOutcome::Failed { error: KeyError { code: 404, .. } }), "{text}");
        assert!(matches!(&results[2].outcome, KeyOutcome::Failed { error: KeyError { code: 412, .. } }), "{text}");
        // The wire shape: `error` beside `identifier`, no signature.
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(raw[1]["error"]["code"], 404);
        assert!(raw[1].get("signature").is_none() && raw[0].get("error").is_none());

        // Refused whole: no keys, a key twice, a type that names one validator.
        let exit = VoluntaryExit { epoch: 1, validator_index: 1 };
        for (b, why) in [
            (body(&[], &m), "identifiers is empty"),
            (body(&[pk(1), pk(1)], &SignableMessage::Attestation(&vote(88, 3))), "more than once"),
            (
                body(&[pk(1)], &SignableMessage::VoluntaryExit(&exit)),
                "VOLUNTARY_EXIT is not signed in a same-request batch",
            ),
        ] {
            let (status, text) = post(b).await;
            assert_eq!(status, 400, "{text}");
            assert!(text.contains(why), "{text}");
        }
        // Nothing of the refused batches was signed: key 1 still votes at 88.
        let (status, text) = post(body(&[pk(1)], &SignableMessage::Attestation(&vote(88, 3)))).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("signature"), "{text}");
    }

    #[test]
    fn content_negotiation_is_web3signers() {
        // Lodestar's external signer client sends `*/*` and reads JSON.
        for json in [None, Some(""), Some("*/*"), Some("application/json"), Some("application/*"), Some("image/png")] {
            assert!(wants_json(json), "{json:?}");
        }
        assert!(wants_json(Some("text/plain;q=0.5, application/json")));
        assert!(wants_json(Some("text/plain, */*")));
        for text in ["text/plain", "text/*", "application/json;q=0.2, text/plain", "text/plain, */*;q=0.1"] {
            assert!(!wants_json(Some(text)), "{text}");
        }
    }
}
