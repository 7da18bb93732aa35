//! The queue between ingress (connectors) and the dispatcher. In-process here; a JetStream
//! implementation of the same trait scales it out across processes.

use crate::envelope::Envelope;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
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

/// Settles a delivery, as JetStream does: handled, to be delivered again later, still being
/// worked on, or never to be delivered again.
#[async_trait]
pub trait Ack: Send + Sync {
    /// The envelope was handled (its replies sent): do not deliver it again.
    async fn ack(self: Box<Self>);
    /// It could not be handled now (a transient failure): deliver `envelope` (the delivery's,
    /// handed back) again after `delay`.
    async fn nak(self: Box<Self>, envelope: Envelope, delay: Duration);
    /// Still being handled: the queue must not redeliver it yet (for long handlers).
    async fn in_progress(&self) {}
    /// It can never be handled (it does not decode, or failed on every attempt): never
    /// deliver it again; `envelope` (the delivery's, handed back) and `reason` go to the dead
    /// letters.
    async fn terminate(self: Box<Self>, envelope: Envelope, reason: &str);
}

/// One envelope taken from a queue, to be settled after handling.
pub struct Delivery {
    /// The envelope.
    pub envelope: Envelope,
    /// Which delivery of it this is: 1 the first time, more after a nak or a redelivery.
    pub attempt: u32,
    ack: Option<Box<dyn Ack>>,
}

impl Delivery {
    /// A first delivery with a settling handle (`None`: nothing to settle).
    pub fn new(envelope: Envelope, ack: Option<Box<dyn Ack>>) -> Self {
        Delivery { envelope, attempt: 1, ack }
    }

    /// The same, as delivery number `attempt`.
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt.max(1);
        self
    }

    /// Acknowledges it.
    pub async fn ack(self) {
        self.split().1.ack().await;
    }

    /// The envelope, and what settles it once handled (so the envelope can be moved
    /// into the handler rather than copied).
    pub fn split(self) -> (Envelope, Acknowledgement) {
        (self.envelope, Acknowledgement { ack: self.ack, attempt: self.attempt })
    }
}

/// The settling half of a [`Delivery`] whose envelope was taken out with [`Delivery::split`].
pub struct Acknowledgement {
    ack: Option<Box<dyn Ack>>,
    attempt: u32,
}

impl Acknowledgement {
    /// Which delivery of the envelope this is (1 the first time).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Handled: not to be delivered again.
    pub async fn ack(self) {
        if let Some(ack) = self.ack {
            ack.ack().await;
        }
    }

    /// Not handled now: `envelope` (the delivery's, handed back) is to be delivered again
    /// after `delay`.
    pub async fn nak(self, envelope: Envelope, delay: Duration) {
        if let Some(ack) = self.ack {
            ack.nak(envelope, delay).await;
        }
    }

    /// Still being handled.
    pub async fn in_progress(&self) {
        if let Some(ack) = &self.ack {
            ack.in_progress().await;
        }
    }

