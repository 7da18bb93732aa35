//! The envelope queue on NATS JetStream, used as JetStream is meant to be used:
//!
//! - one stream per bot (`REGIS_<BOT>`) holding its envelopes on the subjects
//!   `regis.<bot>.envelopes.<source>.<kind>`, published with the envelope id as
//!   `Nats-Msg-Id`, so a publish that is retried (a receiver that did not see the first
//!   acknowledgement) does not queue the envelope twice within the stream's duplicate window;
//! - one durable pull consumer shared by every worker, with explicit acknowledgement: a
//!   delivery is acked after its handler's replies are sent, naked with a delay to be
//!   delivered again, marked in progress while a handler runs long, and after `max_deliver`
//!   attempts, or at once when it does not decode, published with its reason to the
//!   dead-letter subject `regis.<bot>.dead` (kept in the stream `REGIS_<BOT>_DEAD`) and
//!   terminated, never silently dropped;
//! - a publish that JetStream does not acknowledge is an error for the ingress (a receiver
//!   answers 503 rather than accept what it cannot queue).

use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_trait::async_trait;
use futures::StreamExt;
use regis_core::{Ack, Delivery, Envelope, Queue, QueueError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a publish waits for JetStream to confirm it stored the envelope: well within
/// Discord's 3 s, so a receiver still answers 503 in time when the server does not.
const PUBLISH_ACK_WAIT: Duration = Duration::from_millis(1500);

/// How the queue is laid out and delivers.
#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// The NATS server, `nats://127.0.0.1:4222`.
    pub url: String,
    /// Names the stream, subjects and consumer, so several bots (or tests) share one server.
    pub bot_name: String,
    /// How long a delivery may go unacknowledged before JetStream delivers it again.
    pub ack_wait: Duration,
    /// Deliveries of one envelope before it goes to the dead letters.
    pub max_deliver: u32,
    /// Within this window a second publish with the same envelope id is dropped.
    pub duplicate_window: Duration,
}

