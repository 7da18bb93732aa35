//! Confirmations: [`Ctx::ask`](crate::Ctx::ask) puts a question to the invoking user and waits
//! for their next message in the channel, or their click on the question's Yes/No buttons.
//!
//! The question is open while the asking handler waits: it is announced on the change feed
//! (every worker keeps the open questions in `OpenQuestions`, so the worker that receives
//! the answer, whichever it is, knows it is one), and the answer travels back over the shared
//! event fan-out on the question's own topic. While it waits the handler is parked: the worker
//! that ran it goes on taking envelopes, and the wait does not count against the handler
//! timeout.

use crate::envelope::{Envelope, UserRef};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::Notify;

/// The custom id of a question's buttons, after the plugin's prefix: `regis-ask:<id>:yes`.
pub(crate) const BUTTON_PREFIX: &str = "regis-ask:";
/// The event topic an answer to question `id` is published under.
pub(crate) fn answer_topic(id: &str) -> String {
    format!("regis.ask.{id}")
}

/// What [`Ctx::ask`](crate::Ctx::ask) got back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "text", rename_all = "snake_case")]
pub enum Answer {
    /// The user clicked "Yes".
    Yes,
    /// The user clicked "No".
    No,
    /// The user's next message in the channel, as they wrote it.
    Text(String),
    /// No answer within the time given.
    TimedOut,
}

impl Answer {
    /// Whether it is a yes: the button, or a message such as `yes`, `y`, `ok` (any case).
    pub fn is_yes(&self) -> bool {
        match self {
            Answer::Yes => true,
            Answer::Text(text) => {
                matches!(text.trim().to_lowercase().as_str(), "yes" | "y" | "ok" | "okay" | "sure" | "yep" | "confirm")
            }
            Answer::No | Answer::TimedOut => false,
        }
    }

    /// Whether it is a no: the button, or a message such as `no`, `n`, `cancel`.
    pub fn is_no(&self) -> bool {
        match self {
            Answer::No => true,
            Answer::Text(text) => {
                matches!(text.trim().to_lowercase().as_str(), "no" | "n" | "nope" | "cancel" | "stop")
            }
            Answer::Yes | Answer::TimedOut => false,
        }
    }
}

/// Who a question waits for and where.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Asked {
    /// The connector.
    pub connector: String,
    /// The channel (empty outside channels).
    pub channel: String,
    /// The user's identity, `connector:id`.
    pub user: String,
}

impl Asked {
    /// The sender and channel of `envelope`.
    pub(crate) fn of(envelope: &Envelope) -> Self {
        Asked {
            connector: envelope.source.clone(),
            channel: envelope.channel.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            user: envelope.author.key(),
        }
    }

    /// Whether `user` is the one asked.
    pub(crate) fn is(&self, user: &UserRef) -> bool {
        self.user == user.key()
    }
}

/// The questions open now, in any process of the bot, as this process heard of them.
#[derive(Default)]
pub(crate) struct OpenQuestions {
    by_who: RwLock<HashMap<Asked, (String, u64)>>,
    by_id: RwLock<HashMap<String, Asked>>,
}

impl OpenQuestions {
    /// Question `id` waits for `who` until `until_ms`.
    pub(crate) fn open(&self, id: &str, who: Asked, until_ms: u64) {
        // Questions whose handler never closed them (it was cancelled, its process died)
        // go once past their time.
        let now = crate::envelope::now_ms();
        let mut by_who = write(&self.by_who);
        let mut by_id = write(&self.by_id);
        by_who.retain(|_, (open, until)| {
            let live = *until >= now;
            if !live {
                by_id.remove(open.as_str());
            }
            live
        });
        by_id.insert(id.to_string(), who.clone());
        by_who.insert(who, (id.to_string(), until_ms));
    }

    /// Question `id` is answered, or its asker stopped waiting.
    pub(crate) fn close(&self, id: &str) {
        if let Some(who) = write(&self.by_id).remove(id) {
            let mut by_who = write(&self.by_who);
            if by_who.get(&who).is_some_and(|(open, _)| open == id) {
                by_who.remove(&who);
            }
        }
    }

    /// The open question `envelope`'s sender is asked in its channel, if any (not past its
    /// time at `now_ms`).
    pub(crate) fn waiting_for(&self, envelope: &Envelope, now_ms: u64) -> Option<String> {
        let by_who = read(&self.by_who);
        by_who.get(&Asked::of(envelope)).filter(|(_, until)| *until >= now_ms).map(|(id, _)| id.clone())
    }

    /// Who question `id` is for, while it is open.
    pub(crate) fn asked(&self, id: &str, now_ms: u64) -> Option<Asked> {
        let who = read(&self.by_id).get(id).cloned()?;
        let live = read(&self.by_who).get(&who).is_some_and(|(open, until)| open == id && *until >= now_ms);
        live.then_some(who)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Lets the worker running a handler go on with other envelopes while the handler waits for
/// an answer, and lengthens the handler's timeout by the wait.
#[derive(Default)]
pub(crate) struct Park {
    parked: AtomicBool,
    wake: Notify,
    extra_ms: AtomicU64,
}

impl Park {
    /// The handler is about to wait up to `wait`: its worker may leave it.
    pub(crate) fn park(&self, wait: Duration) {
        self.extra_ms.fetch_add(wait.as_millis().min(u64::MAX as u128) as u64, Ordering::AcqRel);
        if !self.parked.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// Resolves once the handler parked (never, if it does not).
    pub(crate) async fn parked(&self) {
        while !self.parked.load(Ordering::Acquire) {
            self.wake.notified().await;
        }
    }

    /// How much longer than the handler timeout the handler may take.
    pub(crate) fn extra(&self) -> Duration {
        Duration::from_millis(self.extra_ms.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_are_read_from_buttons_and_words() {
        assert!(Answer::Yes.is_yes() && Answer::Text(" Yes ".into()).is_yes() && Answer::Text("ok".into()).is_yes());
        assert!(Answer::No.is_no() && Answer::Text("CANCEL".into()).is_no());
        assert!(!Answer::Text("maybe".into()).is_yes() && !Answer::Text("maybe".into()).is_no());
        assert!(!Answer::TimedOut.is_yes() && !Answer::TimedOut.is_no());
    }

    #[test]
    fn a_closed_question_is_no_longer_waited_for() {
        let open = OpenQuestions::default();
        let envelope = Envelope::message("test", UserRef::new("test", "ann"), "yes");
        open.open("q1", Asked::of(&envelope), 1_000);
        assert_eq!(open.waiting_for(&envelope, 999), Some("q1".into()));
        assert_eq!(open.waiting_for(&envelope, 1_001), None, "past its time");
        assert!(open.asked("q1", 999).is_some() && open.asked("q1", 1_001).is_none());
        let bob = Envelope::message("test", UserRef::new("test", "bob"), "yes");
        assert_eq!(open.waiting_for(&bob, 999), None, "asked of ann only");
        open.close("q1");
        assert_eq!(open.waiting_for(&envelope, 999), None);
        assert_eq!(open.asked("q1", 999), None);
    }
}
