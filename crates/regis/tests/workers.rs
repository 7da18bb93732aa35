//! Two bots sharing one data directory and one `SharedState` behave as two workers of one bot:
//! what is decided on one holds on the other (a ban, a rank, a cooldown, a plugin switch, an
//! event for a live subscription). The in-process shared state stands in for the distributed
//! one here; both go through the same seams.

use regis::prelude::*;
use regis::SharedState;
use regis_testkit::TestBot;
use std::time::{Duration, Instant};

/// Commands to exercise the shared decisions.
pub struct Work;

#[plugin]
impl Work {
    /// Answer, at most twice per minute per user.
    #[command(cooldown = "2 per 60s per user")]
    async fn limited(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("done")
    }

    /// Wait for the next message, wherever it is handled.
    #[command]
    async fn listen(&self, ctx: &Ctx) -> Result<String> {
        let mut messages = ctx.subscribe("message");
        ctx.reply("listening").await?;
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(event)) => Ok(format!("heard: {}", event.text().unwrap_or_default())),
            _ => Ok("heard nothing".into()),
        }
    }
}

async fn two_workers() -> (TestBot, TestBot) {
    let shared = SharedState::in_process(1000);
    let first = TestBot::builder().plugin(Work).owner("boss").shared_state(shared.clone()).start().await;
    let second =
        TestBot::builder().plugin(Work).owner("boss").shared_state(shared).data_dir(first.data_dir()).start().await;
    (first, second)
}

/// Asks `bot` until `check` holds for the answer to `line` (changes reach the other worker
/// a moment later, as they would over the network).
async fn until(bot: &TestBot, user: &str, line: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = bot.send_as(user, line).await.text();
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "`{line}` still answers {text:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_and_a_rank_set_on_one_worker_hold_on_the_other() {
    let (a, b) = two_workers().await;
    // The second worker has alice's rank cached.
    assert_eq!(b.send_as("alice", "!rank").await.text(), "alice has rank 0.");
    assert_eq!(a.send_as("boss", "!rank set @alice 100").await.text(), "alice now has rank 100.");
    until(&b, "alice", "!rank", |t| t == "alice has rank 100.").await;
    assert_eq!(a.send_as("boss", "!ban @alice").await.text(), "alice is banned.");
    until(&b, "boss", "!rank @alice", |t| t == "alice has rank -1.").await;
    assert!(b.send_as("alice", "!ping").await.is_empty(), "banned on the other worker too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_counts_uses_on_every_worker() {
    let (a, b) = two_workers().await;
    assert_eq!(a.send_as("carol", "!limited").await.text(), "done");
    assert_eq!(b.send_as("carol", "!limited").await.text(), "done");
    let third = a.send_as("carol", "!limited").await.text();
    assert!(third.starts_with("`limited` is cooling down; try again in "), "{third}");
    let fourth = b.send_as("carol", "!limited").await.text();
    assert!(fourth.starts_with("`limited` is cooling down"), "two uses in all, not two per worker: {fourth}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_disabled_on_one_worker_is_disabled_on_all() {
    let (a, b) = two_workers().await;
    assert_eq!(b.send_as("dave", "!limited").await.text(), "done");
    assert_eq!(a.send_as("boss", "!plugin disable work").await.text(), "Plugin `work` disabled.");
    until(&b, "dave", "!plugins", |t| t.contains("work       disabled")).await;
    assert_eq!(b.send_as("dave", "!limited").await.text(), "`limited` is unavailable: plugin `work` is disabled.");
    assert_eq!(a.send_as("boss", "!plugin enable work").await.text(), "Plugin `work` enabled.");
    until(&b, "dave", "!plugins", |t| t.contains("work       enabled")).await;
    assert_eq!(b.send_as("dave", "!limited").await.text(), "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_handled_on_one_worker_reaches_a_subscription_on_the_other() {
    let (a, b) = two_workers().await;
    let b = std::sync::Arc::new(b);
    let listening = {
        let b = std::sync::Arc::clone(&b);
        tokio::spawn(async move { b.send_as("erin", "!listen").await.text() })
    };
    b.wait_for_sent(Duration::from_secs(5), "listening", |s| s.reply.text == "listening").await;
    a.send_as("frank", "the answer is 42").await;
    assert_eq!(listening.await.unwrap(), "listening\nheard: the answer is 42");
}
