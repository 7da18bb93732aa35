//! Lookups waiting for the server's answer about a name (a nick's WHOIS, a channel's NAMES):
//! one question out per name at a time, and every lookup waiting on it answered together.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The lookups waiting, by name (IRC names are case-insensitive).
pub(crate) struct Waiters<T> {
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<T>>>>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters { waiting: Mutex::default() }
    }
}

impl<T: Clone> Waiters<T> {
    /// Waits for the next answer about `name`; whether the question must be sent (none is out).
    pub(crate) fn wait(&self, name: &str) -> (oneshot::Receiver<T>, bool) {
        let (sender, receiver) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let list = waiting.entry(name.to_lowercase()).or_default();
        list.push(sender);
        (receiver, list.len() == 1)
    }

    /// Whether a lookup waits for an answer about `name`.
    pub(crate) fn is_waiting(&self, name: &str) -> bool {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&name.to_lowercase())
    }

    /// Hands `answer` to every lookup waiting about `name`.
    pub(crate) fn answer(&self, name: &str, answer: T) {
        let senders = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&name.to_lowercase());
        for sender in senders.unwrap_or_default() {
            let _ = sender.send(answer.clone());
        }
    }
}
