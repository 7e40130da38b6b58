//! `poolvc signer`'s HTTP routes: Web3Signer's eth2 signing API and
//! poolvc's batch route.
//!
//! - `POST /api/v1/eth2/sign/{identifier}`: 200 with the signature
//!   (`text/plain`, or `{"signature"}` when the client accepts JSON), 400 a
//!   malformed request, 404 an unknown key, 412 slashable, 500 otherwise;
//! - `POST /api/v1/eth2/sign_batch`: `[{identifier, request}]` in, one
//!   [`BatchAnswer`] per entry out, in order (200 unless the body itself is
//!   malformed);
//! - `GET /api/v1/eth2/publicKeys`, `GET /upcheck`, `GET /healthcheck`.

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

/// Most entries one batch request may carry.
pub const MAX_BATCH: usize = 65_536;
/// Largest body accepted (a full batch of attestations fits).
const MAX_BODY: usize = 128 * 1024 * 1024;

/// The router over `gate`.
pub fn router<P: Preset>(gate: Arc<SignerGate<P>>) -> Router {
    Router::new()
        .route("/upcheck", get(|| async { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK") }))
        .route("/healthcheck", get(healthcheck::<P>))
        .route(PUBLIC_KEYS_PATH, get(public_keys::<P>))
        .route(&format!("{SIGN_PATH}/{{identifier}}"), post(sign_one::<P>))
        .route(BATCH_PATH, post(sign_batch::<P>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(gate)
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
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
            let json = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/json"));
            if json {
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
