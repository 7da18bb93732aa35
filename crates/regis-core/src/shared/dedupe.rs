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
    /// The claim on `id` is given up without an answer: another delivery may handle it.
    async fn release(&self, id: &str) -> Result<(), StateError>;
    /// How long a claim holds before another delivery may take it over (its worker died), if
    /// claims expire. (A delivery that meets a [`Claim::Running`] waits, claiming again every
    /// second, rather than going back to the queue: each return there would count as a
    /// delivery, and the queue allows only so many.)
    fn claim_lifetime(&self) -> Option<std::time::Duration> {
        None
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
