//! The envelope queue on Google Cloud Pub/Sub, in pull mode, as Pub/Sub is meant to be used:
//!
//! - `queue_url = "pubsub://PROJECT/TOPIC"`: envelopes are published to `TOPIC` as JSON, with
//!   the envelope id in the attribute `regis-envelope-id` (Pub/Sub delivers at least once and
//!   does not drop duplicate publishes: the dispatcher's dedupe record, keyed by that id,
//!   makes a second copy a no-op);
//! - one subscription shared by every worker, `TOPIC-workers`: a delivery is acknowledged after
//!   its handler's replies are sent, its ack deadline is extended while a handler runs long,
//!   and a transient failure sets the deadline to the retry delay, so that Pub/Sub delivers it
//!   again then;
//! - after `max_deliver` deliveries, or at once for a message that is not an envelope, the
//!   message is published with its reason (`regis-dead-reason`) to the dead-letter topic
//!   `TOPIC-dead` and acknowledged, never silently dropped; the subscription's own dead-letter
//!   policy (one delivery later) catches a worker that died on its last attempt. The
//!   subscription `TOPIC-dead-letters` keeps them for reading.

use crate::rest::{Endpoint, Rest, RestError};
use async_trait::async_trait;
use base64::Engine;
use hyper::Method;
use regis_core::{Ack, Delivery, Envelope, Queue, QueueError};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a publish may take before the ingress is told it failed: well within Discord's
/// 3 s, so a receiver still answers 503 in time.
const PUBLISH_WAIT: Duration = Duration::from_millis(1500);
/// How long a pull may be held open by Google before the client gives up on it.
const PULL_TIMEOUT: Duration = Duration::from_secs(100);
/// The attribute that carries the envelope id.
pub const ENVELOPE_ID: &str = "regis-envelope-id";
/// The attribute that carries a dead letter's reason.
pub const DEAD_REASON: &str = "regis-dead-reason";
/// Pub/Sub's bounds on a subscription's dead-letter delivery attempts.
const POLICY_ATTEMPTS: (u32, u32) = (5, 100);
/// Pub/Sub's bounds on an ack deadline, in seconds.
const DEADLINE_SECONDS: (u64, u64) = (10, 600);

/// How the queue is named and delivers.
#[derive(Clone, Debug)]
pub struct PubSubConfig {
    /// The Google Cloud project.
    pub project: String,
    /// The topic envelopes are published to.
    pub topic: String,
    /// How long a delivery may go unacknowledged before Pub/Sub delivers it again (10 s to
    /// 10 min).
    pub ack_deadline: Duration,
    /// Deliveries of one envelope before it goes to the dead letters.
    pub max_deliver: u32,
    /// The emulator or Google's servers.
    pub endpoint: Endpoint,
}

/// Why the queue could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    /// `queue_url` is not `pubsub://PROJECT/TOPIC`.
    #[error("`{url}` is not a Pub/Sub queue URL like pubsub://my-project/regis: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Pub/Sub refused to create or find a topic or subscription.
    #[error("cannot set up Pub/Sub {what}: {source}")]
    Setup {
        /// The topic or subscription.
        what: String,
        /// Why.
        source: RestError,
    },
    /// The workers' subscription exists, but delivers otherwise than this worker takes
    /// deliveries (pushes elsewhere, or is pulled): it would receive nothing.
    #[error(
        "the Pub/Sub subscription {subscription} {found}, but this worker {wanted}: change the \
         subscription (gcloud pubsub subscriptions modify-push-config) or the worker's push endpoint"
    )]
    Mismatch {
        /// The subscription.
        subscription: String,
        /// How it delivers.
        found: String,
        /// How this worker takes deliveries.
        wanted: String,
    },
}

impl PubSubConfig {
    /// The queue of `pubsub://PROJECT/TOPIC`, with a 30 s ack deadline, 5 deliveries, and the
    /// endpoint of the environment ([`Endpoint::from_env`]).
    pub fn from_url(url: &str) -> Result<PubSubConfig, PubSubError> {
        let bad = |reason: &str| PubSubError::BadUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "pubsub" {
            return Err(bad("the scheme must be pubsub"));
        }
        let project = parsed.host_str().filter(|p| !p.is_empty()).ok_or_else(|| bad("no project"))?.to_string();
        let topic = parsed.path().trim_start_matches('/').to_string();
        // The dead-letter topic and the subscriptions add up to 13 characters to the name.
        let valid = (3..=242).contains(&topic.len())
            && topic.starts_with(|c: char| c.is_ascii_alphabetic())
            && !topic.starts_with("goog")
            && topic.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c));
        if !valid {
            return Err(bad(
                "the topic must be 3-242 letters, digits and -_.~+%, start with a letter and not with `goog`",
            ));
        }
        Ok(PubSubConfig {
            project,
            topic,
            ack_deadline: Duration::from_secs(30),
            max_deliver: 5,
            endpoint: Endpoint::from_env(),
        })
    }

    pub(crate) fn deadline_seconds(&self) -> u64 {
        self.ack_deadline.as_secs().clamp(DEADLINE_SECONDS.0, DEADLINE_SECONDS.1)
    }
}

