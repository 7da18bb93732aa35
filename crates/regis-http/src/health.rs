//! `GET /healthz` (the process answers) and `GET /readyz` (it can take work now).

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The health routes: `/healthz` answers `ok` while the process serves; `/readyz` answers
/// `ready` when `ready()` says so, else 503 `not ready` (load balancers stop sending work).
pub fn health_router(ready: impl Fn() -> bool + Send + Sync + 'static) -> Router {
    let ready = Arc::new(ready);
    Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let ready = Arc::clone(&ready);
            async move {
                if ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }
        }),
    )
}
