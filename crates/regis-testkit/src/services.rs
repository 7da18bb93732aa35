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

/// A server process of a benchmark's or test's own, killed when dropped.
pub struct PrivateServer(std::process::Child);

impl PrivateServer {
    /// The process id (to read its CPU time).
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

/// Waits up to a minute until something listens on `port`; panics naming `what` otherwise.
fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn spawn_quiet(command: &mut std::process::Command, what: &str) -> PrivateServer {
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    PrivateServer(child)
}

/// A private nats-server with JetStream, storing in `dir`, and its URL.
pub fn private_nats(dir: &std::path::Path) -> (PrivateServer, String) {
    let port = free_port();
    let server = spawn_quiet(
        std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir),
        "nats-server (Debian's package)",
    );
    wait_for_port(port, "nats-server");
    (server, format!("nats://127.0.0.1:{port}"))
}

/// A private Google Pub/Sub emulator (`TEST_PUBSUB_EMULATOR_BIN`, default the Debian
/// package's), and its `host:port` for `PUBSUB_EMULATOR_HOST`.
pub fn private_pubsub_emulator() -> (PrivateServer, String) {
    let bin = env_or(
        "TEST_PUBSUB_EMULATOR_BIN",
        "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
    );
    let port = free_port();
    let server = spawn_quiet(
        std::process::Command::new(&bin).args(["--host=127.0.0.1", &format!("--port={port}")]),
        &format!("the Pub/Sub emulator ({bin})"),
    );
    wait_for_port(port, "the Pub/Sub emulator");
    (server, format!("127.0.0.1:{port}"))
}
