//! `GET /metrics`: the process's metrics (recorded anywhere through the `metrics` facade) in
//! Prometheus' text format.

use axum::http::header;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// Buckets of the latency histograms, in seconds: from a millisecond to the default handler
/// timeout.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's recorder, installed once.
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Why the metrics cannot be recorded.
#[derive(Debug, thiserror::Error)]
#[error("cannot record metrics: {0}")]
pub struct MetricsError(String);

/// The process's metrics, as Prometheus scrapes them.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-wide recorder on the first call (later calls share it): from then
    /// on, what any crate records with the `metrics` macros is kept for [`Metrics::render`].
    /// Fails if another recorder was installed first.
    pub fn install() -> Result<Metrics, MetricsError> {
        let installed = HANDLE.get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        });
        match installed {
            Ok(handle) => Ok(Metrics { handle: handle.clone() }),
            Err(e) => Err(MetricsError(e.clone())),
        }
    }

    /// Everything recorded so far, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// `GET /metrics`; `sample` runs before each rendering, to set gauges read on demand (the
    /// queue's depth, say).
    pub fn router(&self, sample: impl Fn() + Send + Sync + 'static) -> Router {
        let (metrics, sample) = (self.clone(), Arc::new(sample));
        Router::new().route(
            "/metrics",
            get(move || {
                let (metrics, sample) = (metrics.clone(), Arc::clone(&sample));
                async move {
                    sample();
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
                }
            }),
        )
    }
}
