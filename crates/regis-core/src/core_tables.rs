//! The core's own tables, in the storage named `core`: timers and schedules.

use crate::plugin::Migration;

/// The core's migrations, applied in order when a bot starts.
pub(crate) const CORE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "CREATE TABLE regis_timers (
            id TEXT PRIMARY KEY NOT NULL,
            plugin TEXT NOT NULL,
            topic TEXT NOT NULL,
            due_ms BIGINT NOT NULL,
            lease_until_ms BIGINT NOT NULL,
            envelope TEXT NOT NULL
        );
        CREATE INDEX regis_timers_due ON regis_timers (due_ms)",
    },
    Migration {
        version: 2,
        sql: "ALTER TABLE regis_timers ADD COLUMN every_ms BIGINT NOT NULL DEFAULT 0;
        CREATE TABLE regis_schedules (
            plugin TEXT NOT NULL,
            name TEXT NOT NULL,
            spec TEXT NOT NULL,
            next_ms BIGINT NOT NULL,
            lease_until_ms BIGINT NOT NULL,
            PRIMARY KEY (plugin, name)
        )",
    },
];

/// Applies every core migration to a fresh database (for the unit tests of timers and
/// schedules).
#[cfg(test)]
pub(crate) async fn test_db() -> crate::storage::Db {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("an in-memory SQLite database");
    for migration in CORE_MIGRATIONS {
        sqlx::raw_sql(migration.sql).execute(&pool).await.expect("the core migrations apply");
    }
    crate::storage::Db::new(pool)
}
