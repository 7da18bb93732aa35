//! The key-value table `_regis_kv` of one owner's database (a SQLite file, or a PostgreSQL
//! schema on `search_path`): the same SQL on both, apart from how a transaction that updates a
//! key keeps concurrent updaters (also in other processes) out, and how keys sort.

use async_trait::async_trait;
use regis_core::storage::{KvBackend, StorageError};
use sqlx::{AnyPool, Row};

/// Which database a [`SqlKv`] is on.
pub(crate) enum Dialect {
    /// SQLite: `BEGIN IMMEDIATE` takes the file's write lock up front.
    Sqlite,
    /// PostgreSQL: an advisory lock on the key, for the transaction.
    Postgres {
        /// The owner's schema (part of the lock's key).
        schema: String,
    },
}

/// The key-value table of one owner.
pub(crate) struct SqlKv {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
}

const UPSERT: &str =
    "INSERT INTO _regis_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

#[async_trait]
impl KvBackend for SqlKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        let row =
            sqlx::query("SELECT value FROM _regis_kv WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        sqlx::query(UPSERT).bind(key).bind(value).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM _regis_kv WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StorageError> {
        // Byte order on both: SQLite's default, PostgreSQL's collation "C".
        let query = match self.dialect {
            Dialect::Sqlite => "SELECT key, value FROM _regis_kv WHERE substr(key, 1, length($1)) = $1 ORDER BY key",
            Dialect::Postgres { .. } => {
                "SELECT key, value FROM _regis_kv WHERE substr(key, 1, length($1)) = $1 ORDER BY key COLLATE \"C\""
            }
        };
        let rows = sqlx::query(query).bind(prefix).fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| Ok((r.try_get("key")?, r.try_get("value")?))).collect()
    }

    async fn update(
        &self,
        key: &str,
        update: &mut (dyn for<'v> FnMut(Option<&'v str>) -> Result<String, StorageError> + Send),
    ) -> Result<String, StorageError> {
        let mut tx = match &self.dialect {
            // The write lock up front, so concurrent updates serialize instead of failing on
            // lock upgrade.
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres { schema } => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(crate::postgres::lock_key(&["regis-kv", schema, key]))
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let old: Option<String> = sqlx::query("SELECT value FROM _regis_kv WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("value"))
            .transpose()?;
        let new = update(old.as_deref())?;
        sqlx::query(UPSERT).bind(key).bind(&new).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(new)
    }
}
