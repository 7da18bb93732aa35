//! Per-plugin persistence: a typed key-value [`Store`] and the plugin's own SQL database
//! ([`Db`]). Backends (SQLite here, PostgreSQL later) implement [`StorageBackend`]; plugins only
//! see `Store` and `Db`, so switching backends does not touch them.

use crate::plugin::Migration;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be read as the requested type, or a value could not be written.
    #[error("value for key `{key}` does not fit the requested type: {source}")]
    Serde {
        /// The key.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A migration failed; names the plugin and version.
    #[error("migration {version} of `{owner}` failed: {source}")]
    Migration {
        /// The plugin.
        owner: String,
        /// The migration's version.
        version: u32,
        /// The database error.
        source: sqlx::Error,
    },
    /// Migrations must be numbered 1, 2, 3, ...
    #[error("migrations of `{0}` must be numbered 1, 2, 3, ... in order")]
    MigrationOrder(String),
    /// A database file cannot be opened or read (damaged, not a database, read-only).
    #[error("cannot use database {path}: {cause}")]
    Open {
        /// The file.
        path: String,
        /// SQLite's reason.
        cause: String,
    },
    /// The data directory or file could not be used.
    #[error("storage I/O error at {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether the failure is of the database being unreachable or busy for now (a lost
    /// connection, a pool that timed out, a server shutting down, a locked SQLite file), rather
    /// than of the request: worth trying again later.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Database(e) | StorageError::Migration { source: e, .. } => sqlx_transient(e),
            _ => false,
        }
    }
}

fn sqlx_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: connection exceptions (08…), server shutting down or starting (57P0…),
            // too many connections (53300); SQLite: busy, locked (5, 6).
            code.starts_with("08") || code.starts_with("57P0") || code == "53300" || code == "5" || code == "6"
        }
        _ => false,
    }
}

/// The raw key-value operations a backend provides; values are JSON text.
#[async_trait]
pub trait KvBackend: Send + Sync {
    /// The value of `key`.
    async fn get(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Sets `key`.
    async fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Deletes `key`; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, StorageError>;
    /// All keys starting with `prefix`, with values, in key order.
    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StorageError>;
    /// Atomically replaces the value of `key` with `update(old)`; returns the new value.
    async fn update(
        &self,
        key: &str,
        update: &mut (dyn for<'v> FnMut(Option<&'v str>) -> Result<String, StorageError> + Send),
    ) -> Result<String, StorageError>;
}

/// The storage one plugin gets.
#[derive(Clone)]
pub struct PluginStorage {
    /// Its key-value store.
    pub kv: Arc<dyn KvBackend>,
    /// Its own SQL database (with its migrations applied).
    pub db: Db,
}

/// Where plugins' storage lives (a data directory of SQLite files, a PostgreSQL server, ...).
#[async_trait]
pub trait StorageBackend: Send + Sync + 'static {
    /// Checks, before anything is opened for writing, that the stored data can be used (no
    /// damaged file, a writable place); an error names the file and the cause. The default
    /// checks nothing.
    async fn verify(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// Opens the storage of `owner` (a plugin name, or `core`), creating it if needed, and
    /// applies its migrations in order, each once.
    async fn open(&self, owner: &str, migrations: &[Migration]) -> Result<PluginStorage, StorageError>;

    /// Closes everything opened, leaving the stored data complete on disk (called once, at
    /// shutdown, when no handler runs any more). The default does nothing.
    async fn close(&self) {}
}

/// A plugin's own SQL database: an [`sqlx::AnyPool`] confined to the plugin (its own SQLite
/// file, or later its own PostgreSQL schema). Use it with `sqlx::query`; `$1`-style
/// placeholders work on both backends.
#[derive(Clone, Debug)]
pub struct Db {
    pool: sqlx::AnyPool,
}

impl Db {
    /// Wraps a pool (used by backends).
    pub fn new(pool: sqlx::AnyPool) -> Self {
        Db { pool }
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}

impl std::ops::Deref for Db {
    type Target = sqlx::AnyPool;
    fn deref(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}

/// A plugin's typed key-value store: values are any serde type, stored as JSON.
///
/// ```ignore
/// let n: u64 = ctx.store().update("rolls:alice", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
/// ```
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn KvBackend>,
}

impl Store {
    /// A store over a backend.
    pub fn new(kv: Arc<dyn KvBackend>) -> Self {
        Store { kv }
    }

    /// The value of `key`, if set.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        match self.kv.get(key).await? {
            Some(text) => decode(key, &text).map(Some),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let text = encode(key, value)?;
        self.kv.set(key, &text).await
    }

    /// Deletes `key`; whether it was set.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.kv.delete(key).await
    }

    /// All entries whose key starts with `prefix`, in key order.
    pub async fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>, StorageError> {
        self.kv.list_prefix(prefix).await?.into_iter().map(|(k, v)| decode(&k, &v).map(|value| (k, value))).collect()
    }

    /// Atomically replaces the value of `key` by `f(old)` and returns the new value.
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, StorageError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Option<T>) -> T + Send,
    {
        let mut f = Some(f);
        let mut apply = |old: Option<&str>| -> Result<String, StorageError> {
            let old = old.map(|text| decode::<T>(key, text)).transpose()?;
            let f = f.take().ok_or_else(|| StorageError::Io {
                path: key.to_string(),
                source: std::io::Error::other("update function called twice"),
            })?;
            encode(key, &f(old))
        };
        let text = self.kv.update(key, &mut apply).await?;
        decode(key, &text)
    }
}

fn decode<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|source| StorageError::Serde { key: key.to_string(), source })
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|source| StorageError::Serde { key: key.to_string(), source })
}
