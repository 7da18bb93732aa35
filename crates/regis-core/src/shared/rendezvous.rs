//! Where the ingress that queued an envelope and the worker that handles it meet: the worker
//! says when the dispatcher has finished with the envelope, and may ask the ingress a question
//! about it (a Discord interaction's first response is given in the HTTP request that brought
//! it, so only the ingress holding that request can decide it).
//!
//! In one process ([`InProcessRendezvous`]) both sides are the same map, and nothing is ever
//! asked: the connector that answers is the ingress's own. Across processes (NATS
//! request-reply, in `regis-nats`) the ingress stamps its address on every tracked envelope as
//! [`Envelope::reply_to`](crate::Envelope::reply_to), and the worker sends there.

use crate::bot::Completion;
use crate::ranks::lock;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long ingress waits for an envelope's completion before it forgets it (the worker died,
/// or its message was lost): an interaction token's lifetime.
pub const COMPLETION_HORIZON: Duration = Duration::from_secs(15 * 60);

/// Why a question could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RendezvousError {
    /// The envelope names no ingress to ask (it was queued in this process, or untracked).
    #[error("the envelope was not queued by a remote ingress")]
    NoAddress,
    /// The ingress is gone, or did not answer in time.
    #[error("the ingress that queued the envelope did not answer: {0}")]
    Unreachable(String),
}

/// Answers the questions workers ask about envelopes this ingress queued (a connector's
/// ingress side installs one: Discord's decides first responses).
pub trait Answerer: Send + Sync + 'static {
    /// The answer to `question` about envelope `envelope_id`.
    fn answer(&self, envelope_id: &str, question: serde_json::Value) -> serde_json::Value;
}

/// Both sides of the meeting point; see the module documentation.
#[async_trait]
pub trait Rendezvous: Send + Sync + 'static {
    /// Ingress side: the address stamped on tracked envelopes, or `None` when workers are in
    /// this process.
    fn address(&self) -> Option<String>;

    /// Ingress side: starts waiting for envelope `id` (call it before queueing it).
    fn expect(&self, id: &str) -> oneshot::Receiver<Completion>;

    /// Ingress side: stops waiting for `id` (it could not be queued).
    fn abandon(&self, id: &str);

    /// Ingress side: installs who answers workers' questions.
    fn answer_with(&self, answerer: Arc<dyn Answerer>);

    /// Ingress side: whether ingress gives its first response at once, never waiting for the
    /// worker (a queue without request-reply: nothing can come back within a budget).
    fn answers_at_once(&self) -> bool {
        false
    }

    /// Worker side: the dispatcher has finished with envelope `id`, whose ingress is at
    /// `reply_to` (`None`: this process).
    async fn complete(&self, id: &str, reply_to: Option<&str>, completion: Completion);

    /// Worker side: asks the ingress at `reply_to` a question about envelope `id`.
    async fn ask(
        &self,
        id: &str,
        reply_to: Option<&str>,
        question: serde_json::Value,
    ) -> Result<serde_json::Value, RendezvousError>;
}

/// Waiters for completions, by envelope id, forgotten after [`COMPLETION_HORIZON`]; shared by
/// every implementation's ingress side.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<String, (Instant, oneshot::Sender<Completion>)>>,
}

impl Waiters {
    /// Starts waiting for `id`.
    pub fn expect(&self, id: &str) -> oneshot::Receiver<Completion> {
        let (tx, rx) = oneshot::channel();
        let mut map = lock(&self.map);
        if map.len() >= 1024 {
            map.retain(|_, (since, tx)| since.elapsed() < COMPLETION_HORIZON && !tx.is_closed());
        }
        map.insert(id.to_string(), (Instant::now(), tx));
        rx
    }

    /// Stops waiting for `id`.
    pub fn abandon(&self, id: &str) {
        lock(&self.map).remove(id);
    }

    /// Tells whoever waits for `id` how it ended.
    pub fn complete(&self, id: &str, completion: Completion) {
        if let Some((_, tx)) = lock(&self.map).remove(id) {
            let _ = tx.send(completion);
        }
    }

    /// How many envelopes are waited for.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Ingress and workers in one process: completions through a map, no questions.
#[derive(Default)]
pub struct InProcessRendezvous {
    waiters: Waiters,
}

#[async_trait]
impl Rendezvous for InProcessRendezvous {
    fn address(&self) -> Option<String> {
        None
    }

    fn expect(&self, id: &str) -> oneshot::Receiver<Completion> {
        self.waiters.expect(id)
    }

    fn abandon(&self, id: &str) {
        self.waiters.abandon(id);
    }

    fn answer_with(&self, _answerer: Arc<dyn Answerer>) {}

    async fn complete(&self, id: &str, _reply_to: Option<&str>, completion: Completion) {
        self.waiters.complete(id, completion);
    }

    async fn ask(
        &self,
        _id: &str,
        _reply_to: Option<&str>,
        _question: serde_json::Value,
    ) -> Result<serde_json::Value, RendezvousError> {
        Err(RendezvousError::NoAddress)
    }
}

/// For a queue with no request-reply (Google Cloud Pub/Sub): ingress and workers never meet.
/// The ingress gives its first response at once (a Discord receiver answers "deferred"), and
/// envelopes carry no address, so that a worker takes an interaction it did not receive as
/// deferred and a handler's first reply edits the original response, as the `/mando` bot this
/// project descends from did on Pub/Sub.
#[derive(Default)]
pub struct NoReplyRendezvous;

#[async_trait]
impl Rendezvous for NoReplyRendezvous {
    fn address(&self) -> Option<String> {
        None
    }

    fn expect(&self, _id: &str) -> oneshot::Receiver<Completion> {
        // Nothing will come: the sender is gone at once.
        oneshot::channel().1
    }

    fn abandon(&self, _id: &str) {}

    fn answer_with(&self, _answerer: Arc<dyn Answerer>) {}

    fn answers_at_once(&self) -> bool {
        true
    }

    async fn complete(&self, _id: &str, _reply_to: Option<&str>, _completion: Completion) {}

    async fn ask(
        &self,
        _id: &str,
        _reply_to: Option<&str>,
        _question: serde_json::Value,
    ) -> Result<serde_json::Value, RendezvousError> {
        Err(RendezvousError::NoAddress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_completion_reaches_its_waiter_once() {
        let rv = InProcessRendezvous::default();
        let rx = rv.expect("a");
        rv.complete("a", None, Completion::Duplicate).await;
        rv.complete("a", None, Completion::Handled).await;
        assert_eq!(rx.await, Ok(Completion::Duplicate));
        let abandoned = rv.expect("b");
        rv.abandon("b");
        assert!(abandoned.await.is_err());
        assert!(rv.waiters.is_empty());
    }
}
