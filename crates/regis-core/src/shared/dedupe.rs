//! Redelivery dedupe: a record per envelope id, claimed while it is handled and answered once
//! its replies are sent, so that a redelivered envelope (a queue's at-least-once delivery, a
//! Gateway replay, a receiver that retried a publish) runs once and answers once.

use super::StateError;
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What claiming an envelope found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody handled it: this delivery handles it now.
    Fresh,
    /// Another delivery of it is being handled now: look again later.
    Running,
    /// It was handled, its replies sent: nothing to do.
    Answered,
}

/// The dedupe records of a bot.
#[async_trait]
pub trait Dedupe: Send + Sync + 'static {
    /// Claims envelope `id` for handling.
    async fn claim(&self, id: &str) -> Result<Claim, StateError>;
    /// Envelope `id` was handled and its replies sent.
    async fn answered(&self, id: &str) -> Result<(), StateError>;
    /// The claim on `id` this process holds is given up without an answer: another delivery
    /// may handle it. (A claim another worker took over since is left alone.)
    async fn release(&self, id: &str) -> Result<(), StateError>;
}

/// The claims one process holds in a shared store, each with the token it was stamped with (a
/// revision, a time): what a release may give up, and nothing another worker took over since.
/// Only this process's own record of what it wrote; the decision is the store's (a delete that
/// expects the token).
pub struct HeldClaims<T> {
    held: Mutex<HashMap<String, T>>,
}

impl<T> Default for HeldClaims<T> {
    fn default() -> Self {
        HeldClaims { held: Mutex::default() }
    }
}

impl<T> HeldClaims<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, T>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This process claimed `id`, stamping it with `token`.
    pub fn hold(&self, id: &str, token: T) {
        self.lock().insert(id.to_string(), token);
    }

    /// The claim on `id` ends (answered, or given up): its token, if this process held it.
    pub fn end(&self, id: &str) -> Option<T> {
        self.lock().remove(id)
    }
}

/// The records in this process's memory: the envelopes being handled, and the last `window`
/// answered ones.
pub struct InProcessDedupe {
    window: usize,
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    state: HashMap<String, Claim>,
    answered: VecDeque<String>,
}

impl InProcessDedupe {
    /// Remembers the last `window` answered envelopes.
    pub fn new(window: usize) -> Self {
        InProcessDedupe { window: window.max(1), records: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Dedupe for InProcessDedupe {
    async fn claim(&self, id: &str) -> Result<Claim, StateError> {
        let mut records = self.lock();
        match records.state.get(id) {
            Some(found) => Ok(*found),
            None => {
                records.state.insert(id.to_string(), Claim::Running);
                Ok(Claim::Fresh)
            }
        }
    }

    async fn answered(&self, id: &str) -> Result<(), StateError> {
        let mut records = self.lock();
        if records.state.insert(id.to_string(), Claim::Answered) != Some(Claim::Answered) {
            records.answered.push_back(id.to_string());
        }
        while records.answered.len() > self.window {
            if let Some(old) = records.answered.pop_front() {
                records.state.remove(&old);
            }
        }
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), StateError> {
        let mut records = self.lock();
        if records.state.get(id) == Some(&Claim::Running) {
            records.state.remove(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_envelope_is_claimed_once_answered_once_and_forgotten_past_the_window() {
        let dedupe = InProcessDedupe::new(2);
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Fresh));
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Running), "a second delivery while the first runs");
        dedupe.release("a").await.unwrap();
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Fresh), "released: another delivery may run it");
        dedupe.answered("a").await.unwrap();
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Answered));
        dedupe.release("a").await.unwrap();
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Answered), "an answer is never released");
        for id in ["b", "c"] {
            assert_eq!(dedupe.claim(id).await, Ok(Claim::Fresh));
            dedupe.answered(id).await.unwrap();
        }
        assert_eq!(dedupe.claim("a").await, Ok(Claim::Fresh), "past the window of two");
    }
}
