//! What the core records about its work, through the `metrics` facade (a process that serves
//! `/metrics` installs the recorder; without one, recording costs next to nothing).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `regis_envelopes_received_total` | `source`, `kind` | envelopes queued by this process's ingress |
//! | `regis_envelopes_handled_total` | `source` | envelopes a worker here finished with (after the redelivery dedupe) |
//! | `regis_envelopes_duplicate_total` | `source` | redeliveries dropped |
//! | `regis_envelopes_dead_lettered_total` | `source` | envelopes given up on after their last delivery |
//! | `regis_handlers_total` | `source`, `plugin`, `outcome` | handler runs: `ok`, `failed`, `unavailable` (retried later), `panicked`, `timed_out` |
//! | `regis_handler_duration_seconds` | `plugin`, `handler` | handler latency (`handler`: the command, or `event:<topic>`, `webhook:<name>`, `schedule:<name>`, `button`, `autocomplete:<command>`) |
//! | `regis_queue_depth` | | envelopes waiting, where the queue knows (sampled at each scrape) |
//! | `regis_workers_alive` | | this process's workers |

use crate::envelope::Envelope;
use std::time::Duration;

/// An envelope was queued by this process's ingress.
pub(crate) fn received(envelope: &Envelope) {
    metrics::counter!(
        "regis_envelopes_received_total",
        "source" => envelope.source.clone(),
        "kind" => envelope.kind.name()
    )
    .increment(1);
}

/// A worker here finished with an envelope.
pub(crate) fn handled(source: &str) {
    metrics::counter!("regis_envelopes_handled_total", "source" => source.to_string()).increment(1);
}

/// A redelivery was dropped.
pub(crate) fn duplicate(source: &str) {
    metrics::counter!("regis_envelopes_duplicate_total", "source" => source.to_string()).increment(1);
}

/// An envelope was given up on and went to the dead letters.
pub(crate) fn dead_lettered(source: &str) {
    metrics::counter!("regis_envelopes_dead_lettered_total", "source" => source.to_string()).increment(1);
}

/// Who ran, for a handler's metrics.
pub(crate) struct HandlerLabels {
    /// The envelope's connector.
    pub(crate) source: String,
    /// The plugin.
    pub(crate) plugin: String,
    /// The handler: the command's name, or `event:<topic>` and the like.
    pub(crate) handler: String,
}

/// A handler finished with `outcome` after `elapsed`.
pub(crate) fn handler_ran(labels: &HandlerLabels, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(
        "regis_handlers_total",
        "source" => labels.source.clone(),
        "plugin" => labels.plugin.clone(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "regis_handler_duration_seconds",
        "plugin" => labels.plugin.clone(),
        "handler" => labels.handler.clone()
    )
    .record(elapsed.as_secs_f64());
}

/// Sets the gauge of `queue`'s depth, where it knows it (call before rendering the metrics;
/// [`Bot::sample_metrics`](crate::Bot::sample_metrics) does, for a process with workers).
pub fn sample_queue(queue: &dyn crate::queue::Queue) {
    if let Some(depth) = queue.depth() {
        metrics::gauge!("regis_queue_depth").set(depth as f64);
    }
}

/// Sets the gauge of the live workers.
pub(crate) fn sample_workers(workers_alive: usize) {
    metrics::gauge!("regis_workers_alive").set(workers_alive as f64);
}
