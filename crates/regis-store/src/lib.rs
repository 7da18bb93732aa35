//! Storage backends for Regis. [`SqliteBackend`] keeps one SQLite database file per plugin
//! under the data directory (`plugins/<name>.db`, WAL mode), holding the plugin's key-value
//! store and its own tables, created on first use; the core's own data (ranks, plugin states)
//! lives in `core.db` beside them.

mod sqlite;

pub use sqlite::SqliteBackend;
