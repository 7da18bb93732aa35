//! `ctx.user` on IRC: a `WHOIS` asked through the connection, its answer (`311` … `318`, or
//! `401` for no such nick) handed back to the waiting lookup, and remembered for a while.

use crate::waiters::Waiters;
use regis_core::UserInfo;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a WHOIS answer is reused.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(300);

/// The lookups waiting for an answer, the answers coming in, and those remembered.
#[derive(Default)]
pub(crate) struct Lookups {
    waiting: Waiters<Option<UserInfo>>,
    found: Mutex<HashMap<String, UserInfo>>,
    cache: Mutex<HashMap<String, (Option<UserInfo>, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lookups {
    /// A remembered answer for `nick`, if fresh.
    pub(crate) fn cached(&self, nick: &str) -> Option<Option<UserInfo>> {
        let cache = lock(&self.cache);
        cache.get(&nick.to_lowercase()).filter(|(_, at)| at.elapsed() < CACHE_FOR).map(|(info, _)| info.clone())
    }

    /// Waits for the next answer about `nick`; whether a WHOIS must be sent (none is out yet).
    pub(crate) fn wait(&self, nick: &str) -> (oneshot::Receiver<Option<UserInfo>>, bool) {
        self.waiting.wait(nick)
    }

    /// `311`: the user exists.
    pub(crate) fn user(&self, nick: &str) {
        lock(&self.found).insert(nick.to_lowercase(), UserInfo { id: nick.into(), name: nick.into(), bot: false });
    }

    /// `318` or `401`: the answer about `nick` is complete.
    pub(crate) fn end(&self, nick: &str) {
        let key = nick.to_lowercase();
        let info = lock(&self.found).remove(&key);
        lock(&self.cache).insert(key, (info.clone(), Instant::now()));
        self.waiting.answer(nick, info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_whois_answers_every_waiting_lookup_and_is_remembered() {
        let lookups = Lookups::default();
        let (first, send) = lookups.wait("Ann");
        let (second, again) = lookups.wait("ann");
        assert!(send && !again, "one WHOIS for both");
        lookups.user("Ann");
        lookups.end("Ann");
        assert_eq!(first.await.unwrap().map(|u| u.id), Some("Ann".into()));
        assert!(second.await.unwrap().is_some());
        assert!(lookups.cached("ANN").unwrap().is_some());
        let (nobody, _) = lookups.wait("bob");
        lookups.end("bob");
        assert_eq!(nobody.await.unwrap(), None);
        assert_eq!(lookups.cached("bob"), Some(None));
    }
}
