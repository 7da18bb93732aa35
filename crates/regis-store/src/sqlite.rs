//! The SQLite backend: a database file per plugin.

use crate::kv::{Dialect, SqlKv};
use crate::{install_drivers, now_ms};
use async_trait::async_trait;
use regis_core::storage::{Db, PluginStorage, StorageBackend, StorageError};
use regis_core::Migration;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One SQLite file per plugin under a data directory.
#[derive(Clone, Debug)]
pub struct SqliteBackend {
    data_dir: PathBuf,
    max_connections: u32,
    opened: Arc<Mutex<Vec<(PathBuf, AnyPool)>>>,
}

impl SqliteBackend {
    /// A backend keeping its files under `data_dir` (created when first needed).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SqliteBackend { data_dir: data_dir.into(), max_connections: 4, opened: Arc::default() }
    }

    /// The database file of `owner`.
    pub fn path_of(&self, owner: &str) -> PathBuf {
        if owner == "core" {
            self.data_dir.join("core.db")
        } else {
            self.data_dir.join("plugins").join(format!("{owner}.db"))
        }
    }

    /// Copies every database into `dir` (created if needed) as complete, consistent files
    /// (`VACUUM INTO`), while the bot may keep running; returns the files written.
    pub async fn backup(&self, dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
        std::fs::create_dir_all(dir.join("plugins"))
            .map_err(|source| StorageError::Io { path: dir.display().to_string(), source })?;
        let mut written = Vec::new();
        for (owner, source) in self.existing_files()? {
            let target =
                if owner == "core" { dir.join("core.db") } else { dir.join("plugins").join(format!("{owner}.db")) };
            if target.exists() {
                return Err(StorageError::Io {
                    path: target.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a backup file is already there"),
                });
            }
            let mut conn = open_connection(&source, "rw").await?;
            sqlx::query("VACUUM INTO $1")
                .bind(target.display().to_string())
                .execute(&mut conn)
                .await
                .map_err(|e| open_failed(&source, &e))?;
            let _ = sqlx::Connection::close(conn).await;
            written.push(target);
        }
        Ok(written)
    }

    /// The database files present: `core.db` and `plugins/*.db`, by owner.
    fn existing_files(&self) -> Result<Vec<(String, PathBuf)>, StorageError> {
        let mut files = Vec::new();
        let core = self.path_of("core");
        if core.exists() {
            files.push(("core".to_string(), core));
        }
        let plugins = self.data_dir.join("plugins");
        if plugins.is_dir() {
            let entries = std::fs::read_dir(&plugins)
                .map_err(|source| StorageError::Io { path: plugins.display().to_string(), source })?;
            let mut found: Vec<(String, PathBuf)> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "db"))
                .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p.clone())))
                .collect();
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }
}

/// The write-ahead log SQLite keeps beside a WAL database while it is open.
fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The error for a database file that cannot be used, naming it and SQLite's reason.
fn open_failed(path: &Path, error: &sqlx::Error) -> StorageError {
    let cause = match error {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    StorageError::Open { path: path.display().to_string(), cause }
}

/// One connection to `path` (`mode` is `rwc`, `rw` or `ro`, with other URI parameters after
/// it), checked by reading its schema: a file
/// that is not a database, or is damaged, fails here at once with SQLite's reason.
async fn open_connection(path: &Path, mode: &str) -> Result<sqlx::AnyConnection, StorageError> {
    install_drivers();
    let url = format!("sqlite://{}?mode={mode}", path.display());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.map_err(|e| open_failed(path, &e))?;
    sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await.map_err(|e| open_failed(path, &e))?;
    Ok(conn)
}

async fn connect(path: &Path, max_connections: u32) -> Result<AnyPool, StorageError> {
    install_drivers();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io { path: dir.display().to_string(), source })?;
    }
    // One connection first, which also switches the file to WAL (a write): a damaged file or
    // a read-only directory is reported now, by name, instead of as a pool timeout later.
    let mut probe = open_connection(path, "rwc").await?;
    sqlx::query("PRAGMA journal_mode = WAL").fetch_all(&mut probe).await.map_err(|e| open_failed(path, &e))?;
    sqlx::query("CREATE TABLE IF NOT EXISTS _regis_kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        .execute(&mut probe)
        .await
        .map_err(|e| open_failed(path, &e))?;
    let _ = sqlx::Connection::close(probe).await;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| open_failed(path, &e))?;
    Ok(pool)
}

