//! The real services the scale-out tests talk to, as `scripts/test` provides them: NATS with
//! JetStream at `TEST_NATS_URL` and PostgreSQL at `TEST_DATABASE_URL` (each defaulting to the
//! server on its usual local port), and the clean-up of a test's PostgreSQL schemas.

use regis_core::sqlx::{self, Row};

/// A variable's value, or `default` when it is unset or empty.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.into())
}

/// The NATS server (JetStream) of the tests.
pub fn nats_url() -> String {
    env_or("TEST_NATS_URL", "nats://127.0.0.1:4222")
}

/// The PostgreSQL database of the tests.
pub fn database_url() -> String {
    env_or("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
}

/// Drops every schema of bot `bot` (`"<bot>:<owner>"`) in `database`. Panics if it cannot
/// (this is test code).
pub async fn drop_schemas(database: &str, bot: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database).await.expect("the test database");
    let schemas = sqlx::query("SELECT nspname::text AS name FROM pg_namespace WHERE starts_with(nspname::text, $1)")
        .bind(format!("{bot}:"))
        .fetch_all(&pool)
        .await
        .expect("the bot's schemas");
    for row in schemas {
        let name: String = row.get("name");
        sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE")).execute(&pool).await.expect("a schema dropped");
    }
}
