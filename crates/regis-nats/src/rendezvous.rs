//! The rendezvous of ingress and workers in different processes, over NATS core request-reply.
//!
//! Each process listens on a subject of its own, `regis.<bot>.rendezvous.<random id>`, which
//! its ingress stamps on the envelopes it tracks (`Envelope::reply_to`). A worker publishes
//! there when it has finished with such an envelope, and sends its questions there as
//! requests (a Discord interaction's first response); the ingress handles both in arrival
//! order, so a question is always answered before the completion that follows it.

use async_trait::async_trait;
use futures::StreamExt;
use regis_core::shared::rendezvous::{Answerer, Rendezvous, RendezvousError, Waiters};
use regis_core::Completion;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a worker waits for the ingress's answer to a question.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What crosses the subject.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    /// The dispatcher has finished with envelope `id`.
    Done { id: String, duplicate: bool },
    /// A question about envelope `id` (sent as a request).
    Ask { id: String, question: serde_json::Value },
}

/// Why the rendezvous could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {subject}: {reason}")]
pub struct RendezvousStartError {
    /// The subject.
    pub subject: String,
    /// What NATS said.
    pub reason: String,
}

/// The NATS rendezvous of one process; see the module documentation.
pub struct NatsRendezvous {
    client: async_nats::Client,
    subject: String,
    waiters: Arc<Waiters>,
    answerer: Arc<RwLock<Option<Arc<dyn Answerer>>>>,
    listener: tokio::task::JoinHandle<()>,
}

impl NatsRendezvous {
    /// Listens on a new subject of bot `bot_name` with `client`.
    pub async fn start(client: async_nats::Client, bot_name: &str) -> Result<Self, RendezvousStartError> {
        let subject = format!("regis.{bot_name}.rendezvous.{}", regis_core::envelope::new_id());
        let mut subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| RendezvousStartError { subject: subject.clone(), reason: e.to_string() })?;
        let waiters = Arc::new(Waiters::default());
        let answerer: Arc<RwLock<Option<Arc<dyn Answerer>>>> = Arc::default();
        let listener = {
            let (client, waiters, answerer, subject) =
                (client.clone(), Arc::clone(&waiters), Arc::clone(&answerer), subject.clone());
            tokio::spawn(async move {
                while let Some(message) = subscriber.next().await {
                    match serde_json::from_slice::<Wire>(&message.payload) {
                        Ok(Wire::Done { id, duplicate }) => {
                            let completion = if duplicate { Completion::Duplicate } else { Completion::Handled };
                            waiters.complete(&id, completion);
                        }
                        Ok(Wire::Ask { id, question }) => {
                            let Some(reply) = message.reply else { continue };
                            let current = answerer.read().unwrap_or_else(|e| e.into_inner()).clone();
                            let answer = match current {
                                Some(answerer) => answerer.answer(&id, question),
                                None => serde_json::json!({ "error": "this process answers no questions" }),
                            };
                            let payload = serde_json::to_vec(&answer).unwrap_or_default();
                            if let Err(e) = client.publish(reply, payload.into()).await {
                                tracing::warn!(envelope = %id, error = %e, "cannot answer a worker's question");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(subject = %subject, error = %e, "ignored a message that does not decode")
                        }
                    }
                }
            })
        };
        Ok(NatsRendezvous { client, subject, waiters, answerer, listener })
    }

    /// Envelopes whose completion is awaited here.
    pub fn awaited(&self) -> usize {
        self.waiters.len()
    }
}

impl Drop for NatsRendezvous {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Rendezvous for NatsRendezvous {
    fn address(&self) -> Option<String> {
        Some(self.subject.clone())
    }

    fn expect(&self, id: &str) -> tokio::sync::oneshot::Receiver<Completion> {
        self.waiters.expect(id)
    }

    fn abandon(&self, id: &str) {
        self.waiters.abandon(id);
    }

    fn answer_with(&self, answerer: Arc<dyn Answerer>) {
        *self.answerer.write().unwrap_or_else(|e| e.into_inner()) = Some(answerer);
    }

    async fn complete(&self, id: &str, reply_to: Option<&str>, completion: Completion) {
        let Some(reply_to) = reply_to else {
            // Queued in this process without an address: nobody waits elsewhere.
            self.waiters.complete(id, completion);
            return;
        };
        let wire = Wire::Done { id: id.to_string(), duplicate: completion == Completion::Duplicate };
        let payload = serde_json::to_vec(&wire).unwrap_or_default();
        if let Err(e) = self.client.publish(reply_to.to_string(), payload.into()).await {
            tracing::warn!(envelope = %id, error = %e, "cannot tell the ingress that the envelope is handled");
        }
    }

    async fn ask(
        &self,
        id: &str,
        reply_to: Option<&str>,
        question: serde_json::Value,
    ) -> Result<serde_json::Value, RendezvousError> {
        let reply_to = reply_to.ok_or(RendezvousError::NoAddress)?;
        let wire = Wire::Ask { id: id.to_string(), question };
        let payload = serde_json::to_vec(&wire).map_err(|e| RendezvousError::Unreachable(e.to_string()))?;
        let request = self.client.request(reply_to.to_string(), payload.into());
        let reply = match tokio::time::timeout(ASK_TIMEOUT, request).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(RendezvousError::Unreachable(e.to_string())),
            Err(_) => return Err(RendezvousError::Unreachable(format!("no answer within {ASK_TIMEOUT:?}"))),
        };
        serde_json::from_slice(&reply.payload).map_err(|e| RendezvousError::Unreachable(format!("bad answer: {e}")))
    }
}
