//! The PostgreSQL backend, for a bot whose workers run in several processes: one database
//! server, a schema per owner (`"<bot>:<plugin>"`, and `"<bot>:core"` for ranks and plugin
//! states), holding its key-value table and its own tables.
//!
//! - Each owner's pool sets `search_path` to its schema, so a plugin's SQL names its tables
//!   unqualified, as on SQLite. (The schemas keep plugins' tables apart by name; they share one
//!   database role, as SQLite plugins share one directory.)
//! - Migrations run in one transaction under a transaction-scoped advisory lock per schema:
//!   workers that start together wait for the first, which applies them; the others find
//!   them applied. PostgreSQL's DDL is transactional, so a failed migration leaves nothing.
//! - A key-value update holds an advisory lock on its key for its transaction, so concurrent
//!   updates from every worker serialize.

use crate::kv::{Dialect, SqlKv};
use async_trait::async_trait;
use regis_core::storage::{Db, PluginStorage, StorageBackend, StorageError};
use regis_core::Migration;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections per owner's pool: a few, since every plugin of every worker has one.
const POOL_SIZE: u32 = 3;

/// One schema per owner in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresBackend {
    url: String,
    bot_name: String,
    opened: Arc<Mutex<Vec<AnyPool>>>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend").field("url", &shown_url(&self.url)).field("bot_name", &self.bot_name).finish()
    }
}

/// The URL with any password replaced, for messages.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

impl PostgresBackend {
    /// The storage of bot `bot_name` on the server at `url` (`postgres://user@host/db`).
    pub fn new(url: impl Into<String>, bot_name: impl Into<String>) -> Self {
        PostgresBackend { url: url.into(), bot_name: bot_name.into(), opened: Arc::default() }
    }

    /// The schema of `owner`.
    pub fn schema_of(&self, owner: &str) -> String {
        format!("{}:{owner}", self.bot_name)
    }

    fn failed(&self, error: &sqlx::Error) -> StorageError {
        let cause = match error {
            sqlx::Error::Database(db) => db.message().to_string(),
            other => other.to_string(),
        };
        StorageError::Open { path: shown_url(&self.url), cause }
    }

    async fn pool(&self, schema: &str) -> Result<AnyPool, StorageError> {
        crate::install_drivers();
        let search_path = format!("SET search_path TO {}", quoted(schema));
        AnyPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, search_path.as_str()).await?;
                    Ok(())
                })
            })
            .connect(&self.url)
            .await
            .map_err(|e| self.failed(&e))
    }
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A stable 64-bit key for an advisory lock (FNV-1a).
pub(crate) fn lock_key(parts: &[&str]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash as i64
}

async fn migrate(pool: &AnyPool, schema: &str, owner: &str, migrations: &[Migration]) -> Result<(), StorageError> {
    if migrations.iter().enumerate().any(|(i, m)| m.version as usize != i + 1) {
        return Err(StorageError::MigrationOrder(owner.to_string()));
    }
    let mut tx = pool.begin().await?;
    let conn: &mut sqlx::AnyConnection = &mut tx;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(&["regis-migrate", schema]))
        .execute(&mut *conn)
        .await?;
    sqlx::Executor::execute(&mut *conn, format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(schema)).as_str()).await?;
    sqlx::Executor::execute(
        &mut *conn,
        "CREATE TABLE IF NOT EXISTS _regis_kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS _regis_migrations (version BIGINT PRIMARY KEY NOT NULL, applied_ms BIGINT NOT NULL);",
    )
    .await?;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0)::BIGINT AS v FROM _regis_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    for migration in migrations.iter().filter(|m| i64::from(m.version) > applied) {
        let failed = |source| StorageError::Migration { owner: owner.to_string(), version: migration.version, source };
        sqlx::Executor::execute(&mut *conn, migration.sql).await.map_err(failed)?;
        sqlx::query("INSERT INTO _regis_migrations (version, applied_ms) VALUES ($1, $2)")
            .bind(i64::from(migration.version))
            .bind(crate::now_ms())
            .execute(&mut *conn)
            .await
            .map_err(failed)?;
        tracing::info!(owner, version = migration.version, "applied migration");
    }
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl StorageBackend for PostgresBackend {
    async fn verify(&self) -> Result<(), StorageError> {
        crate::install_drivers();
        let mut conn =
            <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url).await.map_err(|e| self.failed(&e))?;
        sqlx::query("SELECT 1").execute(&mut conn).await.map_err(|e| self.failed(&e))?;
        let _ = sqlx::Connection::close(conn).await;
        Ok(())
    }

    async fn open(&self, owner: &str, migrations: &[Migration]) -> Result<PluginStorage, StorageError> {
        let schema = self.schema_of(owner);
        if schema.len() > 63 {
            return Err(StorageError::Open {
                path: schema,
                cause: "bot_name and plugin name together exceed PostgreSQL's 63-byte schema names".into(),
            });
        }
        let pool = self.pool(&schema).await?;
        migrate(&pool, &schema, owner, migrations).await?;
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).push(pool.clone());
        let kv = SqlKv { pool: pool.clone(), dialect: Dialect::Postgres { schema } };
        Ok(PluginStorage { kv: Arc::new(kv), db: Db::new(pool) })
    }

    async fn close(&self) {
        let opened = std::mem::take(&mut *self.opened.lock().unwrap_or_else(|e| e.into_inner()));
        for pool in opened {
            pool.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages_and_names_are_quoted() {
        assert_eq!(shown_url("postgres://bot:hunter2@db/regis"), "postgres://bot:***@db/regis");
        assert_eq!(shown_url("postgres://bot@db/regis"), "postgres://bot@db/regis");
        assert_eq!(quoted("a\"b:c"), "\"a\"\"b:c\"");
        assert_ne!(lock_key(&["a", "bc"]), lock_key(&["ab", "c"]));
    }
}
