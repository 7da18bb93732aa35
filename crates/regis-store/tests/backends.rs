//! The same storage checks on both backends: SQLite in a temporary directory, and a real
//! PostgreSQL server (`TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres),
//! each test on a bot name of its own whose schemas it drops at the end. "Several workers" are
//! several backends on the same directory or database, each with its own connections.

use regis_core::storage::StorageBackend;
use regis_core::{Migration, Store};
use regis_store::{PostgresBackend, SqliteBackend};
use sqlx::Row;
use std::sync::Arc;

fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Where a test's backends live; dropping it removes their data.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { bot: String },
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres(test: &str) -> Place {
        Place::Postgres { bot: format!("{test}-{:06x}", fastrand::u32(..0xff_ffff)) }
    }

    /// A backend, as one worker opens it.
    fn backend(&self) -> Arc<dyn StorageBackend> {
        match self {
            Place::Sqlite(dir) => Arc::new(SqliteBackend::new(dir.path())),
            Place::Postgres { bot } => Arc::new(PostgresBackend::new(database_url(), bot.clone())),
        }
    }

    async fn clean(&self) {
        if let Place::Postgres { bot } = self {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&database_url()).await.unwrap();
            let schemas =
                sqlx::query("SELECT nspname::text AS nspname FROM pg_namespace WHERE starts_with(nspname::text, $1)")
                    .bind(format!("{bot}:"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            for row in schemas {
                let name: String = row.get("nspname");
                sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE")).execute(&pool).await.unwrap();
            }
        }
    }
}

/// Runs `check` on a SQLite place and a PostgreSQL place.
macro_rules! on_both {
    ($sqlite:ident, $postgres:ident, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let place = Place::sqlite();
            $check(&place).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let place = Place::postgres(stringify!($check));
            $check(&place).await;
            place.clean().await;
        }
    };
}

async fn key_values(place: &Place) {
    let backend = place.backend();
    backend.verify().await.unwrap();
    let store = Store::new(backend.open("dice", &[]).await.unwrap().kv);
    store.set("a:1", &vec![1, 2]).await.unwrap();
    store.set("a:a", &vec![4]).await.unwrap();
    store.set("a:B", &vec![3]).await.unwrap();
    store.set("b:1", &vec![9]).await.unwrap();
    assert_eq!(store.get::<Vec<i32>>("a:1").await.unwrap(), Some(vec![1, 2]));
    let keys: Vec<String> = store.list::<Vec<i32>>("a:").await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a:1", "a:B", "a:a"], "byte order on both backends");
    assert!(store.get::<String>("a:1").await.is_err(), "a type mismatch is an error");
    assert!(store.delete("a:1").await.unwrap());
    assert!(!store.delete("a:1").await.unwrap());
    // Another owner's store is another namespace.
    let other = Store::new(backend.open("trivia", &[]).await.unwrap().kv);
    assert_eq!(other.get::<Vec<i32>>("b:1").await.unwrap(), None);
    backend.close().await;
}
on_both!(sqlite_key_values, postgres_key_values, key_values);

async fn updates_from_several_workers_serialize(place: &Place) {
    let workers: Vec<_> = (0..3).map(|_| place.backend()).collect();
    let mut stores = Vec::new();
    for worker in &workers {
        stores.push(Store::new(worker.open("dice", &[]).await.unwrap().kv));
    }
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move { store.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(stores[0].get::<u64>("n").await.unwrap(), Some(60), "no update lost");
    for worker in workers {
        worker.close().await;
    }
}
on_both!(
    sqlite_updates_from_several_workers_serialize,
    postgres_updates_from_several_workers_serialize,
    updates_from_several_workers_serialize
);

const V1: Migration = Migration { version: 1, sql: "CREATE TABLE questions (id BIGINT PRIMARY KEY, q TEXT NOT NULL)" };
const V2: Migration = Migration {
    version: 2,
    sql: "ALTER TABLE questions ADD COLUMN a TEXT; INSERT INTO questions (id, q, a) VALUES (1, '2+2?', '4');",
};

async fn migrations_apply_once_in_order(place: &Place) {
    let backend = place.backend();
    let storage = backend.open("trivia", &[V1]).await.unwrap();
    sqlx::query("INSERT INTO questions (id, q) VALUES ($1, $2)")
        .bind(7_i64)
        .bind("sky?")
        .execute(&*storage.db)
        .await
        .unwrap();
    let storage = backend.open("trivia", &[V1, V2]).await.unwrap();
    let rows = sqlx::query("SELECT q, a FROM questions ORDER BY id").fetch_all(&*storage.db).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<String, _>("a"), "4");
    let again = backend.open("trivia", &[V1, V2]).await.unwrap();
    let count: i64 = sqlx::query("SELECT count(*) AS n FROM questions").fetch_one(&*again.db).await.unwrap().get("n");
    assert_eq!(count, 2, "an applied migration does not run again");
    let out_of_order = [Migration { version: 2, sql: "SELECT 1" }];
    assert!(matches!(backend.open("x", &out_of_order).await, Err(regis_core::StorageError::MigrationOrder(_))));
    let broken = [Migration { version: 1, sql: "CREATE TABLE half (id BIGINT); CREATE TABLE nope (" }];
    let err = backend.open("y", &broken).await.err().unwrap().to_string();
    assert!(err.contains("migration 1 of `y` failed"), "{err}");
    backend.close().await;
}
on_both!(
    sqlite_migrations_apply_once_in_order,
    postgres_migrations_apply_once_in_order,
    migrations_apply_once_in_order
);

async fn workers_starting_together_migrate_once(place: &Place) {
    let migrations = [
        Migration { version: 1, sql: "CREATE TABLE starts (worker BIGINT)" },
        Migration { version: 2, sql: "INSERT INTO starts (worker) VALUES (1)" },
    ];
    let workers: Vec<_> = (0..4).map(|_| place.backend()).collect();
    let opened = futures::future::join_all(workers.iter().map(|w| w.open("race", &migrations))).await;
    let mut dbs = Vec::new();
    for storage in opened {
        dbs.push(storage.expect("every worker opens the storage").db);
    }
    let count: i64 = sqlx::query("SELECT count(*) AS n FROM starts").fetch_one(&*dbs[0]).await.unwrap().get("n");
    assert_eq!(count, 1, "the data migration ran once for four workers");
    for worker in workers {
        worker.close().await;
    }
}
on_both!(
    sqlite_workers_starting_together_migrate_once,
    postgres_workers_starting_together_migrate_once,
    workers_starting_together_migrate_once
);

async fn plugins_tables_are_their_own(place: &Place) {
    let backend = place.backend();
    let table = [Migration { version: 1, sql: "CREATE TABLE notes (text TEXT NOT NULL)" }];
    let (a, b) = (backend.open("alpha", &table).await.unwrap(), backend.open("beta", &table).await.unwrap());
    sqlx::query("INSERT INTO notes (text) VALUES ($1)").bind("from alpha").execute(&*a.db).await.unwrap();
    let count: i64 = sqlx::query("SELECT count(*) AS n FROM notes").fetch_one(&*b.db).await.unwrap().get("n");
    assert_eq!(count, 0, "beta's notes are not alpha's");
    backend.close().await;
}
on_both!(sqlite_plugins_tables_are_their_own, postgres_plugins_tables_are_their_own, plugins_tables_are_their_own);

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = PostgresBackend::new(format!("postgres://bot:hunter2@127.0.0.1:{port}/regis"), "regis");
    let err = backend.verify().await.expect_err("nothing listens there").to_string();
    assert!(err.contains(&format!("postgres://bot:***@127.0.0.1:{port}/regis")), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
