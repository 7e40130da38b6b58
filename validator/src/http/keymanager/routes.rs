//! The keymanager API's HTTP face: the routes of the standard spec, the
//! bearer token on every one of them, bodies parsed strictly here (a bad
//! one is a 400 with the spec's `{"message"}` shape, never a 5xx; fields the
//! spec does not name are ignored, as its schemas allow them), and each
//! [`KeymanagerError`] mapped to its status.

use super::keystores::{DeleteStatus, ImportRequest, ImportStatus};
use super::manager::{Keymanager, KeymanagerConfig, KeymanagerError};
use super::settings::Change;
use super::token::{self, Token};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use poolvc_signer::types::{Address, Preset, PublicKeyBytes};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Request bodies larger than this are refused (an import of 1,000
/// keystores is about 1 MB of JSON, with its interchange more).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The API's state.
struct Api<P: Preset> {
    km: Arc<Keymanager<P>>,
    token: Arc<Token>,
}

impl<P: Preset> Clone for Api<P> {
    fn clone(&self) -> Self {
        Self { km: Arc::clone(&self.km), token: Arc::clone(&self.token) }
    }
}

/// The spec's error body.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "message": message.to_string() }))).into_response()
}

impl IntoResponse for KeymanagerError {
    fn into_response(self) -> Response {
        let status = match &self {
            KeymanagerError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            KeymanagerError::UnknownKey { .. } | KeymanagerError::NotFound { .. } => StatusCode::NOT_FOUND,
            KeymanagerError::Forbidden { .. } => StatusCode::FORBIDDEN,
            KeymanagerError::Internal { .. } | KeymanagerError::Serve { .. } | KeymanagerError::Token(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("keymanager API: {self}");
        }
        error(status, self)
    }
}

/// The routes, behind the token (and `--http-allow-origin`).
pub(super) fn router<P: Preset>(
    km: Arc<Keymanager<P>>,
    token: Arc<Token>,
    config: &KeymanagerConfig,
) -> Result<Router, KeymanagerError> {
    let origin = match &config.allow_origin {
        Some(o) => Some(HeaderValue::from_str(o).map_err(|_| KeymanagerError::BadRequest {
            reason: format!("--http-allow-origin {o:?} is not a header value"),
        })?),
        None => None,
    };
    let api = Api { km, token };
    let routes = Router::new()
        .route("/eth/v1/keystores", get(list_keys::<P>).post(import_keys::<P>).delete(delete_keys::<P>))
        .route("/eth/v1/remotekeys", get(list_remote::<P>).post(import_remote::<P>).delete(delete_remote::<P>))
        .route(
            "/eth/v1/validator/{pubkey}/feerecipient",
            get(get_fee_recipient::<P>).post(set_fee_recipient::<P>).delete(delete_fee_recipient::<P>),
        )
        .route(
            "/eth/v1/validator/{pubkey}/gas_limit",
            get(get_gas_limit::<P>).post(set_gas_limit::<P>).delete(delete_gas_limit::<P>),
        )
        .route(
            "/eth/v1/validator/{pubkey}/graffiti",
            get(get_graffiti::<P>).post(set_graffiti::<P>).delete(delete_graffiti::<P>),
        )
        .route("/eth/v1/validator/{pubkey}/voluntary_exit", post(voluntary_exit::<P>))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed") })
        .layer(axum::middleware::from_fn_with_state(api.clone(), authorize::<P>))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(api);
    Ok(match origin {
        Some(origin) => routes.layer(axum::middleware::from_fn(move |req, next| cors(origin.clone(), req, next))),
        None => routes,
    })
}

/// Every route needs `Authorization: Bearer <token>`: none is 401, a wrong
/// one 403.
async fn authorize<P: Preset>(
    State(api): State<Api<P>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => error(StatusCode::UNAUTHORIZED, "missing Authorization header (Bearer <api token>)"),
        Some(Ok(v)) if api.token.admits(v) => next.run(req).await,
        Some(_) => error(StatusCode::FORBIDDEN, "invalid API token"),
    }
}

/// `--http-allow-origin`: the header on every answer, and preflight
/// requests answered before the token is asked for (browsers send none).
async fn cors(origin: HeaderValue, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        r
    } else {
        next.run(req).await
    };
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    resp
}

