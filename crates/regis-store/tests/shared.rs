//! The shared state in PostgreSQL (`TEST_DATABASE_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres), as two workers see it: two connections of one
//! bot, each test on a bot name of its own.

use regis_core::cooldown::{CooldownScope, CooldownSpec};
use regis_core::shared::{Change, Claim};
use regis_core::{Envelope, Event, SharedState, UserRef};
use regis_store::{PgRateLimit, PostgresShared};
use std::sync::Arc;
use std::time::Duration;

fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn bot_name(test: &str) -> String {
    format!("shared-{test}-{:08x}", fastrand::u32(..))
}

/// Two workers' views of bot `bot`'s shared state.
async fn two_workers(bot: &str, claim_ttl: Duration) -> (SharedState, SharedState, PostgresShared) {
    let first = PostgresShared::connect(&database_url(), bot).await.expect("PostgreSQL");
    let second = PostgresShared::connect(&database_url(), bot).await.expect("PostgreSQL");
    let a = first.state(claim_ttl).await.unwrap();
    let b = second.state(claim_ttl).await.unwrap();
    (a, b, first)
}

async fn drop_bot(bot: &str) {
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{bot}:_shared\" CASCADE")).execute(&pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_concurrent_claims_across_workers_one_wins_and_an_answer_holds_everywhere() {
    let bot = bot_name("claim");
    let (a, b, _) = two_workers(&bot, Duration::from_secs(60)).await;
    let mut claims = Vec::new();
    for i in 0..20 {
        let dedupe = if i % 2 == 0 { a.dedupe.clone() } else { b.dedupe.clone() };
        claims.push(tokio::spawn(async move { dedupe.claim("envelope-1").await.unwrap() }));
    }
    let mut fresh = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Claim::Fresh => fresh += 1,
            Claim::Running => {}
            Claim::Answered => panic!("nobody answered it"),
        }
    }
    assert_eq!(fresh, 1, "exactly one worker runs the envelope");
    a.dedupe.answered("envelope-1").await.unwrap();
    assert_eq!(b.dedupe.claim("envelope-1").await, Ok(Claim::Answered));
    b.dedupe.release("envelope-1").await.unwrap();
    assert_eq!(a.dedupe.claim("envelope-1").await, Ok(Claim::Answered), "an answer is never released");
    // A released claim may be taken by another worker at once.
    assert_eq!(a.dedupe.claim("envelope-2").await, Ok(Claim::Fresh));
    assert_eq!(b.dedupe.claim("envelope-2").await, Ok(Claim::Running));
    a.dedupe.release("envelope-2").await.unwrap();
    assert_eq!(b.dedupe.claim("envelope-2").await, Ok(Claim::Fresh));
    drop_bot(&bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_claim_is_taken_over_once_it_expires() {
    let bot = bot_name("expire");
    let (a, b, _) = two_workers(&bot, Duration::from_secs(2)).await;
    assert_eq!(a.dedupe.claim("e").await, Ok(Claim::Fresh));
    assert_eq!(b.dedupe.claim("e").await, Ok(Claim::Running), "a live claim holds");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(b.dedupe.claim("e").await, Ok(Claim::Fresh), "the claim of a worker that died is taken over");
    assert_eq!(a.dedupe.claim("e").await, Ok(Claim::Running), "by one worker only");
    // The first worker was not dead after all: giving up its claim leaves the new one alone.
    a.dedupe.release("e").await.unwrap();
    assert_eq!(a.dedupe.claim("e").await, Ok(Claim::Running), "the second worker's claim holds");
    drop_bot(&bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_holds_across_workers() {
    let bot = bot_name("cooldown");
    let (a, b, _) = two_workers(&bot, Duration::from_secs(60)).await;
    let spec = CooldownSpec { uses: 3, per: Duration::from_secs(30), scope: CooldownScope::User };
    let mut allowed = 0;
    let mut waits = Vec::new();
    for i in 0..6 {
        let counters = if i % 2 == 0 { &a.cooldowns } else { &b.cooldowns };
        match counters.try_use("roll", "user:1", &spec).await.unwrap() {
            Ok(()) => allowed += 1,
            Err(wait) => waits.push(wait),
        }
    }
    assert_eq!(allowed, 3, "three uses in all, not three per worker");
    assert!(waits.iter().all(|w| *w > Duration::from_secs(25) && *w <= Duration::from_secs(30)), "{waits:?}");
    assert_eq!(a.cooldowns.try_use("roll", "user:2", &spec).await.unwrap(), Ok(()), "another key has its own");
    drop_bot(&bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_and_events_small_and_large_reach_every_worker() {
    let bot = bot_name("feed");
    let (a, b, _) = two_workers(&bot, Duration::from_secs(60)).await;
    let mut heard = b.changes.subscribe();
    let mut heard_here = a.changes.subscribe();
    let change = Change::Plugin { name: "dice".into(), enabled: false };
    a.changes.announce(change.clone()).await.unwrap();
    let within = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(within, heard.recv()).await.unwrap().unwrap(), change);
    assert_eq!(tokio::time::timeout(within, heard_here.recv()).await.unwrap().unwrap(), change, "and by itself");

    let mut subscription = b.events.subscribe("scores");
    let envelope = Arc::new(Envelope::message("console", UserRef::named("console", "1", "ada"), "!go"));
    let small = Event { topic: "scores".into(), data: serde_json::json!({"ada": 1}), envelope: envelope.clone() };
    // Past the 8000 bytes a notification may carry: it travels through a row.
    let large = Event { topic: "scores".into(), data: serde_json::json!({"board": "x".repeat(20_000)}), envelope };
    // In publishing order, though the large one's body is read from its row.
    let sent = [&small, &large, &small, &large, &small];
    for event in sent {
        a.events.publish(event).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in sent {
        let event = tokio::time::timeout(within, subscription.next()).await.expect("an event").expect("open");
        got.push(event.data.to_string().len());
    }
    let expected: Vec<usize> = sent.iter().map(|e| e.data.to_string().len()).collect();
    assert_eq!(got, expected);
    drop_bot(&bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_rate_is_shared_by_every_worker() {
    let bot = bot_name("rate");
    let first = PostgresShared::connect(&database_url(), &bot).await.unwrap();
    let second = PostgresShared::connect(&database_url(), &bot).await.unwrap();
    // 22 per second: 2 per 100 ms window, for both workers together.
    let limits: [Arc<PgRateLimit>; 2] = [Arc::new(first.rate_limit(22)), Arc::new(second.rate_limit(22))];
    assert_eq!(limits[0].per_window(), 2);
    let mut takers = Vec::new();
    for i in 0..16 {
        let limit = Arc::clone(&limits[i % 2]);
        takers.push(tokio::spawn(async move { limit.acquire_window().await.unwrap() }));
    }
    let mut per_window = std::collections::BTreeMap::<i64, u32>::new();
    for taker in takers {
        *per_window.entry(taker.await.unwrap()).or_default() += 1;
    }
    assert!(per_window.values().all(|n| *n <= 2), "at most 2 requests in any window, from both: {per_window:?}");
    assert!(per_window.len() >= 8, "16 requests need 8 windows: {per_window:?}");
    drop_bot(&bot).await;
}
