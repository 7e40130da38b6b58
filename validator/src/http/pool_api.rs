//! poolvc's pool routes, served beside `/metrics`:
//! - `GET /pool/v1/operators/{id}/performance?frame=N[&pool=KIND]`: one
//!   operator's frame (the newest frame without `frame`);
//! - `GET /pool/v1/frames/{n}` and `GET /pool/v1/frames/current`: a whole frame report;
//! - `GET /pool/v1/summary?frames=K`: each operator over the last K frames
//!   (what the page draws);
//! - `GET /pool/`: the page.
//!
//! Every answer is read from the ledger file at request time (read-only,
//! on a blocking thread), so the routes never hold the service's lock.

use crate::ledger::frames::{FrameReport, OperatorFrame};
use crate::ledger::report::{self, ReportError};
use axum::extract::{Path as UrlPath, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The page.
const PAGE: &str = include_str!("page.html");

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "code": status.as_u16(), "message": message }))).into_response()
}

fn report_error(e: ReportError) -> Response {
    let status = match e {
        ReportError::NoLedger { .. } | ReportError::Empty => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

async fn load(dir: Arc<Source>, frame: Option<u64>) -> Result<FrameReport, Response> {
    tokio::task::spawn_blocking(move || {
        let (cfg, _) = crate::pool::config::performance_in(&dir.datadir)
            .map_err(|e| ReportError::Config { reason: e.to_string() })?;
        report::load(&cfg, &dir.datadir, dir.postgres.as_deref(), frame)
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(report_error)
}

#[derive(Deserialize)]
struct OperatorQuery {
    frame: Option<u64>,
    pool: Option<String>,
}

/// One operator's frame, with the frame's bounds.
#[derive(Serialize)]
struct OperatorAnswer {
    frame: u64,
    epochs: [u64; 2],
    epochs_judged: u64,
    complete: bool,
    network_performance: Option<f64>,
    #[serde(flatten)]
    operator: OperatorFrame,
}

async fn operator(dir: Arc<Source>, id: String, q: OperatorQuery) -> Response {
    let r = match load(dir, q.frame).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let matches: Vec<&OperatorFrame> =
        r.operators.values().filter(|o| o.operator == id && q.pool.as_ref().is_none_or(|p| *p == o.pool)).collect();
    match matches.as_slice() {
        [] => error(StatusCode::NOT_FOUND, format!("no operator {id:?} in frame {}", r.frame)),
        [one] => Json(OperatorAnswer {
            frame: r.frame,
            epochs: r.epochs,
            epochs_judged: r.epochs_judged,
            complete: r.complete,
            network_performance: r.network_performance,
            operator: (*one).clone(),
        })
        .into_response(),
        many => error(
            StatusCode::BAD_REQUEST,
            format!(
                "operator {id:?} is in several pools ({}); add ?pool=",
                many.iter().map(|o| o.pool.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
}

#[derive(Deserialize)]
struct SummaryQuery {
    frames: Option<u64>,
}

/// One operator in one frame, for the page.
#[derive(Serialize)]
struct FramePoint {
    frame: u64,
    complete: bool,
    performance: Option<f64>,
    threshold: f64,
    keys_below: u64,
    keys_ejectable: u64,
}

/// A key at risk in the newest frame.
#[derive(Serialize)]
struct KeyAtRisk {
    validator: u64,
    pubkey: String,
    performance: Option<f64>,
    threshold: Option<f64>,
    slashed: bool,
    strikes: u64,
    missed_attestations: u64,
}

#[derive(Serialize, Default)]
struct OperatorSeries {
    pool: String,
    operator: String,
    keys: usize,
    frames: Vec<FramePoint>,
    at_risk: Vec<KeyAtRisk>,
}

#[derive(Serialize)]
struct Summary {
    current_frame: u64,
    epochs: [u64; 2],
    epochs_judged: u64,
    network_performance: Option<f64>,
    operators: Vec<OperatorSeries>,
}

async fn summary(dir: Arc<Source>, q: SummaryQuery) -> Response {
    let current = match load(Arc::clone(&dir), None).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let k = q.frames.unwrap_or(6).clamp(1, 64);
    let mut reports = Vec::new();
    for f in current.frame.saturating_sub(k - 1)..current.frame {
        match load(Arc::clone(&dir), Some(f)).await {
            Ok(r) if r.epochs_judged > 0 => reports.push(r),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
    reports.push(current);
    let mut ops: std::collections::BTreeMap<String, OperatorSeries> = Default::default();
    for r in &reports {
        for (name, o) in &r.operators {
            let s = ops.entry(name.clone()).or_insert_with(|| OperatorSeries {
                pool: o.pool.clone(),
                operator: o.operator.clone(),
                ..Default::default()
            });
            s.keys = o.validators.len();
            let thr = o.validators.values().filter_map(|v| v.threshold).fold(f64::NAN, f64::min);
            s.frames.push(FramePoint {
                frame: r.frame,
                complete: r.complete,
                performance: o.performance,
                threshold: if thr.is_nan() { 0.0 } else { thr },
                keys_below: o.keys_below,
                keys_ejectable: o.keys_ejectable,
            });
        }
    }
    let Some(last) = reports.last() else { return error(StatusCode::NOT_FOUND, "no frame".into()) };
    for (name, o) in &last.operators {
        if let Some(s) = ops.get_mut(name) {
            s.at_risk = o
                .validators
                .iter()
                .filter(|(_, v)| v.below || v.strikes > 0)
                .map(|(i, v)| KeyAtRisk {
                    validator: *i,
                    pubkey: v.pubkey.clone(),
                    performance: v.performance,
                    threshold: v.threshold,
                    slashed: v.slashed,
                    strikes: v.strikes,
                    missed_attestations: v.missed_attestations,
                })
                .collect();
        }
    }
    Json(Summary {
        current_frame: last.frame,
        epochs: last.epochs,
        epochs_judged: last.epochs_judged,
        network_performance: last.network_performance,
        operators: ops.into_values().collect(),
    })
    .into_response()
}

/// Where the routes read from.
#[derive(Debug)]
struct Source {
    datadir: PathBuf,
    postgres: Option<String>,
}

/// The routes, reading `pools.yaml` in `datadir` and the ledger there or
/// in PostgreSQL at `postgres`.
pub fn router(datadir: PathBuf, postgres: Option<String>) -> axum::Router {
    let dir = Arc::new(Source { datadir, postgres });
    let (d1, d2, d3) = (Arc::clone(&dir), Arc::clone(&dir), dir);
    axum::Router::new()
        .route("/pool/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }))
        .route(
            "/pool/v1/operators/{id}/performance",
            get(move |UrlPath(id): UrlPath<String>, Query(q): Query<OperatorQuery>| {
                let d = Arc::clone(&d1);
                async move { operator(d, id, q).await }
            }),
        )
        .route(
            "/pool/v1/frames/{n}",
            get(move |UrlPath(n): UrlPath<String>| {
                let d = Arc::clone(&d2);
                async move {
                    let frame = match n.as_str() {
                        "current" => None,
                        s => match s.parse() {
                            Ok(f) => Some(f),
                            Err(_) => {
                                return error(StatusCode::BAD_REQUEST, format!("frame {s:?} is not a number"));
                            }
                        },
                    };
                    match load(d, frame).await {
                        Ok(r) => Json(r).into_response(),
                        Err(e) => e,
                    }
                }
            }),
        )
        .route(
            "/pool/v1/summary",
            get(move |Query(q): Query<SummaryQuery>| {
                let d = Arc::clone(&d3);
                async move { summary(d, q).await }
            }),
        )
        .route("/pool", get(|| async { axum::response::Redirect::permanent("/pool/") }))
}