/// The resource names of one queue.
#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) topic: String,
    pub(crate) dead_topic: String,
    pub(crate) subscription: String,
    pub(crate) dead_subscription: String,
}

impl Names {
    fn of(config: &PubSubConfig) -> Names {
        let project = format!("projects/{}", config.project);
        Names {
            topic: format!("{project}/topics/{}", config.topic),
            dead_topic: format!("{project}/topics/{}-dead", config.topic),
            subscription: format!("{project}/subscriptions/{}-workers", config.topic),
            dead_subscription: format!("{project}/subscriptions/{}-dead-letters", config.topic),
        }
    }
}

/// One message pulled from a subscription.
#[derive(Debug)]
struct Pulled {
    ack_id: String,
    data: Vec<u8>,
    attributes: Value,
    attempt: u32,
}

/// The state deliveries share with the queue.
pub(crate) struct Shared {
    pub(crate) rest: Rest,
    pub(crate) names: Names,
    pub(crate) config: PubSubConfig,
    pub(crate) dead_lettered: AtomicU64,
}

/// Publishes an envelope to the queue's topic, within [`PUBLISH_WAIT`].
pub(crate) async fn publish_envelope(shared: &Shared, envelope: &Envelope) -> Result<(), QueueError> {
    let data = serde_json::to_vec(envelope).map_err(|e| QueueError::Backend(e.to_string()))?;
    let attributes = json!({ ENVELOPE_ID: envelope.id, "regis-source": envelope.source });
    let publish = shared.publish(&shared.names.topic, &data, attributes);
    match tokio::time::timeout(PUBLISH_WAIT, publish).await {
        Ok(result) => result.map_err(|e| QueueError::Backend(e.to_string())),
        Err(_) => Err(QueueError::Backend(format!("Pub/Sub did not confirm the publish within {PUBLISH_WAIT:?}"))),
    }
}

/// Creates the topics and subscriptions if they do not exist (an existing subscription is
/// kept as it is): the workers' subscription with `push_config` (`{}` for pull).
pub(crate) async fn set_up(config: PubSubConfig, push_config: Value) -> Result<Arc<Shared>, PubSubError> {
    let names = Names::of(&config);
    let rest = Rest::new(config.endpoint.clone());
    let attempts = (config.max_deliver + 1).clamp(POLICY_ATTEMPTS.0, POLICY_ATTEMPTS.1);
    let create = |what: &str, body: Option<Value>| {
        let what = what.to_string();
        let rest = &rest;
        async move {
            match rest.call(Method::PUT, &what, body.as_ref()).await {
                Ok(_) | Err(RestError::Status { status: 409, .. }) => Ok(()),
                // A least-privilege account (a deployment made it, as deploy/gcp does): what
                // it cannot make is taken as made; a missing one fails on first use, by name.
                Err(RestError::Status { status: 403, message }) => {
                    tracing::info!(resource = %what, %message, "not allowed to create it: taking it as made by the deployment");
                    Ok(())
                }
                Err(source) => Err(PubSubError::Setup { what, source }),
            }
        }
    };
    create(&names.topic, None).await?;
    create(&names.dead_topic, None).await?;
    // Dead letters are kept by a subscription of their own: a topic keeps nothing.
    create(&names.dead_subscription, Some(json!({ "topic": names.dead_topic }))).await?;
    let workers = json!({
        "topic": names.topic,
        "ackDeadlineSeconds": config.deadline_seconds(),
        "deadLetterPolicy": { "deadLetterTopic": names.dead_topic, "maxDeliveryAttempts": attempts },
        "pushConfig": push_config,
    });
    create(&names.subscription, Some(workers)).await?;
    // An existing subscription is kept as it is: it must deliver as this worker takes them.
    let wanted = push_config["pushEndpoint"].as_str().unwrap_or_default().to_string();
    match rest.call(Method::GET, &names.subscription, None).await {
        Ok(found) => {
            let found = found["pushConfig"]["pushEndpoint"].as_str().unwrap_or_default().to_string();
            if found != wanted {
                let describe = |endpoint: &str, pushes: &str, pulls: &str| match endpoint {
                    "" => pulls.to_string(),
                    endpoint => format!("{pushes} {endpoint}"),
                };
                return Err(PubSubError::Mismatch {
                    subscription: names.subscription.clone(),
                    found: describe(&found, "pushes to", "is pulled"),
                    wanted: describe(&wanted, "is pushed to at", "pulls"),
                });
            }
        }
        // Not allowed to look (a least-privilege account): taken as made right.
        Err(RestError::Status { status: 403, .. }) => {}
        Err(source) => return Err(PubSubError::Setup { what: names.subscription.clone(), source }),
    }
    Ok(Arc::new(Shared { rest, names, config, dead_lettered: AtomicU64::new(0) }))
}

