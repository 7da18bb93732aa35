//! The shared state of a bot whose queue has no store of its own (Google Cloud Pub/Sub), all in
//! PostgreSQL (`TEST_DATABASE_URL`): two workers, each with its own connections to the shared
//! tables and to the data, pass the same checks as workers sharing NATS (a ban, a rank, a
//! cooldown, a plugin switch and an event hold across them).

use regis_core::StorageBackend;
use regis_store::{PostgresBackend, PostgresShared};
use regis_testkit::services::{database_url, drop_schemas};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_a_cooldown_a_plugin_switch_and_an_event_hold_across_workers_on_postgresql_alone() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let bot = format!("pgshared-{nanos:08x}");
    let database = database_url();
    let state = || async {
        let shared = PostgresShared::connect(&database, &bot).await.expect("PostgreSQL");
        shared.state(Duration::from_secs(5)).await.expect("the shared state")
    };
    let storage = || -> Arc<dyn StorageBackend> { Arc::new(PostgresBackend::new(database.clone(), bot.clone())) };
    regis_testkit::workers::check_shared_state_on(state().await, state().await, [storage(), storage()]).await;
    drop_schemas(&database, &bot).await;
}
