//! Event fan-out to live subscriptions (`ctx.subscribe`): an event handled by any worker reaches
//! a subscriber in any process.

use super::StateError;
use crate::events::{Event, Published, Subscription};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Where events are published to live subscriptions.
#[async_trait]
pub trait EventFanout: Send + Sync + 'static {
    /// Sends `event` to every subscription of its topic, in every process.
    async fn publish(&self, event: &Event) -> Result<(), StateError>;
    /// The events of `topic` from now on.
    fn subscribe(&self, topic: &str) -> Subscription;
}

/// Fan-out within this process (a broadcast channel).
pub struct InProcessEvents {
    sender: broadcast::Sender<Published>,
}

impl InProcessEvents {
    /// A fan-out that keeps up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        InProcessEvents { sender: broadcast::channel(capacity.max(16)).0 }
    }
}

#[async_trait]
impl EventFanout for InProcessEvents {
    async fn publish(&self, event: &Event) -> Result<(), StateError> {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Published::now(Arc::new(event.clone())));
        }
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        Subscription::new(topic, self.sender.subscribe())
    }
}