/// Parses a JSON body strictly into `T`; a 400 names what is wrong.
fn body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, KeymanagerError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return Err(KeymanagerError::BadRequest {
                reason: format!("Content-Type {ct:?}: expected application/json"),
            });
        }
    }
    serde_json::from_slice(bytes).map_err(|e| KeymanagerError::BadRequest { reason: format!("request body: {e}") })
}

/// A `{pubkey}` of a path: `0x` and 96 hex digits.
fn pubkey(s: &str) -> Result<PublicKeyBytes, KeymanagerError> {
    parse_pubkey(s).ok_or_else(|| KeymanagerError::BadRequest {
        reason: format!("pubkey {s:?} is not a public key (0x and 96 hex digits)"),
    })
}

fn parse_pubkey(s: &str) -> Option<PublicKeyBytes> {
    let hex_part = s.strip_prefix("0x")?;
    if hex_part.len() != 96 {
        return None;
    }
    hex::decode(hex_part).ok().map(|b| PublicKeyBytes::from_slice(&b))
}

/// A public key in a body.
fn de_pubkey<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PublicKeyBytes, D::Error> {
    let s = String::deserialize(d)?;
    parse_pubkey(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a public key (0x and 96 hex digits)")))
}

/// An optional field that, when present, must be a string (not `null`).
fn de_present_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// A decimal uint64 as the API writes it (a string).
fn de_quoted_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!("{s:?} is not a decimal integer in a string")));
    }
    s.parse().map_err(|_| serde::de::Error::custom(format!("{s:?} does not fit 64 bits")))
}

async fn list_keys<P: Preset>(State(api): State<Api<P>>) -> Result<Response, KeymanagerError> {
    let keys = api.km.list().await?;
    Ok(Json(json!({ "data": keys })).into_response())
}

#[derive(Deserialize)]
struct ImportBody {
    keystores: Vec<String>,
    passwords: Vec<String>,
    #[serde(default)]
    slashing_protection: Option<String>,
}

async fn import_keys<P: Preset>(
    State(api): State<Api<P>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let b: ImportBody = body(&headers, &bytes)?;
    let req = ImportRequest {
        keystores: b.keystores,
        passwords: b.passwords.into_iter().map(Zeroizing::new).collect(),
        slashing_protection: b.slashing_protection,
    };
    let statuses: Vec<ImportStatus> = api.km.import(req).await?;
    Ok(Json(json!({ "data": statuses })).into_response())
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(deserialize_with = "de_pubkeys")]
    pubkeys: Vec<PublicKeyBytes>,
}

fn de_pubkeys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PublicKeyBytes>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            parse_pubkey(s).ok_or_else(|| {
                serde::de::Error::custom(format!("pubkeys[{i}] {s:?} is not a public key (0x and 96 hex digits)"))
            })
        })
        .collect()
}

async fn delete_keys<P: Preset>(
    State(api): State<Api<P>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let b: DeleteBody = body(&headers, &bytes)?;
    let (statuses, interchange): (Vec<DeleteStatus>, String) = api.km.delete(b.pubkeys).await?;
    Ok(Json(json!({ "data": statuses, "slashing_protection": interchange })).into_response())
}

/// Remote keys (`web3signer` entries).
async fn list_remote<P: Preset>(State(api): State<Api<P>>) -> Result<Response, KeymanagerError> {
    let keys = api.km.list_remote().await?;
    Ok(Json(json!({ "data": keys })).into_response())
}

#[derive(Deserialize)]
struct RemoteKey {
    #[serde(deserialize_with = "de_pubkey")]
    pubkey: PublicKeyBytes,
    /// Optional, but a string when present (`null` is refused).
    #[serde(default, deserialize_with = "de_present_string")]
    url: Option<String>,
}

#[derive(Deserialize)]
struct ImportRemoteBody {
    remote_keys: Vec<RemoteKey>,
}

async fn import_remote<P: Preset>(
    State(api): State<Api<P>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let b: ImportRemoteBody = body(&headers, &bytes)?;
    let statuses = api.km.import_remote(b.remote_keys.into_iter().map(|k| (k.pubkey, k.url)).collect()).await?;
    Ok(Json(json!({ "data": statuses })).into_response())
}