impl Shared {
    pub(crate) async fn publish(&self, topic: &str, data: &[u8], attributes: Value) -> Result<(), RestError> {
        let data = base64::engine::general_purpose::STANDARD.encode(data);
        let body = json!({ "messages": [{ "data": data, "attributes": attributes }] });
        self.rest.call(Method::POST, &format!("{topic}:publish"), Some(&body)).await.map(|_| ())
    }

    /// Up to `max` messages; with `at_once`, what is there now (`returnImmediately`), else
    /// waiting while the subscription is empty, as Google and the emulator hold a pull open.
    async fn pull(&self, subscription: &str, max: u32, at_once: bool) -> Result<Vec<Pulled>, RestError> {
        let body = json!({ "maxMessages": max, "returnImmediately": at_once });
        // Google holds a pull open while the subscription is empty (up to about 90 s): the
        // request may last longer than any other, so that what it is handed is not dropped.
        let path = format!("{subscription}:pull");
        let answer = self.rest.call_within(Method::POST, &path, Some(&body), PULL_TIMEOUT).await?;
        let received = answer["receivedMessages"].as_array().cloned().unwrap_or_default();
        Ok(received
            .into_iter()
            .filter_map(|m| {
                let ack_id = m["ackId"].as_str()?.to_string();
                let encoded = m["message"]["data"].as_str().unwrap_or_default();
                // Data that is not base64 is kept as it came: it is dead-lettered as unreadable.
                let data = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_else(|_| encoded.as_bytes().to_vec());
                let attempt = m["deliveryAttempt"].as_u64().map_or(1, |a| u32::try_from(a).unwrap_or(u32::MAX));
                Some(Pulled { ack_id, data, attributes: m["message"]["attributes"].clone(), attempt })
            })
            .collect())
    }

    async fn acknowledge(&self, subscription: &str, ack_id: &str) -> Result<(), RestError> {
        let body = json!({ "ackIds": [ack_id] });
        self.rest.call(Method::POST, &format!("{subscription}:acknowledge"), Some(&body)).await.map(|_| ())
    }

    async fn set_deadline(&self, ack_id: &str, seconds: u64) -> Result<(), RestError> {
        let body = json!({ "ackIds": [ack_id], "ackDeadlineSeconds": seconds });
        let path = format!("{}:modifyAckDeadline", self.names.subscription);
        self.rest.call(Method::POST, &path, Some(&body)).await.map(|_| ())
    }

    /// Publishes `data` with its reason to the dead-letter topic; whether it was stored.
    pub(crate) async fn publish_dead(
        &self,
        data: &[u8],
        envelope_id: Option<&str>,
        reason: &str,
        attempt: u32,
    ) -> bool {
        let mut attributes = json!({ DEAD_REASON: reason, "regis-attempts": attempt.to_string() });
        if let Some(id) = envelope_id {
            attributes[ENVELOPE_ID] = json!(id);
        }
        match self.publish(&self.names.dead_topic, data, attributes).await {
            Ok(()) => {
                self.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason, attempt, topic = %self.names.dead_topic, "message sent to the dead letters");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, reason, "the dead letter was not published; the message comes again");
                false
            }
        }
    }

    /// Publishes `data` with its reason to the dead-letter topic, then acknowledges the
    /// delivery; if the dead letter cannot be published, the delivery is left to come again.
    async fn dead_letter(&self, ack_id: &str, data: &[u8], envelope_id: Option<&str>, reason: &str, attempt: u32) {
        if !self.publish_dead(data, envelope_id, reason, attempt).await {
            return;
        }
        if let Err(e) = self.acknowledge(&self.names.subscription, ack_id).await {
            tracing::warn!(error = %e, "cannot acknowledge the dead-lettered message; it may come again");
        }
    }
}

