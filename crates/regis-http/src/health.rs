//! `GET /healthz` (the process answers) and `GET /readyz` (it has what it needs to take work:
//! its queue, its storage, its Discord connection, as the process checks them).

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One thing a process needs, as `/readyz` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `queue`, `storage`, `discord`, `shutdown`.
    pub name: &'static str,
    /// `Ok`, or what is wrong.
    pub result: Result<(), String>,
}

impl Check {
    /// A check's outcome.
    pub fn new(name: &'static str, result: Result<(), String>) -> Self {
        Check { name, result }
    }
}

/// The checks of `/readyz`, run at each request.
pub type ReadinessFuture = Pin<Box<dyn Future<Output = Vec<Check>> + Send>>;

/// The health routes: `/healthz` answers `ok` while the process serves; `/readyz` runs
/// `checks` and answers 200 when all pass, else 503 (load balancers and orchestrators stop
/// sending work), with one line per check: `ready` or `not ready`, then `storage: ok` or
/// `storage: <what is wrong>`.
pub fn health_router(checks: impl Fn() -> ReadinessFuture + Send + Sync + 'static) -> Router {
    let checks = Arc::new(checks);
    Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let checks = Arc::clone(&checks);
            async move {
                let results = checks().await;
                let ready = results.iter().all(|c| c.result.is_ok());
                let mut body = String::from(if ready { "ready\n" } else { "not ready\n" });
                for check in &results {
                    match &check.result {
                        Ok(()) => body.push_str(&format!("{}: ok\n", check.name)),
                        Err(why) => body.push_str(&format!("{}: {why}\n", check.name)),
                    }
                }
                let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                (status, body)
            }
        }),
    )
}
