//! Events: what connectors report (a message, a member joining, a reaction) and what plugins
//! publish, delivered to the plugins that subscribe to the topic.

use crate::envelope::{ChannelRef, Envelope, EnvelopeKind, UserRef};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Topic of every chat message (commands included).
pub const MESSAGE: &str = "message";
/// Topic of a member joining.
pub const MEMBER_JOIN: &str = "member_join";
/// Topic of a reaction being added.
pub const REACTION: &str = "reaction";

/// One event, as subscribers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The topic (`message`, `member_join`, `reaction`, or a plugin's own such as `trivia.won`).
    pub topic: String,
    /// The payload: for `message`, `{"text": ...}`; for plugin events what they published.
    pub data: serde_json::Value,
    /// The envelope it came with (author, channel, source connector).
    pub envelope: Arc<Envelope>,
}

impl Event {
    /// The event an envelope stands for, if any.
    pub fn from_envelope(envelope: &Arc<Envelope>) -> Option<Event> {
        let (topic, data) = match &envelope.kind {
            EnvelopeKind::Message { text } => (MESSAGE.to_string(), serde_json::json!({ "text": text })),
            EnvelopeKind::MemberJoin => (MEMBER_JOIN.to_string(), serde_json::Value::Null),
            EnvelopeKind::Reaction { message_id, emoji } => {
                (REACTION.to_string(), serde_json::json!({ "message_id": message_id, "emoji": emoji }))
            }
            EnvelopeKind::Event { topic, data, .. } => (topic.clone(), data.clone()),
            EnvelopeKind::Command { .. }
            | EnvelopeKind::Autocomplete { .. }
            | EnvelopeKind::Component { .. }
            | EnvelopeKind::Webhook { .. }
            | EnvelopeKind::Schedule { .. } => return None,
        };
        Some(Event { topic, data, envelope: Arc::clone(envelope) })
    }

    /// The payload as a typed value.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }

    /// For `message` events, the text.
    pub fn text(&self) -> Option<&str> {
        self.envelope.text()
    }

    /// Who caused it.
    pub fn author(&self) -> &UserRef {
        &self.envelope.author
    }

    /// Where it happened.
    pub fn channel(&self) -> Option<&ChannelRef> {
        self.envelope.channel.as_ref()
    }
}

/// An event as fan-out carries it to subscriptions: with when it was published (microseconds
/// since the Unix epoch), so that a subscription sees only what was published after it began,
/// even when fan-out crosses a network.
#[derive(Clone, Debug)]
pub struct Published {
    /// When it was published.
    pub at_us: u64,
    /// The event.
    pub event: Arc<Event>,
}

impl Published {
    /// `event`, published now.
    pub fn now(event: Arc<Event>) -> Self {
        Published { at_us: now_us(), event }
    }
}

/// An event as it crosses the network between processes (a shared fan-out's wire form): a
/// [`Published`] that serde writes.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WireEvent {
    /// When it was published, microseconds since the Unix epoch.
    pub at_us: u64,
    /// The event's topic.
    pub topic: String,
    /// The event's data.
    pub data: serde_json::Value,
    /// What it happened in.
    pub envelope: crate::Envelope,
}

impl WireEvent {
    /// `event`, published now.
    pub fn now(event: &Event) -> Self {
        WireEvent {
            at_us: now_us(),
            topic: event.topic.clone(),
            data: event.data.clone(),
            envelope: (*event.envelope).clone(),
        }
    }

    /// The event as subscriptions take it.
    pub fn into_published(self) -> Published {
        let event = Event { topic: self.topic, data: self.data, envelope: Arc::new(self.envelope) };
        Published { at_us: self.at_us, event: Arc::new(event) }
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A live stream of the events of one topic, from the moment of subscribing.
pub struct Subscription {
    topic: String,
    since_us: u64,
    receiver: broadcast::Receiver<Published>,
}

impl Subscription {
    /// A subscription to `topic`, from now on, over a stream of every published event (for
    /// fan-out implementations).
    pub fn new(topic: &str, receiver: broadcast::Receiver<Published>) -> Self {
        Subscription { topic: topic.to_string(), since_us: now_us(), receiver }
    }

    /// The next event of the topic; `None` when the bot shuts down. If the subscriber falls so
    /// far behind that events were dropped, it skips them and goes on.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.receiver.recv().await {
                Ok(published) if published.event.topic == self.topic && published.at_us > self.since_us => {
                    return Some(published.event)
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(topic = %self.topic, skipped = n, "event subscriber lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
