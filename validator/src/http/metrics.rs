//! The `/metrics` server: the Prometheus registry ([`crate::metrics::Stats`])
//! in OpenMetrics text, beside the pool routes ([`super::pool_api`]).

use crate::metrics::Stats;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves `/metrics` and the pool routes ([`crate::http::pool_api`]) of
/// `datadir` on `addr` until the runtime stops.
pub(crate) async fn serve(
    stats: &Arc<Stats>,
    addr: SocketAddr,
    datadir: std::path::PathBuf,
    postgres: Option<String>,
    allow_origin: Option<&str>,
) -> Result<SocketAddr, std::io::Error> {
    // `--metrics-allow-origin`: checked before the port is taken.
    let origin = match allow_origin {
        Some(o) => Some(axum::http::HeaderValue::from_str(o).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("--metrics-allow-origin {o:?} is not a header value"),
            )
        })?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let stats = Arc::clone(stats);
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let stats = Arc::clone(&stats);
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        stats.encode(),
                    )
                }
            }),
        )
        .merge(crate::http::pool_api::router(datadir, postgres));
    let app = match origin {
        Some(origin) => app.layer(axum::middleware::map_response(move |mut resp: axum::response::Response| {
            let origin = origin.clone();
            async move {
                resp.headers_mut().insert(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                resp
            }
        })),
        None => app,
    };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("metrics server: {e}");
        }
    });
    Ok(bound)
}