/// A dead letter as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// The message's bytes (an envelope's JSON, or whatever could not be read).
    pub data: Vec<u8>,
    /// Why it was dead-lettered (`regis-dead-reason`), or Pub/Sub's own note when its
    /// dead-letter policy moved it (a worker died on the last attempt).
    pub reason: String,
    /// The envelope id, when known.
    pub envelope_id: Option<String>,
}

/// The envelope queue of one bot on Pub/Sub.
pub struct PubSubQueue {
    shared: Arc<Shared>,
    closed: AtomicBool,
    closing: tokio::sync::Notify,
    /// Publishes, never pulls (a receiver's queue).
    publish_only: bool,
}

impl PubSubQueue {
    /// Creates the topics and the workers' pull subscription if they do not exist (an
    /// existing subscription is kept as it is), and returns the queue.
    pub async fn connect(config: PubSubConfig) -> Result<PubSubQueue, PubSubError> {
        let shared = set_up(config, json!({})).await?;
        Ok(PubSubQueue {
            shared,
            closed: AtomicBool::new(false),
            closing: tokio::sync::Notify::new(),
            publish_only: false,
        })
    }

    /// A queue that only publishes to the topic (a receiver's, which needs no more than
    /// permission to publish there): it creates nothing, and never delivers.
    pub fn publisher(config: PubSubConfig) -> PubSubQueue {
        let shared = Arc::new(Shared {
            rest: Rest::new(config.endpoint.clone()),
            names: Names::of(&config),
            config,
            dead_lettered: AtomicU64::new(0),
        });
        PubSubQueue { shared, closed: AtomicBool::new(false), closing: tokio::sync::Notify::new(), publish_only: true }
    }

    /// Envelopes sent to the dead letters by this process.
    pub fn dead_lettered(&self) -> u64 {
        self.shared.dead_lettered.load(Ordering::Relaxed)
    }

    /// Reads (and acknowledges) up to `max` of the dead letters there are now; for tests and
    /// tools.
    pub async fn take_dead_letters(&self, max: u32) -> Result<Vec<DeadLetter>, RestError> {
        let names = &self.shared.names;
        let pulled = self.shared.pull(&names.dead_subscription, max, true).await?;
        let mut letters = Vec::new();
        for message in pulled {
            self.shared.acknowledge(&names.dead_subscription, &message.ack_id).await?;
            let attribute = |name: &str| message.attributes[name].as_str().map(str::to_string);
            let reason = attribute(DEAD_REASON).unwrap_or_else(|| {
                let count = attribute("CloudPubSubDeadLetterSourceDeliveryCount").unwrap_or_default();
                format!("moved by the subscription's dead-letter policy after {count} deliveries")
            });
            letters.push(DeadLetter { data: message.data, reason, envelope_id: attribute(ENVELOPE_ID) });
        }
        Ok(letters)
    }

