//! The core's own tables, in the storage named `core`: timers, schedules and linked identities.

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
    Migration {
        version: 3,
        sql: "CREATE TABLE regis_links (
            identity TEXT PRIMARY KEY NOT NULL,
            person TEXT NOT NULL,
            linked_ms BIGINT NOT NULL
        );
        CREATE INDEX regis_links_person ON regis_links (person);
        CREATE TABLE regis_link_codes (
            code TEXT PRIMARY KEY NOT NULL,
            person TEXT NOT NULL,
            issuer TEXT NOT NULL,
            by_owner BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL
        )",
    },
];

/// How long the timer and schedule loop sleeps at most between looks at a table (rows set by
/// other workers, and those another worker took and did not queue, are found within this).
const POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// The shortest sleep between looks, so that clocks a little apart never make a busy loop.
const MIN_SLEEP: std::time::Duration = std::time::Duration::from_millis(5);

/// How long to sleep before looking at a table again, given when its next row is due
/// (milliseconds since the Unix epoch): until then, within [`MIN_SLEEP`] and [`POLL`].
pub(crate) fn sleep_until(next_due: Result<Option<u64>, crate::storage::StorageError>) -> std::time::Duration {
    match next_due {
        Ok(Some(due)) => {
            std::time::Duration::from_millis(due.saturating_sub(crate::envelope::now_ms())).clamp(MIN_SLEEP, POLL)
        }
        Ok(None) | Err(_) => POLL,
    }
}

/// A time in milliseconds as a `BIGINT` column holds it (the largest, far in the future).
pub(crate) fn to_db(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A `BIGINT` time column read back (a negative one as the epoch).
pub(crate) fn from_db(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

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