impl JetStreamConfig {
    /// The defaults for a bot: 30 s to acknowledge, 5 deliveries, a 2-minute duplicate window.
    pub fn new(url: impl Into<String>, bot_name: impl Into<String>) -> Self {
        JetStreamConfig {
            url: url.into(),
            bot_name: bot_name.into(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// Why the queue could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// The bot name cannot name subjects and streams.
    #[error("bot name `{0}` must be 1-32 characters of lowercase letters, digits, `-` and `_`")]
    BadBotName(String),
    /// The server could not be reached.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        reason: String,
    },
    /// JetStream refused the stream or consumer.
    #[error("cannot set up JetStream stream `{stream}`: {reason}")]
    Setup {
        /// The stream.
        stream: String,
        /// Why.
        reason: String,
    },
}

/// The subjects and names of one bot.
#[derive(Clone, Debug)]
struct Names {
    stream: String,
    dead_stream: String,
    subjects: String,
    dead: String,
    prefix: String,
}

impl Names {
    fn of(bot: &str) -> Result<Names, JetStreamError> {
        let ok = (1..=32).contains(&bot.len())
            && bot.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(JetStreamError::BadBotName(bot.to_string()));
        }
        let upper = bot.to_ascii_uppercase().replace('-', "_");
        Ok(Names {
            stream: format!("REGIS_{upper}"),
            dead_stream: format!("REGIS_{upper}_DEAD"),
            subjects: format!("regis.{bot}.envelopes.>"),
            dead: format!("regis.{bot}.dead"),
            prefix: format!("regis.{bot}.envelopes"),
        })
    }

    /// The subject of an envelope: by source and kind.
    fn subject(&self, envelope: &Envelope) -> String {
        let kind = envelope.kind.name();
        let source: String =
            envelope.source.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        format!("{}.{source}.{kind}", self.prefix)
    }
}

/// Counters of the queue.
#[derive(Debug, Default)]
struct Counters {
    dead_lettered: AtomicU64,
    duplicates: AtomicU64,
}

/// The envelope queue of one bot on JetStream.
pub struct JetStreamQueue {
    client: async_nats::Client,
    js: jetstream::Context,
    names: Names,
    config: JetStreamConfig,
    messages: Mutex<Option<consumer::pull::Stream>>,
    consumer: consumer::PullConsumer,
    closed: AtomicBool,
    closing: tokio::sync::Notify,
    counters: Arc<Counters>,
    /// The consumer's pending and unacknowledged envelopes, sampled (`u64::MAX`: not yet).
    backlog: Arc<AtomicU64>,
    /// Started by the first look at the backlog: only receivers look (workers never do).
    sampler: std::sync::OnceLock<tokio::task::JoinHandle<()>>,
}

impl Drop for JetStreamQueue {
    fn drop(&mut self) {
        if let Some(sampler) = self.sampler.get() {
            sampler.abort();
        }
    }
}

/// How often the backlog is sampled.
const BACKLOG_SAMPLE: Duration = Duration::from_millis(100);

/// Samples the consumer's backlog into `backlog` until aborted.
async fn sample_backlog(mut consumer: consumer::PullConsumer, backlog: Arc<AtomicU64>) {
    let mut ticks = tokio::time::interval(BACKLOG_SAMPLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let value = match consumer.info().await {
            Ok(info) => info.num_pending + info.num_ack_pending as u64,
            Err(_) => u64::MAX,
        };
        backlog.store(value, Ordering::Relaxed);
    }
}

impl JetStreamQueue {
    /// Connects, and creates the bot's streams and consumer if they do not exist.
    pub async fn connect(config: JetStreamConfig) -> Result<Self, JetStreamError> {
        let names = Names::of(&config.bot_name)?;
        let client = async_nats::connect(&config.url)
            .await
            .map_err(|e| JetStreamError::Connect { url: config.url.clone(), reason: e.to_string() })?;
        let js = jetstream::new(client.clone());
        let setup = |stream: &str| {
            let stream = stream.to_string();
            move |e: String| JetStreamError::Setup { stream, reason: e }
        };
        let envelopes = js
            .get_or_create_stream(stream::Config {
                name: names.stream.clone(),
                subjects: vec![names.subjects.clone()],
                duplicate_window: config.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| setup(&names.stream)(e.to_string()))?;
        js.get_or_create_stream(stream::Config {
            name: names.dead_stream.clone(),
            subjects: vec![names.dead.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| setup(&names.dead_stream)(e.to_string()))?;
        let consumer: consumer::PullConsumer = envelopes
            .get_or_create_consumer(
                "workers",
                consumer::pull::Config {
                    durable_name: Some("workers".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    // JetStream itself stops at one more than ours: ours dead-letters first.
                    max_deliver: i64::from(config.max_deliver) + 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| setup(&names.stream)(e.to_string()))?;
        Ok(JetStreamQueue {
            client,
            js,
            names,
            config,
            messages: Mutex::new(None),
            consumer,
            closed: AtomicBool::new(false),
            closing: tokio::sync::Notify::new(),
            counters: Arc::default(),
            backlog: Arc::new(AtomicU64::new(u64::MAX)),
            sampler: std::sync::OnceLock::new(),
        })
    }

    /// Whether the connection to NATS is up now (a receiver is not ready while it is down).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Envelopes sent to the dead letters by this process.
    pub fn dead_lettered(&self) -> u64 {
        self.counters.dead_lettered.load(Ordering::Relaxed)
    }

    /// Publishes JetStream dropped as duplicates (the same envelope id within the window).
    pub fn duplicates(&self) -> u64 {
        self.counters.duplicates.load(Ordering::Relaxed)
    }

    /// The dead-letter subject (`regis.<bot>.dead`).
    pub fn dead_letter_subject(&self) -> &str {
        &self.names.dead
    }

    /// The NATS connection (for tests and tools that read the dead letters).
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }

    /// Deletes the bot's streams and what they hold (for tests and tools).
    pub async fn delete(&self) -> Result<(), JetStreamError> {
        for stream in [&self.names.stream, &self.names.dead_stream] {
            self.js
                .delete_stream(stream)
                .await
                .map_err(|e| JetStreamError::Setup { stream: stream.clone(), reason: e.to_string() })?;
        }
        Ok(())
    }

    /// The envelope subjects' prefix (`regis.<bot>.envelopes`).
    pub fn subject_prefix(&self) -> &str {
        &self.names.prefix
    }

    /// The next message of the consumer, or `None` once closed.
    async fn next_message(&self) -> Option<jetstream::Message> {
        let mut messages = self.messages.lock().await;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return None;
            }
            if messages.is_none() {
                match self.consumer.messages().await {
                    Ok(stream) => *messages = Some(stream),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot pull from JetStream; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            let stream = messages.as_mut()?;
            let next = tokio::select! {
                next = stream.next() => next,
                () = self.closing.notified() => return None,
            };
            match next {
                Some(Ok(message)) => return Some(message),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "JetStream pull failed; pulling again");
                    *messages = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => *messages = None,
            }
        }
    }
}

/// Publishes a message that cannot be handled to the dead letters with its reason, then
/// terminates its delivery.
async fn dead_letter(
    js: &jetstream::Context,
    subject: &str,
    counters: &Counters,
    acker: &jetstream::message::Acker,
    payload: &[u8],
    reason: &str,
    attempt: u32,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Regis-Dead-Reason", reason);
    headers.insert("Regis-Attempts", attempt.to_string().as_str());
    match js.publish_with_headers(subject.to_string(), headers, payload.to_vec().into()).await {
        Ok(ack) => {
            if let Err(e) = ack.await {
                tracing::error!(error = %e, reason, "the dead letter was not stored; the message is redelivered");
                return;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, reason, "cannot publish the dead letter; the message is redelivered");
            return;
        }
    }
    counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(reason, attempt, subject, "message sent to the dead letters");
    if let Err(e) = acker.ack_with(AckKind::Term).await {
        tracing::warn!(error = %e, "cannot terminate the dead-lettered message");
    }
}

/// The settling handle of a JetStream delivery.
struct JetStreamAck {
    acker: jetstream::message::Acker,
    js: jetstream::Context,
    dead: String,
    attempt: u32,
    max_deliver: u32,
    counters: Arc<Counters>,
}

#[async_trait]
impl Ack for JetStreamAck {
    async fn ack(self: Box<Self>) {
        if let Err(e) = self.acker.ack().await {
            tracing::warn!(error = %e, "cannot ack a delivery; it will be delivered again (and deduplicated)");
        }
    }

    async fn nak(self: Box<Self>, envelope: Envelope, delay: Duration) {
        if self.attempt >= self.max_deliver {
            let reason = format!("not handled after {} deliveries", self.attempt);
            return self.terminate(envelope, &reason).await;
        }
        if let Err(e) = self.acker.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::warn!(error = %e, "cannot nak a delivery; it will be delivered again after the ack wait");
        }
    }

    async fn in_progress(&self) {
        if let Err(e) = self.acker.ack_with(AckKind::Progress).await {
            tracing::warn!(error = %e, "cannot extend a delivery's ack wait");
        }
    }

    async fn terminate(self: Box<Self>, envelope: Envelope, reason: &str) {
        let payload = serde_json::to_vec(&envelope).unwrap_or_default();
        dead_letter(&self.js, &self.dead, &self.counters, &self.acker, &payload, reason, self.attempt).await;
    }
}

#[async_trait]
impl Queue for JetStreamQueue {
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(QueueError::Closed);
        }
        // While the connection is down a publish would wait in the client's buffer: refuse it
        // now, so the receiver answers 503 within Discord's deadline instead of hanging.
        if !self.connected() {
            return Err(QueueError::Backend("NATS is disconnected".into()));
        }
        let payload = serde_json::to_vec(&envelope).map_err(|e| QueueError::Backend(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
        let published = self
            .js
            .publish_with_headers(self.names.subject(&envelope), headers, payload.into())
            .await
            .map_err(|e| QueueError::Backend(format!("NATS: {e}")))?;
        let ack = match tokio::time::timeout(PUBLISH_ACK_WAIT, published).await {
            Ok(ack) => ack.map_err(|e| QueueError::Backend(format!("JetStream did not store it: {e}")))?,
            Err(_) => {
                return Err(QueueError::Backend(format!("JetStream did not confirm within {PUBLISH_ACK_WAIT:?}")))
            }
        };
        if ack.duplicate {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(envelope = %envelope.id, "JetStream dropped a duplicate publish");
        }
        Ok(())
    }

    async fn pop(&self) -> Option<Delivery> {
        loop {
            let message = self.next_message().await?;
            let attempt = message.info().map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX)).unwrap_or(1);
            let (message, acker) = message.split();
            let payload = message.payload;
            match serde_json::from_slice::<Envelope>(&payload) {
                Ok(envelope) => {
                    let ack = JetStreamAck {
                        acker,
                        js: self.js.clone(),
                        dead: self.names.dead.clone(),
                        attempt,
                        max_deliver: self.config.max_deliver,
                        counters: Arc::clone(&self.counters),
                    };
                    return Some(Delivery::new(envelope, Some(Box::new(ack))).with_attempt(attempt));
                }
                Err(e) => {
                    // A message that is not an envelope can never be handled: dead-letter it now.
                    let reason = format!("not an envelope: {e}");
                    // Counted here by the queue: no worker saw it (those a worker gives up on,
                    // the dispatcher counts by their source).
                    metrics::counter!("regis_envelopes_dead_lettered_total", "source" => "unreadable").increment(1);
                    dead_letter(&self.js, &self.names.dead, &self.counters, &acker, &payload, &reason, attempt).await;
                }
            }
        }
    }

    fn backlog(&self) -> Option<usize> {
        self.sampler.get_or_init(|| tokio::spawn(sample_backlog(self.consumer.clone(), Arc::clone(&self.backlog))));
        match self.backlog.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    fn max_deliver(&self) -> Option<u32> {
        Some(self.config.max_deliver)
    }

    fn progress_interval(&self) -> Option<Duration> {
        // Well within the ack wait, so that a slow ping still lands in time.
        Some(self.config.ack_wait / 3)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // Wakes the worker waiting for a message; what was delivered but not taken is
        // delivered again after the ack wait (to this or another worker).
        self.closing.notify_waiters();
    }
}
