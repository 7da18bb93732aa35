//! Storage backends for Regis.
//!
//! - [`SqliteBackend`] (the default) keeps one SQLite database file per plugin under the data
//!   directory (`plugins/<name>.db`, WAL mode), holding the plugin's key-value store and its
//!   own tables, created on first use; the core's own data (ranks, plugin states) lives in
//!   `core.db` beside them.
//! - [`PostgresBackend`] keeps the same in one PostgreSQL database, a schema per plugin, for
//!   workers in several processes.
//! - [`PostgresShared`] keeps a scaled-out bot's shared state (redelivery records, cooldowns,
//!   the change feed, events, the shared request rate) in PostgreSQL, for queues that have no
//!   store of their own (Google Cloud Pub/Sub).

mod kv;
mod postgres;
mod shared;
mod sqlite;

pub use postgres::PostgresBackend;
pub use shared::{PgRateLimit, PostgresShared};
pub use sqlite::SqliteBackend;

/// Installs sqlx's drivers for `AnyPool` (once per process).
pub(crate) fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
