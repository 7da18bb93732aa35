//! Push mode, Cloud Run's model: Pub/Sub POSTs each message to the worker's
//! `POST /pubsub/push`, and the answer settles it. The request is held while the envelope is
//! handled; the delivery's settlement becomes the answer:
//!
//! - acknowledged (the replies are sent) → 204, and Pub/Sub is done with it;
//! - naked (a transient failure) → 503, and Pub/Sub delivers it again after its backoff;
//! - dead-lettered (after `max_deliver` deliveries, or a message that is not an envelope) → the
//!   dead letter is published to `TOPIC-dead` with its reason, then 204; if it cannot be, 503;
//! - no settlement within the ack deadline → 503 (Pub/Sub has given up on this attempt).
//!
//! Each request must carry the OIDC token Pub/Sub signs for the subscription's service account
//! ([`OidcVerifier`]); a request without a valid one is refused with 401 before its body is read.

use crate::oidc::{OidcConfig, OidcError, OidcVerifier};
use crate::queue::{set_up, PubSubConfig, PubSubError, Shared, ENVELOPE_ID};
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use regis_core::{Ack, Delivery, Envelope, Queue, QueueError};
use regis_http::BodyReader;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The largest push body: an envelope of at most a few hundred kilobytes, base64-encoded.
const PUSH_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// How a pushed delivery was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Done,
    Again,
}

/// The envelope queue fed by Pub/Sub's pushes: the dispatcher pops what the push endpoint
/// receives, and envelopes the bot queues itself (timers, schedules) are published to the
/// topic, to come back as pushes.
pub struct PushQueue {
    shared: Arc<Shared>,
    deliveries: mpsc::Sender<Delivery>,
    waiting: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    closed: AtomicBool,
    closing: tokio::sync::Notify,
    verifier: Option<Arc<OidcVerifier>>,
}

/// Where Pub/Sub pushes, and how a push is checked.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// The worker's public URL of `POST /pubsub/push` (`https://worker-….run.app/pubsub/push`).
    pub endpoint: String,
    /// The OIDC token every push must carry. `None` accepts unsigned pushes: only for the
    /// emulator, which signs nothing.
    pub oidc: Option<OidcConfig>,
}

impl PushQueue {
    /// Creates the topics and the workers' push subscription (to `push.endpoint`, with an OIDC
    /// token for `push.oidc`'s service account) if they do not exist, and returns the queue;
    /// serve [`PushQueue::router`] on the worker's listener.
    pub async fn connect(config: PubSubConfig, push: PushConfig) -> Result<PushQueue, PubSubError> {
        let mut push_config = json!({ "pushEndpoint": push.endpoint });
        if let Some(OidcConfig { service_account, audience, .. }) = &push.oidc {
            push_config["oidcToken"] = json!({ "serviceAccountEmail": service_account, "audience": audience });
        }
        let shared = set_up(config, push_config).await?;
        Ok(PushQueue::new(shared, push.oidc.map(OidcVerifier::new)))
    }

    fn new(shared: Arc<Shared>, verifier: Option<OidcVerifier>) -> PushQueue {
        let (deliveries, waiting) = mpsc::channel(64);
        PushQueue {
            shared,
            deliveries,
            waiting: tokio::sync::Mutex::new(waiting),
            closed: AtomicBool::new(false),
            closing: tokio::sync::Notify::new(),
            verifier: verifier.map(Arc::new),
        }
    }

    /// `POST /pubsub/push`, reading bodies with the listener's `bodies`.
    pub fn router(self: &Arc<Self>, bodies: BodyReader) -> Router {
        Router::new().route("/pubsub/push", post(receive)).with_state((Arc::clone(self), bodies))
    }

    /// Envelopes sent to the dead letters by this process.
    pub fn dead_lettered(&self) -> u64 {
        self.shared.dead_lettered.load(Ordering::Relaxed)
    }
}

/// The settling handle of a pushed delivery: its settlement answers the push request.
struct PushAck {
    shared: Arc<Shared>,
    settled: oneshot::Sender<Settled>,
    attempt: u32,
}

#[async_trait]
impl Ack for PushAck {
    async fn ack(self: Box<Self>) {
        let _ = self.settled.send(Settled::Done);
    }

    async fn nak(self: Box<Self>, envelope: Envelope, _delay: Duration) {
        // Pub/Sub decides the delay of a push's retry (the subscription's retry policy).
        if self.attempt >= self.shared.config.max_deliver {
            let reason = format!("not handled after {} deliveries", self.attempt);
            return self.terminate(envelope, &reason).await;
        }
        let _ = self.settled.send(Settled::Again);
    }

