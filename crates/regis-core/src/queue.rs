//! The queue between ingress (connectors) and the dispatcher. In-process here; a JetStream
//! implementation of the same trait scales it out across processes.

use crate::envelope::Envelope;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, watch};

/// Why an envelope could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue holds as many envelopes as it may; ingress should tell the user to retry.
    #[error("queue is full ({0} envelopes waiting)")]
    Full(usize),
    /// The bot is shutting down.
    #[error("queue is closed")]
    Closed,
    /// A backend failure (network, broker).
    #[error("queue backend error: {0}")]
    Backend(String),
}

/// Acknowledges a delivery once it has been handled (a no-op in-process; a JetStream ack later).
#[async_trait]
pub trait Ack: Send {
    /// The envelope was handled; do not deliver it again.
    async fn ack(self: Box<Self>);
}

/// One envelope taken from a queue, to be acknowledged after handling.
pub struct Delivery {
    /// The envelope.
    pub envelope: Envelope,
    ack: Option<Box<dyn Ack>>,
}

impl Delivery {
    /// A delivery with an acknowledgement handle.
    pub fn new(envelope: Envelope, ack: Option<Box<dyn Ack>>) -> Self {
        Delivery { envelope, ack }
    }

    /// Acknowledges it.
    pub async fn ack(self) {
        self.split().1.ack().await;
    }

    /// The envelope, and what acknowledges it once handled (so the envelope can be moved
    /// into the handler rather than copied).
    pub fn split(self) -> (Envelope, Acknowledgement) {
        (self.envelope, Acknowledgement(self.ack))
    }
}

/// The acknowledgement of a [`Delivery`] whose envelope was taken out with
/// [`Delivery::split`].
pub struct Acknowledgement(Option<Box<dyn Ack>>);

impl Acknowledgement {
    /// Acknowledges the delivery.
    pub async fn ack(self) {
        if let Some(ack) = self.0 {
            ack.ack().await;
        }
    }
}

/// Where ingress puts envelopes and the dispatcher takes them from.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Enqueues without waiting for any handler; fails fast when full or closed.
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError>;
    /// The next envelope; `None` once the queue is closed and drained.
    async fn pop(&self) -> Option<Delivery>;
    /// Stops accepting envelopes; those already queued are still delivered.
    fn close(&self);
    /// How many envelopes wait, if known.
    fn depth(&self) -> Option<usize> {
        None
    }

    /// How many envelopes were pushed and not yet acknowledged (waiting, or being handled),
    /// where the queue can tell: what [`Bot::idle`](crate::Bot::idle) waits on.
    fn unfinished(&self) -> Option<watch::Receiver<usize>> {
        None
    }
}

/// A bounded in-process queue (tokio mpsc). `push` never waits: a full queue is an error.
pub struct InProcessQueue {
    sender: RwLock<Option<mpsc::Sender<Envelope>>>,
    receiver: tokio::sync::Mutex<mpsc::Receiver<Envelope>>,
    capacity: usize,
    depth_probe: Mutex<Option<mpsc::WeakSender<Envelope>>>,
    unfinished: Arc<watch::Sender<usize>>,
}

/// The acknowledgement of an in-process delivery: one envelope less unfinished.
struct InProcessAck(Arc<watch::Sender<usize>>);

#[async_trait]
impl Ack for InProcessAck {
    async fn ack(self: Box<Self>) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl InProcessQueue {
    /// A queue holding at most `capacity` waiting envelopes.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        InProcessQueue {
            depth_probe: Mutex::new(Some(tx.downgrade())),
            sender: RwLock::new(Some(tx)),
            receiver: tokio::sync::Mutex::new(rx),
            capacity: capacity.max(1),
            unfinished: Arc::new(watch::channel(0).0),
        }
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError> {
        let sender = self.sender.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or(QueueError::Closed)?;
        // Counted before it is visible to a worker, so the count never misses it.
        self.unfinished.send_modify(|n| *n += 1);
        sender.try_send(envelope).map_err(|e| {
            self.unfinished.send_modify(|n| *n = n.saturating_sub(1));
            match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full(self.capacity),
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            }
        })
    }

    async fn pop(&self) -> Option<Delivery> {
        let mut receiver = self.receiver.lock().await;
        let ack = InProcessAck(Arc::clone(&self.unfinished));
        receiver.recv().await.map(|e| Delivery::new(e, Some(Box::new(ack))))
    }

    fn unfinished(&self) -> Option<watch::Receiver<usize>> {
        Some(self.unfinished.subscribe())
    }

    fn close(&self) {
        self.sender.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn depth(&self) -> Option<usize> {
        let probe = self.depth_probe.lock().unwrap_or_else(|e| e.into_inner());
        probe.as_ref().and_then(|w| w.upgrade()).map(|s| self.capacity - s.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::UserRef;

    fn env(text: &str) -> Envelope {
        Envelope::message("test", UserRef::new("test", "u"), text)
    }

    #[tokio::test]
    async fn full_queue_fails_fast_and_close_drains() {
        let q = InProcessQueue::new(2);
        q.push(env("a")).await.unwrap();
        q.push(env("b")).await.unwrap();
        assert_eq!(q.depth(), Some(2));
        assert_eq!(q.push(env("c")).await, Err(QueueError::Full(2)));
        q.close();
        assert_eq!(q.push(env("d")).await, Err(QueueError::Closed));
        assert_eq!(q.pop().await.unwrap().envelope.text(), Some("a"));
        assert_eq!(q.pop().await.unwrap().envelope.text(), Some("b"));
        assert!(q.pop().await.is_none());
    }
}