async fn delete_remote<P: Preset>(
    State(api): State<Api<P>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let b: DeleteBody = body(&headers, &bytes)?;
    let statuses = api.km.delete_remote(b.pubkeys).await?;
    Ok(Json(json!({ "data": statuses })).into_response())
}

async fn get_fee_recipient<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let c = api.km.config_of(&pk)?;
    let recipient = c.recipient().ok_or_else(|| KeymanagerError::NotFound {
        reason: match c.no_recipient(&pk) {
            Some(why) => why.to_string(),
            None => format!("validator {pk} has no fee recipient"),
        },
    })?;
    Ok(Json(json!({ "data": { "pubkey": pk, "ethaddress": format!("{recipient:#x}") } })).into_response())
}

#[derive(Deserialize)]
struct FeeRecipientBody {
    ethaddress: String,
}

async fn set_fee_recipient<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let b: FeeRecipientBody = body(&headers, &bytes)?;
    let a: Address = crate::policy::parse_address(&b.ethaddress).ok_or_else(|| KeymanagerError::BadRequest {
        reason: format!("ethaddress {:?} is not an address (0x and 40 hex digits)", b.ethaddress),
    })?;
    api.km.change(pk, Change::FeeRecipient(Some(a))).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn delete_fee_recipient<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    api.km.change(pubkey(&pk)?, Change::FeeRecipient(None)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_gas_limit<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let c = api.km.config_of(&pk)?;
    Ok(Json(json!({ "data": { "pubkey": pk, "gas_limit": c.gas_limit.to_string() } })).into_response())
}

#[derive(Deserialize)]
struct GasLimitBody {
    #[serde(deserialize_with = "de_quoted_u64")]
    gas_limit: u64,
}

async fn set_gas_limit<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let b: GasLimitBody = body(&headers, &bytes)?;
    api.km.change(pk, Change::GasLimit(Some(b.gas_limit))).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn delete_gas_limit<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    api.km.change(pubkey(&pk)?, Change::GasLimit(None)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_graffiti<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let c = api.km.config_of(&pk)?;
    Ok(Json(json!({ "data": { "pubkey": pk, "graffiti": c.graffiti.unwrap_or_default() } })).into_response())
}

#[derive(Deserialize)]
struct GraffitiBody {
    graffiti: String,
}

async fn set_graffiti<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let b: GraffitiBody = body(&headers, &bytes)?;
    api.km.change(pk, Change::Graffiti(Some(b.graffiti))).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn delete_graffiti<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
) -> Result<Response, KeymanagerError> {
    api.km.change(pubkey(&pk)?, Change::Graffiti(None)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ExitQuery {
    epoch: Option<String>,
}

async fn voluntary_exit<P: Preset>(
    State(api): State<Api<P>>,
    Path(pk): Path<String>,
    query: Result<Query<ExitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, KeymanagerError> {
    let pk = pubkey(&pk)?;
    let Query(q) = query.map_err(|e| KeymanagerError::BadRequest { reason: format!("query: {e}") })?;
    let epoch = match q.epoch {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| KeymanagerError::BadRequest { reason: format!("epoch {s:?} is not a decimal integer") })?,
        ),
        None => None,
    };
    let signed = api.km.sign_exit(pk, epoch).await?;
    Ok(Json(json!({ "data": signed })).into_response())
}

impl<P: Preset> Keymanager<P> {
    /// Serves the API on `config.addr` until the runtime stops; returns the
    /// bound address and the token (its file, and what opening it did).
    pub async fn serve(
        self: Arc<Self>,
        config: &KeymanagerConfig,
    ) -> Result<(std::net::SocketAddr, Arc<Token>), KeymanagerError> {
        let token_path = config.token_path.clone().unwrap_or_else(|| self.validators_dir.join(token::TOKEN_FILE));
        let tok = Arc::new(Token::open_or_create(&token_path)?);
        let app = router(Arc::clone(&self), Arc::clone(&tok), config)?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| KeymanagerError::Serve { addr: config.addr, source })?;
        let bound = listener.local_addr().map_err(|source| KeymanagerError::Serve { addr: config.addr, source })?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("keymanager API: {e}");
            }
        });
        Ok((bound, tok))
    }
}