    /// Never to be delivered again; `envelope` (the delivery's, handed back) and `reason` go
    /// to the dead letters.
    pub async fn terminate(self, envelope: Envelope, reason: &str) {
        if let Some(ack) = self.ack {
            ack.terminate(envelope, reason).await;
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
    /// How many deliveries an envelope gets before it is dead-lettered, where the queue
    /// delivers again (`None`: once; a transient failure is then not retried).
    fn max_deliver(&self) -> Option<u32> {
        None
    }
    /// How many envelopes are queued or being handled by any worker, if known (a sample, at
    /// most a moment old): ingress defers at once when workers are far behind.
    fn backlog(&self) -> Option<usize> {
        self.depth()
    }
    /// How many envelopes wait, if known.
    fn depth(&self) -> Option<usize> {
        None
    }

    /// How often a delivery still being handled must be marked in progress (with
    /// [`Acknowledgement::in_progress`]) lest the queue deliver it again to another worker;
    /// `None` when the queue never redelivers on its own.
    fn progress_interval(&self) -> Option<Duration> {
        None
    }

    /// How many envelopes were pushed and not yet settled for good (waiting, being handled,
    /// or waiting to be delivered again), where the queue can tell: what
    /// [`Bot::idle`](crate::Bot::idle) waits on.
    fn unfinished(&self) -> Option<watch::Receiver<usize>> {
        None
    }
}

/// An envelope in the in-process channel, with its delivery number.
type Queued = (Envelope, u32);

struct Inner {
    sender: RwLock<Option<mpsc::Sender<Queued>>>,
    receiver: tokio::sync::Mutex<mpsc::Receiver<Queued>>,
    capacity: usize,
    depth_probe: Mutex<Option<mpsc::WeakSender<Queued>>>,
    unfinished: watch::Sender<usize>,
    dead_letters: Mutex<Vec<(Envelope, String)>>,
}

impl Inner {
    fn settled(&self) {
        self.unfinished.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A bounded in-process queue (tokio mpsc). `push` never waits: a full queue is an error. A
/// nak puts the envelope back after its delay; a terminated envelope is kept among the dead
/// letters ([`InProcessQueue::dead_letters`]) and logged.
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

/// The settling handle of an in-process delivery.
struct InProcessAck {
    inner: Arc<Inner>,
    attempt: u32,
}

#[async_trait]
impl Ack for InProcessAck {
    async fn ack(self: Box<Self>) {
        self.inner.settled();
    }

    async fn nak(self: Box<Self>, envelope: Envelope, delay: Duration) {
        let inner = Arc::clone(&self.inner);
        let attempt = self.attempt + 1;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let sender = inner.sender.read().unwrap_or_else(|e| e.into_inner()).clone();
            let id = envelope.id.clone();
            let requeued = match sender {
                Some(sender) => sender.try_send((envelope, attempt)).map_err(|e| e.to_string()),
                None => Err("the queue is closed".to_string()),
            };
            if let Err(e) = requeued {
                tracing::warn!(envelope = %id, attempt, error = %e, "could not queue an envelope again; dropped");
                inner.settled();
            }
        });
    }

    async fn terminate(self: Box<Self>, envelope: Envelope, reason: &str) {
        tracing::warn!(envelope = %envelope.id, attempt = self.attempt, reason, "envelope dead-lettered");
        self.inner.dead_letters.lock().unwrap_or_else(|e| e.into_inner()).push((envelope, reason.to_string()));
        self.inner.settled();
    }
}

impl InProcessQueue {
    /// A queue holding at most `capacity` waiting envelopes.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        InProcessQueue {
            inner: Arc::new(Inner {
                depth_probe: Mutex::new(Some(tx.downgrade())),
                sender: RwLock::new(Some(tx)),
                receiver: tokio::sync::Mutex::new(rx),
                capacity: capacity.max(1),
                unfinished: watch::channel(0).0,
                dead_letters: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The envelopes terminated so far, with their reasons.
    pub fn dead_letters(&self) -> Vec<(Envelope, String)> {
        self.inner.dead_letters.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn push(&self, envelope: Envelope) -> Result<(), QueueError> {
        let inner = &self.inner;
        let sender = inner.sender.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or(QueueError::Closed)?;
        // Counted before it is visible to a worker, so the count never misses it.
        inner.unfinished.send_modify(|n| *n += 1);
        sender.try_send((envelope, 1)).map_err(|e| {
            inner.settled();
            match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full(inner.capacity),
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            }
        })
    }

    async fn pop(&self) -> Option<Delivery> {
        let mut receiver = self.inner.receiver.lock().await;
        let (envelope, attempt) = receiver.recv().await?;
        let ack = InProcessAck { inner: Arc::clone(&self.inner), attempt };
        Some(Delivery::new(envelope, Some(Box::new(ack))).with_attempt(attempt))
    }

    fn close(&self) {
        self.inner.sender.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn depth(&self) -> Option<usize> {
        let probe = self.inner.depth_probe.lock().unwrap_or_else(|e| e.into_inner());
        probe.as_ref().and_then(|w| w.upgrade()).map(|s| self.inner.capacity - s.capacity())
    }

    fn unfinished(&self) -> Option<watch::Receiver<usize>> {
        Some(self.inner.unfinished.subscribe())
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

    #[tokio::test(start_paused = true)]
    async fn a_nak_delivers_again_after_its_delay_and_terminate_dead_letters() {
        let q = InProcessQueue::new(4);
        let unfinished = q.unfinished().unwrap();
        q.push(env("a")).await.unwrap();
        let first = q.pop().await.unwrap();
        assert_eq!(first.attempt, 1);
        let (envelope, settle) = first.split();
        settle.nak(envelope.clone(), Duration::from_secs(2)).await;
        assert_eq!(q.depth(), Some(0), "not before the delay");
        assert_eq!(*unfinished.borrow(), 1, "still unfinished while it waits");
        let again = tokio::time::timeout(Duration::from_secs(3), q.pop()).await.unwrap().unwrap();
        assert_eq!((again.envelope.id.as_str(), again.attempt), (envelope.id.as_str(), 2));
        let (again, settle) = again.split();
        settle.terminate(again, "failed twice").await;
        assert_eq!(*unfinished.borrow(), 0);
        let dead = q.dead_letters();
        assert_eq!((dead.len(), dead[0].1.as_str(), dead[0].0.text()), (1, "failed twice", Some("a")));
        q.push(env("b")).await.unwrap();
        q.pop().await.unwrap().ack().await;
        assert_eq!(*unfinished.borrow(), 0, "an ack settles it");
    }
}
