//! The shared state over a real nats-server: two test bots, each with its own NATS connection
//! (as two processes have), on one data directory, behave as two workers of one bot.

use regis_core::shared::Claim;
use regis_core::SharedState;
use regis_macros::plugin;
use regis_testkit::TestBot;
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("REGIS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn bot_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("state-{:08x}", nanos ^ std::process::id().rotate_left(16))
}

async fn state(bot: &str) -> SharedState {
    regis_nats::connect_state(&url(), bot, Duration::from_millis(500)).await.expect("a nats-server with JetStream")
}

/// Commands to exercise the shared decisions.
pub struct Work;

#[plugin]
impl Work {
    /// Answer, at most twice per minute per user.
    #[command(cooldown = "2 per 60s per user")]
    async fn limited(&self, _ctx: &regis_core::Ctx) -> regis_core::Result<&'static str> {
        Ok("done")
    }

    /// Wait for the next message, wherever it is handled.
    #[command]
    async fn listen(&self, ctx: &regis_core::Ctx) -> regis_core::Result<String> {
        let mut messages = ctx.subscribe("message");
        ctx.reply("listening").await?;
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(event)) => Ok(format!("heard: {}", event.text().unwrap_or_default())),
            _ => Ok("heard nothing".into()),
        }
    }
}

async fn two_workers() -> (TestBot, TestBot) {
    let bot = bot_name();
    let first = TestBot::builder().plugin(Work).owner("boss").shared_state(state(&bot).await).start().await;
    let second = TestBot::builder()
        .plugin(Work)
        .owner("boss")
        .shared_state(state(&bot).await)
        .data_dir(first.data_dir())
        .start()
        .await;
    (first, second)
}

async fn until(bot: &TestBot, user: &str, line: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = bot.send_as(user, line).await.text();
        if check(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "`{line}` still answers {text:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_a_cooldown_a_plugin_switch_and_an_event_hold_across_workers() {
    let (a, b) = two_workers().await;
    // Ranks: cached on the second worker, changed on the first.
    assert_eq!(b.send_as("alice", "!rank").await.text(), "alice has rank 0.");
    assert_eq!(a.send_as("boss", "!ban @alice").await.text(), "alice is banned.");
    until(&b, "boss", "!rank @alice", |t| t == "alice has rank -1.").await;
    assert!(b.send_as("alice", "!ping").await.is_empty(), "banned on the other worker too");
    // Cooldowns: two uses in all.
    assert_eq!(a.send_as("carol", "!limited").await.text(), "done");
    assert_eq!(b.send_as("carol", "!limited").await.text(), "done");
    assert!(a.send_as("carol", "!limited").await.text().starts_with("`limited` is cooling down"));
    assert!(b.send_as("carol", "!limited").await.text().starts_with("`limited` is cooling down"));
    // Plugin switches.
    assert_eq!(a.send_as("boss", "!plugin disable work").await.text(), "Plugin `work` disabled.");
    until(&b, "dave", "!plugins", |t| t.contains("work       disabled")).await;
    assert_eq!(a.send_as("boss", "!plugin enable work").await.text(), "Plugin `work` enabled.");
    until(&b, "dave", "!plugins", |t| t.contains("work       enabled")).await;
    // An event handled on one worker reaches a subscription on the other.
    let b = std::sync::Arc::new(b);
    let listening = {
        let b = std::sync::Arc::clone(&b);
        tokio::spawn(async move { b.send_as("erin", "!listen").await.text() })
    };
    b.wait_for_sent(Duration::from_secs(5), "listening", |s| s.reply.text == "listening").await;
    a.send_as("frank", "the answer is 42").await;
    assert_eq!(listening.await.unwrap(), "listening\nheard: the answer is 42");
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
    two.dedupe.answered("discord-message-1").await.unwrap();
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Answered));
    one.dedupe.release("discord-message-1").await.unwrap();
    assert_eq!(one.dedupe.claim("discord-message-1").await, Ok(Claim::Answered), "an answer is never released");
    assert_eq!(one.dedupe.claim("console:ann spaces/and:colons").await, Ok(Claim::Fresh), "any id is a key");
    one.dedupe.release("console:ann spaces/and:colons").await.unwrap();
    assert_eq!(two.dedupe.claim("console:ann spaces/and:colons").await, Ok(Claim::Fresh), "released");
}
