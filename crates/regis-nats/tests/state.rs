//! The shared state over a real nats-server: two test bots, each with its own NATS connection
//! (as two processes have), on one data directory, behave as two workers of one bot.

use regis_core::shared::Claim;
use regis_core::SharedState;
use std::time::Duration;

use regis_testkit::services::nats_url as url;

fn bot_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("state-{:08x}", nanos ^ std::process::id().rotate_left(16))
}

async fn state(bot: &str) -> SharedState {
    regis_nats::connect_state(&url(), bot, Duration::from_millis(500)).await.expect("a nats-server with JetStream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_a_cooldown_a_plugin_switch_and_an_event_hold_across_workers() {
    let bot = bot_name();
    regis_testkit::workers::check_shared_state(state(&bot).await, state(&bot).await).await;
}

/// The same with every worker's data (ranks, bans, plugin states) in PostgreSQL
/// (`TEST_DATABASE_URL`), each worker with its own connections, instead of SQLite files on one
/// directory: the deployment of workers on several machines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_hold_with_the_data_in_postgresql() {
    let bot = bot_name();
    let database = regis_testkit::services::database_url();
    let storage = || -> std::sync::Arc<dyn regis_core::StorageBackend> {
        std::sync::Arc::new(regis_store::PostgresBackend::new(database.clone(), bot.clone()))
    };
    regis_testkit::workers::check_shared_state_on(state(&bot).await, state(&bot).await, [storage(), storage()]).await;
    regis_testkit::services::drop_schemas(&database, &bot).await;
}

#[tokio::test]
async fn a_claim_is_won_once_and_taken_over_when_its_worker_is_gone() {
    let bot = bot_name();
    let (one, two) = (state(&bot).await, state(&bot).await);
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Fresh));
    assert_eq!(two.dedupe.claim("discord-message-1").await, Ok(Claim::Running), "the other worker holds it");
    // The claim's holder died: past the claim TTL (500 ms here) another worker takes it over.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(two.dedupe.claim("discord-message-1").await, Ok(Claim::Fresh));
    // The first holder was not dead after all: giving up its claim leaves the new one alone.
    one.dedupe.release("discord-message-1").await.unwrap();
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Running), "the takeover holds");
    two.dedupe.answered("discord-message-1").await.unwrap();
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Answered));
    one.dedupe.release("discord-message-1").await.unwrap();
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Answered), "an answer is never released");
    assert_eq!(one.dedupe.claim("console:ann spaces/and:colons").await, Ok(Claim::Fresh), "any id is a key");
    one.dedupe.release("console:ann spaces/and:colons").await.unwrap();
    assert_eq!(two.dedupe.claim("console:ann spaces/and:colons").await, Ok(Claim::Fresh), "released");
}
