//! An interaction answered across processes: it was received by the ingress of one process (an
//! HTTP receiver, a Gateway) and is handled by a worker in another. Only the ingress can
//! decide the first response (it holds the HTTP request, or the callback), so the worker asks
//! it through the [`Rendezvous`] before each of its first replies, deferral or suggestions, and
//! the ingress answers from its [`Pending`] record, under the same lock that decides between
//! an inline answer and the budget's deferral. The worker then keeps a record of its own, so
//! later replies of the same handler are routed without asking.

use crate::convert::InteractionHandle;
use crate::pending::{Answer, Pending, Route, Slot};
use regis_core::shared::{Answerer, Rendezvous};
use regis_core::{Attachment, Envelope, Reply};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A worker's question about an interaction.
#[derive(Serialize, Deserialize)]
#[serde(tag = "question", rename_all = "snake_case")]
enum Question {
    /// How should this reply be delivered? (Attachments travel as names only: a reply with
    /// files is never given inline.)
    Reply {
        reply: Reply,
        /// Who asks: the worker process's rendezvous address.
        asker: String,
    },
    /// The handler defers (`ctx.defer()`).
    Defer { ephemeral: bool },
    /// Autocomplete suggestions.
    Suggest { choices: Vec<String> },
    /// The edit of the original response the ingress granted has been sent.
    Sent,
}

/// The ingress's answer.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "verdict", rename_all = "snake_case")]
enum Verdict {
    /// The ingress answered with the reply itself.
    Inline,
    /// Edit the original response (the ingress deferred, publicly or not).
    EditOriginal { public: bool },
    /// Post a follow-up.
    FollowUp,
    /// Deferral noted.
    Deferred,
    /// Suggestions given (or too late).
    Suggested { taken: bool },
    /// Another worker's run of the envelope answered already: send nothing.
    AlreadyAnswered,
    /// The sent edit is noted.
    Noted,
}

/// The ingress side: answers questions from the [`Pending`] record of the connector that
/// received the interactions.
pub(crate) struct PendingAnswers(pub(crate) Arc<Pending>);

impl Answerer for PendingAnswers {
    fn answer(&self, envelope_id: &str, question: serde_json::Value) -> serde_json::Value {
        let verdict = match serde_json::from_value::<Question>(question) {
            Ok(Question::Reply { reply, asker }) => match self.0.route_asked(envelope_id, &reply, &asker) {
                Some(Route::Inline(tx)) => match tx.send(Answer::Message(reply)) {
                    Ok(()) => Verdict::Inline,
                    // The HTTP request is gone (the client hung up).
                    Err(_) => Verdict::FollowUp,
                },
                Some(Route::DeferThenEdit(tx)) => {
                    let _ = tx.send(Answer::Defer { ephemeral: reply.ephemeral });
                    Verdict::EditOriginal { public: !reply.ephemeral }
                }
                Some(Route::EditOriginal { public }) => Verdict::EditOriginal { public },
                Some(Route::FollowUp) => Verdict::FollowUp,
                Some(Route::AnsweredElsewhere) => Verdict::AlreadyAnswered,
                // Forgotten: its handler finished long ago and this is a redelivery.
                None => Verdict::EditOriginal { public: true },
            },
            Ok(Question::Defer { ephemeral }) => {
                self.0.defer(envelope_id, ephemeral);
                Verdict::Deferred
            }
            Ok(Question::Suggest { choices }) => Verdict::Suggested { taken: self.0.suggest(envelope_id, choices) },
            Ok(Question::Sent) => {
                self.0.confirm(envelope_id);
                Verdict::Noted
            }
            Err(e) => return serde_json::json!({ "error": format!("not a question: {e}") }),
        };
        serde_json::to_value(verdict).unwrap_or_default()
    }
}

/// Installs `pending`'s answers on the ingress side of `rendezvous`.
pub(crate) fn answer_from(rendezvous: &Arc<dyn Rendezvous>, pending: Arc<Pending>) {
    rendezvous.answer_with(Arc::new(PendingAnswers(pending)));
}

/// The worker side: whether `origin` can be asked about (it came from another process).
pub(crate) fn is_remote(origin: &Envelope, pending: &Pending) -> bool {
    origin.reply_to.is_some() && !pending.knows(&origin.id)
}

async fn ask(rendezvous: &dyn Rendezvous, origin: &Envelope, question: Question) -> Option<Verdict> {
    let question = serde_json::to_value(question).ok()?;
    match rendezvous.ask(&origin.id, origin.reply_to.as_deref(), question).await {
        Ok(answer) => match serde_json::from_value(answer.clone()) {
            Ok(verdict) => Some(verdict),
            Err(_) => {
                tracing::warn!(envelope = %origin.id, answer = %answer, "the ingress gave no verdict");
                None
            }
        },
        Err(e) => {
            tracing::info!(envelope = %origin.id, error = %e, "cannot ask the ingress; taking the interaction as deferred");
            None
        }
    }
}

/// How to deliver a reply to an interaction another process received; recorded here.
pub(crate) async fn route(
    rendezvous: &dyn Rendezvous,
    pending: &Pending,
    origin: &Envelope,
    handle: &InteractionHandle,
    reply: &Reply,
) -> Route {
    let mut light = reply.clone();
    for file in &mut light.attachments {
        *file = Attachment { name: std::mem::take(&mut file.name), content_type: String::new(), data: Vec::new() };
    }
    // Unreachable ingress: it deferred at its budget, or died before answering (then the
    // edit fails, as the interaction failed for the user).
    let asker = rendezvous.address().unwrap_or_default();
    let verdict = ask(rendezvous, origin, Question::Reply { reply: light, asker })
        .await
        .unwrap_or(Verdict::EditOriginal { public: true });
    let (slot, route) = match verdict {
        Verdict::Inline => (Slot::Answered, Route::AnsweredElsewhere),
        Verdict::AlreadyAnswered => {
            tracing::info!(envelope = %origin.id, "answered by an earlier delivery's run; this reply is not sent");
            (Slot::Answered, Route::AnsweredElsewhere)
        }
        Verdict::EditOriginal { public } => (Slot::Deferred { public, edited: true }, Route::EditOriginal { public }),
        Verdict::FollowUp | Verdict::Deferred | Verdict::Suggested { .. } | Verdict::Noted => {
            (Slot::Answered, Route::FollowUp)
        }
    };
    pending.record(&origin.id, handle, slot);
    route
}

/// Tells the ingress that the edit it granted has been sent, so that a later delivery's run
/// (this worker dying now) is not granted it again.
pub(crate) async fn confirm(rendezvous: &dyn Rendezvous, origin: &Envelope) {
    let _ = ask(rendezvous, origin, Question::Sent).await;
}

/// A deferral of an interaction another process received; recorded here.
pub(crate) async fn defer(
    rendezvous: &dyn Rendezvous,
    pending: &Pending,
    origin: &Envelope,
    handle: &InteractionHandle,
) {
    let _ = ask(rendezvous, origin, Question::Defer { ephemeral: false }).await;
    pending.record(&origin.id, handle, Slot::Deferred { public: true, edited: false });
}

/// Suggestions for an autocomplete another process received; whether they were in time.
pub(crate) async fn suggest(rendezvous: &dyn Rendezvous, origin: &Envelope, choices: Vec<String>) -> bool {
    matches!(ask(rendezvous, origin, Question::Suggest { choices }).await, Some(Verdict::Suggested { taken: true }))
}