    /// Deletes the queue's subscriptions and topics (for tests and tools).
    pub async fn delete(&self) -> Result<(), RestError> {
        let names = &self.shared.names;
        for name in [&names.subscription, &names.dead_subscription, &names.topic, &names.dead_topic] {
            match self.shared.rest.call(Method::DELETE, name, None).await {
                Ok(_) | Err(RestError::Status { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Publishes raw bytes to the envelope topic, as a foreign or broken publisher would (for
    /// tests of the dead letters).
    pub async fn publish_raw(&self, data: &[u8]) -> Result<(), RestError> {
        self.shared.publish(&self.shared.names.topic, data, json!({})).await
    }

    /// The next message of the subscription, waiting with a growing pause while it is empty;
    /// `None` once closed.
    async fn next_message(&self) -> Option<Pulled> {
        let mut pause = Duration::from_millis(20);
        // Listening before the flag is read: a close in between still wakes this.
        let closing = self.closing.notified();
        tokio::pin!(closing);
        closing.as_mut().enable();
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return None;
            }
            let pulled = tokio::select! {
                pulled = self.shared.pull(&self.shared.names.subscription, 1, false) => pulled,
                () = closing.as_mut() => return None,
            };
            match pulled {
                Ok(mut messages) if !messages.is_empty() => return Some(messages.remove(0)),
                Ok(_) => pause = (pause * 2).min(Duration::from_millis(250)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot pull from Pub/Sub; retrying");
                    pause = Duration::from_millis(500);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = closing.as_mut() => return None,
            }
        }
    }
}

/// The settling handle of a Pub/Sub delivery.
struct PubSubAck {
    shared: Arc<Shared>,
    ack_id: String,
    attempt: u32,
}

#[async_trait]
impl Ack for PubSubAck {
    async fn ack(self: Box<Self>) {
        let subscription = &self.shared.names.subscription;
        if let Err(e) = self.shared.acknowledge(subscription, &self.ack_id).await {
            tracing::warn!(error = %e, "cannot acknowledge a delivery; it will be delivered again (and deduplicated)");
        }
    }

    async fn nak(self: Box<Self>, envelope: Envelope, delay: Duration) {
        if self.attempt >= self.shared.config.max_deliver {
            let reason = format!("not handled after {} deliveries", self.attempt);
            return self.terminate(envelope, &reason).await;
        }
        // Delivered again once this deadline passes.
        let seconds = delay.as_secs().min(DEADLINE_SECONDS.1);
        if let Err(e) = self.shared.set_deadline(&self.ack_id, seconds).await {
            tracing::warn!(error = %e, "cannot nak a delivery; it will be delivered again after its ack deadline");
        }
    }

    async fn in_progress(&self) {
        if let Err(e) = self.shared.set_deadline(&self.ack_id, self.shared.config.deadline_seconds()).await {
            tracing::warn!(error = %e, "cannot extend a delivery's ack deadline");
        }
    }

    async fn terminate(self: Box<Self>, envelope: Envelope, reason: &str) {
        let data = serde_json::to_vec(&envelope).unwrap_or_default();
        self.shared.dead_letter(&self.ack_id, &data, Some(&envelope.id), reason, self.attempt).await;
    }
}

#[async_trait]
impl Queue for PubSubQueue {
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(QueueError::Closed);
        }
        publish_envelope(&self.shared, &envelope).await
    }

    async fn pop(&self) -> Option<Delivery> {
        if self.publish_only {
            return None;
        }
        loop {
            let message = self.next_message().await?;
            match serde_json::from_slice::<Envelope>(&message.data) {
                Ok(envelope) => {
                    let ack = PubSubAck {
                        shared: Arc::clone(&self.shared),
                        ack_id: message.ack_id,
                        attempt: message.attempt,
                    };
                    return Some(Delivery::new(envelope, Some(Box::new(ack))).with_attempt(message.attempt));
                }
                Err(e) => {
                    // A message that is not an envelope can never be handled: dead-letter it now.
                    let reason = format!("not an envelope: {e}");
                    metrics::counter!("regis_envelopes_dead_lettered_total", "source" => "unreadable").increment(1);
                    let id = message.attributes[ENVELOPE_ID].as_str();
                    self.shared.dead_letter(&message.ack_id, &message.data, id, &reason, message.attempt).await;
                }
            }
        }
    }

    fn max_deliver(&self) -> Option<u32> {
        Some(self.shared.config.max_deliver)
    }

    fn progress_interval(&self) -> Option<Duration> {
        // Well within the ack deadline, so that a slow extension still lands in time.
        Some(Duration::from_secs(self.shared.config.deadline_seconds()) / 3)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // Wakes the workers waiting for a message; what was pulled but not taken is delivered
        // again after its ack deadline.
        self.closing.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_a_project_and_a_topic() {
        let config = PubSubConfig::from_url("pubsub://my-project/regis-envelopes").unwrap();
        assert_eq!((config.project.as_str(), config.topic.as_str()), ("my-project", "regis-envelopes"));
        let names = Names::of(&config);
        assert_eq!(names.topic, "projects/my-project/topics/regis-envelopes");
        assert_eq!(names.dead_topic, "projects/my-project/topics/regis-envelopes-dead");
        assert_eq!(names.subscription, "projects/my-project/subscriptions/regis-envelopes-workers");
        for bad in [
            "nats://p/topic",
            "pubsub://p/",
            "pubsub://p/ab",
            "pubsub://p/1abc",
            "pubsub://p/goog-x",
            "pubsub:///topic",
            "not a url",
        ] {
            let error = PubSubConfig::from_url(bad).unwrap_err();
            assert!(error.to_string().contains("pubsub://my-project/regis"), "{bad}: {error}");
        }
    }

    #[test]
    fn deadlines_stay_within_what_pub_sub_takes() {
        let mut config = PubSubConfig::from_url("pubsub://p/regis").unwrap();
        config.ack_deadline = Duration::from_secs(2);
        assert_eq!(config.deadline_seconds(), 10);
        config.ack_deadline = Duration::from_secs(3600);
        assert_eq!(config.deadline_seconds(), 600);
    }
}
