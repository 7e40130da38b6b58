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
    BatchAnswer, BatchItem, SigningRequest, SigningResponse, BATCH_PATH, PUBLIC_KEYS_PATH, SIGN_PATH,
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

#[cfg(test)]
mod tests {
    use super::wants_json;

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