async fn migrate(pool: &AnyPool, owner: &str, migrations: &[Migration]) -> Result<(), StorageError> {
    if migrations.iter().enumerate().any(|(i, m)| m.version as usize != i + 1) {
        return Err(StorageError::MigrationOrder(owner.to_string()));
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _regis_migrations (version INTEGER PRIMARY KEY NOT NULL, applied_ms INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM _regis_migrations")
        .fetch_one(pool)
        .await?
        .try_get("v")?;
    for migration in migrations.iter().filter(|m| i64::from(m.version) > applied) {
        let failed = |source| StorageError::Migration { owner: owner.to_string(), version: migration.version, source };
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let conn: &mut sqlx::AnyConnection = &mut tx;
        // Looked at again under the write lock: another process opening the same file at the
        // same time (a second worker) may have applied it since.
        let done = sqlx::query("SELECT version FROM _regis_migrations WHERE version = $1")
            .bind(i64::from(migration.version))
            .fetch_optional(&mut *conn)
            .await?;
        if done.is_some() {
            continue;
        }
        sqlx::Executor::execute(&mut *conn, migration.sql).await.map_err(failed)?;
        sqlx::query("INSERT INTO _regis_migrations (version, applied_ms) VALUES ($1, $2)")
            .bind(i64::from(migration.version))
            .bind(now_ms())
            .execute(&mut *conn)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(owner, version = migration.version, "applied migration");
    }
    Ok(())
}

#[async_trait]
impl StorageBackend for SqliteBackend {
    async fn verify(&self) -> Result<(), StorageError> {
        // Nothing is written before every existing file has been read: one damaged file
        // stops the bot before any other file is touched.
        for (_, path) in self.existing_files()? {
            // With no write-ahead log beside it nobody has the file open: read it immutable,
            // without locks and without leaving the `-shm`/`-wal` files a read-only connection
            // would create. With one, another connection may be writing (a bot still running,
            // or one that crashed): read through SQLite's locks, which also see the log.
            let mode = if wal_of(&path).exists() { "ro" } else { "ro&immutable=true" };
            let conn = open_connection(&path, mode).await?;
            let _ = sqlx::Connection::close(conn).await;
        }
        let core = self.path_of("core");
        let empty = std::fs::metadata(&core).map(|m| m.len() == 0).unwrap_or(true);
        let used_before = std::fs::read_dir(&self.data_dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with("core.db")))
        });
        if empty && used_before {
            tracing::warn!(
                path = %core.display(),
                data_dir = %self.data_dir.display(),
                "creating a new core database in a data directory that was used before: ranks, bans and plugin \
                 states start empty; if they were expected, stop now and check data_dir (or restore a backup)"
            );
        }
        Ok(())
    }

    async fn open(&self, owner: &str, migrations: &[Migration]) -> Result<PluginStorage, StorageError> {
        let path = self.path_of(owner);
        let pool = connect(&path, self.max_connections).await?;
        migrate(&pool, owner, migrations).await?;
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).push((path, pool.clone()));
        Ok(PluginStorage { kv: Arc::new(SqlKv { pool: pool.clone(), dialect: Dialect::Sqlite }), db: Db::new(pool) })
    }

    async fn close(&self) {
        let opened = std::mem::take(&mut *self.opened.lock().unwrap_or_else(|e| e.into_inner()));
        for (path, pool) in opened {
            // Move everything from the write-ahead log into the database file, so that the
            // `.db` file alone holds every row (a backup of `*.db` is complete).
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await {
                tracing::warn!(path = %path.display(), error = %e, "could not checkpoint the database at shutdown");
            }
            pool.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regis_core::Store;

    #[tokio::test]
    async fn kv_round_trip_prefix_and_atomic_update() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::new(dir.path());
        let storage = backend.open("dice", &[]).await.unwrap();
        assert!(backend.path_of("dice").exists());
        let store = Store::new(storage.kv);
        store.set("a:1", &vec![1, 2]).await.unwrap();
        store.set("a:2", &vec![3]).await.unwrap();
        store.set("b:1", &vec![9]).await.unwrap();
        assert_eq!(store.get::<Vec<i32>>("a:1").await.unwrap(), Some(vec![1, 2]));
        let listed = store.list::<Vec<i32>>("a:").await.unwrap();
        assert_eq!(listed, vec![("a:1".into(), vec![1, 2]), ("a:2".into(), vec![3])]);
        assert!(store.get::<String>("a:1").await.is_err(), "type mismatch is an error");
        assert!(store.delete("a:1").await.unwrap());
        assert!(!store.delete("a:1").await.unwrap());

        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.get::<u64>("n").await.unwrap(), Some(50));
    }

    #[tokio::test]
    async fn migrations_apply_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::new(dir.path());
        let v1 = [Migration { version: 1, sql: "CREATE TABLE questions (id INTEGER PRIMARY KEY, q TEXT NOT NULL);" }];
        let storage = backend.open("trivia", &v1).await.unwrap();
        sqlx::query("INSERT INTO questions (q) VALUES ($1)").bind("2+2?").execute(&*storage.db).await.unwrap();
        drop(storage);
        let v2 = [
            v1[0],
            Migration { version: 2, sql: "ALTER TABLE questions ADD COLUMN a TEXT; UPDATE questions SET a = '4';" },
        ];
        let storage = backend.open("trivia", &v2).await.unwrap();
        let row = sqlx::query("SELECT q, a FROM questions").fetch_one(&*storage.db).await.unwrap();
        assert_eq!(row.get::<String, _>("a"), "4");
        let bad = [Migration { version: 2, sql: "SELECT 1" }];
        assert!(matches!(backend.open("x", &bad).await, Err(StorageError::MigrationOrder(_))));
        let broken = [Migration { version: 1, sql: "CREATE TABLE nope (" }];
        let err = backend.open("y", &broken).await.err().unwrap().to_string();
        assert!(err.contains("migration 1 of `y` failed"), "{err}");
        let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&*storage.db).await.unwrap().get(0);
        assert_eq!(mode, "wal");
    }

    /// `verify` before a start must not misread a file another connection is writing (a bot
    /// still running on the data dir, or a start that failed a moment ago).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_reads_a_database_that_another_connection_is_writing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::new(dir.path());
        let storage = backend.open("core", &[]).await.unwrap();
        let db = storage.db.clone();
        let writing = tokio::spawn(async move {
            for i in 0..400 {
                let value = "x".repeat(4000 + i);
                sqlx::query("INSERT OR REPLACE INTO _regis_kv (key, value) VALUES ($1, $2)")
                    .bind(format!("k{}", i % 50))
                    .bind(value)
                    .execute(&*db)
                    .await
                    .unwrap();
                if i % 4 == 0 {
                    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&*db).await.unwrap();
                }
            }
        });
        let reader = SqliteBackend::new(dir.path());
        while !writing.is_finished() {
            reader.verify().await.unwrap();
        }
        writing.await.unwrap();
    }
}
