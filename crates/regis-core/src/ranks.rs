//! Who has which rank: owners from the configuration, stored ranks, and session overrides.

use crate::envelope::UserRef;
use crate::rank::Rank;
use crate::shared::{Change, ChangeFeed};
use crate::storage::{StorageError, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The rank book: owners (fixed at 999), ranks stored in the core's store (cached), and
/// in-memory overrides that a local connector may set for a session (console `--rank`).
pub(crate) struct Ranks {
    owners: HashSet<String>,
    store: Store,
    changes: Arc<dyn ChangeFeed>,
    cache: Mutex<HashMap<String, Rank>>,
    overrides: Mutex<HashMap<String, Rank>>,
}

fn key(user: &UserRef) -> String {
    format!("rank:{}", user.key())
}

impl Ranks {
    pub(crate) fn new(owners: impl IntoIterator<Item = String>, store: Store, changes: Arc<dyn ChangeFeed>) -> Self {
        Ranks {
            owners: owners.into_iter().collect(),
            store,
            changes,
            cache: Mutex::default(),
            overrides: Mutex::default(),
        }
    }

    /// Drops a cached rank, after another process changed it.
    pub(crate) fn forget(&self, identity: &str) {
        lock(&self.cache).remove(identity);
    }

    /// Drops every cached rank.
    pub(crate) fn forget_all(&self) {
        lock(&self.cache).clear();
    }

    /// Whether the user is an owner from the configuration: their own identity or the one
    /// they are linked to is listed.
    pub(crate) fn is_owner(&self, user: &UserRef) -> bool {
        self.owners.contains(&user.key()) || self.owners.contains(&user.identity())
    }

    /// The user's effective rank: the person's, when the identity is linked.
    pub(crate) async fn rank_of(&self, user: &UserRef) -> Result<Rank, StorageError> {
        let overrides = lock(&self.overrides).get(&user.identity()).copied();
        if let Some(rank) = overrides {
            return Ok(rank);
        }
        if self.is_owner(user) {
            return Ok(Rank::OWNER);
        }
        let identity = user.key();
        if let Some(rank) = lock(&self.cache).get(&identity) {
            return Ok(*rank);
        }
        let rank = self.store.get::<Rank>(&key(user)).await?.unwrap_or_default();
        lock(&self.cache).insert(identity, rank);
        Ok(rank)
    }

    /// Stores a rank (owners keep 999 whatever is stored).
    pub(crate) async fn set(&self, user: &UserRef, rank: Rank) -> Result<(), StorageError> {
        if rank == Rank::EVERYONE {
            self.store.delete(&key(user)).await?;
        } else {
            self.store.set(&key(user), &rank).await?;
        }
        lock(&self.cache).insert(user.key(), rank);
        // Every other process drops what it cached: a ban holds everywhere at once.
        if let Err(e) = self.changes.announce(Change::Rank { identity: user.key() }).await {
            tracing::warn!(identity = %user.key(), error = %e, "the rank was stored, but other processes were not told");
        }
        Ok(())
    }

    /// Sets an in-memory rank for this process only (for this identity, linked or not).
    pub(crate) fn set_override(&self, user: &UserRef, rank: Rank) {
        lock(&self.overrides).insert(user.identity(), rank);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