    async fn terminate(self: Box<Self>, envelope: Envelope, reason: &str) {
        let data = serde_json::to_vec(&envelope).unwrap_or_default();
        let settled = match self.shared.publish_dead(&data, Some(&envelope.id), reason, self.attempt).await {
            true => Settled::Done,
            false => Settled::Again,
        };
        let _ = self.settled.send(settled);
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn receive(
    State((queue, bodies)): State<(Arc<PushQueue>, BodyReader)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(verifier) = &queue.verifier {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        match verifier.verify(authorization).await {
            Ok(()) => {}
            // Google's keys could not be had: not the pusher's fault; Pub/Sub pushes again.
            Err(e @ OidcError::Keys { .. }) => {
                tracing::error!(error = %e, "push request not checked");
                return answer(StatusCode::SERVICE_UNAVAILABLE, "cannot check the token now; push again later");
            }
            Err(e) => {
                tracing::warn!(error = %e, "push request refused");
                return answer(StatusCode::UNAUTHORIZED, "a push needs Pub/Sub's OIDC token for this endpoint");
            }
        }
    }
    if queue.closed.load(Ordering::Relaxed) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "stopping; push again later");
    }
    let read = match bodies.read(&headers, body, PUSH_BODY_LIMIT).await {
        Ok(read) => read,
        Err(e) => return (e.status(), e.to_string()).into_response(),
    };
    let Ok(push) = serde_json::from_slice::<Value>(&read.bytes) else {
        return answer(StatusCode::BAD_REQUEST, "not a Pub/Sub push body");
    };
    let Some(encoded) = push["message"]["data"].as_str() else {
        return answer(StatusCode::BAD_REQUEST, "not a Pub/Sub push body: no message.data");
    };
    let attempt = push["deliveryAttempt"].as_u64().map_or(1, |a| u32::try_from(a).unwrap_or(u32::MAX));
    let data =
        base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec());
    let envelope = match serde_json::from_slice::<Envelope>(&data) {
        Ok(envelope) => envelope,
        Err(e) => {
            // Never handled however often it comes: a dead letter now.
            let reason = format!("not an envelope: {e}");
            metrics::counter!("regis_envelopes_dead_lettered_total", "source" => "unreadable").increment(1);
            let id = push["message"]["attributes"][ENVELOPE_ID].as_str();
            return match queue.shared.publish_dead(&data, id, &reason, attempt).await {
                true => StatusCode::NO_CONTENT.into_response(),
                false => answer(StatusCode::SERVICE_UNAVAILABLE, "the dead letter could not be stored"),
            };
        }
    };
    let (settled, outcome) = oneshot::channel();
    let ack = PushAck { shared: Arc::clone(&queue.shared), settled, attempt };
    let delivery = Delivery::new(envelope, Some(Box::new(ack))).with_attempt(attempt);
    match tokio::time::timeout(Duration::from_secs(5), queue.deliveries.send(delivery)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return answer(StatusCode::SERVICE_UNAVAILABLE, "stopping; push again later"),
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "too busy; push again later"),
    }
    let deadline = Duration::from_secs(queue.shared.config.deadline_seconds());
    match tokio::time::timeout(deadline, outcome).await {
        Ok(Ok(Settled::Done)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Settled::Again)) => answer(StatusCode::SERVICE_UNAVAILABLE, "not handled this time; push again"),
        // Dropped unsettled (the bot stopped), or past the deadline Pub/Sub waits.
        Ok(Err(_)) | Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "not handled in time; push again"),
    }
}

#[async_trait]
impl Queue for PushQueue {
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(QueueError::Closed);
        }
        crate::queue::publish_envelope(&self.shared, &envelope).await
    }

    async fn pop(&self) -> Option<Delivery> {
        // Listening before the flag is read: a close in between still wakes this.
        let closing = self.closing.notified();
        tokio::pin!(closing);
        closing.as_mut().enable();
        let mut waiting = self.waiting.lock().await;
        if !self.closed.load(Ordering::Relaxed) {
            tokio::select! {
                delivery = waiting.recv() => return delivery,
                () = closing => {}
            }
        }
        // Closed: the pushes still waiting are answered 503 at once (their settlement handles
        // are dropped), for Pub/Sub to push them to another worker.
        waiting.close();
        while waiting.try_recv().is_ok() {}
        None
    }

    fn max_deliver(&self) -> Option<u32> {
        Some(self.shared.config.max_deliver)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.closing.notify_waiters();
        // The pushes waiting for a worker are answered 503 now (a worker popping drains them
        // itself once woken).
        if let Ok(mut waiting) = self.waiting.try_lock() {
            waiting.close();
            while waiting.try_recv().is_ok() {}
        }
    }
}
