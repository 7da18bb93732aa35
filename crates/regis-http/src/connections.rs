//! The open connections, oldest first, each with whether a request is in progress on it: what
//! the listener needs to make room at its cap by closing the oldest connection that serves
//! nobody (idle between requests, or still sending its headers).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One open connection, as the registry and the connection's task share it.
#[derive(Debug, Default)]
pub(crate) struct Connection {
    /// Requests whose response is not yet produced.
    busy: AtomicUsize,
    /// Told to close now (the listener needs its slot).
    evicted: Notify,
}

impl Connection {
    /// Resolves when the listener closes this connection to make room.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// Marks a request in progress until the guard is dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        RequestGuard(Arc::clone(self))
    }

    /// No request is in progress on it.
    pub(crate) fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// A request in progress on a connection.
pub(crate) struct RequestGuard(Arc<Connection>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections by age.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
    next: std::sync::atomic::AtomicU64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection; returns its key and its shared state.
    pub(crate) fn add(&self) -> (u64, Arc<Connection>) {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection::default());
        self.lock().insert(key, Arc::clone(&connection));
        (key, connection)
    }

    /// Forgets a closed connection.
    pub(crate) fn remove(&self, key: u64) {
        self.lock().remove(&key);
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the oldest connection with no request in progress; false when every open
    /// connection is serving a request.
    pub(crate) fn evict_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let victim = open.iter().find(|(_, c)| c.is_idle()).map(|(key, _)| *key);
        match victim.and_then(|key| open.remove(&key)) {
            Some(connection) => {
                connection.evicted.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_evicted_first() {
        let registry = Registry::default();
        let (_, first) = registry.add();
        let (_, second) = registry.add();
        let (_, third) = registry.add();
        let _busy = first.begin_request();
        assert!(registry.evict_oldest_idle());
        assert_eq!(registry.len(), 2);
        // The eviction is remembered until the connection's task looks.
        tokio::time::timeout(std::time::Duration::from_secs(1), second.evicted()).await.unwrap();
        let _busy_too = third.begin_request();
        assert!(!registry.evict_oldest_idle(), "every connection left is serving a request");
    }
}
